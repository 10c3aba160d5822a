/* Data-subject rights on /api/v1/persons/{id} (GDPR, DESIGN §5.3).
 * Restriction of processing (art. 18): PUT sets it with a reason (stored
 * encrypted), DELETE lifts it. While set, row-level security (migration
 * 017) hides the person and the content of their cases from every user but
 * the service managers and the DPO. Each request leaves its audit event. */
#include "api/api.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdlib.h>
#include <string.h>

enum { R_ID, R_RESTRICTED, R_REASON, R_AT, R_BY, R_VERSION };

static const struct db_stmt st_restriction = {
    "gdpr_restriction",
    "SELECT id, restricted, restriction_reason_enc, "
    "to_char(restricted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "restricted_by, version FROM person WHERE tenant_id = $1 AND id = $2",
};

static const struct db_stmt st_restrict = {
    "gdpr_restrict",
    "UPDATE person SET restricted = true, restriction_reason_enc = $3, "
    "restricted_at = now(), restricted_by = $4, updated_by = $4, updated_at = now(), "
    "version = version + 1 WHERE tenant_id = $1 AND id = $2 AND version = $5",
};

static const struct db_stmt st_lift = {
    "gdpr_lift",
    "UPDATE person SET restricted = false, restriction_reason_enc = NULL, "
    "restricted_at = NULL, restricted_by = NULL, updated_by = $3, updated_at = now(), "
    "version = version + 1 WHERE tenant_id = $1 AND id = $2 AND version = $4",
};

/* Loads the restriction columns of person id of the caller's tenant into
 * *r (arena-owned). Returns 0; 1 after replying 404; HTTP_RETRY. */
static int restriction_load(struct http_req *req, const char *id, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_restriction, 2, p, r);
}

/* Loads person id and checks If-Match against its version, which *version
 * receives (arena-owned). Returns 0; 1 after replying (404, 412, 428);
 * HTTP_RETRY. */
static int restriction_matching(struct http_req *req, const char *id, const char **version)
{
	PGresult *r;
	int rc = restriction_load(req, id, &r);
	if (rc != 0)
		return rc;
	*version = PQgetvalue(r, 0, R_VERSION);
	return http_check_if_match(req, atoll(*version)) ? 1 : 0;
}

/* Runs the versioned update st with its n parameters. Returns 0 when one
 * row changed; HTTP_RETRY when none (the retry answers 412); 1 after
 * replying a database error. */
static int restriction_write(struct http_req *req, const struct db_stmt *st, int n,
                             const char *const *p)
{
	PGresult *ur;
	int rc = db_exec(req->arena, st, n, p, &ur);
	if (rc != DB_OK) {
		http_reply_db_error(req, rc);
		return 1;
	}
	return strcmp(PQcmdTuples(ur), "1") == 0 ? 0 : HTTP_RETRY;
}

/* Replies 200 with the restriction of person id: person_id, restricted,
 * reason (decrypted), restricted_at and restricted_by; ETag: the person's
 * version. */
static int restriction_reply(struct http_req *req, const char *id)
{
	PGresult *r;
	int rc = restriction_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *reason = NULL;
	if (!PQgetisnull(r, 0, R_REASON)) {
		struct crypt_ctx ctx = {"person", "restriction_reason", req->principal.tenant_id,
		                        PQgetvalue(r, 0, R_ID)};
		size_t len;
		rc = crypt_decrypt(req->arena, &ctx, PQgetvalue(r, 0, R_REASON), &reason, &len);
		if (rc != DB_OK)
			return rc == CRYPT_INTEGRITY
			           ? http_reply_problem(req, PROBLEM_INTERNAL, NULL)
			           : http_reply_db_error(req, rc);
	}
	json_t *o = json_pack(
	    "{s:s, s:b, s:s?, s:s?, s:s?}", "person_id", PQgetvalue(r, 0, R_ID), "restricted",
	    strcmp(PQgetvalue(r, 0, R_RESTRICTED), "t") == 0, "reason", reason, "restricted_at",
	    PQgetisnull(r, 0, R_AT) ? NULL : PQgetvalue(r, 0, R_AT), "restricted_by",
	    PQgetisnull(r, 0, R_BY) ? NULL : PQgetvalue(r, 0, R_BY));
	if (o == NULL)
		return -1;
	if (http_audit_object(req, "person", id) != 0)
		return -1;
	http_set_etag(req, atoll(PQgetvalue(r, 0, R_VERSION)));
	return http_reply_json(req, 200, o);
}

/* PUT /api/v1/persons/{id}/restriction {"reason"} (If-Match: the person's
 * ETag): restricts processing (or replaces the reason of one in force). */
int api_person_restriction_put(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *reason = NULL;
	json_t *errors = jsonx_errors_new();
	const struct jsonx_field spec[] = {
	    {"reason", JX_STRING, JX_REQUIRED, 1, 2000, &reason, NULL},
	};
	jsonx_read(req->json, "", spec, 1, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	const char *id = http_param(req, 0);
	const char *version;
	int rc = restriction_matching(req, id, &version);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *enc;
	struct crypt_ctx ctx = {"person", "restriction_reason", req->principal.tenant_id, id};
	rc = crypt_encrypt(req->arena, &ctx, reason, strlen(reason), &enc);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[5] = {req->principal.tenant_id, id, enc, req->principal.user_id, version};
	rc = restriction_write(req, &st_restrict, 5, p);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return restriction_reply(req, id);
}

/* DELETE /api/v1/persons/{id}/restriction (If-Match: the person's ETag):
 * lifts a restriction; 204 also when none was in force. */
int api_person_restriction_delete(struct http_req *req)
{
	const char *id = http_param(req, 0);
	const char *version;
	int rc = restriction_matching(req, id, &version);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *p[4] = {req->principal.tenant_id, id, req->principal.user_id, version};
	rc = restriction_write(req, &st_lift, 4, p);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (http_audit_object(req, "person", id) != 0)
		return -1;
	return http_reply_empty(req, 204);
}
