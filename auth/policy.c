#include "auth/policy.h"
#include "server/http.h"
#include "server/router.h"

#include <string.h>

const char *const policy_role_names[] = {
    "social_worker", "administrative", "service_manager", "planning_office", "dpo", "admin", NULL,
};

/* The table. Keep it sorted by resource; docs/security.md is generated from it. */
static const struct policy_action actions[] = {
    {"status.read", 0, POLICY_PUBLIC, "service health (ModI /status)"},
    {"metrics.read", 0, POLICY_PUBLIC, "Prometheus metrics (no personal data)"},
    {"openapi.read", 0, POLICY_PUBLIC, "the OpenAPI contract"},
    {"session.create", 0, POLICY_PUBLIC, "log in"},
    {"session.read", POLICY_ANY_ROLE, 0, "read one's own session"},
    {"session.delete", POLICY_ANY_ROLE, 0, "log out"},
    {"user.list", ROLE_ADMIN, 0, "list staff accounts with roles in the tenant"},
    {"user.read", ROLE_ADMIN, 0, "read a staff account"},
    {"user.create", ROLE_ADMIN, 0, "create a staff account with roles in the tenant"},
    {"user.update", ROLE_ADMIN, 0, "change roles, disable, reset password"},
    {"tenant.list", POLICY_ANY_ROLE, 0, "list the Comuni and Ambiti (reference data)"},
    {"tenant.read", POLICY_ANY_ROLE, 0, "read a Comune or Ambito (reference data)"},
    {"catalogue.list", POLICY_ANY_ROLE, 0, "list the code lists with their versions"},
    {"catalogue.read", POLICY_ANY_ROLE, 0, "read a code list"},
    {"service.list", POLICY_ANY_ROLE, 0,
     "list the local service catalogue (own tenant's and its Ambito's services)"},
    {"service.read", POLICY_ANY_ROLE, 0, "read a service of the local catalogue"},
    {"service.create", ROLE_ADMIN, 0,
     "add a service to the tenant's catalogue (the Ambito's admin for shared services)"},
    {"service.update", ROLE_ADMIN, 0, "change a service of the tenant's own catalogue"},
    {"provider.list",
     ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE |
         ROLE_ADMIN,
     0, "list the tenant's service providers"},
    {"provider.read",
     ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE |
         ROLE_ADMIN,
     0, "read a service provider"},
    {"provider.create", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_ADMIN, 0,
     "register a service provider"},
    {"provider.update", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_ADMIN, 0,
     "change a service provider"},
    {"person.search", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list and search persons (fiscal code, surname and name)"},
    {"person.create", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "register a person"},
    {"person.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read a person's identifying data"},
    {"person.update", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "rectify a person's data (previous values kept)"},
    {"person.history", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "read a person's rectification history"},
    {"household.list", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list households (optionally those a person belongs or belonged to)"},
    {"household.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read a household with its members over time and latest ISEE"},
    {"household.create", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "register a household"},
    {"household.update", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "change a household's label or address, add, close or correct memberships"},
    {"isee.list", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list ISEE attestations (by household or person)"},
    {"isee.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read an ISEE attestation"},
    {"isee.create", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "register an ISEE attestation from its DSU"},
    {"case.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list and read cases (status, area, dates, status history, assignments)"},
    {"case.write", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "open a case, move it through its life cycle, close and reopen it"},
    {"case.assign", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "assign workers to a case (a social worker only on cases assigned to them)"},
    {"note.read", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "read a case's diary notes (confidential ones: author, assigned workers, managers)"},
    {"note.write", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0, "write a diary note"},
    {"assessment.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read assessments (administrative: without the free text)"},
    {"assessment.write", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "record a generic, SINA or SINBA assessment"},
    {"plan.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read care plans with goals, outcome and follow-up"},
    {"plan.write", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "write a care plan, record its outcome and follow-up"},
    {"access_contact.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list and read front-office contacts (segretariato sociale)"},
    {"access_contact.write", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "record a front-office contact, anonymous or linked to a person or case"},
    {"intervention.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list and read interventions (erogazioni) with amounts, shares and funding"},
    {"intervention.write", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "record an intervention; change its amounts, dates, funding and status (cancel)"},
    {"audit.read", ROLE_DPO, 0,
     "query the audit trail: who read or changed which object, when, with what outcome"},
    {"audit.verify", ROLE_DPO, 0,
     "check the seal of the tenant's audit trail: recompute the hash chain, report the first "
     "broken link"},
};

uint32_t policy_role_bit(const char *name)
{
	for (unsigned i = 0; policy_role_names[i] != NULL; i++)
		if (strcmp(policy_role_names[i], name) == 0)
			return 1u << i;
	return 0;
}

const char *policy_role_name(uint32_t bit)
{
	for (unsigned i = 0; i < POLICY_ROLE_COUNT; i++)
		if (bit == 1u << i)
			return policy_role_names[i];
	return NULL;
}

const struct policy_action *policy_find(const char *name)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

const struct policy_action *policy_actions(unsigned *n)
{
	*n = (unsigned)(sizeof actions / sizeof actions[0]);
	return actions;
}

const char *policy_route_check(const char *action, unsigned route_flags)
{
	const struct policy_action *a = policy_find(action);
	if (a == NULL)
		return "not in the policy table";
	bool route_public = (route_flags & ROUTE_PUBLIC) != 0;
	bool action_public = (a->flags & POLICY_PUBLIC) != 0;
	if (route_public != action_public)
		return "public on one side only (route flags and policy disagree)";
	if (!action_public && a->roles == 0)
		return "allows no role";
	return NULL;
}

/* Borrows pg_array. */
uint32_t policy_roles_from_array(const char *pg_array)
{
	uint32_t bits = 0;
	char name[32];
	size_t n = 0;
	for (const char *p = pg_array; *p; p++) {
		if (*p == '{' || *p == '"')
			continue;
		if (*p == ',' || *p == '}') {
			name[n] = '\0';
			if (n > 0)
				bits |= policy_role_bit(name);
			n = 0;
		} else if (n + 1 < sizeof name) {
			name[n++] = *p;
		}
	}
	return bits;
}

bool policy_has_role(uint32_t roles, uint32_t want)
{
	return (roles & want) != 0;
}

bool policy_allows(const char *action, uint32_t roles)
{
	const struct policy_action *a = policy_find(action);
	if (a == NULL)
		return false;
	if (a->flags & POLICY_PUBLIC)
		return true;
	return policy_has_role(roles, a->roles);
}

int policy_authorize(struct http_req *req)
{
	const struct policy_action *a = policy_find(req->route->action);
	if (a != NULL && (a->flags & POLICY_PUBLIC))
		return 0;
	if (a != NULL && req->principal.authenticated &&
	    policy_has_role(req->principal.roles, a->roles))
		return 0;
	http_reply_problem(req, PROBLEM_FORBIDDEN, NULL);
	return 1;
}
