/* Helpers shared by the case-record resources (see api/case_common.h). */
#include "api/case_common.h"
#include "api/api.h"
#include "api/validate.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct db_stmt st_case_ref = {
    "case_common_case_ref",
    "SELECT id, person_id, status, " API_DATE(
        "opened_on") ", "
                     "(opened_on - DATE '1970-01-01') FROM social_case WHERE tenant_id = $1 AND id "
                     "= $2",
};

/* Replies 404 for a missing case (or other tenant's). Returns 1. */
static int case_not_found(struct http_req *req)
{
	http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	return 1;
}

int api_case_find(struct http_req *req, const char *id, struct api_case_ref *out)
{
	memset(out, 0, sizeof *out);
	if (id == NULL || !util_is_uuid(id))
		return case_not_found(req);
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_case_ref, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) != 1)
		return case_not_found(req);
	out->id = PQgetvalue(r, 0, 0);
	out->person_id = PQgetvalue(r, 0, 1);
	out->status = PQgetvalue(r, 0, 2);
	out->opened_on = PQgetvalue(r, 0, 3);
	out->opened_days = (int32_t)atol(PQgetvalue(r, 0, 4));
	return 0;
}

static const struct db_stmt st_ref_person = {
    "case_common_ref_person",
    "SELECT 1 FROM person WHERE tenant_id = $1 AND id = $2",
};
static const struct db_stmt st_ref_household = {
    "case_common_ref_household",
    "SELECT 1 FROM household WHERE tenant_id = $1 AND id = $2",
};
static const struct db_stmt st_ref_case = {
    "case_common_ref_case",
    "SELECT 1 FROM social_case WHERE tenant_id = $1 AND id = $2",
};

int api_case_check_ref(struct http_req *req, const char *table, const char *id, const char *field)
{
	const struct db_stmt *st = strcmp(table, "person") == 0      ? &st_ref_person
	                           : strcmp(table, "household") == 0 ? &st_ref_household
	                                                             : &st_ref_case;
	int rows = 0;
	if (util_is_uuid(id)) {
		const char *p[2] = {req->principal.tenant_id, id};
		PGresult *r;
		int rc = db_exec(req->arena, st, 2, p, &r);
		if (rc != DB_OK)
			return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
		rows = PQntuples(r);
	}
	if (rows == 1)
		return 0;
	api_reply_not_found_field(req, field);
	return 1;
}

int32_t api_case_today(void)
{
	return (int32_t)(time(NULL) / 86400);
}

void api_case_today_text(char out[11])
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

bool api_case_date(json_t *errors, const char *field, const char *s, bool not_future, int32_t *days)
{
	const char *rule, *m = validate_date(s, days, &rule);
	if (m != NULL) {
		jsonx_error(errors, field, rule, m);
		return false;
	}
	if (not_future && *days > api_case_today()) {
		jsonx_error(errors, field, "range", "la data è nel futuro");
		return false;
	}
	return true;
}

void api_codes_add(json_t *pending, const char *field, const char *list, const char *code)
{
	json_array_append_new(pending, json_pack("[s, s, s]", field, list, code));
}

static const struct db_stmt st_codes = {
    "case_common_codes",
    "SELECT e.ord FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, ord) "
    "WHERE NOT EXISTS (SELECT 1 FROM code c WHERE c.list = e.v->>1 AND c.code = e.v->>2 "
    "AND (c.valid_to IS NULL OR c.valid_to >= current_date)) ORDER BY e.ord",
};

int api_codes_verify(struct http_req *req, json_t *pending, json_t *errors)
{
	if (json_array_size(pending) == 0)
		return DB_OK;
	char *text = json_dumps(pending, JSON_COMPACT);
	if (text == NULL || arena_defer(req->arena, free, text) != 0)
		return DB_ERROR;
	const char *p[1] = {text};
	PGresult *r;
	int rc = db_exec(req->arena, &st_codes, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		size_t k = (size_t)atol(PQgetvalue(r, i, 0)) - 1;
		json_t *e = json_array_get(pending, k);
		const char *list = json_string_value(json_array_get(e, 1));
		char msg[128];
		snprintf(msg, sizeof msg, "codice non presente nella lista %s", list ? list : "");
		jsonx_error(errors, json_string_value(json_array_get(e, 0)), "unknown", msg);
	}
	return DB_OK;
}

int api_case_encrypt(struct http_req *req, const char *table, const char *column,
                     const char *row_id, const char *plain, const char **out)
{
	*out = NULL;
	if (plain == NULL)
		return DB_OK;
	struct crypt_ctx ctx = {table, column, req->principal.tenant_id, row_id};
	return crypt_encrypt(req->arena, &ctx, plain, strlen(plain), out);
}

int api_case_decrypt(struct http_req *req, const char *table, const char *column,
                     const char *row_id, PGresult *r, int i, int col, const char **out)
{
	*out = NULL;
	if (PQgetisnull(r, i, col))
		return DB_OK;
	struct crypt_ctx ctx = {table, column, req->principal.tenant_id, row_id};
	size_t len;
	return crypt_decrypt(req->arena, &ctx, PQgetvalue(r, i, col), out, &len);
}

int api_case_fail(struct http_req *req, int rc)
{
	if (rc == CRYPT_INTEGRITY)
		return http_reply_problem(req, PROBLEM_INTERNAL, NULL);
	return http_reply_db_error(req, rc);
}

json_t *api_case_opt(PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ? json_null() : json_string(PQgetvalue(r, i, col));
}

int api_case_keep(struct http_req *req, json_t *json)
{
	return arena_defer(req->arena, (void (*)(void *))json_decref, json);
}

static const struct db_stmt st_assigned = {
    "case_common_assigned",
    "SELECT 1 FROM case_assignment WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3 "
    "AND valid_from <= current_date AND (valid_to IS NULL OR valid_to >= current_date)",
};

int api_case_is_assigned(struct http_req *req, const char *case_id, bool *assigned)
{
	*assigned = false;
	const char *p[3] = {req->principal.tenant_id, case_id, req->principal.user_id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_assigned, 3, p, &r);
	if (rc == DB_OK)
		*assigned = PQntuples(r) > 0;
	return rc;
}

int api_case_closed_conflict(struct http_req *req)
{
	json_t *errors = jsonx_errors_new();
	jsonx_error(errors, "status", "state",
	            "la cartella è chiusa: riaprirla (status assessment o in_charge) prima");
	return http_reply_problem_with(req, PROBLEM_CONFLICT, "La cartella è chiusa",
	                               json_pack("{s:o}", "errors", errors));
}

int api_case_reply_page(struct http_req *req, PGresult *r, int limit, int id_col,
                        const char *audit_type, api_row_json_fn row_json)
{
	json_t *items = json_array();
	if (api_case_keep(req, items) != 0)
		return -1;
	int rows = PQntuples(r), rc;
	for (int i = 0; i < rows && i < limit; i++) {
		if (audit_type != NULL &&
		    http_audit_object(req, audit_type, PQgetvalue(r, i, id_col)) != 0)
			return -1;
		json_t *o = row_json(req, r, i, &rc);
		if (o == NULL)
			return api_case_fail(req, rc);
		json_array_append_new(items, o);
	}
	json_t *next = rows > limit ? json_string(PQgetvalue(r, limit - 1, id_col)) : json_null();
	return http_reply_json(req, 200,
	                       json_pack("{s:O, s:o}", "items", items, "next_cursor", next));
}

int api_case_cursor(struct http_req *req, const char **cursor)
{
	*cursor = http_query(req, "cursor");
	if (*cursor != NULL && !util_is_uuid(*cursor)) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
		return 1;
	}
	return 0;
}
