#include "server/util.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <stdlib.h>

/* Writes into out (caller-owned, 37 bytes). */
void util_uuid_v4(char out[UTIL_UUID_LEN + 1])
{
	unsigned char b[16];
	randombytes_buf(b, sizeof b);
	util_uuid_v4_format(b, out);
}

/* Borrows b; writes into out (caller-owned). */
void util_uuid_v4_format(const unsigned char b_in[16], char out[UTIL_UUID_LEN + 1])
{
	unsigned char b[16];
	memcpy(b, b_in, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, UTIL_UUID_LEN + 1,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
	         b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	         b[15]);
}

/* Borrows s. */
bool util_is_uuid(const char *s)
{
	if (s == NULL || strlen(s) != UTIL_UUID_LEN)
		return false;
	for (size_t i = 0; i < UTIL_UUID_LEN; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		             (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return true;
}

/* Borrows in; writes into out (caller-owned, outsz bytes). */
size_t util_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outsz)
{
	if (outsz == 0)
		return 0;
	sodium_bin2base64(out, outsz, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return strlen(out);
}

/* Borrows in; writes into out (caller-owned, 2*len+1 bytes). */
void util_hex(const unsigned char *in, size_t len, char *out)
{
	sodium_bin2hex(out, 2 * len + 1, in, len);
}

uint64_t util_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Writes into out (caller-owned, 32 bytes). */
void util_rfc3339_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	int ms = (int)(ts.tv_nsec / 1000000L) % 1000;
	snprintf(out + n, 32 - n, ".%03dZ", ms);
}

/* Borrows src; writes into dst (caller-owned). */
bool util_strlcpy(char *dst, const char *src, size_t dstsz)
{
	size_t n = strlen(src);
	if (n < dstsz) {
		memcpy(dst, src, n + 1);
		return true;
	}
	memcpy(dst, src, dstsz - 1);
	dst[dstsz - 1] = '\0';
	return false;
}

/* Borrows s; writes *out. */
bool util_parse_int(const char *s, long long min, long long max, long long *out)
{
	if (s == NULL || *s == '\0' || strlen(s) > 19)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == NULL || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Borrows s. */
bool util_is_safe_token(const char *s)
{
	if (s == NULL)
		return false;
	size_t n = strlen(s);
	if (n < 8 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

int util_ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (int)n;
}
