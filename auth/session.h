/* Staff sessions: opaque random tokens (32 bytes, base64url), stored only as
 * their BLAKE2b-256 hash, bound to one tenant, with idle and absolute expiry. */
#ifndef CARTELLA_SESSION_H
#define CARTELLA_SESSION_H

struct http_req;

#define SESSION_TOKEN_LEN 43 /* base64url of 32 bytes, no padding */

/* Creates a session for user in tenant within the current transaction,
 * recording how its holder passed the second factor (second_factor: one of
 * the values of session.second_factor, borrowed). Writes the token
 * (SESSION_TOKEN_LEN + 1) and its absolute expiry (RFC 3339, 40 bytes).
 * Returns a db_rc. */
int session_create(struct http_req *req, const char *tenant_id, const char *user_id,
                   const char *second_factor, char *token, char *expires_at);

/* Records that the request's own session has now passed the second factor
 * (second_factor, borrowed), lifting an enrolment-only restriction. Returns a
 * db_rc. */
int session_set_second_factor(struct http_req *req, const char *second_factor);

/* http hook: resolves "Authorization: Bearer <token>", sets the principal and
 * the transaction's tenant context. Returns 0, or 1 after replying 401/503. */
int session_authenticate(struct http_req *req);

/* Revokes the request's own session. Returns a db_rc. */
int session_revoke_current(struct http_req *req);

#endif
