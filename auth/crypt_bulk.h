/* Bulk field encryption for loaders (`cartella demo --persons N`): the same
 * value format, associated data and blind indexes as auth/crypt.h, with the
 * tenant's keys read once per transaction instead of once per value, and no
 * allocation per value. */
#ifndef CARTELLA_CRYPT_BULK_H
#define CARTELLA_CRYPT_BULK_H

#include <stddef.h>

struct arena;
struct crypt_bulk;

/* Reads the tenant's active data key and its index key (creating them inside
 * the current transaction when missing) into a new context, *out, owned by
 * the caller until crypt_bulk_close. Use it only inside the transaction that
 * opened it (a key rotation may follow). Returns a db_rc. */
int crypt_bulk_open(struct arena *a, const char *tenant_id, struct crypt_bulk **out);

/* Wipes and frees b (NULL is fine). */
void crypt_bulk_close(struct crypt_bulk *b);

/* Encrypts len bytes of plain for (table, column, row_id) of b's tenant into
 * out (caller-owned, outn >= len + CRYPT_OVERHEAD bytes) in the stored format
 * of crypt_encrypt. Returns the stored length, or -1 on bad arguments. */
long crypt_bulk_seal(const struct crypt_bulk *b, const char *table, const char *column,
                     const char *row_id, const char *plain, size_t len, unsigned char *out,
                     size_t outn);

/* Blind index of value (already normalised) for column of b's tenant into
 * out[CRYPT_BLIND_LEN] (caller-owned), as crypt_blind_index computes it.
 * Returns 0 or -1. */
int crypt_bulk_blind(const struct crypt_bulk *b, const char *column, const char *value,
                     unsigned char *out);

#endif
