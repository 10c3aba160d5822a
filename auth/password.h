/* Passwords: Argon2id (libsodium crypto_pwhash_str), at most a few hashes at
 * once (a semaphore sized to the CPUs) so logins cannot starve the server. */
#ifndef CARTELLA_PASSWORD_H
#define CARTELLA_PASSWORD_H

#include <sodium.h>
#include <stdbool.h>

#define PASSWORD_HASH_MAX  crypto_pwhash_STRBYTES
#define PASSWORD_MIN_CHARS 12
#define PASSWORD_MAX_BYTES 1024

/* Initialises libsodium and the semaphore. Returns 0 or -1. */
int password_init(void);

/* Hashes password into out (caller-owned, PASSWORD_HASH_MAX). Returns 0/-1. */
int password_hash(const char *password, char out[PASSWORD_HASH_MAX]);

/* Verifies password against hash (both borrowed); true when they match.
 * With hash NULL it verifies against a fixed dummy hash and returns false,
 * so a missing account costs the same time as a wrong password. */
bool password_verify(const char *hash, const char *password);

/* True when hash was made with weaker parameters than the current ones. */
bool password_needs_rehash(const char *hash);

/* NULL when password is acceptable, else the Italian reason. */
const char *password_policy_error(const char *password);

#endif
