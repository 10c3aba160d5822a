/* Integration clients (API clients): machine principals of one tenant that
 * hold scopes (auth/policy.h) and authenticate with HTTP Basic, the client
 * id (a UUID) as user name and the client secret as password. The secret is
 * 32 random bytes, base64url (43 characters), shown once; the database keeps
 * only a keyed BLAKE2b-256 of it, under a per-tenant key
 * (crypt_tenant_subkey "client-secret"). Failed attempts are throttled per
 * client id and per address, like logins. */
#ifndef CARTELLA_CLIENT_H
#define CARTELLA_CLIENT_H

struct arena;
struct http_req;

#define CLIENT_SECRET_LEN 43 /* base64url of 32 bytes, no padding */
#define CLIENT_HASH_HEX   65 /* hex of 32 bytes, with its NUL */

/* Makes a fresh secret for client_id of tenant_id: writes it into
 * secret[CLIENT_SECRET_LEN + 1] and its stored form (hex of the keyed hash)
 * into hash_hex[CLIENT_HASH_HEX] (both caller-owned; the caller wipes the
 * secret once it has answered). Returns a db_rc. */
int client_secret_new(struct arena *a, const char *tenant_id, const char *client_id, char *secret,
                      char *hash_hex);

/* http hook: "Authorization: Basic base64(client_id:secret)". Sets the
 * client principal and the transaction's tenant context. Returns 0, or 1
 * after replying 401 (anything wrong, no detail), 429 (throttled) or 503. */
int client_authenticate(struct http_req *req);

#endif
