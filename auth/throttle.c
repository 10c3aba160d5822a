#include "auth/throttle.h"
#include "server/db.h"
#include "server/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Borrows the strings; writes out. */
void throttle_key(const char *kind, const char *a, const char *b, char out[THROTTLE_KEY_HEX])
{
	crypto_generichash_state st;
	unsigned char h[32];
	static const unsigned char sep = 0;
	crypto_generichash_init(&st, (const unsigned char *)"cartella-login-v1", 17, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)kind, strlen(kind));
	crypto_generichash_update(&st, &sep, 1);
	crypto_generichash_update(&st, (const unsigned char *)a, strlen(a));
	crypto_generichash_update(&st, &sep, 1);
	crypto_generichash_update(&st, (const unsigned char *)b, strlen(b));
	crypto_generichash_final(&st, h, sizeof h);
	util_hex(h, sizeof h, out);
}

static const struct db_stmt st_blocked = {
    "throttle_blocked",
    "SELECT coalesce(ceil(extract(epoch FROM max(blocked_until) - now())), 0)::bigint "
    "FROM login_throttle WHERE key_hash IN (decode($1, 'hex'), decode($2, 'hex')) "
    "AND blocked_until > now()",
};

long throttle_blocked(struct arena *a, const char *key1, const char *key2)
{
	const char *p[2] = {key1, key2};
	PGresult *r;
	int rc = db_exec(a, &st_blocked, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	long s = atol(PQgetvalue(r, 0, 0));
	return s > 0 ? s : 0;
}

static const struct db_stmt st_fail = {
    "throttle_fail",
    "WITH x AS (SELECT now() - make_interval(secs => $3::int) AS horizon) "
    "INSERT INTO login_throttle AS t (key_hash, failures, window_start, blocked_until) "
    "VALUES (decode($1, 'hex'), 1, now(), "
    "        CASE WHEN $2::int <= 1 THEN now() + make_interval(secs => $3::int) END) "
    "ON CONFLICT (key_hash) DO UPDATE SET "
    " failures = CASE WHEN t.window_start < (SELECT horizon FROM x) THEN 1 "
    "                 ELSE t.failures + 1 END, "
    " window_start = CASE WHEN t.window_start < (SELECT horizon FROM x) THEN now() "
    "                     ELSE t.window_start END, "
    " blocked_until = CASE WHEN (CASE WHEN t.window_start < (SELECT horizon FROM x) THEN 1 "
    "                                 ELSE t.failures + 1 END) >= $2::int "
    "                      THEN now() + make_interval(secs => $3::int) "
    "                      ELSE t.blocked_until END",
};

static const struct db_stmt st_prune = {
    "throttle_prune",
    "DELETE FROM login_throttle WHERE window_start < now() - make_interval(secs => 2 * $1::int) "
    "AND (blocked_until IS NULL OR blocked_until < now())",
};

int throttle_fail(struct arena *a, const char *key, int max, int window_seconds)
{
	char smax[16], swin[16];
	snprintf(smax, sizeof smax, "%d", max);
	snprintf(swin, sizeof swin, "%d", window_seconds);
	const char *p[3] = {key, smax, swin};
	int rc = db_exec(a, &st_fail, 3, p, NULL);
	if (rc == DB_OK && randombytes_uniform(64) == 0) {
		const char *pp[1] = {swin};
		rc = db_exec(a, &st_prune, 1, pp, NULL);
	}
	return rc;
}

static const struct db_stmt st_reset = {
    "throttle_reset",
    "DELETE FROM login_throttle WHERE key_hash = decode($1, 'hex')",
};

int throttle_reset(struct arena *a, const char *key)
{
	const char *p[1] = {key};
	return db_exec(a, &st_reset, 1, p, NULL);
}
