/* Helpers every resource handler shares. */
#include "api/api.h"
#include "auth/policy.h"
#include "server/db.h"
#include "server/http.h"

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

/* Borrows st and params (params[0] is the tenant, the others ids from the
 * request); *out is arena-owned. */
int api_load_row(struct http_req *req, const struct db_stmt *st, int n, const char *const *params,
		 PGresult **out)
{
	for (int i = 1; i < n; i++) {
		if (!util_is_uuid(params[i])) {
			http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
			return 1;
		}
	}
	int rc = db_exec(req->arena, st, n, params, out);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(*out) != 1) {
		http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
		return 1;
	}
	return 0;
}
