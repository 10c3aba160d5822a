/* Field encryption at rest (DESIGN §5.4). A key-encryption key (KEK) read
 * from a file wraps per-tenant data keys, versioned in the tenant_key table.
 * Values are XChaCha20-Poly1305 with associated data binding table, column,
 * tenant, row id and key version, stored as
 *   version(1) ‖ key_version(4, big-endian) ‖ nonce(24) ‖ ciphertext+tag.
 * Blind indexes are keyed BLAKE2b-256 of a normalised value, with a key per
 * tenant and per column derived from the tenant's index key.
 * Keys live in sodium_malloc'd memory; unwrapped keys are cached per process. */
#ifndef CARTELLA_CRYPT_H
#define CARTELLA_CRYPT_H

#include <stdbool.h>
#include <stddef.h>

struct arena;

#define CRYPT_BLIND_LEN 32
#define CRYPT_OVERHEAD  (1 + 4 + 24 + 16)

/* Loads the KEK from path (32 raw bytes; the file must not be readable by
 * group or others). Returns 0, or -1 with the reason in err. */
int crypt_init(const char *kek_path, char *err, size_t errn);

/* Loads the previous KEK from path (same rules) during a KEK swap: key rows
 * still wrapped by it unwrap too; nothing new is wrapped with it. Call after
 * crypt_init. Returns 0, or -1 with the reason in err. */
int crypt_init_previous(const char *path, char *err, size_t errn);

/* Forgets every key (wipes memory). */
void crypt_shutdown(void);

/* Where a value belongs: the associated data of its ciphertext. */
struct crypt_ctx {
	const char *table;
	const char *column;
	const char *tenant_id; /* uuid text */
	const char *row_id;    /* uuid text */
};

/* Encrypts len bytes of plain for ctx with the tenant's active data key
 * (created on first use, inside the current transaction). *out (arena-owned)
 * is the stored value in PostgreSQL hex bytea text form ("\\x..."), ready to be
 * a text parameter. Returns a db_rc (DB_OK, or DB_ERROR on crypto failure). */
int crypt_encrypt(struct arena *a, const struct crypt_ctx *ctx, const char *plain, size_t len,
                  const char **out);

/* crypt_encrypt of n values of one tenant (ctx[i], plain[i] of len[i] bytes
 * into out[i]) with one read of the active key: for writes of many rows in
 * one statement. Borrows ctx, plain and len; out[i] are arena-owned.
 * Returns a db_rc (DB_ERROR also when the contexts name different tenants). */
int crypt_encrypt_n(struct arena *a, size_t n, const struct crypt_ctx *ctx,
                    const char *const *plain, const size_t *len, const char **out);

/* Decrypts a stored value (hex bytea text as PostgreSQL returns it) for ctx.
 * *out is an arena-owned NUL-terminated string, *len its length. Returns
 * DB_OK, a db_rc, or CRYPT_INTEGRITY when the value does not authenticate
 * (wrong row, wrong key, tampered): the caller answers 500 and logs it. */
#define CRYPT_INTEGRITY (-100)
int crypt_decrypt(struct arena *a, const struct crypt_ctx *ctx, const char *stored,
                  const char **out, size_t *len);

/* Blind index of value (already normalised by the caller) for the tenant and
 * column: *out is arena-owned hex bytea text ("\\x..."). Returns a db_rc. */
int crypt_blind_index(struct arena *a, const char *tenant_id, const char *column, const char *value,
                      const char **out);

/* A per-tenant key for purpose label (e.g. "audit-seal"), derived from the
 * tenant's index key (created on first use, inside the current transaction):
 * keyed BLAKE2b-256 of "cartella-subkey|<label>" under the index key, into
 * out[32] (caller-owned; the caller wipes it). Returns a db_rc. */
#define CRYPT_SUBKEY_LEN 32
int crypt_tenant_subkey(struct arena *a, const char *tenant_id, const char *label,
                        unsigned char *out);

#endif
