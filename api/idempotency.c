#include "api/idempotency.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct db_stmt st_claim = {
    "idempotency_claim",
    "INSERT INTO idempotency_key (tenant_id, user_id, key, client, route, request_hash) "
    "VALUES ($1, $2, $3, $4, $5, decode($6, 'hex')) "
    "ON CONFLICT DO NOTHING RETURNING id",
};

static const struct db_stmt st_stored = {
    "idempotency_stored",
    "SELECT id, route, encode(request_hash, 'hex'), status, location, response_enc, "
    "created_at < now() - interval '24 hours', etag "
    "FROM idempotency_key WHERE tenant_id = $1 AND key = $3 "
    "AND user_id IS NOT DISTINCT FROM $2::uuid AND client IS NOT DISTINCT FROM $4::text",
};

static const struct db_stmt st_expire = {
    "idempotency_expire",
    "DELETE FROM idempotency_key WHERE tenant_id = $1 AND key = $3 "
    "AND user_id IS NOT DISTINCT FROM $2::uuid AND client IS NOT DISTINCT FROM $4::text",
};

static const struct db_stmt st_save = {
    "idempotency_save",
    "UPDATE idempotency_key SET status = $3, location = $4, response_enc = $5, etag = $6 "
    "WHERE tenant_id = $1 AND id = $2",
};

/* Writes the hex BLAKE2b of route and body into out[65]. */
static void request_hash(const struct http_req *req, char out[65])
{
	crypto_generichash_state st;
	unsigned char h[32];
	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)req->route->pattern,
	                          strlen(req->route->pattern) + 1);
	if (req->body != NULL)
		crypto_generichash_update(&st, (const unsigned char *)req->body, req->body_len);
	crypto_generichash_final(&st, h, sizeof h);
	sodium_bin2hex(out, 65, h, sizeof h);
}

/* Gives the stored answer again. */
static int replay(struct http_req *req, PGresult *r)
{
	const char *body = "";
	size_t len = 0;
	if (!PQgetisnull(r, 0, 5)) {
		struct crypt_ctx ctx = {"idempotency_key", "response", req->principal.tenant_id,
		                        PQgetvalue(r, 0, 0)};
		int rc = crypt_decrypt(req->arena, &ctx, PQgetvalue(r, 0, 5), &body, &len);
		if (rc != DB_OK) {
			http_reply_problem(req, PROBLEM_INTERNAL, NULL);
			return 1;
		}
	}
	if (!PQgetisnull(r, 0, 4))
		http_add_header(req, "Location", PQgetvalue(r, 0, 4));
	if (!PQgetisnull(r, 0, 7))
		http_add_header(req, "ETag", PQgetvalue(r, 0, 7));
	http_add_header(req, "Idempotent-Replayed", "true");
	http_reply_text(req, atoi(PQgetvalue(r, 0, 3)), len ? "application/json" : NULL, body, len);
	return 1;
}

int idempotency_before(struct http_req *req)
{
	if (strcmp(req->method, "POST") != 0 || !req->principal.authenticated ||
	    (req->route->flags & ROUTE_NO_REPLAY))
		return 0;
	const char *key = http_header(req, "Idempotency-Key");
	if (key == NULL)
		return 0;
	if (!util_is_safe_token(key)) {
		http_reply_problem(
		    req, PROBLEM_BAD_PARAMETER,
		    "Idempotency-Key: da 8 a 64 caratteri tra lettere, cifre, . _ -");
		return 1;
	}
	char hash[65];
	request_hash(req, hash);
	/* The key belongs to the staff user or to the client principal. */
	const struct http_principal *pr = &req->principal;
	const char *p[6] = {pr->tenant_id,
	                    pr->client ? NULL : pr->user_id,
	                    key,
	                    pr->client ? pr->client_ref : NULL,
	                    req->route->pattern,
	                    hash};
	for (int attempt = 0; attempt < 2; attempt++) {
		PGresult *r;
		int rc = db_exec(req->arena, &st_claim, 6, p, &r);
		if (rc == DB_OK && PQntuples(r) == 1) {
			req->hook_data = arena_strdup(req->arena, PQgetvalue(r, 0, 0));
			return req->hook_data
			           ? 0
			           : (http_reply_problem(req, PROBLEM_INTERNAL, NULL), 1);
		}
		if (rc == DB_OK)
			rc = db_exec(req->arena, &st_stored, 4, p, &r);
		if (rc != DB_OK) {
			if (http_reply_db_error(req, rc) == HTTP_RETRY)
				http_reply_db_error(req, DB_UNAVAILABLE);
			return 1;
		}
		if (PQntuples(r) != 1)
			continue; /* removed meanwhile: claim again */
		if (strcmp(PQgetvalue(r, 0, 6), "t") == 0) {
			/* Expired: forget it and claim it afresh. */
			if (db_exec(req->arena, &st_expire, 4, p, NULL) != DB_OK) {
				http_reply_db_error(req, DB_UNAVAILABLE);
				return 1;
			}
			continue;
		}
		if (strcmp(PQgetvalue(r, 0, 1), req->route->pattern) != 0 ||
		    strcmp(PQgetvalue(r, 0, 2), hash) != 0) {
			http_reply_problem(req, PROBLEM_UNPROCESSABLE,
			                   "Idempotency-Key già usata per una richiesta diversa");
			return 1;
		}
		return replay(req, r);
	}
	http_reply_db_error(req, DB_UNAVAILABLE);
	return 1;
}

int idempotency_after(struct http_req *req)
{
	if (req->hook_data == NULL)
		return 0;
	const char *enc = NULL;
	if (req->resp_len > 0) {
		struct crypt_ctx ctx = {"idempotency_key", "response", req->principal.tenant_id,
		                        req->hook_data};
		if (crypt_encrypt(req->arena, &ctx, req->resp_body, req->resp_len, &enc) != DB_OK)
			return -1;
	}
	const char *location = NULL, *etag = NULL;
	for (int i = 0; i < req->nheaders; i++) {
		if (strcmp(req->headers[i].name, "Location") == 0)
			location = req->headers[i].value;
		else if (strcmp(req->headers[i].name, "ETag") == 0)
			etag = req->headers[i].value;
	}
	char status[8];
	snprintf(status, sizeof status, "%d", req->status);
	const char *p[6] = {req->principal.tenant_id, req->hook_data, status, location, enc, etag};
	return db_exec(req->arena, &st_save, 6, p, NULL) == DB_OK ? 0 : -1;
}
