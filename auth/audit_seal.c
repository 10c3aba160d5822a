/* The seal of the audit trail: hash chain, verification and the sealer
 * thread (auth/audit_seal.h).
 *
 * Link n of a tenant's chain (n from 1, in sealing order) is
 *   hash_n = BLAKE2b-256(key = tenant audit key,
 *            "cartella-audit-seal|v1\n" ‖ hash_{n-1} ‖ n as 8 bytes big-endian
 *            ‖ canonical row)
 * with hash_0 = 32 zero bytes and the tenant audit key
 * crypt_tenant_subkey(tenant, "audit-seal"). The canonical row is the
 * fields id, occurred_at, user_id, roles, action, object_type, object_id,
 * purpose, break_glass, outcome, request_id, in that order, each as its text
 * form from SQL (AUDIT_SEAL_COLUMNS) written as "<byte length>:<text>\n",
 * or "-\n" when NULL; then client (the integration-client principal, schema
 * 014) in the same form only when it is not NULL, so that the rows of staff
 * users, and the chains sealed before the column existed, hash as before. */
#include "auth/audit_seal.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDIT_SEAL_LABEL   "cartella-audit-seal|v1\n"
#define AUDIT_SEAL_KEYNAME "audit-seal"
#define AUDIT_HASH_LEN     32
#define AUDIT_NFIELDS      12 /* the last one is written only when not NULL */

/* The canonical fields, as text, independent of the session's settings.
 * Their output names shadow the columns in ORDER BY: order by e.<column>. */
#define AUDIT_SEAL_COLUMNS                                                                         \
	"id::text, to_char(occurred_at AT TIME ZONE 'UTC', "                                       \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), user_id::text, roles::text, action, "               \
	"object_type, object_id::text, purpose, "                                                  \
	"CASE WHEN break_glass THEN 'true' ELSE 'false' END, outcome::text, request_id, client"

static const struct db_stmt st_head_ensure = {
    "audit_seal_head_ensure",
    "INSERT INTO audit_seal_head (tenant_id, seq, hash) "
    "VALUES ($1, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) "
    "ON CONFLICT (tenant_id) DO NOTHING",
};

static const struct db_stmt st_head_lock = {
    "audit_seal_head_lock",
    "SELECT seq::text, encode(hash, 'hex') FROM audit_seal_head WHERE tenant_id = $1 FOR UPDATE",
};

/* FOR SHARE: the verifier reads the head, then the sealed rows in later
 * statements; the lock makes a seal in progress (which holds the head FOR
 * UPDATE) commit first, and keeps the next one from starting until the
 * verifying transaction ends, so the rows read match the head read. */
static const struct db_stmt st_head_read = {
    "audit_seal_head_read",
    "SELECT seq::text, encode(hash, 'hex') FROM audit_seal_head WHERE tenant_id = $1 FOR SHARE",
};

static const struct db_stmt st_head_set = {
    "audit_seal_head_set",
    "UPDATE audit_seal_head SET seq = $2::bigint, hash = decode($3, 'hex'), sealed_at = now() "
    "WHERE tenant_id = $1",
};

static const struct db_stmt st_unsealed = {
    "audit_seal_unsealed",
    "SELECT " AUDIT_SEAL_COLUMNS " FROM audit_event e WHERE tenant_id = $1 AND seal_seq IS NULL "
    "ORDER BY e.occurred_at, e.id LIMIT $2::int",
};

static const struct db_stmt st_seal_row = {
    "audit_seal_row",
    "UPDATE audit_event SET seal_seq = $3::bigint, seal_hash = decode($4, 'hex') "
    "WHERE tenant_id = $1 AND id = $2::bigint AND seal_seq IS NULL",
};

static const struct db_stmt st_unsealed_count = {
    "audit_seal_unsealed_count",
    "SELECT count(*)::text FROM audit_event WHERE tenant_id = $1 AND seal_seq IS NULL",
};

static const struct db_stmt st_sealed_rows = {
    "audit_seal_sealed_rows",
    "SELECT seal_seq::text, encode(seal_hash, 'hex'), " AUDIT_SEAL_COLUMNS
    " FROM audit_event e WHERE tenant_id = $1 AND seal_seq > $2::bigint "
    "ORDER BY e.seal_seq LIMIT $3::int",
};

static const struct db_stmt st_tenants = {
    "audit_seal_tenants",
    "SELECT id::text FROM tenant ORDER BY id",
};

/* Computes link seq of the chain into out[32] from prev[32] and the row's
 * AUDIT_NFIELDS canonical fields, columns first..first+11 of row i of r.
 * Borrows everything. Returns 0 or -1. */
static int audit_seal_link(const unsigned char *key, const unsigned char *prev, long long seq,
                           PGresult *r, int i, int first, unsigned char *out)
{
	crypto_generichash_state st;
	unsigned char be[8];
	for (int b = 0; b < 8; b++)
		be[b] = (unsigned char)(((unsigned long long)seq >> (56 - 8 * b)) & 0xffu);
	int rc = crypto_generichash_init(&st, key, CRYPT_SUBKEY_LEN, AUDIT_HASH_LEN);
	if (rc == 0)
		rc = crypto_generichash_update(&st, (const unsigned char *)AUDIT_SEAL_LABEL,
		                               strlen(AUDIT_SEAL_LABEL));
	if (rc == 0)
		rc = crypto_generichash_update(&st, prev, AUDIT_HASH_LEN);
	if (rc == 0)
		rc = crypto_generichash_update(&st, be, sizeof be);
	for (int f = 0; rc == 0 && f < AUDIT_NFIELDS; f++) {
		char len[24];
		if (PQgetisnull(r, i, first + f) && f == AUDIT_NFIELDS - 1)
			continue;
		if (PQgetisnull(r, i, first + f)) {
			rc = crypto_generichash_update(&st, (const unsigned char *)"-\n", 2);
			continue;
		}
		size_t n = (size_t)PQgetlength(r, i, first + f);
		int ln = snprintf(len, sizeof len, "%zu:", n);
		if (ln < 0 || (size_t)ln >= sizeof len)
			rc = -1;
		if (rc == 0)
			rc = crypto_generichash_update(&st, (const unsigned char *)len, (size_t)ln);
		if (rc == 0)
			rc = crypto_generichash_update(
			    &st, (const unsigned char *)PQgetvalue(r, i, first + f), n);
		if (rc == 0)
			rc = crypto_generichash_update(&st, (const unsigned char *)"\n", 1);
	}
	if (rc == 0)
		rc = crypto_generichash_final(&st, out, AUDIT_HASH_LEN);
	sodium_memzero(&st, sizeof st);
	return rc == 0 ? 0 : -1;
}

/* Decodes 64 hex characters into out[32]. Borrows hex. Returns 0 or -1. */
static int audit_hash_parse(const char *hex, unsigned char *out)
{
	size_t bl = 0;
	const char *end = NULL;
	if (strlen(hex) != 2 * AUDIT_HASH_LEN ||
	    sodium_hex2bin(out, AUDIT_HASH_LEN, hex, 2 * AUDIT_HASH_LEN, NULL, &bl, &end) != 0 ||
	    bl != AUDIT_HASH_LEN)
		return -1;
	return 0;
}

/* Logs a malformed chain value; returns DB_ERROR. */
static int audit_seal_bad(const char *tenant_id, const char *what)
{
	log_event(LOGL_ERROR, "audit seal: malformed value",
	          json_pack("{s:s, s:s, s:s}", "component", "audit_seal", "tenant_id", tenant_id,
	                    "what", what));
	return DB_ERROR;
}

/* Borrows tenant_id; allocations owned by a. */
int audit_seal_tenant(struct arena *a, const char *tenant_id, int max_rows, int *sealed)
{
	unsigned char key[CRYPT_SUBKEY_LEN], prev[AUDIT_HASH_LEN], h[AUDIT_HASH_LEN];
	char hex[2 * AUDIT_HASH_LEN + 1], seqtext[24], limit[16];
	const char *p[4] = {tenant_id, NULL, NULL, NULL};
	PGresult *r = NULL;
	long long seq = 0;
	int done = 0;
	if (sealed != NULL)
		*sealed = 0;
	int rc = db_exec(a, &st_head_ensure, 1, p, NULL);
	if (rc == DB_OK)
		rc = db_exec(a, &st_head_lock, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) != 1 || !util_parse_int(PQgetvalue(r, 0, 0), 0, INT64_MAX, &seq) ||
	    audit_hash_parse(PQgetvalue(r, 0, 1), prev) != 0)
		return audit_seal_bad(tenant_id, "head");
	snprintf(limit, sizeof limit, "%d", max_rows > 0 ? max_rows : AUDIT_SEAL_BATCH);
	p[1] = limit;
	rc = db_exec(a, &st_unsealed, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	int rows = PQntuples(r);
	if (rows == 0)
		return DB_OK;
	rc = crypt_tenant_subkey(a, tenant_id, AUDIT_SEAL_KEYNAME, key);
	for (int i = 0; rc == DB_OK && i < rows; i++) {
		seq++;
		if (audit_seal_link(key, prev, seq, r, i, 0, h) != 0) {
			rc = DB_ERROR;
			break;
		}
		util_hex(h, sizeof h, hex);
		snprintf(seqtext, sizeof seqtext, "%lld", seq);
		const char *u[4] = {tenant_id, PQgetvalue(r, i, 0), seqtext, hex};
		PGresult *ur = NULL;
		rc = db_exec(a, &st_seal_row, 4, u, &ur);
		if (rc == DB_OK && strcmp(PQcmdTuples(ur), "1") != 0)
			rc = audit_seal_bad(tenant_id, "row sealed concurrently");
		memcpy(prev, h, sizeof prev);
		done++;
	}
	sodium_memzero(key, sizeof key);
	if (rc != DB_OK)
		return rc;
	util_hex(prev, sizeof prev, hex);
	snprintf(seqtext, sizeof seqtext, "%lld", seq);
	const char *hp[3] = {tenant_id, seqtext, hex};
	rc = db_exec(a, &st_head_set, 3, hp, NULL);
	if (rc == DB_OK && sealed != NULL)
		*sealed = done;
	return rc;
}

/* Records the first broken link (the first one found wins). */
static void audit_verify_break(struct audit_verify_result *res, long long seq, long long id)
{
	if (!res->ok)
		return;
	res->ok = false;
	res->broken_seq = seq;
	res->broken_event_id = id;
}

/* Borrows tenant_id; allocations owned by a, batches by their own arenas. */
int audit_verify_tenant(struct arena *a, const char *tenant_id, struct audit_verify_result *res)
{
	unsigned char key[CRYPT_SUBKEY_LEN], prev[AUDIT_HASH_LEN], h[AUDIT_HASH_LEN];
	unsigned char stored[AUDIT_HASH_LEN], head_hash[AUDIT_HASH_LEN];
	long long head_seq = 0, last = 0;
	PGresult *r = NULL;
	const char *p[1] = {tenant_id};
	memset(res, 0, sizeof *res);
	res->ok = true;
	memset(prev, 0, sizeof prev);
	memset(head_hash, 0, sizeof head_hash);
	int rc = db_exec(a, &st_unsealed_count, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	res->unsealed = atoll(PQgetvalue(r, 0, 0));
	rc = db_exec(a, &st_head_read, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 1 && (!util_parse_int(PQgetvalue(r, 0, 0), 0, INT64_MAX, &head_seq) ||
	                          audit_hash_parse(PQgetvalue(r, 0, 1), head_hash) != 0))
		return audit_seal_bad(tenant_id, "head");
	bool have_key = false;
	sodium_memzero(key, sizeof key);
	for (bool more = true; rc == DB_OK && more;) {
		struct arena *b = arena_new();
		if (b == NULL) {
			rc = DB_ERROR;
			break;
		}
		char after[24], limit[16];
		snprintf(after, sizeof after, "%lld", last);
		snprintf(limit, sizeof limit, "%d", AUDIT_SEAL_BATCH);
		const char *q[3] = {tenant_id, after, limit};
		rc = db_exec(b, &st_sealed_rows, 3, q, &r);
		int rows = rc == DB_OK ? PQntuples(r) : 0;
		more = rows == AUDIT_SEAL_BATCH;
		if (rows > 0 && !have_key) {
			rc = crypt_tenant_subkey(a, tenant_id, AUDIT_SEAL_KEYNAME, key);
			have_key = rc == DB_OK;
		}
		for (int i = 0; rc == DB_OK && i < rows; i++) {
			long long seq = 0, id = 0;
			if (!util_parse_int(PQgetvalue(r, i, 0), 1, INT64_MAX, &seq) ||
			    !util_parse_int(PQgetvalue(r, i, 2), 1, INT64_MAX, &id) ||
			    audit_hash_parse(PQgetvalue(r, i, 1), stored) != 0) {
				rc = audit_seal_bad(tenant_id, "row");
				break;
			}
			if (seq != last + 1)
				audit_verify_break(res, last + 1, 0);
			if (audit_seal_link(key, prev, seq, r, i, 2, h) != 0) {
				rc = DB_ERROR;
				break;
			}
			if (sodium_memcmp(h, stored, sizeof h) != 0)
				audit_verify_break(res, seq, id);
			memcpy(prev, stored, sizeof prev);
			last = seq;
			res->sealed++;
		}
		arena_free(b);
	}
	sodium_memzero(key, sizeof key);
	if (rc != DB_OK)
		return rc;
	if (head_seq > last)
		audit_verify_break(res, last + 1, 0); /* sealed rows gone from the end */
	else if (head_seq < last)
		audit_verify_break(res, head_seq + 1, 0);
	else if (sodium_memcmp(head_hash, prev, sizeof prev) != 0)
		audit_verify_break(res, last, 0);
	return DB_OK;
}

/* ------------------------------------------------------------ the thread */

static pthread_mutex_t seal_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t seal_cond = PTHREAD_COND_INITIALIZER;
static bool seal_stopping; /* guarded by seal_lock */
static bool seal_running;  /* only the starting/stopping thread touches it */
static pthread_t seal_thread;
static int seal_interval_ms;

/* True once audit_seal_stop has been called. */
static bool audit_seal_should_stop(void)
{
	pthread_mutex_lock(&seal_lock);
	bool s = seal_stopping;
	pthread_mutex_unlock(&seal_lock);
	return s;
}

/* Seals the tenant's new events, a batch per transaction. Returns a db_rc. */
static int audit_seal_one(const char *tenant_id)
{
	int rc = DB_OK, n = AUDIT_SEAL_BATCH;
	while (rc == DB_OK && n == AUDIT_SEAL_BATCH && !audit_seal_should_stop()) {
		struct arena *a = arena_new();
		if (a == NULL)
			return DB_ERROR;
		n = 0;
		rc = db_begin();
		if (rc == DB_OK)
			rc = db_set_context(a, tenant_id, NULL);
		if (rc == DB_OK)
			rc = audit_seal_tenant(a, tenant_id, AUDIT_SEAL_BATCH, &n);
		if (rc == DB_OK)
			rc = db_commit();
		else
			db_rollback();
		arena_free(a);
	}
	return rc;
}

/* One visit of every tenant. Returns DB_OK or the first db_rc met. */
static int audit_seal_round(void)
{
	struct arena *a = arena_new();
	PGresult *r = NULL;
	if (a == NULL)
		return DB_ERROR;
	int rc = db_exec(a, &st_tenants, 0, NULL, &r);
	int first = rc;
	for (int i = 0; rc == DB_OK && i < PQntuples(r) && !audit_seal_should_stop(); i++) {
		int trc = audit_seal_one(PQgetvalue(r, i, 0));
		if (trc != DB_OK && first == DB_OK)
			first = trc;
		if (trc == DB_UNAVAILABLE)
			break;
	}
	arena_free(a);
	return first;
}

/* The sealer thread: a round every seal_interval_ms until stopped. */
static void *audit_seal_main(void *arg)
{
	(void)arg;
	int last_rc = DB_OK;
	for (;;) {
		int rc = audit_seal_round();
		if (rc != DB_OK && rc != last_rc)
			log_event(LOGL_WARN, "audit sealing failed; will retry",
			          json_pack("{s:s, s:i, s:s}", "component", "audit_seal", "rc", rc,
			                    "sqlstate", db_last_sqlstate()));
		last_rc = rc;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += seal_interval_ms / 1000;
		until.tv_nsec += (long)(seal_interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&seal_lock);
		while (!seal_stopping) {
			if (pthread_cond_timedwait(&seal_cond, &seal_lock, &until) == ETIMEDOUT)
				break;
		}
		bool stop = seal_stopping;
		pthread_mutex_unlock(&seal_lock);
		if (stop)
			break;
	}
	db_disconnect();
	return NULL;
}

int audit_seal_start(int interval_ms)
{
	if (seal_running)
		return 0;
	seal_interval_ms = interval_ms > 0 ? interval_ms : 2000;
	pthread_mutex_lock(&seal_lock);
	seal_stopping = false;
	pthread_mutex_unlock(&seal_lock);
	if (pthread_create(&seal_thread, NULL, audit_seal_main, NULL) != 0) {
		log_event(LOGL_ERROR, "cannot start the audit sealer",
		          json_pack("{s:s}", "component", "audit_seal"));
		return -1;
	}
	seal_running = true;
	return 0;
}

void audit_seal_stop(void)
{
	if (!seal_running)
		return;
	pthread_mutex_lock(&seal_lock);
	seal_stopping = true;
	pthread_cond_signal(&seal_cond);
	pthread_mutex_unlock(&seal_lock);
	pthread_join(seal_thread, NULL);
	seal_running = false;
}
