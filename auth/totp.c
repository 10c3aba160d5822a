#include "auth/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* The RFC 4648 base32 alphabet in lower case: no 0, 1, 8 or 9 to mistake
 * for o, l, b or g when a code is read aloud or retyped. */
static const char recovery_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

int64_t totp_step(int64_t t)
{
	/* Floor division, so times before the epoch do not round toward it. */
	return t >= 0 ? t / TOTP_PERIOD : -((-t + TOTP_PERIOD - 1) / TOTP_PERIOD);
}

/* Borrows key; writes out (caller-owned, digits + 1 bytes). */
int totp_code(const unsigned char *key, size_t keylen, int64_t step, int digits, char *out)
{
	static const uint32_t pow10[] = {1000000u, 10000000u, 100000000u};
	unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int rc = -1;
	if (digits < 6 || digits > 8 || keylen > INT32_MAX)
		goto out;
	uint64_t c = (uint64_t)step;
	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(c & 0xff);
		c >>= 8;
	}
	if (HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof msg, mac, &maclen) == NULL ||
	    maclen != 20)
		goto out;
	unsigned off = mac[19] & 0x0f;
	uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
	               ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
	uint32_t v = bin % pow10[digits - 6];
	for (int i = digits - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
	out[digits] = '\0';
	rc = 0;
out:
	sodium_memzero(mac, sizeof mac);
	return rc;
}

/* Borrows code. */
bool totp_code_shape(const char *code)
{
	size_t n = 0;
	for (; code[n] != '\0'; n++)
		if (code[n] < '0' || code[n] > '9' || n >= TOTP_DIGITS)
			return false;
	return n == TOTP_DIGITS;
}

/* Borrows key and code. */
int64_t totp_match(const unsigned char *key, size_t keylen, int64_t now_step, const char *code)
{
	int64_t found = TOTP_NO_STEP;
	if (!totp_code_shape(code))
		return TOTP_NO_STEP;
	for (int64_t d = -TOTP_WINDOW; d <= TOTP_WINDOW; d++) {
		char want[TOTP_DIGITS + 1];
		if (totp_code(key, keylen, now_step + d, TOTP_DIGITS, want) != 0)
			return TOTP_NO_STEP;
		/* sodium_memcmp takes the same time whether or not it matches. */
		if (sodium_memcmp(want, code, TOTP_DIGITS) == 0 && found == TOTP_NO_STEP)
			found = now_step + d;
		sodium_memzero(want, sizeof want);
	}
	return found;
}

/* Writes *new_last and *new_used. */
bool totp_step_fresh(int64_t last, unsigned used, int64_t step, int64_t *new_last,
                     unsigned *new_used)
{
	if (last == TOTP_NO_STEP || step > last) {
		unsigned m = 0;
		if (last != TOTP_NO_STEP && step - last <= 2) {
			unsigned shift = (unsigned)(step - last);
			m = (1u << (shift - 1)) | (used << shift);
		}
		*new_last = step;
		*new_used = m & 3u;
		return true;
	}
	int64_t back = last - step;
	if (back < 1 || back > 2 || (used & (1u << (back - 1))))
		return false;
	*new_last = last;
	*new_used = (used | (1u << (back - 1))) & 3u;
	return true;
}

/* Borrows in; writes out (caller-owned). */
int totp_base32(const unsigned char *in, size_t len, char *out, size_t outn)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	size_t need = (len * 8 + 4) / 5;
	if (outn < need + 1)
		return -1;
	size_t o = 0;
	uint32_t buf = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		buf = (buf << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = alphabet[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(buf << (5 - bits)) & 31];
	out[o] = '\0';
	return 0;
}

/* Writes out (caller-owned). */
void totp_recovery_new(char out[TOTP_RECOVERY_SHOWN])
{
	size_t o = 0;
	for (int i = 0; i < TOTP_RECOVERY_CHARS; i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = recovery_alphabet[randombytes_uniform(32)];
	}
	out[o] = '\0';
}

/* Borrows in; writes out (caller-owned). */
int totp_recovery_normalise(const char *in, char out[TOTP_RECOVERY_CHARS + 1])
{
	size_t n = 0;
	for (const char *p = in; *p; p++) {
		if (*p == '-' || *p == ' ')
			continue;
		char c = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
		if (n >= TOTP_RECOVERY_CHARS || strchr(recovery_alphabet, c) == NULL || c == '\0')
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == TOTP_RECOVERY_CHARS ? 0 : -1;
}
