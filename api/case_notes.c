/* /api/v1/cases/{id}/notes: the diary of a case. A note is written once,
 * stamped with the server's time and its author, and stored encrypted.
 * Confidential notes are shown only to their author, to the workers assigned
 * to the case today and to service managers; to anyone else they do not
 * exist (404 on read, absent from lists). */
#include "api/api.h"
#include "api/case_common.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTE_MAX_CHARS 20000

/* clang-format off */
#define NOTE_COLUMNS \
	"n.id, n.case_id, " API_TS("n.written_on") ", n.body_enc, n.confidentiality, " \
	"n.author_id, u.username"
/* clang-format on */
enum { N_ID, N_CASE, N_WRITTEN, N_BODY, N_CONF, N_AUTHOR, N_USERNAME };

/* Who may see a confidential note: $3 the caller, $4 true for a manager. */
#define NOTE_VISIBLE                                                                               \
	"(n.confidentiality = 'normal' OR n.author_id = $3 OR $4::boolean OR EXISTS (SELECT 1 "    \
	"FROM case_assignment a WHERE a.tenant_id = n.tenant_id AND a.case_id = n.case_id "        \
	"AND a.user_id = $3 AND a.valid_from <= current_date AND (a.valid_to IS NULL OR "          \
	"a.valid_to >= current_date)))"

/* The wire representation of row i (decrypted); NULL with *rc set. */
static json_t *note_json(struct http_req *req, PGresult *r, int i, int *rc)
{
	const char *body;
	*rc =
	    api_case_decrypt(req, "case_note", "body", PQgetvalue(r, i, N_ID), r, i, N_BODY, &body);
	if (*rc != DB_OK)
		return NULL;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "id",
	                      PQgetvalue(r, i, N_ID), "case_id", PQgetvalue(r, i, N_CASE),
	                      "written_on", PQgetvalue(r, i, N_WRITTEN), "body", body ? body : "",
	                      "confidentiality", PQgetvalue(r, i, N_CONF), "author", "id",
	                      PQgetvalue(r, i, N_AUTHOR), "username", PQgetvalue(r, i, N_USERNAME));
	*rc = o ? DB_OK : DB_ERROR;
	return o;
}

/* "true" when the caller sees every confidential note of the Comune. */
static const char *note_manager(struct http_req *req)
{
	return policy_has_role(req->principal.roles, ROLE_SERVICE_MANAGER) ? "true" : "false";
}

static const struct db_stmt st_list = {
    "notes_list",
    "SELECT " NOTE_COLUMNS " FROM case_note n JOIN app_user u ON u.id = n.author_id "
    "WHERE n.tenant_id = $1 AND n.case_id = $2 AND " NOTE_VISIBLE " "
    "AND ($5::uuid IS NULL OR (n.written_on, n.id) < (SELECT k.written_on, k.id FROM "
    "case_note k WHERE k.tenant_id = $1 AND k.case_id = $2 AND k.id = $5)) "
    "ORDER BY n.written_on DESC, n.id DESC LIMIT $6",
};

/* GET /api/v1/cases/{id}/notes?cursor=&limit= (newest first) */
int api_case_note_list(struct http_req *req)
{
	int limit;
	const char *cursor;
	if (http_page_limit(req, 50, &limit) || api_case_cursor(req, &cursor))
		return 0;
	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[6] = {req->principal.tenant_id, c.id,   req->principal.user_id,
	                    note_manager(req),        cursor, slimit};
	PGresult *r;
	if ((rc = db_exec(req->arena, &st_list, 6, p, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	return api_case_reply_page(req, r, limit, N_ID, NULL, note_json);
}

static const struct db_stmt st_one = {
    "notes_one",
    "SELECT " NOTE_COLUMNS " FROM case_note n JOIN app_user u ON u.id = n.author_id "
    "WHERE n.tenant_id = $1 AND n.case_id = $2 AND " NOTE_VISIBLE " AND n.id = $5",
};

/* Replies with note nid of case case_id, if the caller may see it. */
static int note_reply(struct http_req *req, const char *case_id, const char *nid, int status)
{
	if (!util_is_uuid(nid))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	const char *p[5] = {req->principal.tenant_id, case_id, req->principal.user_id,
	                    note_manager(req), nid};
	PGresult *r;
	int rc = db_exec(req->arena, &st_one, 5, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	json_t *o = note_json(req, r, 0, &rc);
	if (o == NULL)
		return api_case_fail(req, rc);
	return http_reply_json(req, status, o);
}

/* GET /api/v1/cases/{id}/notes/{note_id} */
int api_case_note_read(struct http_req *req)
{
	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return note_reply(req, c.id, http_param(req, 1), 200);
}

static const struct db_stmt st_insert = {
    "notes_insert",
    "INSERT INTO case_note (tenant_id, id, case_id, body_enc, confidentiality, author_id) "
    "VALUES ($1, $2, $3, $4, $5, $6)",
};

/* POST /api/v1/cases/{id}/notes: {body, confidentiality}. Notes may be added
 * to a closed case too (what happened after the closure). */
int api_case_note_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *body = NULL, *conf = "normal";
	const struct jsonx_field spec[] = {
	    {"body", JX_STRING, JX_REQUIRED, 1, NOTE_MAX_CHARS, &body, NULL},
	    {"confidentiality", JX_STRING, 0, 1, 16, &conf, NULL},
	};
	static const char *const levels[] = {"normal", "confidential", NULL};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (body != NULL && strspn(body, " \t\r\n") == strlen(body))
		jsonx_error(errors, "body", "format", "la nota è vuota");
	if (conf != NULL && !jsonx_in(conf, levels))
		jsonx_error(errors, "confidentiality", "enum", "uno tra normal, confidential");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *enc;
	if ((rc = api_case_encrypt(req, "case_note", "body", id, body, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[6] = {req->principal.tenant_id, id, c.id, enc, conf, req->principal.user_id};
	if ((rc = db_exec(req->arena, &st_insert, 6, p, NULL)) != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/cases/%s/notes/%s", c.id, id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return note_reply(req, c.id, id, 201);
}
