#include "auth/totp_store.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/log.h"
#include "server/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOTP_TABLE  "user_totp"
#define TOTP_COLUMN "secret"

/* The secret's place, for its associated data (borrows the ids). */
static struct crypt_ctx totp_ctx(const char *home, const char *user)
{
	struct crypt_ctx c = {TOTP_TABLE, TOTP_COLUMN, home, user};
	return c;
}

static const struct db_stmt st_active = {
    "totp_active",
    "SELECT confirmed_at IS NOT NULL FROM user_totp WHERE tenant_id = $1 AND user_id = $2",
};

/* Borrows the ids. */
int totp_store_active(struct arena *a, const char *home, const char *user, bool *active)
{
	const char *p[2] = {home, user};
	PGresult *r;
	*active = false;
	int rc = db_exec(a, &st_active, 2, p, &r);
	if (rc == DB_OK && PQntuples(r) == 1)
		*active = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	return rc;
}

static const struct db_stmt st_begin = {
    "totp_begin",
    "INSERT INTO user_totp (tenant_id, user_id, secret) VALUES ($1, $2, $3::bytea) "
    "ON CONFLICT (tenant_id, user_id) DO UPDATE SET secret = EXCLUDED.secret, "
    "created_at = now(), last_step = NULL, earlier_used = 0 WHERE user_totp.confirmed_at IS NULL "
    "RETURNING 1",
};

/* Borrows the ids; writes secret (caller-owned). */
int totp_store_begin(struct arena *a, const char *home, const char *user,
                     unsigned char secret[TOTP_SECRET_LEN])
{
	const char *stored = NULL;
	randombytes_buf(secret, TOTP_SECRET_LEN);
	struct crypt_ctx c = totp_ctx(home, user);
	int rc = crypt_encrypt(a, &c, (const char *)secret, TOTP_SECRET_LEN, &stored);
	if (rc != DB_OK)
		goto out;
	const char *p[3] = {home, user, stored};
	PGresult *r;
	rc = db_exec(a, &st_begin, 3, p, &r);
	if (rc == DB_OK && PQntuples(r) == 0)
		rc = TOTP_CONFLICT;
out:
	if (rc != DB_OK)
		sodium_memzero(secret, TOTP_SECRET_LEN);
	return rc;
}

static const struct db_stmt st_lock = {
    "totp_lock",
    "SELECT secret, confirmed_at IS NOT NULL, coalesce(last_step::text, ''), earlier_used "
    "FROM user_totp "
    "WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE",
};

/* The locked row of the account, decrypted: present, active, the secret
 * (wiped by the caller), the replay state (last TOTP_NO_STEP when none). */
struct totp_row {
	bool present, active;
	int64_t last;
	unsigned used;
	unsigned char secret[TOTP_SECRET_LEN];
};

/* Reads and locks the account's row into row (caller-owned). */
static int totp_row_lock(struct arena *a, const char *home, const char *user, struct totp_row *row)
{
	const char *p[2] = {home, user};
	PGresult *r;
	memset(row, 0, sizeof *row);
	row->last = TOTP_NO_STEP;
	int rc = db_exec(a, &st_lock, 2, p, &r);
	if (rc != DB_OK || PQntuples(r) != 1)
		return rc;
	const char *plain = NULL;
	size_t len = 0;
	struct crypt_ctx c = totp_ctx(home, user);
	rc = crypt_decrypt(a, &c, PQgetvalue(r, 0, 0), &plain, &len);
	if (rc == CRYPT_INTEGRITY)
		rc = DB_ERROR;
	if (rc != DB_OK)
		return rc;
	if (len != TOTP_SECRET_LEN) {
		sodium_memzero((void *)plain, len);
		log_event(LOGL_ERROR, "stored TOTP secret has the wrong length",
		          json_pack("{s:s}", "component", "totp"));
		return DB_ERROR;
	}
	memcpy(row->secret, plain, TOTP_SECRET_LEN);
	sodium_memzero((void *)plain, len);
	row->present = true;
	row->active = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	const char *last = PQgetvalue(r, 0, 2);
	if (last[0] != '\0')
		row->last = strtoll(last, NULL, 10);
	row->used = (unsigned)atoi(PQgetvalue(r, 0, 3)) & 3u;
	return DB_OK;
}

static const struct db_stmt st_use_step = {
    "totp_use_step",
    "UPDATE user_totp SET last_step = $3::bigint, earlier_used = $4::smallint, "
    "confirmed_at = coalesce(confirmed_at, now()) WHERE tenant_id = $1 AND user_id = $2",
};

/* Accepts code for the locked row when it matches a step of the window that
 * was not used yet, recording the step as used (and the factor as
 * confirmed). Returns DB_OK, TOTP_REFUSED or a db_rc. Borrows everything. */
static int totp_row_accept(struct arena *a, const char *home, const char *user,
                           const struct totp_row *row, const char *code)
{
	int64_t now = totp_step((int64_t)time(NULL)), last = 0;
	int64_t s = totp_match(row->secret, TOTP_SECRET_LEN, now, code);
	unsigned used = 0;
	if (s == TOTP_NO_STEP || !totp_step_fresh(row->last, row->used, s, &last, &used))
		return TOTP_REFUSED;
	char sl[24], su[8];
	snprintf(sl, sizeof sl, "%lld", (long long)last);
	snprintf(su, sizeof su, "%u", used);
	const char *p[4] = {home, user, sl, su};
	return db_exec(a, &st_use_step, 4, p, NULL);
}

/* Writes the hex keyed hash of a normalised recovery code of user into
 * out[65], under the home tenant's recovery subkey. */
static int totp_recovery_hash(struct arena *a, const char *home, const char *user,
                              const char *normalised, char out[65])
{
	unsigned char key[CRYPT_SUBKEY_LEN], h[32];
	static const unsigned char sep = 0;
	int rc = crypt_tenant_subkey(a, home, "totp-recovery", key);
	if (rc != DB_OK)
		return rc;
	crypto_generichash_state st;
	if (crypto_generichash_init(&st, key, sizeof key, sizeof h) != 0 ||
	    crypto_generichash_update(&st, (const unsigned char *)user, strlen(user)) != 0 ||
	    crypto_generichash_update(&st, &sep, 1) != 0 ||
	    crypto_generichash_update(&st, (const unsigned char *)normalised, strlen(normalised)) !=
	        0 ||
	    crypto_generichash_final(&st, h, sizeof h) != 0)
		rc = DB_ERROR;
	else
		util_hex(h, sizeof h, out);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(key, sizeof key);
	return rc;
}

static const struct db_stmt st_recovery_clear = {
    "totp_recovery_clear",
    "DELETE FROM user_recovery_code WHERE tenant_id = $1 AND user_id = $2",
};

static const struct db_stmt st_recovery_add = {
    "totp_recovery_add",
    "INSERT INTO user_recovery_code (tenant_id, user_id, code_hash) "
    "VALUES ($1, $2, decode($3, 'hex'))",
};

/* Borrows the ids; writes codes (caller-owned). */
int totp_store_recovery_new(struct arena *a, const char *home, const char *user,
                            char codes[TOTP_RECOVERY_COUNT][TOTP_RECOVERY_SHOWN])
{
	const char *p[3] = {home, user, NULL};
	int rc = db_exec(a, &st_recovery_clear, 2, p, NULL);
	for (int i = 0; rc == DB_OK && i < TOTP_RECOVERY_COUNT; i++) {
		char norm[TOTP_RECOVERY_CHARS + 1], hash[65];
		totp_recovery_new(codes[i]);
		if (totp_recovery_normalise(codes[i], norm) != 0) {
			rc = DB_ERROR;
			break;
		}
		rc = totp_recovery_hash(a, home, user, norm, hash);
		p[2] = hash;
		if (rc == DB_OK)
			rc = db_exec(a, &st_recovery_add, 3, p, NULL);
		sodium_memzero(norm, sizeof norm);
	}
	return rc;
}

/* Borrows the ids and code; writes codes (caller-owned). */
int totp_store_confirm(struct arena *a, const char *home, const char *user, const char *code,
                       char codes[TOTP_RECOVERY_COUNT][TOTP_RECOVERY_SHOWN])
{
	struct totp_row row;
	int rc = totp_row_lock(a, home, user, &row);
	if (rc != DB_OK)
		goto out;
	if (!row.present || row.active) {
		rc = TOTP_CONFLICT;
		goto out;
	}
	rc = totp_row_accept(a, home, user, &row, code);
	if (rc == DB_OK)
		rc = totp_store_recovery_new(a, home, user, codes);
out:
	sodium_memzero(&row, sizeof row);
	return rc;
}

static const struct db_stmt st_recovery_use = {
    "totp_recovery_use",
    "UPDATE user_recovery_code SET used_at = now() WHERE tenant_id = $1 AND user_id = $2 "
    "AND code_hash = decode($3, 'hex') AND used_at IS NULL RETURNING 1",
};

/* Borrows the ids and the presented values. */
int totp_store_login(struct arena *a, const char *home, const char *user, const char *code,
                     const char *recovery, enum totp_factor *factor)
{
	struct totp_row row;
	*factor = TOTP_FACTOR_NOT_ENROLLED;
	int rc = totp_row_lock(a, home, user, &row);
	if (rc != DB_OK || !row.active)
		goto out;
	rc = TOTP_REFUSED;
	if (code != NULL && recovery == NULL) {
		rc = totp_row_accept(a, home, user, &row, code);
		if (rc == DB_OK)
			*factor = TOTP_FACTOR_CODE;
	} else if (recovery != NULL && code == NULL) {
		char norm[TOTP_RECOVERY_CHARS + 1], hash[65];
		if (totp_recovery_normalise(recovery, norm) == 0 &&
		    (rc = totp_recovery_hash(a, home, user, norm, hash)) == DB_OK) {
			const char *p[3] = {home, user, hash};
			PGresult *r;
			rc = db_exec(a, &st_recovery_use, 3, p, &r);
			if (rc == DB_OK && PQntuples(r) == 1)
				*factor = TOTP_FACTOR_RECOVERY;
			else if (rc == DB_OK)
				rc = TOTP_REFUSED;
		}
		sodium_memzero(norm, sizeof norm);
	}
out:
	sodium_memzero(&row, sizeof row);
	return rc;
}

static const struct db_stmt st_reset = {
    "totp_reset",
    "DELETE FROM user_totp WHERE tenant_id = $1 AND user_id = $2",
};

/* Borrows the ids. */
int totp_store_reset(struct arena *a, const char *home, const char *user)
{
	const char *p[2] = {home, user};
	return db_exec(a, &st_reset, 2, p, NULL);
}

static const struct db_stmt st_activate = {
    "totp_activate",
    "UPDATE user_totp SET confirmed_at = now() WHERE tenant_id = $1 AND user_id = $2 "
    "AND confirmed_at IS NULL RETURNING 1",
};

/* Borrows the ids. */
int totp_store_activate(struct arena *a, const char *home, const char *user)
{
	const char *p[2] = {home, user};
	PGresult *r;
	int rc = db_exec(a, &st_activate, 2, p, &r);
	if (rc == DB_OK && PQntuples(r) == 0)
		rc = TOTP_CONFLICT;
	return rc;
}
