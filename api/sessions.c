/* /api/v1/sessions: log in, read the current session, log out. */
#include "api/api.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "auth/session.h"
#include "auth/throttle.h"
#include "auth/totp_store.h"
#include "auth/users.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Answers a failed login: counts it against the account and the address
 * (kept even though the answer is an error) and replies 401. The body is
 * the same whatever failed: unknown user, wrong password, disabled account. */
static int login_failed(struct http_req *req, const char *acct_key, const char *addr_key)
{
	int rc =
	    throttle_fail(req->arena, acct_key, config.login_max_failures, config.login_window);
	if (rc == DB_OK)
		rc = throttle_fail(req->arena, addr_key, 4 * config.login_max_failures,
		                   config.login_window);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	req->commit_on_error = true;
	return http_reply_problem(req, PROBLEM_INVALID_CREDENTIALS, NULL);
}

/* Builds the session representation shared by login and GET current. */
static json_t *session_json(const char *user_id, const char *username, const struct users_tenant *t,
                            unsigned roles, const char *expires_at, const char *second_factor)
{
	return json_pack("{s:s, s:i, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s}, s:o, s:s}", "expires_at",
	                 expires_at, "idle_timeout_seconds", config.session_idle, "user", "id",
	                 user_id, "username", username, "tenant", "id", t->id, "code", t->code,
	                 "name", t->name, "kind", t->kind, "roles", api_roles_json(roles),
	                 "second_factor", second_factor);
}

/* Checks the shape of the optional second-factor fields of a login body
 * (borrowed), adding to errors: a 6-digit totp, a recovery code of the
 * recovery alphabet, not both. The shape says nothing about the account. */
static void login_factor_shape(const char *totp, const char *recovery, json_t *errors)
{
	char norm[TOTP_RECOVERY_CHARS + 1];
	if (totp != NULL && !totp_code_shape(totp))
		jsonx_error(errors, "totp", "pattern", "6 cifre");
	if (recovery != NULL && totp_recovery_normalise(recovery, norm) != 0)
		jsonx_error(errors, "recovery_code", "pattern",
		            "12 caratteri tra a-z e 2-7, trattini facoltativi (xxxx-xxxx-xxxx)");
	if (totp != NULL && recovery != NULL)
		jsonx_error(errors, "recovery_code", "exclusive",
		            "indicare totp oppure recovery_code, non entrambi");
}

/* The second_factor a new session records, from how the login passed it
 * and the roles it carries (roles that read personal data must enrol). */
static const char *login_second_factor(enum totp_factor f, uint32_t roles)
{
	if (f == TOTP_FACTOR_CODE)
		return "totp";
	if (f == TOTP_FACTOR_RECOVERY)
		return "recovery_code";
	if (config.totp_required && policy_has_role(roles, POLICY_SECOND_FACTOR_ROLES))
		return "enrolment_required";
	return "none";
}

/* POST /api/v1/sessions */
int api_session_create(struct http_req *req)
{
	const char *username = NULL, *password = NULL, *tenant = NULL, *totp = NULL,
	           *recovery = NULL;
	const struct jsonx_field spec[] = {
	    {"username", JX_STRING, JX_REQUIRED, 1, 64, &username, NULL},
	    {"password", JX_STRING, JX_REQUIRED, 1, PASSWORD_MAX_BYTES, &password, NULL},
	    {"tenant", JX_STRING, JX_REQUIRED, 1, 32, &tenant, NULL},
	    {"totp", JX_STRING, 0, 1, 16, &totp, NULL},
	    {"recovery_code", JX_STRING, 0, 1, 64, &recovery, NULL},
	};
	if (api_require_body(req))
		return 0;
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	login_factor_shape(totp, recovery, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	char *user_lc = arena_strdup(req->arena, username);
	if (user_lc == NULL)
		return -1;
	for (char *p = user_lc; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	char acct_key[THROTTLE_KEY_HEX], addr_key[THROTTLE_KEY_HEX];
	throttle_key("account", tenant, user_lc, acct_key);
	throttle_key("address", req->client_ip, "", addr_key);

	long wait = throttle_blocked(req->arena, acct_key, addr_key);
	if (wait < 0)
		return http_reply_db_error(req, (int)wait);
	if (wait > 0) {
		char s[24];
		snprintf(s, sizeof s, "%ld", wait);
		http_add_header(req, "Retry-After", s);
		return http_reply_problem(
		    req, PROBLEM_TOO_MANY_REQUESTS,
		    "Troppi tentativi di accesso falliti: riprovare più tardi");
	}

	struct users_tenant t;
	int trc = users_tenant_by_code(req->arena, tenant, &t);
	if (trc < 0)
		return http_reply_db_error(req, trc);
	struct users_account u;
	int urc = users_by_username(req->arena, user_lc, &u);
	if (urc < 0)
		return http_reply_db_error(req, urc);
	bool usable = urc == DB_OK && !u.disabled;
	/* Always verify, against a dummy hash when there is no usable account,
	 * so timing does not tell which usernames exist. */
	bool ok = password_verify(usable ? u.password_hash : NULL, password);
	if (!ok || trc != DB_OK)
		return login_failed(req, acct_key, addr_key);

	/* The second factor belongs to the account's home tenant (row-level
	 * security and the key of its secret): check it there, then move to the
	 * tenant of the session. A missing, wrong or replayed code fails like a
	 * wrong password. */
	enum totp_factor factor = TOTP_FACTOR_NOT_ENROLLED;
	int rc = db_set_context(req->arena, u.home_tenant_id, u.id);
	if (rc == DB_OK)
		rc = totp_store_login(req->arena, u.home_tenant_id, u.id, totp, recovery, &factor);
	if (rc == TOTP_REFUSED)
		return login_failed(req, acct_key, addr_key);
	if (rc == DB_OK)
		rc = db_set_context(req->arena, t.id, u.id);
	uint32_t roles = 0;
	if (rc == DB_OK)
		rc = users_roles(req->arena, t.id, u.id, &roles);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (roles == 0)
		return http_reply_problem(req, PROBLEM_NO_ROLE_IN_TENANT, NULL);
	const char *second_factor = login_second_factor(factor, roles);
	rc = throttle_reset(req->arena, acct_key);
	if (rc == DB_OK && password_needs_rehash(u.password_hash)) {
		char hash[PASSWORD_HASH_MAX];
		if (password_hash(password, hash) == 0)
			rc = users_set_password(req->arena, u.id, hash);
	}
	char token[SESSION_TOKEN_LEN + 1], expires[40];
	if (rc == DB_OK)
		rc = session_create(req, t.id, u.id, second_factor, token, expires);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);

	json_t *body = session_json(u.id, u.username, &t, roles, expires, second_factor);
	if (body == NULL)
		return -1;
	json_object_set_new(body, "token", json_string(token));
	json_object_set_new(body, "token_type", json_string("Bearer"));
	http_add_header(req, "Location", "/api/v1/sessions/current");
	return http_reply_json(req, 201, body);
}

static const struct db_stmt st_current = {
    "session_current",
    "SELECT to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "t.name, t.kind FROM session s JOIN tenant t ON t.id = s.tenant_id "
    "WHERE s.tenant_id = $1 AND s.id = $2",
};

/* GET /api/v1/sessions/current */
int api_session_read(struct http_req *req)
{
	const struct http_principal *pr = &req->principal;
	const char *p[2] = {pr->tenant_id, pr->session_id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_current, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	struct users_tenant t;
	util_strlcpy(t.id, pr->tenant_id, sizeof t.id);
	util_strlcpy(t.code, pr->tenant_code, sizeof t.code);
	util_strlcpy(t.name, PQgetvalue(r, 0, 1), sizeof t.name);
	util_strlcpy(t.kind, PQgetvalue(r, 0, 2), sizeof t.kind);
	return http_reply_json(req, 200,
	                       session_json(pr->user_id, pr->username, &t, pr->roles,
	                                    PQgetvalue(r, 0, 0), pr->second_factor));
}

/* DELETE /api/v1/sessions/current */
int api_session_delete(struct http_req *req)
{
	int rc = session_revoke_current(req);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return http_reply_empty(req, 204);
}
