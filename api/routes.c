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
