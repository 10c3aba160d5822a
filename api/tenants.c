/* /api/v1/tenants: the Comuni and Ambiti (reference data every role reads;
 * membership of an Ambito is data: parent_id, valid_from, valid_to). */
#include "api/api.h"
#include "api/validate.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT_COLUMNS                                                                             \
	"id, kind, code, name, istat_code, belfiore_code, parent_id, "                             \
	"to_char(valid_from, 'YYYY-MM-DD'), to_char(valid_to, 'YYYY-MM-DD')"
enum { TC_ID, TC_KIND, TC_CODE, TC_NAME, TC_ISTAT, TC_BELFIORE, TC_PARENT, TC_FROM, TC_TO };

static const struct db_stmt st_list = {
    "tenants_list",
    "SELECT " TENANT_COLUMNS " FROM tenant WHERE ($1::text IS NULL OR code > $1) "
    "ORDER BY code LIMIT $2",
};

static const struct db_stmt st_one = {
    "tenants_one",
    "SELECT " TENANT_COLUMNS " FROM tenant WHERE id = $1",
};

static json_t *text_or_null(PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ? json_null() : json_string(PQgetvalue(r, i, col));
}

/* The tenant as the API shows it (new reference). */
static json_t *tenant_json(PGresult *r, int i)
{
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", PQgetvalue(r, i, TC_ID), "kind",
	    PQgetvalue(r, i, TC_KIND), "code", PQgetvalue(r, i, TC_CODE), "name",
	    PQgetvalue(r, i, TC_NAME), "istat_code", text_or_null(r, i, TC_ISTAT), "belfiore_code",
	    text_or_null(r, i, TC_BELFIORE), "parent_id", text_or_null(r, i, TC_PARENT),
	    "valid_from", text_or_null(r, i, TC_FROM), "valid_to", text_or_null(r, i, TC_TO));
}

/* GET /api/v1/tenants[?cursor=&limit=] (ordered by code) */
int api_tenant_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	bool bad;
	const char *after = api_cursor_decode(req, 32, &bad);
	if (bad)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[2] = {after, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++)
		json_array_append_new(items, tenant_json(r, i));
	json_t *next = NULL;
	if (rows > limit &&
	    (next = api_cursor_encode(req->arena, PQgetvalue(r, limit - 1, TC_CODE))) == NULL) {
		json_decref(items);
		return -1;
	}
	return http_reply_json(
	    req, 200,
	    json_pack("{s:o, s:o}", "items", items, "next_cursor", next ? next : json_null()));
}

static const struct db_stmt st_settings = {
    "tenants_settings",
    "SELECT kind, version, siuss_operator_cf FROM tenant WHERE id = $1",
};

static const struct db_stmt st_settings_update = {
    "tenants_settings_update",
    "UPDATE tenant SET siuss_operator_cf = $2, version = version + 1, updated_at = now() "
    "WHERE id = $1 AND version = $3",
};

/* Replies 200 with tenant id as its own admin sees it: the reference data
 * plus the SIUSS settings; ETag: the tenant's version. */
static int tenant_reply_settings(struct http_req *req, const char *id)
{
	const char *p[1] = {id};
	PGresult *r, *s;
	int rc = db_exec(req->arena, &st_one, 1, p, &r);
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_settings, 1, p, &s);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1 || PQntuples(s) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	json_t *o = tenant_json(r, 0);
	if (o == NULL)
		return -1;
	json_object_set_new(o, "siuss_operator_cf", text_or_null(s, 0, 2));
	http_set_etag(req, atoll(PQgetvalue(s, 0, 1)));
	return http_reply_json(req, 200, o);
}

/* GET /api/v1/tenants/{id}: the reference data; the tenant's own admin also
 * gets its settings (siuss_operator_cf) and the ETag to change them. */
int api_tenant_read(struct http_req *req)
{
	const char *id = http_param(req, 0);
	if (!util_is_uuid(id))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	if (strcmp(id, req->principal.tenant_id) == 0 &&
	    policy_has_role(req->principal.roles, ROLE_ADMIN))
		return tenant_reply_settings(req, id);
	const char *p[1] = {id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_one, 1, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	return http_reply_json(req, 200, tenant_json(r, 0));
}

/* Parses {"siuss_operator_cf": string|null} into *cf (normalised into buf,
 * NULL to clear); errors added. */
static void tenant_settings_parse(struct http_req *req, char *buf, unsigned bufsz, const char **cf,
                                  json_t *errors)
{
	const char *raw = NULL, *rule, *m;
	const struct jsonx_field spec[] = {
	    {"siuss_operator_cf", JX_STRING, JX_NULLABLE, 11, 24, &raw, NULL},
	};
	*cf = NULL;
	if (jsonx_read(req->json, "", spec, 1, errors) > 0)
		return;
	if (json_object_get(req->json, "siuss_operator_cf") == NULL) /* null is given */
		jsonx_error(errors, "siuss_operator_cf", "required", "campo obbligatorio");
	if (raw == NULL)
		return;
	enum validate_cf_kind kind;
	if (!validate_cf_normalise(raw, buf, bufsz))
		jsonx_error(errors, "siuss_operator_cf", "format", "codice fiscale troppo lungo");
	else if ((m = validate_fiscal_code(buf, &kind, NULL, &rule)) != NULL)
		jsonx_error(errors, "siuss_operator_cf", rule, m);
	else if (kind == CF_TEMPORARY)
		jsonx_error(errors, "siuss_operator_cf", "kind",
		            "serve il codice fiscale dell'operatore (16 caratteri) o dell'ente "
		            "(11 cifre)");
	else
		*cf = buf;
}

/* PATCH /api/v1/tenants/{id} {"siuss_operator_cf"} (If-Match): the admin of
 * a Comune sets the fiscal code that signs its SIUSS flows (null stops
 * them). Another tenant's admin gets 403: tenants are reference data every
 * user sees, but each Comune configures only itself. */
int api_tenant_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	char buf[24];
	const char *cf;
	json_t *errors = jsonx_errors_new();
	tenant_settings_parse(req, buf, sizeof buf, &cf, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	const char *id = http_param(req, 0);
	if (!util_is_uuid(id))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	const char *p[3] = {id, cf, NULL};
	PGresult *r;
	int rc = db_exec(req->arena, &st_settings, 1, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	if (strcmp(id, req->principal.tenant_id) != 0)
		return http_reply_problem(req, PROBLEM_FORBIDDEN,
		                          "Ogni ente configura solo sé stesso: accedere come "
		                          "amministratore di questo ente");
	if (strcmp(PQgetvalue(r, 0, 0), "comune") != 0) {
		errors = jsonx_errors_new();
		jsonx_error(errors, "siuss_operator_cf", "kind",
		            "solo i Comuni inviano flussi SIUSS");
		return http_reply_validation(req, errors);
	}
	p[2] = PQgetvalue(r, 0, 1);
	if (http_check_if_match(req, atoll(p[2])))
		return 0;
	rc = db_exec(req->arena, &st_settings_update, 3, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(r), "1") != 0)
		return HTTP_RETRY; /* changed under us: the retry answers 412 */
	if (http_audit_object(req, "tenant", id) != 0)
		return -1;
	return tenant_reply_settings(req, id);
}
