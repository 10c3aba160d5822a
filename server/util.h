/* Small helpers shared by every module: ids, encodings, clocks, bounded copies. */
#ifndef CARTELLA_UTIL_H
#define CARTELLA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_UUID_LEN 36 /* text form without the NUL */

/* Writes a random (v4) UUID in text form into out[37]. */
void util_uuid_v4(char out[UTIL_UUID_LEN + 1]);

/* The version-4 UUID text of 16 given bytes (version and variant bits set)
 * into out; for deterministic ids (cartella demo --seed). */
void util_uuid_v4_format(const unsigned char b[16], char out[UTIL_UUID_LEN + 1]);

/* True when s is a UUID in canonical lower- or upper-case text form. */
bool util_is_uuid(const char *s);

/* Base64url without padding of len bytes into out (needs 4*ceil(len/3)+1).
 * Returns the length written (without NUL). */
size_t util_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outsz);

/* Lower-case hex of len bytes into out (needs 2*len+1). */
void util_hex(const unsigned char *in, size_t len, char *out);

/* Monotonic clock in nanoseconds. */
uint64_t util_mono_ns(void);

/* Current UTC time as RFC 3339 with milliseconds ("2026-01-02T03:04:05.678Z") into out[32]. */
void util_rfc3339_now(char out[32]);

/* Copies src into dst (size dstsz, > 0), truncating; always NUL-terminates.
 * Returns true if nothing was cut. */
bool util_strlcpy(char *dst, const char *src, size_t dstsz);

/* Parses a non-negative decimal integer in [min,max] from the whole string s.
 * Returns true and sets *out on success. */
bool util_parse_int(const char *s, long long min, long long max, long long *out);

/* True when every byte of s is in the set of request-id characters
 * ([A-Za-z0-9._-]) and its length is in [8, 64]. */
bool util_is_safe_token(const char *s);

/* Number of CPUs online, at least 1. */
int util_ncpu(void);

#endif
