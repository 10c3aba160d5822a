/* Field encryption at rest: the KEK, the per-tenant key rows in tenant_key,
 * a process cache of unwrapped keys, and the value and blind-index formats
 * (DESIGN §5.4; formats in auth/crypt.h and schema/003_keys.sql).
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
 *    transaction's id). Callers use no savepoints around key creation. */
#include "auth/crypt.h"
#include "auth/crypt_internal.h"
#include "server/alloc.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CRYPT_FINGERPRINT_INPUT "cartella-kek-fingerprint|v1"
#define CRYPT_BIDX_LABEL        "cartella-bidx|"
#define CRYPT_SUBKEY_LABEL      "cartella-subkey|"
#define CRYPT_PLAIN_MAX         ((size_t)256 * 1024 * 1024)
#define CRYPT_NAME_MAX          64
#define CRYPT_CACHE_MAX         4096
#define CRYPT_HDR_LEN           (1 + 4)

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
static struct crypt_entry *crypt_cache; /* malloc'd array */
static size_t crypt_ncache, crypt_capcache;

/* ------------------------------------------------------------ pure parts */

/* Writes v big-endian into out[4]. */
static void crypt_be32_put(unsigned char *out, uint32_t v)
{
	out[0] = (unsigned char)(v >> 24);
	out[1] = (unsigned char)(v >> 16);
	out[2] = (unsigned char)(v >> 8);
	out[3] = (unsigned char)v;
}

/* Returns the big-endian uint32 at in[4]. */
static uint32_t crypt_be32_get(const unsigned char *in)
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 |
	       (uint32_t)in[3];
}

/* Copies a UUID (already checked) lower-cased into out[37]. */
static void crypt_uuid_lower(const char *id, char out[UTIL_UUID_LEN + 1])
{
	for (size_t i = 0; i < UTIL_UUID_LEN; i++) {
		char c = id[i];
		out[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
	}
	out[UTIL_UUID_LEN] = '\0';
}

/* True when s can be a piece of associated data: 1..63 bytes, no '|'. */
static bool crypt_name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strchr(s, '|') != NULL)
		return false;
	return strnlen(s, CRYPT_NAME_MAX) < CRYPT_NAME_MAX;
}

/* Borrows path; writes into kek (caller-owned) and err. */
int crypt_kek_read(const char *path, unsigned char *kek, char *err, size_t errn)
{
	int rc = -1, fd = -1;
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errn,
		         "CARTELLA_KEK_FILE is not set: the server needs a key-encryption key "
		         "file (32 random bytes, mode 0600)");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errn, "key-encryption key file %s: cannot open: %s", path,
		         strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errn, "key-encryption key file %s: cannot stat: %s", path,
		         strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errn, "key-encryption key file %s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errn,
		         "key-encryption key file %s is accessible by group or others (mode "
		         "%04o): make it readable by the service only (chmod 600)",
		         path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size != CRYPT_KEY_LEN) {
		snprintf(err, errn,
		         "key-encryption key file %s must hold exactly %d bytes (it holds %lld)",
		         path, CRYPT_KEY_LEN, (long long)st.st_size);
		goto out;
	}
	size_t got = 0;
	while (got < CRYPT_KEY_LEN) {
		ssize_t n = read(fd, kek + got, CRYPT_KEY_LEN - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	unsigned char extra;
	ssize_t more = got == CRYPT_KEY_LEN ? read(fd, &extra, 1) : -1;
	if (got != CRYPT_KEY_LEN || more != 0) {
		snprintf(err, errn,
		         "key-encryption key file %s: could not read exactly %d bytes (did it "
		         "change while being read?)",
		         path, CRYPT_KEY_LEN);
		goto out;
	}
	if (sodium_is_zero(kek, CRYPT_KEY_LEN)) {
		snprintf(err, errn,
		         "key-encryption key file %s holds only zero bytes: fill it with random "
		         "bytes",
		         path);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && kek != NULL)
		sodium_memzero(kek, CRYPT_KEY_LEN);
	return rc;
}

/* Borrows kek; writes into out (caller-owned). */
void crypt_kek_fingerprint(const unsigned char *kek, char out[CRYPT_FINGERPRINT_LEN + 1])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof h, (const unsigned char *)CRYPT_FINGERPRINT_INPUT,
	                   strlen(CRYPT_FINGERPRINT_INPUT), kek, CRYPT_KEY_LEN);
	util_hex(h, CRYPT_FINGERPRINT_LEN / 2, out);
}

/* Borrows ctx; writes into out (caller-owned). */
int crypt_value_ad(const struct crypt_ctx *ctx, uint32_t key_version, char *out, size_t outn)
{
	if (ctx == NULL || !crypt_name_ok(ctx->table) || !crypt_name_ok(ctx->column) ||
	    !util_is_uuid(ctx->tenant_id) || !util_is_uuid(ctx->row_id))
		return -1;
	char tenant[UTIL_UUID_LEN + 1], row[UTIL_UUID_LEN + 1];
	crypt_uuid_lower(ctx->tenant_id, tenant);
	crypt_uuid_lower(ctx->row_id, row);
	int n = snprintf(out, outn, "%s|%s|%s|%s|%" PRIu32, ctx->table, ctx->column, tenant, row,
	                 key_version);
	if (n < 0 || (size_t)n >= outn)
		return -1;
	return n;
}

/* Borrows key, ad and plain; writes into out (caller-owned). */
int crypt_seal(const unsigned char *key, uint32_t key_version, const char *ad, size_t adlen,
               const unsigned char *plain, size_t len, unsigned char *out)
{
	if (len > CRYPT_PLAIN_MAX)
		return -1;
	out[0] = CRYPT_FORMAT_V1;
	crypt_be32_put(out + 1, key_version);
	unsigned char *nonce = out + CRYPT_HDR_LEN;
	randombytes_buf(nonce, CRYPT_NONCE_LEN);
	unsigned long long clen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + CRYPT_NONCE_LEN, &clen, plain, len,
	                                               (const unsigned char *)ad, adlen, NULL,
	                                               nonce, key) != 0)
		return -1;
	return clen == (unsigned long long)len + CRYPT_TAG_LEN ? 0 : -1;
}

/* Borrows in. */
int crypt_header(const unsigned char *in, size_t inlen, uint32_t *key_version)
{
	if (in == NULL || inlen < CRYPT_OVERHEAD || in[0] != CRYPT_FORMAT_V1)
		return -1;
	*key_version = crypt_be32_get(in + 1);
	return 0;
}

/* Borrows key, ad and in; writes into out (caller-owned). */
int crypt_open(const unsigned char *key, const char *ad, size_t adlen, const unsigned char *in,
               size_t inlen, unsigned char *out, size_t *outlen)
{
	uint32_t kv;
	if (crypt_header(in, inlen, &kv) != 0)
		return -1;
	const unsigned char *nonce = in + CRYPT_HDR_LEN;
	unsigned long long mlen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
	        out, &mlen, NULL, nonce + CRYPT_NONCE_LEN, inlen - CRYPT_HDR_LEN - CRYPT_NONCE_LEN,
	        (const unsigned char *)ad, adlen, nonce, key) != 0)
		return -1;
	*outlen = (size_t)mlen;
	return 0;
}

/* Associated data of a wrapped key into out; returns its length or -1. */
static int crypt_wrap_ad(const char *kind, const char *tenant_id, uint32_t version, char *out,
                         size_t outn)
{
	if (kind == NULL || (strcmp(kind, "data") != 0 && strcmp(kind, "index") != 0) ||
	    !util_is_uuid(tenant_id) || version == 0)
		return -1;
	char tenant[UTIL_UUID_LEN + 1];
	crypt_uuid_lower(tenant_id, tenant);
	int n = snprintf(out, outn, "cartella-key|%s|%s|%" PRIu32, kind, tenant, version);
	if (n < 0 || (size_t)n >= outn)
		return -1;
	return n;
}

/* Borrows kek and key; writes into out (caller-owned). */
int crypt_wrap(const unsigned char *kek, const char *kind, const char *tenant_id, uint32_t version,
               const unsigned char *key, unsigned char *out)
{
	char ad[128];
	int adlen = crypt_wrap_ad(kind, tenant_id, version, ad, sizeof ad);
	if (adlen < 0)
		return -1;
	randombytes_buf(out, CRYPT_NONCE_LEN);
	unsigned long long clen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(
	        out + CRYPT_NONCE_LEN, &clen, key, CRYPT_KEY_LEN, (const unsigned char *)ad,
	        (unsigned long long)adlen, NULL, out, kek) != 0)
		return -1;
	return clen == CRYPT_KEY_LEN + CRYPT_TAG_LEN ? 0 : -1;
}

/* Borrows kek and wrapped; writes into key (caller-owned). */
int crypt_unwrap(const unsigned char *kek, const char *kind, const char *tenant_id,
                 uint32_t version, const unsigned char *wrapped, size_t wlen, unsigned char *key)
{
	char ad[128];
	int adlen = crypt_wrap_ad(kind, tenant_id, version, ad, sizeof ad);
	unsigned long long mlen = 0;
	if (adlen < 0 || wlen != CRYPT_WRAPPED_LEN ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(
	        key, &mlen, NULL, wrapped + CRYPT_NONCE_LEN, wlen - CRYPT_NONCE_LEN,
	        (const unsigned char *)ad, (unsigned long long)adlen, wrapped, kek) != 0 ||
	    mlen != CRYPT_KEY_LEN) {
		sodium_memzero(key, CRYPT_KEY_LEN);
		return -1;
	}
	return 0;
}

/* Borrows index_key, column and value; writes into out (caller-owned). */
int crypt_blind(const unsigned char *index_key, const char *column, const unsigned char *value,
                size_t len, unsigned char *out)
{
	if (column == NULL || column[0] == '\0')
		return -1;
	unsigned char ck[CRYPT_KEY_LEN];
	crypto_generichash_state st;
	int rc = crypto_generichash_init(&st, index_key, CRYPT_KEY_LEN, sizeof ck);
	if (rc == 0)
		rc = crypto_generichash_update(&st, (const unsigned char *)CRYPT_BIDX_LABEL,
		                               strlen(CRYPT_BIDX_LABEL));
	if (rc == 0)
		rc = crypto_generichash_update(&st, (const unsigned char *)column, strlen(column));
	if (rc == 0)
		rc = crypto_generichash_final(&st, ck, sizeof ck);
	if (rc == 0)
		rc = crypto_generichash(out, CRYPT_BLIND_LEN, value, len, ck, sizeof ck);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(ck, sizeof ck);
	return rc == 0 ? 0 : -1;
}

/* Borrows in; returns arena-owned text. */
char *crypt_bytea_text(struct arena *a, const unsigned char *in, size_t len)
{
	if (len > (SIZE_MAX - 3) / 2)
		return NULL;
	char *s = arena_alloc(a, 2 * len + 3);
	if (s == NULL)
		return NULL;
	s[0] = '\\';
	s[1] = 'x';
	sodium_bin2hex(s + 2, 2 * len + 1, in, len);
	return s;
}

/* Borrows text; *out is arena-owned. */
int crypt_bytea_parse(struct arena *a, const char *text, unsigned char **out, size_t *len)
{
	if (text == NULL || text[0] != '\\' || text[1] != 'x')
		return -1;
	const char *hex = text + 2;
	size_t hl = strlen(hex);
	if (hl % 2 != 0)
		return -1;
	unsigned char *b = arena_alloc(a, hl / 2 + 1);
	if (b == NULL)
		return -1;
	size_t bl = 0;
	const char *end = NULL;
	if (sodium_hex2bin(b, hl / 2 + 1, hex, hl, NULL, &bl, &end) != 0 || end != hex + hl ||
	    bl != hl / 2)
		return -1;
	*out = b;
	*len = bl;
	return 0;
}

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
    CRYPT_KEY_COLUMNS "WHERE tenant_id = $1 AND kind = $2 AND retired_at IS NULL "
                      "ORDER BY version DESC LIMIT 1",
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
	pthread_mutex_lock(&crypt_lock);
	int wrc = crypt_kek == NULL
	              ? -1
	              : crypt_wrap(crypt_kek, crypt_kind_names[kind], tenant, 1, key, wrapped);
	util_strlcpy(fp, crypt_fp, sizeof fp);
	pthread_mutex_unlock(&crypt_lock);
	if (wrc != 0)
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
	if (crypt_kek == NULL) {
		st = KEY_NO_KEK;
	} else if (e != NULL && sodium_memcmp(e->wrapped, wrapped, CRYPT_WRAPPED_LEN) == 0) {
		memcpy(key, e->key, CRYPT_KEY_LEN);
		e->committed = e->committed || committed;
	} else if (strcmp(row_fp, crypt_fp) != 0) {
		st = KEY_OTHER_KEK;
		util_strlcpy(ours, crypt_fp, sizeof ours);
	} else if (crypt_unwrap(crypt_kek, crypt_kind_names[kind], tenant, *version, wrapped, wlen,
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

/* Borrows kek_path; owns the KEK memory it allocates until crypt_shutdown. */
int crypt_init(const char *kek_path, char *err, size_t errn)
{
	if (sodium_init() < 0) {
		snprintf(err, errn, "cannot initialise libsodium");
		return -1;
	}
	unsigned char *kek = sodium_malloc(CRYPT_KEY_LEN);
	if (kek == NULL) {
		snprintf(err, errn, "cannot allocate protected memory for the key-encryption key");
		return -1;
	}
	if (crypt_kek_read(kek_path, kek, err, errn) != 0) {
		sodium_free(kek);
		return -1;
	}
	if (sodium_mprotect_readonly(kek) != 0) {
		snprintf(err, errn, "cannot protect the key-encryption key memory");
		sodium_free(kek);
		return -1;
	}
	char fp[CRYPT_FINGERPRINT_LEN + 1];
	crypt_kek_fingerprint(kek, fp);
	pthread_mutex_lock(&crypt_lock);
	crypt_forget_locked();
	if (crypt_kek != NULL)
		sodium_free(crypt_kek);
	crypt_kek = kek;
	util_strlcpy(crypt_fp, fp, sizeof crypt_fp);
	pthread_mutex_unlock(&crypt_lock);
	log_event(LOGL_INFO, "key-encryption key loaded",
	          json_pack("{s:s, s:s, s:s}", "component", "crypt", "kek_file", kek_path,
	                    "kek_fingerprint", fp));
	return 0;
}

/* Owns and releases the KEK and every cached key. */
void crypt_shutdown(void)
{
	pthread_mutex_lock(&crypt_lock);
	crypt_forget_locked();
	if (crypt_kek != NULL)
		sodium_free(crypt_kek);
	crypt_kek = NULL;
	crypt_fp[0] = '\0';
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

/* Borrows ctx and plain; *out is arena-owned. */
int crypt_encrypt(struct arena *a, const struct crypt_ctx *ctx, const char *plain, size_t len,
                  const char **out)
{
	unsigned char key[CRYPT_KEY_LEN];
	char ad[CRYPT_AD_MAX], tenant[UTIL_UUID_LEN + 1];
	uint32_t kv = 0;
	int rc = DB_ERROR;
	*out = NULL;
	sodium_memzero(key, sizeof key);
	if (crypt_value_ad(ctx, 0, ad, sizeof ad) < 0 || (plain == NULL && len > 0) ||
	    len > CRYPT_PLAIN_MAX) {
		log_event(LOGL_ERROR, "crypt_encrypt: bad arguments",
		          json_pack("{s:s, s:s?, s:s?}", "component", "crypt", "table",
		                    ctx ? ctx->table : NULL, "column", ctx ? ctx->column : NULL));
		goto out;
	}
	crypt_uuid_lower(ctx->tenant_id, tenant);
	rc = crypt_key_load(a, tenant, CRYPT_DATA, 0, true, key, &kv);
	if (rc == CRYPT_NO_KEY) {
		log_event(LOGL_ERROR, "tenant has no active data key (all retired?)",
		          json_pack("{s:s, s:s}", "component", "crypt", "tenant_id", tenant));
		rc = DB_ERROR;
	}
	if (rc != DB_OK)
		goto out;
	rc = DB_ERROR;
	int adlen = crypt_value_ad(ctx, kv, ad, sizeof ad);
	unsigned char *buf = arena_alloc(a, len + CRYPT_OVERHEAD);
	if (adlen < 0 || buf == NULL ||
	    crypt_seal(key, kv, ad, (size_t)adlen, (const unsigned char *)(plain ? plain : ""), len,
	               buf) != 0)
		goto out;
	*out = crypt_bytea_text(a, buf, len + CRYPT_OVERHEAD);
	if (*out != NULL)
		rc = DB_OK;
out:
	sodium_memzero(key, sizeof key);
	return rc;
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
