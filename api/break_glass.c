/* Break-glass (DESIGN §5.2): a social worker who must see a sealed case they
 * are not assigned to opens a time-boxed grant with a reason,
 *   POST /api/v1/cases/{id}/break-glass {reason, minutes?}
 * and the service managers review every grant afterwards,
 *   GET  /api/v1/break-glass-reviews?status=pending|resolved
 *   GET  /api/v1/break-glass-reviews/{id}
 *   POST /api/v1/break-glass-reviews/{id}/resolution {outcome, comment}.
 * Visibility itself is row-level security (schema/012_sealed.sql): while the
 * grant runs, the case and its rows are visible to its holder, and the audit
 * hook flags every event on them with the grant's id. The reason and the
 * review comment may mention personal facts: both are stored encrypted and
 * never reach the audit trail. */
#include "api/api.h"
#include "api/case_common.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MIN_CHARS  20
#define REASON_MAX_CHARS  1000
#define COMMENT_MAX_CHARS 2000
#define MINUTES_DEFAULT   30
#define MINUTES_MAX       30

/* clang-format off */
#define GRANT_COLUMNS \
	"g.id, g.case_id, g.user_id, u.username, " API_TS("g.opened_at") ", " \
	API_TS("g.expires_at") ", g.minutes, g.expires_at > now(), g.reason_enc, " \
	"(SELECT count(*) FROM audit_event e WHERE e.tenant_id = g.tenant_id " \
	"AND e.purpose = g.id::text), g.outcome, g.comment_enc, g.resolved_by, r.username, " \
	API_TS("g.resolved_at") ", g.version " \
	"FROM break_glass_grant g JOIN app_user u ON u.id = g.user_id " \
	"LEFT JOIN app_user r ON r.id = g.resolved_by "
/* clang-format on */
enum {
	G_ID,
	G_CASE,
	G_USER,
	G_USERNAME,
	G_OPENED,
	G_EXPIRES,
	G_MINUTES,
	G_ACTIVE,
	G_REASON,
	G_EVENTS,
	G_OUTCOME,
	G_COMMENT,
	G_RESOLVER,
	G_RESOLVER_NAME,
	G_RESOLVED,
	G_VERSION
};

/* The review representation of row i (reason and comment decrypted); NULL
 * with *rc set. */
static json_t *review_json(struct http_req *req, PGresult *r, int i, int *rc)
{
	const char *id = PQgetvalue(r, i, G_ID), *reason, *comment;
	*rc = api_case_decrypt(req, "break_glass_grant", "reason", id, r, i, G_REASON, &reason);
	if (*rc == DB_OK)
		*rc = api_case_decrypt(req, "break_glass_grant", "comment", id, r, i, G_COMMENT,
		                       &comment);
	if (*rc != DB_OK)
		return NULL;
	bool resolved = !PQgetisnull(r, i, G_OUTCOME);
	/* A UserRef whose members are null while the grant waits for review. */
	json_t *resolver = json_pack("{s:o, s:o}", "id", api_case_opt(r, i, G_RESOLVER), "username",
	                             api_case_opt(r, i, G_RESOLVER_NAME));
	json_t *o = json_pack(
	    "{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:I, s:b, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:I}",
	    "id", id, "case_id", PQgetvalue(r, i, G_CASE), "user", "id", PQgetvalue(r, i, G_USER),
	    "username", PQgetvalue(r, i, G_USERNAME), "opened_at", PQgetvalue(r, i, G_OPENED),
	    "expires_at", PQgetvalue(r, i, G_EXPIRES), "minutes",
	    (json_int_t)atoll(PQgetvalue(r, i, G_MINUTES)), "active",
	    strcmp(PQgetvalue(r, i, G_ACTIVE), "t") == 0, "reason", reason ? reason : "",
	    "audit_events", (json_int_t)atoll(PQgetvalue(r, i, G_EVENTS)), "status",
	    resolved ? "resolved" : "pending", "outcome", api_case_opt(r, i, G_OUTCOME), "comment",
	    comment ? json_string(comment) : json_null(), "resolved_by", resolver, "resolved_at",
	    api_case_opt(r, i, G_RESOLVED), "version",
	    (json_int_t)atoll(PQgetvalue(r, i, G_VERSION)));
	*rc = o ? DB_OK : DB_ERROR;
	return o;
}

static const struct db_stmt st_one = {
    "break_glass_one",
    "SELECT " GRANT_COLUMNS "WHERE g.tenant_id = $1 AND g.id = $2",
};

/* Loads grant id with GRANT_COLUMNS: 0, or 1 after replying 404 / an error,
 * or HTTP_RETRY. */
static int review_load(struct http_req *req, const char *id, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_one, 2, p, r);
}

/* Replies with review id (ETag set). */
static int review_reply(struct http_req *req, const char *id, int status)
{
	PGresult *r;
	int rc = review_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	json_t *o = review_json(req, r, 0, &rc);
	if (o == NULL)
		return api_case_fail(req, rc);
	http_set_etag(req, atoll(PQgetvalue(r, 0, G_VERSION)));
	return http_reply_json(req, status, o);
}

static const struct db_stmt st_case_sealed = {
    "break_glass_case_sealed",
    "SELECT app.case_sealed($1::uuid)",
};

static const struct db_stmt st_insert = {
    "break_glass_insert",
    "INSERT INTO break_glass_grant (tenant_id, id, case_id, user_id, reason_enc, minutes, "
    "opened_at, expires_at) SELECT $1, $2, $3, $4, $5, $6::smallint, t, "
    "t + make_interval(mins => $6::integer) FROM clock_timestamp() AS t "
    "RETURNING " API_TS("opened_at") ", " API_TS("expires_at"),
};

/* Checks that case id exists in the caller's tenant and is sealed, whether
 * or not the caller may see it. Returns 0 when it is; 1 after replying 404
 * (no such case) or 409 (not sealed) or an error; HTTP_RETRY. */
static int grant_check_case(struct http_req *req, const char *id)
{
	if (id == NULL || !util_is_uuid(id)) {
		http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
		return 1;
	}
	const char *p[1] = {id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_case_sealed, 1, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
		http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
		return 1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		return 0;
	json_t *errors = jsonx_errors_new();
	jsonx_error(
	    errors, "", "state",
	    "la cartella non è riservata: chi ne ha il ruolo la vede senza accesso d'urgenza");
	http_reply_problem_with(req, PROBLEM_CONFLICT, "La cartella non è riservata (sealed)",
	                        json_pack("{s:o}", "errors", errors));
	return 1;
}

/* POST /api/v1/cases/{id}/break-glass: {reason, minutes?}. Answers 201 with
 * the grant; Location is its review (readable by the service managers). */
int api_case_break_glass(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *reason = NULL;
	long long minutes = MINUTES_DEFAULT;
	const struct jsonx_field spec[] = {
	    {"reason", JX_STRING, JX_REQUIRED, REASON_MIN_CHARS, REASON_MAX_CHARS, &reason, NULL},
	    {"minutes", JX_INT, 0, 0, 0, &minutes, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (reason != NULL && strspn(reason, " \t\r\n") == strlen(reason))
		jsonx_error(errors, "reason", "format", "il motivo è vuoto");
	if (minutes < 1 || minutes > MINUTES_MAX)
		jsonx_error(errors, "minutes", "range", "da 1 a 30 minuti");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	const char *case_id = http_param(req, 0);
	int rc = grant_check_case(req, case_id);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *enc;
	if ((rc = api_case_encrypt(req, "break_glass_grant", "reason", id, reason, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	char smin[8];
	snprintf(smin, sizeof smin, "%lld", minutes);
	const char *p[6] = {req->principal.tenant_id, id,  case_id,
	                    req->principal.user_id,   enc, smin};
	PGresult *r;
	if ((rc = db_exec(req->arena, &st_insert, 6, p, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/break-glass-reviews/%s", id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return http_reply_json(req, 201,
	                       json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", id, "case_id",
	                                 case_id, "user_id", req->principal.user_id, "opened_at",
	                                 PQgetvalue(r, 0, 0), "expires_at", PQgetvalue(r, 0, 1),
	                                 "minutes", (json_int_t)minutes));
}

static const struct db_stmt st_list = {
    "break_glass_list",
    "SELECT " GRANT_COLUMNS "WHERE g.tenant_id = $1 "
    "AND ($2::text IS NULL OR (g.outcome IS NULL) = ($2 = 'pending')) "
    "AND ($3::uuid IS NULL OR (g.opened_at, g.id) < (SELECT k.opened_at, k.id FROM "
    "break_glass_grant k WHERE k.tenant_id = $1 AND k.id = $3)) "
    "ORDER BY g.opened_at DESC, g.id DESC LIMIT $4",
};

/* GET /api/v1/break-glass-reviews?status=pending|resolved&cursor=&limit=
 * (newest first). Every grant listed is an audited read. */
int api_break_glass_review_list(struct http_req *req)
{
	static const char *const statuses[] = {"pending", "resolved", NULL};
	int limit;
	const char *cursor, *status = http_query(req, "status");
	if (http_page_limit(req, 50, &limit) || api_case_cursor(req, &cursor))
		return 0;
	if (status != NULL && !jsonx_in(status, statuses))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "status: uno tra pending, resolved");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[4] = {req->principal.tenant_id, status, cursor, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 4, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return api_case_reply_page(req, r, limit, G_ID, "break-glass-review", review_json);
}

/* GET /api/v1/break-glass-reviews/{id} */
int api_break_glass_review_read(struct http_req *req)
{
	return review_reply(req, http_param(req, 0), 200);
}

static const struct db_stmt st_resolve = {
    "break_glass_resolve",
    "UPDATE break_glass_grant SET outcome = $3, comment_enc = $4, resolved_by = $5, "
    "resolved_at = now(), version = version + 1 "
    "WHERE tenant_id = $1 AND id = $2 AND outcome IS NULL",
};

/* POST /api/v1/break-glass-reviews/{id}/resolution: {outcome, comment}.
 * A grant is resolved once (409 afterwards), and not by its own holder. */
int api_break_glass_review_resolve(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	static const char *const outcomes[] = {"justified", "unjustified", NULL};
	const char *outcome = NULL, *comment = NULL;
	const struct jsonx_field spec[] = {
	    {"outcome", JX_STRING, JX_REQUIRED, 1, 16, &outcome, NULL},
	    {"comment", JX_STRING, JX_REQUIRED, 1, COMMENT_MAX_CHARS, &comment, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (outcome != NULL && !jsonx_in(outcome, outcomes))
		jsonx_error(errors, "outcome", "enum", "uno tra justified, unjustified");
	if (comment != NULL && strspn(comment, " \t\r\n") == strlen(comment))
		jsonx_error(errors, "comment", "format", "il commento è vuoto");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	const char *id = http_param(req, 0);
	PGresult *r;
	int rc = review_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (!PQgetisnull(r, 0, G_OUTCOME))
		return http_reply_problem(req, PROBLEM_CONFLICT,
		                          "L'accesso d'urgenza è già stato esaminato");
	if (strcmp(PQgetvalue(r, 0, G_USER), req->principal.user_id) == 0)
		return http_reply_problem(req, PROBLEM_FORBIDDEN,
		                          "Non si esamina il proprio accesso d'urgenza");
	const char *enc;
	if ((rc = api_case_encrypt(req, "break_glass_grant", "comment", id, comment, &enc)) !=
	    DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[5] = {req->principal.tenant_id, id, outcome, enc, req->principal.user_id};
	PGresult *ur;
	if ((rc = db_exec(req->arena, &st_resolve, 5, p, &ur)) != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY; /* resolved meanwhile: the retry answers 409 */
	return review_reply(req, id, 200);
}
