/* /api/v1/sessions/current/totp: the caller enrols their own TOTP second
 * factor through their session (there is no /users/me: the session is the
 * caller's only self-service resource, and an enrolment-only session after
 * the first login reaches nothing else). The factor belongs to the account,
 * kept under its home tenant, whichever tenant the session is in. */
#include "api/api.h"
#include "auth/session.h"
#include "auth/totp_store.h"
#include "auth/users.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <sodium.h>
#include <string.h>

/* The caller's account (for its home tenant) into *u. Returns a db_rc. */
static int totp_account(struct http_req *req, struct users_account *u)
{
	int rc = users_by_id(req->arena, req->principal.user_id, u);
	return rc == USERS_NOT_FOUND ? DB_ERROR : rc;
}

/* Moves the transaction's context to the account's home tenant (where its
 * second factor lives) or back to the session's tenant. Returns a db_rc. */
static int totp_context(struct http_req *req, const struct users_account *u, bool home)
{
	return db_set_context(req->arena, home ? u->home_tenant_id : req->principal.tenant_id,
	                      u->id);
}

static const struct db_stmt st_tenant_code = {
    "totp_tenant_code",
    "SELECT code FROM tenant WHERE id = $1",
};

/* POST /api/v1/sessions/current/totp: a new secret, shown once. */
int api_totp_enrol(struct http_req *req)
{
	unsigned char secret[TOTP_SECRET_LEN];
	char b32[TOTP_BASE32_LEN + 1];
	int ret = 0;
	if (req->json != NULL) {
		json_t *errors = jsonx_errors_new();
		if (jsonx_read(req->json, "", NULL, 0, errors) > 0)
			return http_reply_validation(req, errors);
		json_decref(errors);
	}
	struct users_account u;
	int rc = totp_account(req, &u);
	PGresult *r = NULL;
	const char *p[1] = {u.home_tenant_id};
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_tenant_code, 1, p, &r);
	if (rc == DB_OK)
		rc = totp_context(req, &u, true);
	if (rc == DB_OK)
		rc = totp_store_begin(req->arena, u.home_tenant_id, u.id, secret);
	int back = totp_context(req, &u, false);
	if (back != DB_OK)
		rc = back;
	if (rc == TOTP_CONFLICT)
		return http_reply_problem(
		    req, PROBLEM_CONFLICT,
		    "il secondo fattore è già attivo: per sostituirlo serve il "
		    "reset da parte dell'amministratore");
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (totp_base32(secret, sizeof secret, b32, sizeof b32) != 0) {
		ret = -1;
		goto out;
	}
	/* Key URI format: issuer prefix, then the account as "tenant:username". */
	char *uri = arena_printf(req->arena,
	                         "otpauth://totp/Cartella:%s%%3A%s?secret=%s&issuer=Cartella"
	                         "&algorithm=SHA1&digits=%d&period=%d",
	                         PQgetvalue(r, 0, 0), u.username, b32, TOTP_DIGITS, TOTP_PERIOD);
	json_t *body =
	    uri ? json_pack("{s:s, s:s, s:s, s:i, s:i}", "secret", b32, "otpauth_uri", uri,
	                    "algorithm", "SHA1", "digits", TOTP_DIGITS, "period", TOTP_PERIOD)
	        : NULL;
	if (body == NULL) {
		ret = -1;
		goto out;
	}
	ret = http_reply_json(req, 201, body);
out:
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(b32, sizeof b32);
	return ret;
}

/* POST /api/v1/sessions/current/totp/confirmation: activates the pending
 * secret with a current code, lifts the session's enrolment restriction and
 * answers the recovery codes, shown once. */
int api_totp_confirm(struct http_req *req)
{
	const char *code = NULL;
	char codes[TOTP_RECOVERY_COUNT][TOTP_RECOVERY_SHOWN];
	const struct jsonx_field spec[] = {
	    {"totp", JX_STRING, JX_REQUIRED, 1, 16, &code, NULL},
	};
	int ret = 0;
	if (api_require_body(req))
		return 0;
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (code != NULL && !totp_code_shape(code))
		jsonx_error(errors, "totp", "pattern", "6 cifre");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	struct users_account u;
	int rc = totp_account(req, &u);
	if (rc == DB_OK)
		rc = totp_context(req, &u, true);
	if (rc == DB_OK)
		rc = totp_store_confirm(req->arena, u.home_tenant_id, u.id, code, codes);
	int back = totp_context(req, &u, false);
	if (back != DB_OK)
		rc = back;
	if (rc == DB_OK)
		rc = session_set_second_factor(req, "totp");
	if (rc == TOTP_CONFLICT) {
		ret = http_reply_problem(req, PROBLEM_CONFLICT,
		                         "nessuna registrazione in corso: avviarla con POST "
		                         "/api/v1/sessions/current/totp");
		goto out;
	}
	if (rc == TOTP_REFUSED) {
		json_t *e = jsonx_errors_new();
		jsonx_error(e, "totp", "totp",
		            "codice non valido (o già usato): usare quello mostrato ora dall'app");
		ret = http_reply_validation(req, e);
		goto out;
	}
	if (rc != DB_OK) {
		ret = http_reply_db_error(req, rc);
		goto out;
	}
	json_t *list = json_array();
	for (int i = 0; list != NULL && i < TOTP_RECOVERY_COUNT; i++)
		json_array_append_new(list, json_string(codes[i]));
	json_t *body =
	    list ? json_pack("{s:s, s:o}", "second_factor", "totp", "recovery_codes", list) : NULL;
	if (body == NULL) {
		ret = -1;
		goto out;
	}
	ret = http_reply_json(req, 200, body);
out:
	sodium_memzero(codes, sizeof codes);
	return ret;
}
