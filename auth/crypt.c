/* Field encryption at rest: the KEK (and, during a KEK swap, the previous
 * one), the per-tenant key rows in tenant_key and a process cache of
 * unwrapped keys (DESIGN §5.4; formats in auth/crypt.h, auth/crypt_format.c
 * and schema/003_keys.sql; the lifecycle in auth/keys*.c).
 *
 * A key row names the KEK that wrapped it (kek_fingerprint): it is
 * unwrapped with the current KEK or the previous one, whichever has that
 * fingerprint; new rows are always wrapped with the current KEK.
 *
 * Cache rules. A key is created inside the caller's transaction, which may
 * still roll back, so a cached key is never trusted on its own word:
 *  - encryption always reads the tenant's active data key row (one indexed
 *    query) and uses the cached key only if its wrapped bytes are the row's;
 *  - decryption trusts the cache (the AEAD tag proves the key right) and
 *    reloads the row once when a cached key fails;
 *  - the index key (one version, never rotated) is used from the cache
 *    without a query once its row has been seen committed, that is, not
 *    inserted by the transaction that read it (xmin differs from the
 *    transaction's id). Callers use no savepoints around key creation.
 * The active data key is read through app.active_key_for_write (migration
 * 018), which holds the tenant's shared key-rotation lock until the
 * transaction ends, so `cartella keys reencrypt` can wait for writers that
 * may still be using a version it is about to retire. */
#include "auth/crypt.h"
#include "auth/crypt_internal.h"
#include "server/alloc.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/log.h"
#include "server/util.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRYPT_SUBKEY_LABEL "cartella-subkey|"
#define CRYPT_CACHE_MAX    4096

enum crypt_kind { CRYPT_DATA, CRYPT_INDEX };
static const char *const crypt_kind_names[] = {"data", "index"};

/* One unwrapped key. The key bytes are sodium_malloc'd and read-only. */
struct crypt_entry {
	char tenant_id[UTIL_UUID_LEN + 1]; /* lower case */
	enum crypt_kind kind;
	uint32_t version;
	bool committed; /* its row was seen committed */
	unsigned char wrapped[CRYPT_WRAPPED_LEN];
	unsigned char *key;
};

/* Everything below is guarded by crypt_lock. */
static pthread_mutex_t crypt_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *crypt_kek; /* sodium_malloc'd, read-only; NULL before crypt_init */
static char crypt_fp[CRYPT_FINGERPRINT_LEN + 1];
static unsigned char *crypt_prev_kek; /* the previous KEK during a swap, or NULL */
static char crypt_prev_fp[CRYPT_FINGERPRINT_LEN + 1];
static struct crypt_entry *crypt_cache; /* malloc'd array */
static size_t crypt_ncache, crypt_capcache;

/* ------------------------------------------------------------ key cache */

/* Returns the cache entry for (tenant, kind, version), or NULL. Needs the lock. */
static struct crypt_entry *crypt_find_locked(const char *tenant, enum crypt_kind kind,
                                             uint32_t version)
{
	for (size_t i = 0; i < crypt_ncache; i++) {
		struct crypt_entry *e = &crypt_cache[i];
		if (e->kind == kind && e->version == version && strcmp(e->tenant_id, tenant) == 0)
			return e;
	}
	return NULL;
}

/* Stores key for (tenant, kind, version) in the cache, replacing an entry
 * with other wrapped bytes. Best effort: on OOM or a full cache the key is
 * simply not cached. Needs the lock. */
static void crypt_store_locked(const char *tenant, enum crypt_kind kind, uint32_t version,
                               const unsigned char *wrapped, bool committed,
                               const unsigned char *key)
{
	struct crypt_entry *e = crypt_find_locked(tenant, kind, version);
	if (e == NULL) {
		if (crypt_ncache == crypt_capcache) {
			if (crypt_capcache >= CRYPT_CACHE_MAX)
				return;
			size_t cap = crypt_capcache ? 2 * crypt_capcache : 16;
			struct crypt_entry *grown = alloc_realloc(crypt_cache, cap * sizeof *grown);
			if (grown == NULL)
				return;
			crypt_cache = grown;
			crypt_capcache = cap;
		}
		unsigned char *mem = sodium_malloc(CRYPT_KEY_LEN);
		if (mem == NULL)
			return;
		e = &crypt_cache[crypt_ncache++];
		memset(e, 0, sizeof *e);
		e->key = mem;
		util_strlcpy(e->tenant_id, tenant, sizeof e->tenant_id);
		e->kind = kind;
		e->version = version;
	} else if (sodium_mprotect_readwrite(e->key) != 0) {
		return;
	}
	memcpy(e->key, key, CRYPT_KEY_LEN);
	(void)sodium_mprotect_readonly(e->key);
	memcpy(e->wrapped, wrapped, CRYPT_WRAPPED_LEN);
	e->committed = committed;
}

/* Copies the cached key for (tenant, kind, version) into key (caller-owned)
 * when there is one (and, if need_committed, its row was seen committed).
 * Returns true on a hit. */
static bool crypt_cache_get(const char *tenant, enum crypt_kind kind, uint32_t version,
                            bool need_committed, unsigned char *key)
{
	bool hit = false;
	pthread_mutex_lock(&crypt_lock);
	struct crypt_entry *e = crypt_find_locked(tenant, kind, version);
	if (e != NULL && (e->committed || !need_committed)) {
		memcpy(key, e->key, CRYPT_KEY_LEN);
		hit = true;
	}
	pthread_mutex_unlock(&crypt_lock);
	return hit;
}

/* Wipes and frees every cached key. Needs the lock. */
static void crypt_forget_locked(void)
{
	for (size_t i = 0; i < crypt_ncache; i++)
		sodium_free(crypt_cache[i].key);
	free(crypt_cache);
	crypt_cache = NULL;
	crypt_ncache = crypt_capcache = 0;
}

/* ------------------------------------------------------------ key rows */

#define CRYPT_KEY_COLUMNS                                                                          \
	"SELECT version, wrapped, kek_fingerprint, xmin::text, "                                   \
	"pg_current_xact_id_if_assigned()::text FROM tenant_key "

static const struct db_stmt st_key_active = {
    "crypt_key_active",
    "SELECT version, wrapped, kek_fingerprint, row_xmin, current_xact "
    "FROM app.active_key_for_write($1, $2)",
};

static const struct db_stmt st_key_version = {
    "crypt_key_version",
    CRYPT_KEY_COLUMNS "WHERE tenant_id = $1 AND kind = $2 AND version = $3::int",
};

static const struct db_stmt st_key_create = {
    "crypt_key_create",
    "INSERT INTO tenant_key (tenant_id, kind, version, wrapped, kek_fingerprint) "
    "VALUES ($1, $2, 1, $3::bytea, $4) ON CONFLICT DO NOTHING RETURNING version",
};

/* The loaded KEK whose fingerprint is fp (current or previous), or NULL.
 * Needs the lock. */
static const unsigned char *crypt_kek_for_locked(const char *fp)
{
	if (crypt_kek != NULL && strcmp(fp, crypt_fp) == 0)
		return crypt_kek;
	if (crypt_prev_kek != NULL && strcmp(fp, crypt_prev_fp) == 0)
		return crypt_prev_kek;
	return NULL;
}

/* A key row that is missing: the caller decides what that means. */
#define CRYPT_NO_KEY (-101)

/* Logs that crypt_init has not run; returns DB_ERROR. */
static int crypt_not_ready(void)
{
	log_event(LOGL_ERROR, "no key-encryption key loaded (crypt_init has not run)",
	          json_pack("{s:s}", "component", "crypt"));
	return DB_ERROR;
}

/* Wraps a fresh random key for (tenant, kind, version 1) under the KEK and
 * inserts it unless a row is there already (then that row wins). */
static int crypt_key_create(struct arena *a, const char *tenant, enum crypt_kind kind)
{
	unsigned char key[CRYPT_KEY_LEN], wrapped[CRYPT_WRAPPED_LEN];
	char fp[CRYPT_FINGERPRINT_LEN + 1];
	int rc = DB_ERROR;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	if (crypt_wrap_current(crypt_kind_names[kind], tenant, 1, key, wrapped, fp) != 0)
		goto out;
	const char *text = crypt_bytea_text(a, wrapped, sizeof wrapped);
	if (text == NULL)
		goto out;
	const char *p[4] = {tenant, crypt_kind_names[kind], text, fp};
	PGresult *r = NULL;
	rc = db_exec(a, &st_key_create, 4, p, &r);
	if (rc == DB_OK && PQntuples(r) == 1)
		log_event(LOGL_INFO, "tenant key created (commits with the transaction)",
		          json_pack("{s:s, s:s, s:s, s:i}", "component", "crypt", "tenant_id",
		                    tenant, "kind", crypt_kind_names[kind], "version", 1));
out:
	sodium_memzero(key, sizeof key);
	return rc;
}

/* True when the row (xmin, current transaction id; columns 3 and 4 of r) was
 * written by another, hence committed, transaction. */
static bool crypt_row_committed(PGresult *r)
{
	if (PQgetisnull(r, 0, 4))
		return true; /* this transaction has written nothing */
	unsigned long long me = strtoull(PQgetvalue(r, 0, 4), NULL, 10);
	unsigned long long xmin = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
	return (me & 0xffffffffull) != xmin;
}

/* Turns the key row in r (row 0) into its key (caller-owned), from the cache
 * when it holds the same wrapped bytes, else by unwrapping (and caching).
 * *version is the row's version. Returns DB_OK or DB_ERROR (logged). */
static int crypt_key_from_row(struct arena *a, PGresult *r, const char *tenant,
                              enum crypt_kind kind, unsigned char *key, uint32_t *version)
{
	long long v;
	unsigned char *wrapped = NULL;
	size_t wlen = 0;
	if (!util_parse_int(PQgetvalue(r, 0, 0), 1, INT32_MAX, &v) ||
	    crypt_bytea_parse(a, PQgetvalue(r, 0, 1), &wrapped, &wlen) != 0 ||
	    wlen != CRYPT_WRAPPED_LEN) {
		log_event(LOGL_ERROR, "malformed tenant key row",
		          json_pack("{s:s, s:s, s:s}", "component", "crypt", "tenant_id", tenant,
		                    "kind", crypt_kind_names[kind]));
		return DB_ERROR;
	}
	const char *row_fp = PQgetvalue(r, 0, 2);
	bool committed = crypt_row_committed(r);
	*version = (uint32_t)v;

	enum { KEY_OK, KEY_NO_KEK, KEY_OTHER_KEK, KEY_BAD_WRAP } st = KEY_OK;
	char ours[CRYPT_FINGERPRINT_LEN + 1] = "";
	pthread_mutex_lock(&crypt_lock);
	struct crypt_entry *e = crypt_find_locked(tenant, kind, *version);
	const unsigned char *kek = crypt_kek_for_locked(row_fp);
	if (crypt_kek == NULL) {
		st = KEY_NO_KEK;
	} else if (e != NULL && sodium_memcmp(e->wrapped, wrapped, CRYPT_WRAPPED_LEN) == 0) {
		memcpy(key, e->key, CRYPT_KEY_LEN);
		e->committed = e->committed || committed;
	} else if (kek == NULL) {
		st = KEY_OTHER_KEK;
		util_strlcpy(ours, crypt_fp, sizeof ours);
	} else if (crypt_unwrap(kek, crypt_kind_names[kind], tenant, *version, wrapped, wlen,
	                        key) != 0) {
		st = KEY_BAD_WRAP;
		util_strlcpy(ours, crypt_fp, sizeof ours);
	} else {
		crypt_store_locked(tenant, kind, *version, wrapped, committed, key);
	}
	pthread_mutex_unlock(&crypt_lock);

	if (st == KEY_OK)
		return DB_OK;
	if (st == KEY_NO_KEK)
		return crypt_not_ready();
	char msg[200];
	if (st == KEY_OTHER_KEK)
		snprintf(msg, sizeof msg,
		         "the key-encryption key does not match the one that wrapped tenant %s's "
		         "keys",
		         tenant);
	else
		snprintf(msg, sizeof msg,
		         "a wrapped key of tenant %s does not authenticate under the "
		         "key-encryption key that claims to have wrapped it",
		         tenant);
	log_event(LOGL_ERROR, msg,
	          json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "component", "crypt", "tenant_id",
	                    tenant, "kind", crypt_kind_names[kind], "version", (int)*version,
	                    "kek_fingerprint", ours, "wrapped_by", row_fp));
	sodium_memzero(key, CRYPT_KEY_LEN);
	return DB_ERROR;
}

/* Reads the tenant's key of kind: version 0 means the active (highest not
 * retired) one. With create, a missing key is created (version 1) inside
 * the current transaction first. Writes the key into key (caller-owned) and
 * its version into *version. Returns DB_OK, a db_rc, or CRYPT_NO_KEY. */
static int crypt_key_load(struct arena *a, const char *tenant, enum crypt_kind kind, uint32_t want,
                          bool create, unsigned char *key, uint32_t *version)
{
	char vtext[16];
	snprintf(vtext, sizeof vtext, "%" PRIu32, want);
	const char *p[3] = {tenant, crypt_kind_names[kind], vtext};
	const struct db_stmt *st = want == 0 ? &st_key_active : &st_key_version;
	int n = want == 0 ? 2 : 3;
	PGresult *r = NULL;
	int rc = db_exec(a, st, n, p, &r);
	if (rc == DB_OK && PQntuples(r) == 0 && create) {
		rc = crypt_key_create(a, tenant, kind);
		if (rc == DB_OK)
			rc = db_exec(a, st, n, p, &r);
	}
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 0)
		return CRYPT_NO_KEY;
	return crypt_key_from_row(a, r, tenant, kind, key, version);
}

/* ------------------------------------------------------------ interface */

/* Borrows path; returns the KEK in sodium_malloc'd read-only memory (the
 * caller frees it with sodium_free) and its fingerprint in fp, or NULL with
 * the reason in err. */
unsigned char *crypt_kek_load(const char *path, char fp[CRYPT_FINGERPRINT_LEN + 1], char *err,
                              size_t errn)
{
	if (sodium_init() < 0) {
		snprintf(err, errn, "cannot initialise libsodium");
		return NULL;
	}
	unsigned char *kek = sodium_malloc(CRYPT_KEY_LEN);
	if (kek == NULL) {
		snprintf(err, errn, "cannot allocate protected memory for the key-encryption key");
		return NULL;
	}
	if (crypt_kek_read(path, kek, err, errn) != 0) {
		sodium_free(kek);
		return NULL;
	}
	if (sodium_mprotect_readonly(kek) != 0) {
		snprintf(err, errn, "cannot protect the key-encryption key memory");
		sodium_free(kek);
		return NULL;
	}
	crypt_kek_fingerprint(kek, fp);
	return kek;
}

/* Loads the KEK at path and installs it as the current KEK (forgetting every
 * cached key) or, with previous, as the previous one. Borrows path; owns the
 * KEK memory until crypt_shutdown. Returns 0, or -1 with the reason in err. */
static int crypt_install(const char *path, bool previous, char *err, size_t errn)
{
	char fp[CRYPT_FINGERPRINT_LEN + 1];
	unsigned char *kek = crypt_kek_load(path, fp, err, errn);
	if (kek == NULL)
		return -1;
	pthread_mutex_lock(&crypt_lock);
	if (!previous)
		crypt_forget_locked();
	unsigned char **slot = previous ? &crypt_prev_kek : &crypt_kek;
	if (*slot != NULL)
		sodium_free(*slot);
	*slot = kek;
	util_strlcpy(previous ? crypt_prev_fp : crypt_fp, fp, CRYPT_FINGERPRINT_LEN + 1);
	pthread_mutex_unlock(&crypt_lock);
	log_event(LOGL_INFO,
	          previous ? "previous key-encryption key loaded (a KEK swap is under way)"
	                   : "key-encryption key loaded",
	          json_pack("{s:s, s:s, s:s}", "component", "crypt", "kek_file", path,
	                    "kek_fingerprint", fp));
	return 0;
}

/* Borrows kek_path; owns the KEK memory it allocates until crypt_shutdown. */
int crypt_init(const char *kek_path, char *err, size_t errn)
{
	return crypt_install(kek_path, false, err, errn);
}

/* Borrows path; owns the KEK memory it allocates until crypt_shutdown. */
int crypt_init_previous(const char *path, char *err, size_t errn)
{
	return crypt_install(path, true, err, errn);
}

/* Writes into cur and prev (caller-owned; "" when not loaded). */
void crypt_fingerprints(char cur[CRYPT_FINGERPRINT_LEN + 1], char prev[CRYPT_FINGERPRINT_LEN + 1])
{
	pthread_mutex_lock(&crypt_lock);
	util_strlcpy(cur, crypt_kek ? crypt_fp : "", CRYPT_FINGERPRINT_LEN + 1);
	util_strlcpy(prev, crypt_prev_kek ? crypt_prev_fp : "", CRYPT_FINGERPRINT_LEN + 1);
	pthread_mutex_unlock(&crypt_lock);
}

/* Borrows everything; writes into key (caller-owned). */
int crypt_unwrap_loaded(const char *fp, const char *kind, const char *tenant_id, uint32_t version,
                        const unsigned char *wrapped, size_t wlen, unsigned char *key)
{
	pthread_mutex_lock(&crypt_lock);
	const unsigned char *kek = crypt_kek_for_locked(fp);
	int rc = kek == NULL ? CRYPT_KEK_UNKNOWN
	         : crypt_unwrap(kek, kind, tenant_id, version, wrapped, wlen, key) == 0
	             ? 0
	             : CRYPT_KEK_MISMATCH;
	pthread_mutex_unlock(&crypt_lock);
	if (rc != 0)
		sodium_memzero(key, CRYPT_KEY_LEN);
	return rc;
}

/* Borrows everything; writes into wrapped and fp (caller-owned). */
int crypt_wrap_current(const char *kind, const char *tenant_id, uint32_t version,
                       const unsigned char *key, unsigned char *wrapped,
                       char fp[CRYPT_FINGERPRINT_LEN + 1])
{
	pthread_mutex_lock(&crypt_lock);
	int rc =
	    crypt_kek == NULL ? -1 : crypt_wrap(crypt_kek, kind, tenant_id, version, key, wrapped);
	util_strlcpy(fp, crypt_fp, CRYPT_FINGERPRINT_LEN + 1);
	pthread_mutex_unlock(&crypt_lock);
	return rc;
}

/* Owns and releases the KEKs and every cached key. */
void crypt_shutdown(void)
{
	pthread_mutex_lock(&crypt_lock);
	crypt_forget_locked();
	if (crypt_kek != NULL)
		sodium_free(crypt_kek);
	if (crypt_prev_kek != NULL)
		sodium_free(crypt_prev_kek);
	crypt_kek = crypt_prev_kek = NULL;
	crypt_fp[0] = crypt_prev_fp[0] = '\0';
	pthread_mutex_unlock(&crypt_lock);
}

/* Logs a value that does not authenticate (ids and names only, never the
 * value); key_version < 0 when the header could not be read. */
static void crypt_log_integrity(const struct crypt_ctx *ctx, long long key_version,
                                const char *reason)
{
	json_t *f = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s}", "component", "crypt", "table",
	                      ctx->table, "column", ctx->column, "tenant_id", ctx->tenant_id,
	                      "row_id", ctx->row_id, "reason", reason);
	if (f != NULL)
		json_object_set_new(f, "key_version",
		                    key_version >= 0 ? json_integer(key_version) : json_null());
	log_event(LOGL_ERROR, "encrypted value does not authenticate", f);
}

/* Seals len bytes of plain for ctx with key (version kv) into *out
 * (arena-owned hex bytea text). Returns DB_OK or DB_ERROR. */
static int crypt_seal_value(struct arena *a, const struct crypt_ctx *ctx, const unsigned char *key,
                            uint32_t kv, const char *plain, size_t len, const char **out)
{
	char ad[CRYPT_AD_MAX];
	int adlen = crypt_value_ad(ctx, kv, ad, sizeof ad);
	unsigned char *buf = arena_alloc(a, len + CRYPT_OVERHEAD);
	if (adlen < 0 || buf == NULL ||
	    crypt_seal(key, kv, ad, (size_t)adlen, (const unsigned char *)(plain ? plain : ""), len,
	               buf) != 0)
		return DB_ERROR;
	*out = crypt_bytea_text(a, buf, len + CRYPT_OVERHEAD);
	return *out != NULL ? DB_OK : DB_ERROR;
}

/* Borrows ctx, plain and len; out[i] are arena-owned. */
int crypt_encrypt_n(struct arena *a, size_t n, const struct crypt_ctx *ctx,
                    const char *const *plain, const size_t *len, const char **out)
{
	unsigned char key[CRYPT_KEY_LEN];
	char ad[CRYPT_AD_MAX], tenant[UTIL_UUID_LEN + 1];
	uint32_t kv = 0;
	int rc = DB_ERROR;
	sodium_memzero(key, sizeof key);
	bool ok = n > 0;
	for (size_t i = 0; i < n; i++) {
		out[i] = NULL;
		ok = ok && crypt_value_ad(&ctx[i], 0, ad, sizeof ad) >= 0 &&
		     (plain[i] != NULL || len[i] == 0) && len[i] <= CRYPT_PLAIN_MAX &&
		     strcmp(ctx[i].tenant_id, ctx[0].tenant_id) == 0;
	}
	if (!ok) {
		log_event(LOGL_ERROR, "crypt_encrypt: bad arguments",
		          json_pack("{s:s, s:s?, s:s?}", "component", "crypt", "table",
		                    n > 0 ? ctx->table : NULL, "column",
		                    n > 0 ? ctx->column : NULL));
		goto out;
	}
	crypt_uuid_lower(ctx->tenant_id, tenant);
	rc = crypt_key_load(a, tenant, CRYPT_DATA, 0, true, key, &kv);
	if (rc == CRYPT_NO_KEY) {
		log_event(LOGL_ERROR, "tenant has no active data key (all retired?)",
		          json_pack("{s:s, s:s}", "component", "crypt", "tenant_id", tenant));
		rc = DB_ERROR;
	}
	for (size_t i = 0; rc == DB_OK && i < n; i++)
		rc = crypt_seal_value(a, &ctx[i], key, kv, plain[i], len[i], &out[i]);
out:
	sodium_memzero(key, sizeof key);
	return rc;
}

/* Borrows ctx and plain; *out is arena-owned. */
int crypt_encrypt(struct arena *a, const struct crypt_ctx *ctx, const char *plain, size_t len,
                  const char **out)
{
	return crypt_encrypt_n(a, 1, ctx, &plain, &len, out);
}

/* Borrows ctx and stored; *out is arena-owned. */
int crypt_decrypt(struct arena *a, const struct crypt_ctx *ctx, const char *stored,
                  const char **out, size_t *len)
{
	unsigned char key[CRYPT_KEY_LEN];
	char ad[CRYPT_AD_MAX], tenant[UTIL_UUID_LEN + 1];
	unsigned char *bin = NULL, *plain = NULL;
	size_t binlen = 0, plen = 0;
	uint32_t kv = 0, loaded = 0;
	int rc = DB_ERROR;
	*out = NULL;
	*len = 0;
	sodium_memzero(key, sizeof key);
	if (crypt_value_ad(ctx, 0, ad, sizeof ad) < 0) {
		log_event(LOGL_ERROR, "crypt_decrypt: bad arguments",
		          json_pack("{s:s, s:s?, s:s?}", "component", "crypt", "table",
		                    ctx ? ctx->table : NULL, "column", ctx ? ctx->column : NULL));
		goto out;
	}
	crypt_uuid_lower(ctx->tenant_id, tenant);
	if (crypt_bytea_parse(a, stored, &bin, &binlen) != 0 ||
	    crypt_header(bin, binlen, &kv) != 0) {
		crypt_log_integrity(ctx, -1, "malformed or unknown format");
		rc = CRYPT_INTEGRITY;
		goto out;
	}
	if (kv == 0 || kv > INT32_MAX) {
		crypt_log_integrity(ctx, kv, "impossible key version");
		rc = CRYPT_INTEGRITY;
		goto out;
	}
	int adlen = crypt_value_ad(ctx, kv, ad, sizeof ad);
	plain = arena_alloc(a, binlen - CRYPT_OVERHEAD + 1);
	if (adlen < 0 || plain == NULL)
		goto out;
	if (crypt_cache_get(tenant, CRYPT_DATA, kv, false, key) &&
	    crypt_open(key, ad, (size_t)adlen, bin, binlen, plain, &plen) == 0) {
		rc = DB_OK;
		goto out;
	}
	/* Not cached, or the cached key failed: read the row and try again. */
	rc = crypt_key_load(a, tenant, CRYPT_DATA, kv, false, key, &loaded);
	if (rc == CRYPT_NO_KEY) {
		crypt_log_integrity(ctx, kv, "no such key version");
		rc = CRYPT_INTEGRITY;
		goto out;
	}
	if (rc != DB_OK)
		goto out;
	if (crypt_open(key, ad, (size_t)adlen, bin, binlen, plain, &plen) != 0) {
		crypt_log_integrity(ctx, kv, "authentication failed");
		rc = CRYPT_INTEGRITY;
		goto out;
	}
	rc = DB_OK;
out:
	sodium_memzero(key, sizeof key);
	if (rc == DB_OK) {
		plain[plen] = '\0';
		*out = (const char *)plain;
		*len = plen;
	}
	return rc;
}

/* Borrows tenant_id, column and value; *out is arena-owned. */
int crypt_blind_index(struct arena *a, const char *tenant_id, const char *column, const char *value,
                      const char **out)
{
	unsigned char key[CRYPT_KEY_LEN], h[CRYPT_BLIND_LEN];
	char tenant[UTIL_UUID_LEN + 1];
	uint32_t v = 0;
	int rc = DB_ERROR;
	*out = NULL;
	sodium_memzero(key, sizeof key);
	if (!util_is_uuid(tenant_id) || column == NULL || column[0] == '\0' || value == NULL) {
		log_event(LOGL_ERROR, "crypt_blind_index: bad arguments",
		          json_pack("{s:s, s:s?}", "component", "crypt", "column", column));
		goto out;
	}
	crypt_uuid_lower(tenant_id, tenant);
	if (!crypt_cache_get(tenant, CRYPT_INDEX, 1, true, key)) {
		rc = crypt_key_load(a, tenant, CRYPT_INDEX, 1, true, key, &v);
		if (rc == CRYPT_NO_KEY)
			rc = DB_ERROR; /* created a moment ago, yet not there */
		if (rc != DB_OK)
			goto out;
		rc = DB_ERROR;
	}
	if (crypt_blind(key, column, (const unsigned char *)value, strlen(value), h) != 0)
		goto out;
	*out = crypt_bytea_text(a, h, sizeof h);
	if (*out != NULL)
		rc = DB_OK;
out:
	sodium_memzero(key, sizeof key);
	sodium_memzero(h, sizeof h);
	return rc;
}

/* Borrows tenant_id and label; writes into out (caller-owned). */
int crypt_tenant_subkey(struct arena *a, const char *tenant_id, const char *label,
                        unsigned char *out)
{
	unsigned char key[CRYPT_KEY_LEN];
	char tenant[UTIL_UUID_LEN + 1];
	uint32_t v = 0;
	int rc = DB_ERROR;
	sodium_memzero(key, sizeof key);
	sodium_memzero(out, CRYPT_SUBKEY_LEN);
	if (tenant_id == NULL || !util_is_uuid(tenant_id) || label == NULL || label[0] == '\0') {
		log_event(LOGL_ERROR, "crypt_tenant_subkey: bad arguments",
		          json_pack("{s:s, s:s?}", "component", "crypt", "label", label));
		return DB_ERROR;
	}
	crypt_uuid_lower(tenant_id, tenant);
	if (!crypt_cache_get(tenant, CRYPT_INDEX, 1, true, key)) {
		rc = crypt_key_load(a, tenant, CRYPT_INDEX, 1, true, key, &v);
		if (rc == CRYPT_NO_KEY)
			rc = DB_ERROR;
		if (rc != DB_OK)
			goto out;
		rc = DB_ERROR;
	}
	crypto_generichash_state st;
	if (crypto_generichash_init(&st, key, CRYPT_KEY_LEN, CRYPT_SUBKEY_LEN) == 0 &&
	    crypto_generichash_update(&st, (const unsigned char *)CRYPT_SUBKEY_LABEL,
	                              strlen(CRYPT_SUBKEY_LABEL)) == 0 &&
	    crypto_generichash_update(&st, (const unsigned char *)label, strlen(label)) == 0 &&
	    crypto_generichash_final(&st, out, CRYPT_SUBKEY_LEN) == 0)
		rc = DB_OK;
	sodium_memzero(&st, sizeof st);
out:
	sodium_memzero(key, sizeof key);
	if (rc != DB_OK)
		sodium_memzero(out, CRYPT_SUBKEY_LEN);
	return rc;
}

/* Borrows tenant_id; writes into data_key and index_key (caller-owned). */
int crypt_tenant_keys(struct arena *a, const char *tenant_id, unsigned char *data_key,
                      uint32_t *data_version, unsigned char *index_key)
{
	char tenant[UTIL_UUID_LEN + 1];
	uint32_t v = 0;
	int rc = DB_ERROR;
	if (tenant_id != NULL && util_is_uuid(tenant_id)) {
		crypt_uuid_lower(tenant_id, tenant);
		rc = crypt_key_load(a, tenant, CRYPT_DATA, 0, true, data_key, data_version);
		if (rc == DB_OK)
			rc = crypt_key_load(a, tenant, CRYPT_INDEX, 1, true, index_key, &v);
		if (rc == CRYPT_NO_KEY)
			rc = DB_ERROR; /* every data key retired, or created yet not there */
	}
	if (rc != DB_OK) {
		sodium_memzero(data_key, CRYPT_KEY_LEN);
		sodium_memzero(index_key, CRYPT_KEY_LEN);
	}
	return rc;
}
