#include "auth/session.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/http.h"
#include "server/util.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Writes the hex BLAKE2b-256 of token into out[65]. */
static void session_token_hash(const char *token, char out[65])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), NULL, 0);
	util_hex(h, sizeof h, out);
}

static const struct db_stmt st_create = {
    "session_create",
    "INSERT INTO session (tenant_id, user_id, token_hash, created_at, last_seen_at, "
    "expires_at, second_factor) VALUES ($1, $2, decode($3, 'hex'), clock_timestamp(), "
    "clock_timestamp(), clock_timestamp() + make_interval(secs => $4::int), $5) "
    "RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
};

/* Borrows the ids and second_factor; writes token and expires_at (caller-owned). */
int session_create(struct http_req *req, const char *tenant_id, const char *user_id,
                   const char *second_factor, char *token, char *expires_at)
{
	unsigned char raw[32];
	randombytes_buf(raw, sizeof raw);
	util_b64url_encode(raw, sizeof raw, token, SESSION_TOKEN_LEN + 1);
	sodium_memzero(raw, sizeof raw);
	char hash[65], absolute[16];
	session_token_hash(token, hash);
	snprintf(absolute, sizeof absolute, "%d", config.session_absolute);
	const char *p[5] = {tenant_id, user_id, hash, absolute, second_factor};
	PGresult *r;
	int rc = db_exec(req->arena, &st_create, 5, p, &r);
	if (rc == DB_OK)
		util_strlcpy(expires_at, PQgetvalue(r, 0, 0), 40);
	return rc;
}

static const struct db_stmt st_resolve = {
    "session_resolve",
    "SELECT session_id, user_id, username, tenant_id, tenant_code, roles, second_factor "
    "FROM app.resolve_session(decode($1, 'hex'), $2::int)",
};

/* True when token has the shape of one of ours. */
static bool session_token_shape(const char *t)
{
	if (strlen(t) != SESSION_TOKEN_LEN)
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return true;
}

/* Replies 401 with no hint of why (missing, malformed, unknown, expired). */
static int session_deny(struct http_req *req)
{
	http_add_header(req, "WWW-Authenticate", "Bearer");
	http_reply_problem(req, PROBLEM_UNAUTHORIZED, NULL);
	return 1;
}

int session_authenticate(struct http_req *req)
{
	const char *h = http_header(req, "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return session_deny(req);
	const char *token = h + 7;
	while (*token == ' ')
		token++;
	if (!session_token_shape(token))
		return session_deny(req);
	char hash[65], idle[16];
	session_token_hash(token, hash);
	snprintf(idle, sizeof idle, "%d", config.session_idle);
	const char *p[2] = {hash, idle};
	PGresult *r;
	int rc = db_exec(req->arena, &st_resolve, 2, p, &r);
	if (rc != DB_OK) {
		http_reply_db_error(req, rc == DB_RETRY ? DB_UNAVAILABLE : rc);
		return 1;
	}
	if (PQntuples(r) != 1)
		return session_deny(req);
	struct http_principal *pr = &req->principal;
	util_strlcpy(pr->session_id, PQgetvalue(r, 0, 0), sizeof pr->session_id);
	util_strlcpy(pr->user_id, PQgetvalue(r, 0, 1), sizeof pr->user_id);
	util_strlcpy(pr->username, PQgetvalue(r, 0, 2), sizeof pr->username);
	util_strlcpy(pr->tenant_id, PQgetvalue(r, 0, 3), sizeof pr->tenant_id);
	util_strlcpy(pr->tenant_code, PQgetvalue(r, 0, 4), sizeof pr->tenant_code);
	pr->roles = policy_roles_from_array(PQgetvalue(r, 0, 5));
	util_strlcpy(pr->second_factor, PQgetvalue(r, 0, 6), sizeof pr->second_factor);
	pr->authenticated = true;
	return 0;
}

static const struct db_stmt st_revoke = {
    "session_revoke",
    "UPDATE session SET revoked_at = now() "
    "WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
};

int session_revoke_current(struct http_req *req)
{
	const char *p[2] = {req->principal.tenant_id, req->principal.session_id};
	return db_exec(req->arena, &st_revoke, 2, p, NULL);
}

static const struct db_stmt st_second_factor = {
    "session_second_factor",
    "UPDATE session SET second_factor = $3 WHERE tenant_id = $1 AND id = $2",
};

/* Borrows second_factor; updates the principal too. */
int session_set_second_factor(struct http_req *req, const char *second_factor)
{
	const char *p[3] = {req->principal.tenant_id, req->principal.session_id, second_factor};
	int rc = db_exec(req->arena, &st_second_factor, 3, p, NULL);
	if (rc == DB_OK)
		util_strlcpy(req->principal.second_factor, second_factor,
		             sizeof req->principal.second_factor);
	return rc;
}
