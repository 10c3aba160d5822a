/* Failed-login throttling, per account and per client address, kept in the
 * database so every server instance sees the same counters. Keys are
 * BLAKE2b hashes of ("account", tenant, username) and ("address", ip); the
 * account key exists whether or not the account does, so the answer never
 * tells an attacker which usernames are real. */
#ifndef CARTELLA_THROTTLE_H
#define CARTELLA_THROTTLE_H

struct arena;

#define THROTTLE_KEY_HEX 65

/* Writes the hex key for (kind, a, b) into out. */
void throttle_key(const char *kind, const char *a, const char *b, char out[THROTTLE_KEY_HEX]);

/* Seconds until the first of the keys is unblocked (0 when none is blocked),
 * or a negative db_rc. */
long throttle_blocked(struct arena *a, const char *key1, const char *key2);

/* Counts a failure for key; blocks it for the window once max is reached.
 * Returns a db_rc. */
int throttle_fail(struct arena *a, const char *key, int max, int window_seconds);

/* Forgets key's failures (after a successful login). Returns a db_rc. */
int throttle_reset(struct arena *a, const char *key);

#endif
