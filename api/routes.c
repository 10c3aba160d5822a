#include "api/api.h"
#include "auth/policy.h"
#include "server/http.h"

/* Every route of the server. The contract test checks that this table and
 * api/openapi.yaml describe the same operations. */
static const struct route routes[] = {
	{"GET", "/status", api_status, "status.read", ROUTE_PUBLIC | ROUTE_NO_TX},
	{"GET", "/metrics", api_metrics, "metrics.read", ROUTE_PUBLIC | ROUTE_NO_TX},
	{"GET", "/api/v1/openapi.yaml", api_openapi, "openapi.read", ROUTE_PUBLIC | ROUTE_NO_TX},
	{"POST", "/api/v1/sessions", api_session_create, "session.create", ROUTE_PUBLIC},
	{"GET", "/api/v1/sessions/current", api_session_read, "session.read", 0},
	{"DELETE", "/api/v1/sessions/current", api_session_delete, "session.delete", 0},
	{"GET", "/api/v1/users", api_user_list, "user.list", 0},
	{"POST", "/api/v1/users", api_user_create, "user.create", 0},
	{"GET", "/api/v1/users/{id}", api_user_read, "user.read", 0},
	{"PATCH", "/api/v1/users/{id}", api_user_update, "user.update", 0},
	{"GET", "/api/v1/persons", api_person_list, "person.search", 0},
	{"POST", "/api/v1/persons", api_person_create, "person.create", 0},
	{"GET", "/api/v1/persons/{id}", api_person_read, "person.read", 0},
	{"PATCH", "/api/v1/persons/{id}", api_person_update, "person.update", 0},
	{"GET", "/api/v1/persons/{id}/history", api_person_history, "person.history", 0},
	{"GET", "/api/v1/tenants", api_tenant_list, "tenant.list", 0},
	{"GET", "/api/v1/tenants/{id}", api_tenant_read, "tenant.read", 0},
	{"GET", "/api/v1/catalogue", api_catalogue_index, "catalogue.list", 0},
	{"GET", "/api/v1/catalogue/{list}", api_catalogue_read, "catalogue.read", 0},
	{"GET", "/api/v1/services", api_service_list, "service.list", 0},
	{"POST", "/api/v1/services", api_service_create, "service.create", 0},
	{"GET", "/api/v1/services/{id}", api_service_read, "service.read", 0},
	{"PATCH", "/api/v1/services/{id}", api_service_update, "service.update", 0},
	{"GET", "/api/v1/providers", api_provider_list, "provider.list", 0},
	{"POST", "/api/v1/providers", api_provider_create, "provider.create", 0},
	{"GET", "/api/v1/providers/{id}", api_provider_read, "provider.read", 0},
	{"PATCH", "/api/v1/providers/{id}", api_provider_update, "provider.update", 0},
	{"GET", "/api/v1/households", api_household_list, "household.list", 0},
	{"POST", "/api/v1/households", api_household_create, "household.create", 0},
	{"GET", "/api/v1/households/{id}", api_household_read, "household.read", 0},
	{"PATCH", "/api/v1/households/{id}", api_household_update, "household.update", 0},
	{"GET", "/api/v1/households/{id}/members", api_household_member_list, "household.read", 0},
	{"POST", "/api/v1/households/{id}/members", api_household_member_create, "household.update",
	 0},
	{"GET", "/api/v1/households/{id}/members/{member_id}", api_household_member_read,
	 "household.read", 0},
	{"PATCH", "/api/v1/households/{id}/members/{member_id}", api_household_member_update,
	 "household.update", 0},
	{"GET", "/api/v1/isee", api_isee_list, "isee.list", 0},
	{"POST", "/api/v1/isee", api_isee_create, "isee.create", 0},
	{"GET", "/api/v1/isee/{id}", api_isee_read, "isee.read", 0},
	{"GET", "/api/v1/cases", api_case_list, "case.read", 0},
	{"POST", "/api/v1/cases", api_case_create, "case.write", 0},
	{"GET", "/api/v1/cases/{id}", api_case_read, "case.read", 0},
	{"PATCH", "/api/v1/cases/{id}", api_case_update, "case.write", 0},
	{"GET", "/api/v1/cases/{id}/assignments", api_case_assignment_list, "case.read", 0},
	{"POST", "/api/v1/cases/{id}/assignments", api_case_assignment_create, "case.assign", 0},
	{"GET", "/api/v1/cases/{id}/assignments/{assignment_id}", api_case_assignment_read,
	 "case.read", 0},
	{"PATCH", "/api/v1/cases/{id}/assignments/{assignment_id}", api_case_assignment_update,
	 "case.assign", 0},
	{"GET", "/api/v1/cases/{id}/notes", api_case_note_list, "note.read", 0},
	{"POST", "/api/v1/cases/{id}/notes", api_case_note_create, "note.write", 0},
	{"GET", "/api/v1/cases/{id}/notes/{note_id}", api_case_note_read, "note.read", 0},
	{"GET", "/api/v1/cases/{id}/assessments", api_case_assessment_list, "assessment.read", 0},
	{"POST", "/api/v1/cases/{id}/assessments", api_case_assessment_create, "assessment.write",
	 0},
	{"GET", "/api/v1/cases/{id}/assessments/{assessment_id}", api_case_assessment_read,
	 "assessment.read", 0},
	{"GET", "/api/v1/cases/{id}/plans", api_case_plan_list, "plan.read", 0},
	{"POST", "/api/v1/cases/{id}/plans", api_case_plan_create, "plan.write", 0},
	{"GET", "/api/v1/cases/{id}/plans/{plan_id}", api_case_plan_read, "plan.read", 0},
	{"PATCH", "/api/v1/cases/{id}/plans/{plan_id}", api_case_plan_update, "plan.write", 0},
	{"GET", "/api/v1/access-contacts", api_access_contact_list, "access_contact.read", 0},
	{"POST", "/api/v1/access-contacts", api_access_contact_create, "access_contact.write", 0},
	{"GET", "/api/v1/access-contacts/{id}", api_access_contact_read, "access_contact.read", 0},
	{"GET", "/api/v1/interventions", api_intervention_list, "intervention.read", 0},
	{"POST", "/api/v1/interventions", api_intervention_create, "intervention.write", 0},
	{"GET", "/api/v1/interventions/{id}", api_intervention_read, "intervention.read", 0},
	{"PATCH", "/api/v1/interventions/{id}", api_intervention_update, "intervention.write", 0},
};

const struct route *api_routes(size_t *n)
{
	*n = sizeof routes / sizeof routes[0];
	return routes;
}

json_t *api_roles_json(unsigned roles)
{
	json_t *a = json_array();
	for (unsigned i = 0; a != NULL && i < POLICY_ROLE_COUNT; i++)
		if (roles & (1u << i))
			json_array_append_new(a, json_string(policy_role_names[i]));
	return a;
}

int api_require_body(struct http_req *req)
{
	if (json_is_object(req->json))
		return 0;
	json_t *errors = json_array();
	json_array_append_new(errors, json_pack("{s:s, s:s, s:s}", "field", "", "rule",
						req->json ? "type" : "required", "message",
						"il corpo deve essere un oggetto JSON"));
	http_reply_validation(req, errors);
	return 1;
}
