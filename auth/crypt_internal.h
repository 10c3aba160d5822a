/* The pure parts of field encryption (auth/crypt_format.c: no database, no
 * process state), the KEK lookups of auth/crypt.c that the key lifecycle
 * (auth/keys*.c) needs, and the key loader auth/crypt_bulk.c uses. Only
 * auth/crypt*.c, auth/keys*.c and the unit tests include this. */
#ifndef CARTELLA_CRYPT_INTERNAL_H
#define CARTELLA_CRYPT_INTERNAL_H

#include "auth/crypt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPT_KEY_LEN         32
#define CRYPT_NONCE_LEN       24
#define CRYPT_TAG_LEN         16
#define CRYPT_FORMAT_V1       1
#define CRYPT_WRAPPED_LEN     (CRYPT_NONCE_LEN + CRYPT_KEY_LEN + CRYPT_TAG_LEN)
#define CRYPT_FINGERPRINT_LEN 16 /* hex characters */
#define CRYPT_AD_MAX          512
#define CRYPT_HDR_LEN         (1 + 4)
#define CRYPT_PLAIN_MAX       ((size_t)256 * 1024 * 1024)

/* Copies a UUID (already checked) lower-cased into out[37]. */
void crypt_uuid_lower(const char *id, char out[37]);

/* Reads a KEK from path into kek (caller-owned, CRYPT_KEY_LEN bytes): the file
 * must be a regular file of exactly 32 bytes with no group or other
 * permission bits. Returns 0, or -1 with the reason (naming the file, never
 * its bytes) in err; kek is wiped on failure. */
int crypt_kek_read(const char *path, unsigned char *kek, char *err, size_t errn);

/* Writes the KEK's fingerprint (16 lower-case hex characters) into out[17]. */
void crypt_kek_fingerprint(const unsigned char *kek, char out[CRYPT_FINGERPRINT_LEN + 1]);

/* Associated data of a value, "<table>|<column>|<tenant>|<row>|<key_version>"
 * (ids lower-cased), into out (outn bytes). Returns its length, or -1 when a
 * name is empty or holds '|', an id is not a UUID, or out is too small. */
int crypt_value_ad(const struct crypt_ctx *ctx, uint32_t key_version, char *out, size_t outn);

/* Seals len bytes of plain under key with ad into out (caller-owned,
 * len + CRYPT_OVERHEAD bytes) in the stored format, with a fresh random
 * nonce. Returns 0, or -1 when len is too large. */
int crypt_seal(const unsigned char *key, uint32_t key_version, const char *ad, size_t adlen,
               const unsigned char *plain, size_t len, unsigned char *out);

/* Reads the format and key version of a stored value of inlen bytes.
 * Returns 0, or -1 when it is too short or of an unknown format version. */
int crypt_header(const unsigned char *in, size_t inlen, uint32_t *key_version);

/* Opens a stored value of inlen bytes under key with ad into out (caller-
 * owned, at least inlen - CRYPT_OVERHEAD bytes); *outlen is the plaintext
 * length. Returns 0, or -1 when the value is malformed or does not
 * authenticate (ad carries the key version, so a header naming another
 * version fails too). */
int crypt_open(const unsigned char *key, const char *ad, size_t adlen, const unsigned char *in,
               size_t inlen, unsigned char *out, size_t *outlen);

/* Wraps a tenant key (kind "data" or "index", version) under kek into
 * out[CRYPT_WRAPPED_LEN] (nonce ‖ ciphertext ‖ tag). Returns 0 or -1. */
int crypt_wrap(const unsigned char *kek, const char *kind, const char *tenant_id, uint32_t version,
               const unsigned char *key, unsigned char *out);

/* Unwraps wrapped (wlen bytes) into key (caller-owned, CRYPT_KEY_LEN bytes).
 * Returns 0, or -1 when it does not authenticate for (kind, tenant,
 * version) under kek; key is wiped then. */
int crypt_unwrap(const unsigned char *kek, const char *kind, const char *tenant_id,
                 uint32_t version, const unsigned char *wrapped, size_t wlen, unsigned char *key);

/* Blind index of len bytes of value for column under a tenant's index key,
 * into out[CRYPT_BLIND_LEN]. Returns 0, or -1 when column is empty. */
int crypt_blind(const unsigned char *index_key, const char *column, const unsigned char *value,
                size_t len, unsigned char *out);

/* Loads the tenant's active data key (created on first use, inside the
 * current transaction) into data_key and its version into *data_version, and
 * its index key into index_key (both caller-owned, CRYPT_KEY_LEN bytes; the
 * caller wipes them). For auth/crypt_bulk.c. Returns a db_rc; the keys are
 * wiped on failure. */
int crypt_tenant_keys(struct arena *a, const char *tenant_id, unsigned char *data_key,
                      uint32_t *data_version, unsigned char *index_key);

/* Returns the arena-owned PostgreSQL hex bytea text ("\\x" + lower-case hex)
 * of len bytes of in, or NULL on OOM or overflow. */
char *crypt_bytea_text(struct arena *a, const unsigned char *in, size_t len);

/* Decodes hex bytea text ("\\x..."): *out is arena-owned, *len its length.
 * Returns 0, or -1 when text is not of that form (or on OOM). */
int crypt_bytea_parse(struct arena *a, const char *text, unsigned char **out, size_t *len);

/* ------------------------------------------------ the loaded KEKs (crypt.c) */

/* Reads the KEK file at path (crypt_kek_read's rules) into sodium_malloc'd
 * read-only memory, which the caller owns (sodium_free), and writes its
 * fingerprint into fp. Returns NULL with the reason in err. */
unsigned char *crypt_kek_load(const char *path, char fp[CRYPT_FINGERPRINT_LEN + 1], char *err,
                              size_t errn);

/* Writes the fingerprints of the current and the previous KEK into cur and
 * prev ("" when not loaded). */
void crypt_fingerprints(char cur[CRYPT_FINGERPRINT_LEN + 1], char prev[CRYPT_FINGERPRINT_LEN + 1]);

/* Unwraps a key row wrapped by the KEK of fingerprint fp, which must be the
 * current or the previous one, into key (caller-owned, CRYPT_KEY_LEN).
 * Returns 0, CRYPT_KEK_UNKNOWN (no loaded KEK has that fingerprint) or
 * CRYPT_KEK_MISMATCH (the row does not authenticate under it); key is wiped
 * on failure. */
#define CRYPT_KEK_UNKNOWN  (-1)
#define CRYPT_KEK_MISMATCH (-2)
int crypt_unwrap_loaded(const char *fp, const char *kind, const char *tenant_id, uint32_t version,
                        const unsigned char *wrapped, size_t wlen, unsigned char *key);

/* Wraps key for (kind, tenant, version) under the current KEK into
 * wrapped[CRYPT_WRAPPED_LEN] and writes that KEK's fingerprint into fp.
 * Returns 0, or -1 when no KEK is loaded. */
int crypt_wrap_current(const char *kind, const char *tenant_id, uint32_t version,
                       const unsigned char *key, unsigned char *wrapped,
                       char fp[CRYPT_FINGERPRINT_LEN + 1]);

#endif
