/* TOTP second factor (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 6 digits,
 * 30-second steps from the Unix epoch, the defaults every authenticator app
 * understands. The pure computations live here (no database, no state);
 * auth/totp_store.c keeps secrets and recovery codes. */
#ifndef CARTELLA_TOTP_H
#define CARTELLA_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOTP_SECRET_LEN 20 /* bytes, as RFC 4226 recommends for SHA-1 */
#define TOTP_BASE32_LEN 32 /* base32 characters of a 20-byte secret */
#define TOTP_DIGITS     6
#define TOTP_PERIOD     30
#define TOTP_WINDOW     1 /* steps accepted either side of now */
#define TOTP_NO_STEP    INT64_MIN

/* Recovery codes: RECOVERY_CHARS characters of an unambiguous lower-case
 * base32 alphabet (60 bits), shown as xxxx-xxxx-xxxx. */
#define TOTP_RECOVERY_COUNT 10
#define TOTP_RECOVERY_CHARS 12
#define TOTP_RECOVERY_SHOWN (TOTP_RECOVERY_CHARS + 2 + 1) /* with dashes and NUL */

/* The time step of Unix time t. */
int64_t totp_step(int64_t t);

/* The HOTP value of key (keylen bytes) for counter step, reduced to digits
 * (6..8) decimal digits, written zero-padded into out[digits + 1]. Returns 0,
 * or -1 when digits is out of range or HMAC fails. */
int totp_code(const unsigned char *key, size_t keylen, int64_t step, int digits, char *out);

/* True when code has the shape of a TOTP code: exactly TOTP_DIGITS ASCII
 * digits. */
bool totp_code_shape(const char *code);

/* Finds the step in [now - TOTP_WINDOW, now + TOTP_WINDOW] whose code equals
 * code (compared in constant time; every step in the window is computed
 * whatever matches). Returns that step, or TOTP_NO_STEP. */
int64_t totp_match(const unsigned char *key, size_t keylen, int64_t now_step, const char *code);

/* Replay protection: each step's code is accepted once. The store keeps the
 * last (highest) step accepted and a 2-bit mask of which of the two steps
 * before it were accepted too (bit 0: last - 1, bit 1: last - 2), so codes
 * of the ±1 window arriving out of order (two logins at once) each count
 * once. Given that state (last TOTP_NO_STEP when none), returns true when
 * step was not used yet, and writes the state after accepting it. */
bool totp_step_fresh(int64_t last, unsigned used, int64_t step, int64_t *new_last,
                     unsigned *new_used);

/* RFC 4648 base32 (upper case, no padding) of len bytes of in, into out
 * (outn bytes, NUL-terminated). Returns 0, or -1 when out is too small. */
int totp_base32(const unsigned char *in, size_t len, char *out, size_t outn);

/* A fresh random recovery code, "xxxx-xxxx-xxxx", into out[TOTP_RECOVERY_SHOWN]. */
void totp_recovery_new(char out[TOTP_RECOVERY_SHOWN]);

/* Normalises a presented recovery code: drops dashes and spaces, lower-cases,
 * into out[TOTP_RECOVERY_CHARS + 1]. Returns 0, or -1 when the result is not
 * TOTP_RECOVERY_CHARS characters of the recovery alphabet. */
int totp_recovery_normalise(const char *in, char out[TOTP_RECOVERY_CHARS + 1]);

#endif
