#include "auth/client.h"
#include "auth/crypt.h"
#include "auth/policy.h"
#include "auth/throttle.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/http.h"
#include "server/util.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CLIENT_HASH_LABEL "cartella-client-secret|v1|"
#define CLIENT_BASIC_MAX  256 /* bytes of the decoded credentials, at most */

/* Keyed BLAKE2b-256 of (label, client id, secret) under the tenant's
 * "client-secret" key into out[32] (caller-owned). Borrows the strings.
 * Returns a db_rc. */
static int client_secret_hash(struct arena *a, const char *tenant_id, const char *client_id,
                              const char *secret, unsigned char *out)
{
	unsigned char key[CRYPT_SUBKEY_LEN];
	crypto_generichash_state st;
	int rc = crypt_tenant_subkey(a, tenant_id, "client-secret", key);
	if (rc != DB_OK)
		goto out;
	rc = DB_ERROR;
	if (crypto_generichash_init(&st, key, sizeof key, 32) == 0 &&
	    crypto_generichash_update(&st, (const unsigned char *)CLIENT_HASH_LABEL,
	                              strlen(CLIENT_HASH_LABEL)) == 0 &&
	    crypto_generichash_update(&st, (const unsigned char *)client_id, strlen(client_id)) ==
	        0 &&
	    crypto_generichash_update(&st, (const unsigned char *)"|", 1) == 0 &&
	    crypto_generichash_update(&st, (const unsigned char *)secret, strlen(secret)) == 0 &&
	    crypto_generichash_final(&st, out, 32) == 0)
		rc = DB_OK;
	sodium_memzero(&st, sizeof st);
out:
	sodium_memzero(key, sizeof key);
	return rc;
}

/* Writes secret and hash_hex (caller-owned); borrows the ids. */
int client_secret_new(struct arena *a, const char *tenant_id, const char *client_id, char *secret,
                      char *hash_hex)
{
	unsigned char raw[32], h[32];
	randombytes_buf(raw, sizeof raw);
	util_b64url_encode(raw, sizeof raw, secret, CLIENT_SECRET_LEN + 1);
	sodium_memzero(raw, sizeof raw);
	int rc = client_secret_hash(a, tenant_id, client_id, secret, h);
	if (rc == DB_OK)
		util_hex(h, sizeof h, hash_hex);
	sodium_memzero(h, sizeof h);
	return rc;
}

/* Replies 401 with no hint of why (malformed, unknown, wrong secret,
 * disabled). Returns 1. */
static int client_deny(struct http_req *req)
{
	http_add_header(req, "WWW-Authenticate", "Basic realm=\"cartella\", charset=\"UTF-8\"");
	http_reply_problem(req, PROBLEM_UNAUTHORIZED, NULL);
	return 1;
}

/* Decodes the Basic credentials after "Basic " into the arena: *id (a
 * lower-cased UUID) and *secret (CLIENT_SECRET_LEN characters). Returns 0,
 * or -1 when they do not have that shape. */
static int client_basic_parse(struct http_req *req, const char *b64, char **id, char **secret)
{
	size_t len = strlen(b64), n = 0;
	if (len == 0 || len > 4 * CLIENT_BASIC_MAX / 3 + 4)
		return -1;
	char *raw = arena_alloc(req->arena, CLIENT_BASIC_MAX + 1);
	if (raw == NULL || sodium_base642bin((unsigned char *)raw, CLIENT_BASIC_MAX, b64, len, NULL,
	                                     &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	raw[n] = '\0';
	if (strlen(raw) != n || n != UTIL_UUID_LEN + 1 + CLIENT_SECRET_LEN ||
	    raw[UTIL_UUID_LEN] != ':')
		return -1;
	raw[UTIL_UUID_LEN] = '\0';
	for (char *p = raw; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!util_is_uuid(raw))
		return -1;
	*id = raw;
	*secret = raw + UTIL_UUID_LEN + 1;
	return 0;
}

static const struct db_stmt st_resolve = {
    "client_resolve",
    "SELECT tenant_id, encode(secret_hash, 'hex'), scopes, enabled, tenant_code "
    "FROM app.resolve_client($1::uuid)",
};

/* last_used_at needs only a coarse clock: written at most once a minute. */
static const struct db_stmt st_used = {
    "client_used",
    "UPDATE api_client SET last_used_at = now() WHERE tenant_id = $1 AND id = $2 "
    "AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')",
};

/* Counts a failed attempt against the client id and the address, keeps the
 * count (commit_on_error) and replies 401. Returns 1. */
static int client_failed(struct http_req *req, const char *id_key, const char *addr_key)
{
	int rc = throttle_fail(req->arena, id_key, config.login_max_failures, config.login_window);
	if (rc == DB_OK)
		rc = throttle_fail(req->arena, addr_key, 4 * config.login_max_failures,
		                   config.login_window);
	if (rc != DB_OK) {
		http_reply_db_error(req, DB_UNAVAILABLE);
		return 1;
	}
	req->commit_on_error = true;
	return client_deny(req);
}

int client_authenticate(struct http_req *req)
{
	const char *h = http_header(req, "Authorization");
	char *id = NULL, *secret = NULL;
	if (h == NULL || strncasecmp(h, "Basic ", 6) != 0)
		return client_deny(req);
	const char *b64 = h + 6;
	while (*b64 == ' ')
		b64++;
	if (client_basic_parse(req, b64, &id, &secret) != 0)
		return client_deny(req);

	char id_key[THROTTLE_KEY_HEX], addr_key[THROTTLE_KEY_HEX];
	throttle_key("client", id, "", id_key);
	throttle_key("address", req->client_ip, "", addr_key);
	long wait = throttle_blocked(req->arena, id_key, addr_key);
	if (wait < 0) {
		http_reply_db_error(req, DB_UNAVAILABLE);
		return 1;
	}
	if (wait > 0) {
		char s[24];
		snprintf(s, sizeof s, "%ld", wait);
		http_add_header(req, "Retry-After", s);
		http_reply_problem(
		    req, PROBLEM_TOO_MANY_REQUESTS,
		    "Troppi tentativi di autenticazione falliti: riprovare più tardi");
		return 1;
	}

	const char *p[1] = {id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_resolve, 1, p, &r);
	if (rc != DB_OK) {
		http_reply_db_error(req, DB_UNAVAILABLE);
		return 1;
	}
	if (PQntuples(r) != 1)
		return client_failed(req, id_key, addr_key);
	const char *tenant = PQgetvalue(r, 0, 0);
	unsigned char want[32], got[32];
	size_t wl = 0;
	/* The tenant's key may have to be read (or made) under its context. */
	rc = db_set_context(req->arena, tenant, NULL);
	if (rc == DB_OK)
		rc = client_secret_hash(req->arena, tenant, id, secret, got);
	if (rc != DB_OK) {
		http_reply_db_error(req, DB_UNAVAILABLE);
		return 1;
	}
	bool ok =
	    sodium_hex2bin(want, sizeof want, PQgetvalue(r, 0, 1), 64, NULL, &wl, NULL) == 0 &&
	    wl == sizeof want && sodium_memcmp(want, got, sizeof want) == 0 &&
	    strcmp(PQgetvalue(r, 0, 3), "t") == 0;
	sodium_memzero(got, sizeof got);
	if (!ok)
		return client_failed(req, id_key, addr_key);

	struct http_principal *pr = &req->principal;
	memset(pr, 0, sizeof *pr);
	util_strlcpy(pr->tenant_id, tenant, sizeof pr->tenant_id);
	util_strlcpy(pr->tenant_code, PQgetvalue(r, 0, 4), sizeof pr->tenant_code);
	util_strlcpy(pr->client_id, id, sizeof pr->client_id);
	snprintf(pr->client_ref, sizeof pr->client_ref, "api:%s", id);
	pr->scopes = policy_scopes_from_array(PQgetvalue(r, 0, 2));
	const char *pu[2] = {pr->tenant_id, pr->client_id};
	rc = db_exec(req->arena, &st_used, 2, pu, NULL);
	if (rc != DB_OK) {
		memset(pr, 0, sizeof *pr);
		http_reply_db_error(req, DB_UNAVAILABLE);
		return 1;
	}
	pr->client = true;
	pr->authenticated = true;
	return 0;
}
