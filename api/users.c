/* /api/v1/users: staff accounts with roles in the caller's tenant (admin). */
#include "api/api.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "auth/totp_store.h"
#include "auth/users.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The account as the API shows it, from a row of st_list/st_one. */
static json_t *user_json(PGresult *r, int row, const char *tenant_id)
{
	uint32_t roles = policy_roles_from_array(PQgetvalue(r, row, 5));
	bool home = strcmp(PQgetvalue(r, row, 4), tenant_id) == 0;
	/* The factor lives in the home tenant (row-level security hides it from
	 * the others): "totp", "pending" (enrolment not confirmed), "none", or
	 * null for an account another Comune manages. */
	const char *factor =
	    PQgetisnull(r, row, 6) ? (home ? "none" : NULL) : PQgetvalue(r, row, 6);
	return json_pack("{s:s, s:s, s:b, s:b, s:o, s:s?, s:I}", "id", PQgetvalue(r, row, 0),
	                 "username", PQgetvalue(r, row, 1), "disabled",
	                 strcmp(PQgetvalue(r, row, 2), "t") == 0, "home_tenant", home, "roles",
	                 api_roles_json(roles), "second_factor", factor, "version",
	                 (json_int_t)atoll(PQgetvalue(r, row, 3)));
}

#define USER_SELECT                                                                                \
	"SELECT u.id, u.username, u.disabled, u.version, u.home_tenant_id, "                       \
	"coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_role r "                     \
	"          WHERE r.tenant_id = $1 AND r.user_id = u.id), '{}'), "                          \
	"(SELECT CASE WHEN t.confirmed_at IS NULL THEN 'pending' ELSE 'totp' END "                 \
	"   FROM user_totp t WHERE t.user_id = u.id) "                                             \
	"FROM app_user u WHERE (u.home_tenant_id = $1 OR EXISTS (SELECT 1 FROM user_role r "       \
	"WHERE r.tenant_id = $1 AND r.user_id = u.id)) "

static const struct db_stmt st_list = {
    "users_list",
    USER_SELECT "AND ($2::text IS NULL OR u.username > $2) ORDER BY u.username LIMIT $3",
};

static const struct db_stmt st_one = {
    "users_one",
    USER_SELECT "AND u.id = $2",
};

/* Decodes an opaque cursor (base64url of the last username) into the arena.
 * Returns NULL when absent; sets *bad when malformed. */
static const char *user_cursor(struct http_req *req, bool *bad)
{
	const char *c = http_query(req, "cursor");
	*bad = false;
	if (c == NULL)
		return NULL;
	size_t cap = strlen(c) + 1;
	unsigned char *out = arena_alloc(req->arena, cap);
	size_t len = 0;
	if (out == NULL ||
	    sodium_base642bin(out, cap, c, strlen(c), NULL, &len, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    len == 0 || len > 64) {
		*bad = true;
		return NULL;
	}
	out[len] = '\0';
	return (const char *)out;
}

/* GET /api/v1/users */
int api_user_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	bool bad;
	const char *after = user_cursor(req, &bad);
	if (bad)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[3] = {req->principal.tenant_id, after, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 3, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++)
		json_array_append_new(items, user_json(r, i, req->principal.tenant_id));
	json_t *next = json_null();
	if (rows > limit) {
		const char *last = PQgetvalue(r, limit - 1, 1);
		char enc[128];
		util_b64url_encode((const unsigned char *)last, strlen(last), enc, sizeof enc);
		json_decref(next);
		next = json_string(enc);
	}
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}

/* Reads the account {id} as seen from the caller's tenant into *out
 * (arena-owned result); replies 404 and returns 1 when not visible. */
static int user_load(struct http_req *req, PGresult **out)
{
	const char *id = http_param(req, 0);
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_one, 2, p, out);
}

/* Loads the account {id} for a change and checks If-Match. Returns 0 to go
 * on with *out; else 1, with *ret what the handler returns (it replied, or
 * HTTP_RETRY). */
static int user_load_for_change(struct http_req *req, PGresult **out, int *ret)
{
	int lrc = user_load(req, out);
	*ret = lrc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (lrc != 0)
		return 1;
	return http_check_if_match(req, atoll(PQgetvalue(*out, 0, 3)));
}

/* After a change to account id: bumps its version and revokes its sessions
 * so the change takes effect at once. Returns a db_rc. */
static int user_changed(struct http_req *req, const char *id)
{
	int rc = users_touch(req->arena, id);
	return rc == DB_OK ? users_revoke_sessions(req->arena, id) : rc;
}

/* Replies with the account {id} (after a change, too) and its ETag. */
static int user_reply(struct http_req *req, int status)
{
	PGresult *r;
	int rc = user_load(req, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	http_set_etag(req, atoll(PQgetvalue(r, 0, 3)));
	return http_reply_json(req, status, user_json(r, 0, req->principal.tenant_id));
}

/* GET /api/v1/users/{id} */
int api_user_read(struct http_req *req)
{
	return user_reply(req, 200);
}

/* Validates a "roles" array into bits; appends errors. */
static uint32_t roles_from_json(json_t *arr, json_t *errors)
{
	return api_names_to_bits(arr, "roles", policy_role_bit,
	                         "ruolo sconosciuto: social_worker, administrative, "
	                         "service_manager, planning_office, dpo o admin",
	                         errors);
}

/* Adds the password policy's verdict on password (may be NULL) to errors. */
static void password_check(const char *password, json_t *errors)
{
	const char *why = password ? password_policy_error(password) : NULL;
	if (why)
		jsonx_error(errors, "password",
		            strlen(password) > PASSWORD_MAX_BYTES ? "max_length" : "min_length",
		            why);
}

/* True when name is an acceptable username (lower case, 3-64, [a-z0-9._-]). */
static bool username_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 3 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

/* POST /api/v1/users */
int api_user_create(struct http_req *req)
{
	const char *username = NULL, *password = NULL;
	json_t *roles_arr = NULL;
	const struct jsonx_field spec[] = {
	    {"username", JX_STRING, JX_REQUIRED, 3, 64, &username, NULL},
	    {"password", JX_STRING, JX_REQUIRED, 1, PASSWORD_MAX_BYTES, &password, NULL},
	    {"roles", JX_ARRAY, JX_REQUIRED, 1, POLICY_ROLE_COUNT, &roles_arr, NULL},
	};
	if (api_require_body(req))
		return 0;
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (username && strlen(username) >= 3 && strlen(username) <= 64 && !username_ok(username))
		jsonx_error(errors, "username", "pattern",
		            "3-64 caratteri minuscoli: lettere, cifre, punto, trattino, trattino "
		            "basso; inizia con lettera o cifra");
	password_check(password, errors);
	uint32_t roles = roles_arr ? roles_from_json(roles_arr, errors) : 0;
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	char hash[PASSWORD_HASH_MAX];
	if (password_hash(password, hash) != 0)
		return -1;
	char id[UTIL_UUID_LEN + 1];
	int rc = users_create(req->arena, username, hash, req->principal.tenant_id, id);
	if (rc == DB_UNIQUE)
		return http_reply_problem(req, PROBLEM_CONFLICT, "username già in uso");
	if (rc == DB_OK)
		rc = users_set_roles(req->arena, req->principal.tenant_id, id, roles,
		                     req->principal.user_id);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	req->params[0] = arena_strdup(req->arena, id);
	char *loc = arena_printf(req->arena, "/api/v1/users/%s", id);
	if (req->params[0] == NULL || loc == NULL)
		return -1;
	http_add_header(req, "Location", loc);
	return user_reply(req, 201);
}

/* PATCH /api/v1/users/{id}: roles, disabled, password. Every change revokes
 * the account's sessions so it takes effect at once. */
int api_user_update(struct http_req *req)
{
	json_t *roles_arr = NULL;
	int disabled = -1;
	const char *password = NULL;
	const struct jsonx_field spec[] = {
	    {"roles", JX_ARRAY, 0, 0, POLICY_ROLE_COUNT, &roles_arr, NULL},
	    {"disabled", JX_BOOL, 0, 0, 0, &disabled, NULL},
	    {"password", JX_STRING, 0, 1, PASSWORD_MAX_BYTES, &password, NULL},
	};
	if (api_require_body(req))
		return 0;
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	password_check(password, errors);
	uint32_t roles = roles_arr ? roles_from_json(roles_arr, errors) : 0;
	if (json_object_size(req->json) == 0)
		jsonx_error(errors, "", "min_properties",
		            "indicare almeno uno tra roles, disabled, password");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	PGresult *r;
	int ret;
	if (user_load_for_change(req, &r, &ret))
		return ret;
	const char *id = PQgetvalue(r, 0, 0);
	bool home = strcmp(PQgetvalue(r, 0, 4), req->principal.tenant_id) == 0;
	if ((disabled >= 0 || password != NULL) && !home)
		return http_reply_problem(req, PROBLEM_FORBIDDEN,
		                          "disabled, password: l'account appartiene a un altro "
		                          "ente; qui si possono cambiare solo i ruoli");
	if (disabled == 1 && strcmp(id, req->principal.user_id) == 0)
		return http_reply_problem(req, PROBLEM_CONFLICT,
		                          "non è possibile disattivare il proprio account");

	int rc = DB_OK;
	if (roles_arr)
		rc = users_set_roles(req->arena, req->principal.tenant_id, id, roles,
		                     req->principal.user_id);
	if (rc == DB_OK && disabled >= 0)
		rc = users_set_disabled(req->arena, id, disabled == 1);
	if (rc == DB_OK && password != NULL) {
		char hash[PASSWORD_HASH_MAX];
		if (password_hash(password, hash) != 0)
			return -1;
		rc = users_set_password(req->arena, id, hash);
	}
	if (rc == DB_OK)
		rc = user_changed(req, id);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return user_reply(req, 200);
}

/* DELETE /api/v1/users/{id}/totp: forgets the account's second factor and
 * recovery codes (a lost phone) and revokes its sessions; its next login
 * enrols again. Like the password, only the home tenant's admin may. */
int api_user_totp_reset(struct http_req *req)
{
	PGresult *r;
	int ret;
	if (user_load_for_change(req, &r, &ret))
		return ret;
	const char *id = PQgetvalue(r, 0, 0);
	if (strcmp(PQgetvalue(r, 0, 4), req->principal.tenant_id) != 0)
		return http_reply_problem(
		    req, PROBLEM_FORBIDDEN,
		    "l'account appartiene a un altro ente: il secondo fattore "
		    "si azzera solo dall'ente di appartenenza");
	int rc = totp_store_reset(req->arena, req->principal.tenant_id, id);
	if (rc == DB_OK)
		rc = user_changed(req, id);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return http_reply_empty(req, 204);
}
