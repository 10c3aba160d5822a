/* /api/v1/retention-rules: how long each document class of a Comune must be
 * kept after the event that starts its period (schema/020_erasure.sql).
 * Service managers and the DPO read them; the DPO changes them (years and
 * legal basis; the event belongs to the class). Erasure checks them
 * (api/erasure.c). Not personal data: the rules travel in clear. */
#include "api/api.h"
#include "api/case_common.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define RULE_COLUMNS \
	"document_class, app.retention_event(document_class), years, legal_basis, version, " \
	API_TS("updated_at") ", updated_by"
/* clang-format on */
enum { R_CLASS, R_EVENT, R_YEARS, R_BASIS, R_VERSION, R_UPDATED, R_BY };

static const char *const classes[] = {"case_file", "note",  "assessment", "intervention",
                                      "financial", "audit", NULL};

static const struct db_stmt st_list = {
    "retention_list",
    "SELECT " RULE_COLUMNS " FROM retention_rule WHERE tenant_id = $1 "
    "ORDER BY array_position(ARRAY['case_file', 'note', 'assessment', 'intervention', "
    "'financial', 'audit'], document_class)",
};

static const struct db_stmt st_one = {
    "retention_one",
    "SELECT " RULE_COLUMNS " FROM retention_rule WHERE tenant_id = $1 AND document_class = $2",
};

static const struct db_stmt st_update = {
    "retention_update",
    "UPDATE retention_rule SET years = $3::smallint, legal_basis = $4, version = version + 1, "
    "updated_at = now(), updated_by = $5 "
    "WHERE tenant_id = $1 AND document_class = $2 AND version = $6::integer",
};

/* The wire representation of row i of r (new reference, NULL on OOM). */
static json_t *rule_json(PGresult *r, int i)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:o}", "document_class",
	                 PQgetvalue(r, i, R_CLASS), "event", PQgetvalue(r, i, R_EVENT), "years",
	                 (json_int_t)atoll(PQgetvalue(r, i, R_YEARS)), "legal_basis",
	                 PQgetvalue(r, i, R_BASIS), "version",
	                 (json_int_t)atoll(PQgetvalue(r, i, R_VERSION)), "updated_at",
	                 PQgetvalue(r, i, R_UPDATED), "updated_by", api_case_opt(r, i, R_BY));
}

/* GET /api/v1/retention-rules: every rule of the caller's Comune. */
int api_retention_rule_list(struct http_req *req)
{
	const char *p[1] = {req->principal.tenant_id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 1, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	for (int i = 0; items != NULL && i < PQntuples(r); i++)
		if (json_array_append_new(items, rule_json(r, i)) != 0) {
			json_decref(items);
			return -1;
		}
	if (items == NULL)
		return -1;
	return http_reply_json(req, 200, json_pack("{s:o, s:n}", "items", items, "next_cursor"));
}

/* Loads the rule of class cls (already checked against classes) into *r
 * (arena-owned). Returns 0; 1 after replying; HTTP_RETRY. */
static int rule_load(struct http_req *req, const char *cls, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, cls};
	int rc = db_exec(req->arena, &st_one, 2, p, r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(*r) != 1) {
		http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
		return 1;
	}
	return 0;
}

/* PUT /api/v1/retention-rules/{document_class} {years, legal_basis}
 * (If-Match: the rule's ETag): changes one rule; answers it. */
int api_retention_rule_put(struct http_req *req)
{
	const char *cls = http_param(req, 0);
	if (!jsonx_in(cls, classes))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	if (api_require_body(req))
		return 0;
	long long years = -1;
	bool years_ok = false;
	const char *basis = NULL;
	json_t *errors = jsonx_errors_new();
	const struct jsonx_field spec[] = {
	    {"years", JX_INT, JX_REQUIRED, 0, 0, &years, &years_ok},
	    {"legal_basis", JX_STRING, JX_REQUIRED, 1, 500, &basis, NULL},
	};
	jsonx_read(req->json, "", spec, 2, errors);
	years_ok = years_ok && json_is_integer(json_object_get(req->json, "years"));
	if (years_ok && (years < 0 || years > 100))
		jsonx_error(errors, "years", "range", "tra 0 e 100 anni");
	if (basis != NULL && strspn(basis, " \t\r\n") == strlen(basis))
		jsonx_error(errors, "legal_basis", "format", "indicare la base giuridica");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	PGresult *r;
	int rc = rule_load(req, cls, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *version = PQgetvalue(r, 0, R_VERSION);
	if (http_check_if_match(req, atoll(version)))
		return 0;
	char syears[8];
	snprintf(syears, sizeof syears, "%lld", years);
	const char *p[6] = {req->principal.tenant_id, cls,    syears, basis,
	                    req->principal.user_id,   version};
	PGresult *ur;
	rc = db_exec(req->arena, &st_update, 6, p, &ur);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY; /* changed under us: the retry answers 412 */
	rc = rule_load(req, cls, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	http_set_etag(req, atoll(PQgetvalue(r, 0, R_VERSION)));
	return http_reply_json(req, 200, rule_json(r, 0));
}
