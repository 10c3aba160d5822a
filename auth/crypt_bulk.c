/* Bulk field encryption (auth/crypt_bulk.h): the keys of one tenant held in
 * sodium_malloc'd memory for the length of a loader's transaction; the value
 * and index formats are crypt.c's own (crypt_value_ad, crypt_seal,
 * crypt_blind), so a value written here reads back through crypt_decrypt. */
#include "auth/crypt_bulk.h"
#include "auth/crypt.h"
#include "auth/crypt_internal.h"
#include "server/db.h"
#include "server/util.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

struct crypt_bulk {
	char tenant_id[UTIL_UUID_LEN + 1];
	uint32_t version;
	unsigned char *keys; /* sodium_malloc'd: data key, then index key */
};

/* Borrows tenant_id; *out is caller-owned (crypt_bulk_close). */
int crypt_bulk_open(struct arena *a, const char *tenant_id, struct crypt_bulk **out)
{
	*out = NULL;
	struct crypt_bulk *b = sodium_malloc(sizeof *b);
	unsigned char *keys = sodium_malloc(2 * CRYPT_KEY_LEN);
	int rc = DB_ERROR;
	if (b == NULL || keys == NULL || tenant_id == NULL || !util_is_uuid(tenant_id))
		goto out;
	memset(b, 0, sizeof *b);
	util_strlcpy(b->tenant_id, tenant_id, sizeof b->tenant_id);
	b->keys = keys;
	rc = crypt_tenant_keys(a, tenant_id, keys, &b->version, keys + CRYPT_KEY_LEN);
	if (rc == DB_OK && sodium_mprotect_readonly(keys) != 0)
		rc = DB_ERROR;
out:
	if (rc == DB_OK) {
		*out = b;
		return rc;
	}
	if (keys != NULL)
		sodium_free(keys);
	if (b != NULL)
		sodium_free(b);
	return rc;
}

/* Takes b. */
void crypt_bulk_close(struct crypt_bulk *b)
{
	if (b == NULL)
		return;
	sodium_free(b->keys); /* sodium_free wipes */
	sodium_free(b);
}

/* Borrows everything; writes into out (caller-owned). */
long crypt_bulk_seal(const struct crypt_bulk *b, const char *table, const char *column,
                     const char *row_id, const char *plain, size_t len, unsigned char *out,
                     size_t outn)
{
	char ad[CRYPT_AD_MAX];
	const struct crypt_ctx ctx = {table, column, b->tenant_id, row_id};
	int adlen = crypt_value_ad(&ctx, b->version, ad, sizeof ad);
	if (adlen < 0 || outn < CRYPT_OVERHEAD || len > outn - CRYPT_OVERHEAD ||
	    crypt_seal(b->keys, b->version, ad, (size_t)adlen, (const unsigned char *)plain, len,
	               out) != 0)
		return -1;
	return (long)(len + CRYPT_OVERHEAD);
}

/* Borrows everything; writes into out (caller-owned). */
int crypt_bulk_blind(const struct crypt_bulk *b, const char *column, const char *value,
                     unsigned char *out)
{
	return crypt_blind(b->keys + CRYPT_KEY_LEN, column, (const unsigned char *)value,
	                   strlen(value), out);
}
