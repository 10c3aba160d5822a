/* The pure parts of field encryption (DESIGN §5.4): reading a KEK file, its
 * fingerprint, the value format and its associated data, wrapping tenant
 * keys, blind indexes, bytea text. No database, no process state: the keys
 * themselves are handled by auth/crypt.c. Declared in auth/crypt_internal.h. */
#include "auth/crypt.h"
#include "auth/crypt_internal.h"
#include "server/arena.h"
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CRYPT_FINGERPRINT_INPUT "cartella-kek-fingerprint|v1"
#define CRYPT_BIDX_LABEL        "cartella-bidx|"
#define CRYPT_NAME_MAX          64

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

/* Borrows id; writes into out (caller-owned). */
void crypt_uuid_lower(const char *id, char out[UTIL_UUID_LEN + 1])
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
