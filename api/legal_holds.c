/* Legal holds (schema/020_erasure.sql): a litigation, court, police or
 * audit hold on a person or a case that keeps the person's data from being
 * erased while it is active.
 *   GET  /api/v1/legal-holds?subject_id=&status=active|released
 *   POST /api/v1/legal-holds {subject_type, subject_id, reason}
 *   GET  /api/v1/legal-holds/{id}
 *   POST /api/v1/legal-holds/{id}/release {reason}
 * Service managers and the DPO place, read and release them. The reasons
 * may mention personal facts: stored encrypted, never in the audit trail.
 * A hold on a sealed or restricted subject the caller may not see does not
 * exist for the caller (row-level security), like the subject itself. */
#include "api/api.h"
#include "api/case_common.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MIN_CHARS 10
#define REASON_MAX_CHARS 2000

/* clang-format off */
#define HOLD_COLUMNS \
	"h.id, h.subject_type, coalesce(h.person_id, h.case_id), h.reason_enc, " \
	API_TS("h.placed_at") ", h.placed_by, " API_TS("h.released_at") ", h.released_by, " \
	"h.release_reason_enc, h.version FROM legal_hold h "
/* clang-format on */
enum {
	H_ID,
	H_TYPE,
	H_SUBJECT,
	H_REASON,
	H_PLACED,
	H_BY,
	H_RELEASED,
	H_RELEASED_BY,
	H_RELEASE_REASON,
	H_VERSION
};

/* The wire representation of row i (reasons decrypted); NULL with *rc set.
 * Registers the hold and its subject for the audit trail. */
static json_t *hold_json(struct http_req *req, PGresult *r, int i, int *rc)
{
	const char *id = PQgetvalue(r, i, H_ID), *reason, *release;
	const char *type = PQgetvalue(r, i, H_TYPE);
	*rc = api_case_decrypt(req, "legal_hold", "reason", id, r, i, H_REASON, &reason);
	if (*rc == DB_OK)
		*rc = api_case_decrypt(req, "legal_hold", "release_reason", id, r, i,
		                       H_RELEASE_REASON, &release);
	if (*rc == DB_OK && http_audit_object(req, strcmp(type, "case") == 0 ? "case" : "person",
	                                      PQgetvalue(r, i, H_SUBJECT)) != 0)
		*rc = DB_ERROR;
	if (*rc != DB_OK)
		return NULL;
	bool released = !PQgetisnull(r, i, H_RELEASED);
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:I}", "id", id, "subject_type",
	    type, "subject_id", PQgetvalue(r, i, H_SUBJECT), "reason", reason ? reason : "",
	    "status", released ? "released" : "active", "placed_at", PQgetvalue(r, i, H_PLACED),
	    "placed_by", PQgetvalue(r, i, H_BY), "released_at", api_case_opt(r, i, H_RELEASED),
	    "released_by", api_case_opt(r, i, H_RELEASED_BY), "release_reason",
	    release ? json_string(release) : json_null(), "version",
	    (json_int_t)atoll(PQgetvalue(r, i, H_VERSION)));
	*rc = o ? DB_OK : DB_ERROR;
	return o;
}

static const struct db_stmt st_one = {
    "legal_hold_one",
    "SELECT " HOLD_COLUMNS "WHERE h.tenant_id = $1 AND h.id = $2",
};

/* Replies 200 (or status) with hold id. Returns what the handler returns. */
static int hold_reply(struct http_req *req, const char *id, int status)
{
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	int rc = api_load_row(req, &st_one, 2, p, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (http_audit_object(req, "legal-hold", id) != 0)
		return -1;
	json_t *o = hold_json(req, r, 0, &rc);
	if (o == NULL)
		return api_case_fail(req, rc);
	return http_reply_json(req, status, o);
}

/* Reads a body {reason} (the only property, unless more is given in spec
 * by the caller) into *reason; returns 0, or replies 400 and returns 1. */
static int hold_reason(const char *reason, json_t *errors)
{
	if (reason != NULL && strspn(reason, " \t\r\n") == strlen(reason))
		jsonx_error(errors, "reason", "format", "il motivo è vuoto");
	return json_array_size(errors) > 0;
}

static const struct db_stmt st_insert = {
    "legal_hold_insert",
    "INSERT INTO legal_hold (tenant_id, id, subject_type, person_id, case_id, reason_enc, "
    "placed_by) VALUES ($1, $2, $3, CASE WHEN $3 = 'person' THEN $4::uuid END, "
    "CASE WHEN $3 = 'case' THEN $4::uuid END, $5, $6)",
};

/* POST /api/v1/legal-holds {subject_type, subject_id, reason}: 201 with the
 * hold; Location is the hold. */
int api_legal_hold_create(struct http_req *req)
{
	static const char *const types[] = {"person", "case", NULL};
	if (api_require_body(req))
		return 0;
	const char *type = NULL, *subject = NULL, *reason = NULL;
	const struct jsonx_field spec[] = {
	    {"subject_type", JX_STRING, JX_REQUIRED, 1, 16, &type, NULL},
	    {"subject_id", JX_STRING, JX_REQUIRED, 1, 64, &subject, NULL},
	    {"reason", JX_STRING, JX_REQUIRED, REASON_MIN_CHARS, REASON_MAX_CHARS, &reason, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (type != NULL && !jsonx_in(type, types))
		jsonx_error(errors, "subject_type", "enum", "uno tra person, case");
	if (subject != NULL && !util_is_uuid(subject))
		jsonx_error(errors, "subject_id", "format", "deve essere un UUID");
	if (hold_reason(reason, errors))
		return http_reply_validation(req, json_incref(errors));

	int rc = api_case_check_ref(req, strcmp(type, "case") == 0 ? "social_case" : "person",
	                            subject, "subject_id");
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *enc;
	if ((rc = api_case_encrypt(req, "legal_hold", "reason", id, reason, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[6] = {req->principal.tenant_id, id, type, subject, enc,
	                    req->principal.user_id};
	if ((rc = db_exec(req->arena, &st_insert, 6, p, NULL)) != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/legal-holds/%s", id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return hold_reply(req, id, 201);
}

static const struct db_stmt st_list = {
    "legal_hold_list",
    "SELECT " HOLD_COLUMNS "WHERE h.tenant_id = $1 "
    "AND ($2::uuid IS NULL OR h.person_id = $2 OR h.case_id = $2) "
    "AND ($3::text IS NULL OR (h.released_at IS NULL) = ($3 = 'active')) "
    "AND ($4::uuid IS NULL OR (h.placed_at, h.id) < (SELECT k.placed_at, k.id FROM "
    "legal_hold k WHERE k.tenant_id = $1 AND k.id = $4)) "
    "ORDER BY h.placed_at DESC, h.id DESC LIMIT $5",
};

/* GET /api/v1/legal-holds?subject_id=&status=&cursor=&limit= (newest
 * first). Every hold listed is an audited read. */
int api_legal_hold_list(struct http_req *req)
{
	static const char *const statuses[] = {"active", "released", NULL};
	int limit;
	const char *cursor, *status = http_query(req, "status");
	const char *subject = http_query(req, "subject_id");
	if (http_page_limit(req, 50, &limit) || api_case_cursor(req, &cursor))
		return 0;
	if (status != NULL && !jsonx_in(status, statuses))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "status: uno tra active, released");
	if (subject != NULL && !util_is_uuid(subject))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "subject_id: deve essere un UUID");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[5] = {req->principal.tenant_id, subject, status, cursor, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 5, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return api_case_reply_page(req, r, limit, H_ID, "legal-hold", hold_json);
}

/* GET /api/v1/legal-holds/{id} */
int api_legal_hold_read(struct http_req *req)
{
	return hold_reply(req, http_param(req, 0), 200);
}

static const struct db_stmt st_release = {
    "legal_hold_release",
    "UPDATE legal_hold SET released_at = now(), released_by = $3, release_reason_enc = $4, "
    "version = version + 1 WHERE tenant_id = $1 AND id = $2 AND released_at IS NULL",
};

/* POST /api/v1/legal-holds/{id}/release {reason}: ends an active hold (409
 * when it was released already); answers the hold. */
int api_legal_hold_release(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *reason = NULL;
	const struct jsonx_field spec[] = {
	    {"reason", JX_STRING, JX_REQUIRED, REASON_MIN_CHARS, REASON_MAX_CHARS, &reason, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, 1, errors);
	if (hold_reason(reason, errors))
		return http_reply_validation(req, json_incref(errors));

	const char *id = http_param(req, 0);
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	int rc = api_load_row(req, &st_one, 2, p, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (!PQgetisnull(r, 0, H_RELEASED))
		return http_reply_problem(req, PROBLEM_CONFLICT, "Il vincolo è già stato revocato");
	const char *enc;
	if ((rc = api_case_encrypt(req, "legal_hold", "release_reason", id, reason, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *u[4] = {req->principal.tenant_id, id, req->principal.user_id, enc};
	PGresult *ur;
	if ((rc = db_exec(req->arena, &st_release, 4, u, &ur)) != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY; /* released concurrently: the retry answers 409 */
	return hold_reply(req, id, 200);
}
