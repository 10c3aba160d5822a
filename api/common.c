/* Helpers every resource handler shares. */
#include "api/api.h"
#include "auth/policy.h"
#include "server/db.h"
#include "server/http.h"
#include "server/arena.h"
#include "server/jsonx.h"
#include "api/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *api_roles_json(unsigned roles)
{
	json_t *a = json_array();
	for (unsigned i = 0; a != NULL && i < POLICY_ROLE_COUNT; i++)
		if (roles & (1u << i))
			json_array_append_new(a, json_string(policy_role_names[i]));
	return a;
}

/* Borrows everything. */
uint32_t api_names_to_bits(json_t *arr, const char *field, uint32_t (*lookup)(const char *),
                           const char *enum_msg, json_t *errors)
{
	uint32_t bits = 0;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		char name[48];
		snprintf(name, sizeof name, "%s[%zu]", field, i);
		uint32_t b = json_is_string(v) ? lookup(json_string_value(v)) : 0;
		if (b == 0)
			jsonx_error(errors, name, "enum", enum_msg);
		else if (bits & b)
			jsonx_error(errors, name, "unique", "valore ripetuto");
		bits |= b;
	}
	return bits;
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

int api_reply_forbidden_field(struct http_req *req, const char *field, const char *message,
                              const char *detail)
{
	json_t *errors = jsonx_errors_new();
	jsonx_error(errors, field, "forbidden", message);
	return http_reply_problem_with(req, PROBLEM_FORBIDDEN, detail,
	                               json_pack("{s:o}", "errors", errors));
}

/* Borrows v; returns arena-owned JSON text, or NULL with errors added. */
const char *api_address_parse(struct http_req *req, json_t *v, json_t *errors)
{
	const char *line = NULL, *cap = NULL, *istat = NULL, *rule, *m;
	const struct jsonx_field spec[] = {
	    {"line", JX_STRING, JX_REQUIRED, 1, 200, &line, NULL},
	    {"postal_code", JX_STRING, JX_NULLABLE, 5, 5, &cap, NULL},
	    {"istat_code", JX_STRING, JX_NULLABLE, 6, 6, &istat, NULL},
	};
	size_t before = json_array_size(errors);
	jsonx_read(v, "address.", spec, sizeof spec / sizeof spec[0], errors);
	if (cap && strspn(cap, "0123456789") != 5)
		jsonx_error(errors, "address.postal_code", "format", "CAP: cinque cifre");
	if (istat && (m = validate_istat_comune(istat, &rule)) != NULL)
		jsonx_error(errors, "address.istat_code", rule, m);
	if (json_array_size(errors) != before)
		return NULL;
	char *t = json_dumps(v, JSON_COMPACT);
	if (t == NULL || arena_defer(req->arena, free, t) != 0)
		return NULL;
	return t;
}
