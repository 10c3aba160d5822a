/* TOTP against the RFC 6238 Appendix B vectors (SHA-1 rows), RFC 4226
 * Appendix D (HOTP), the ±1 window, base32 and recovery codes. */
#include "auth/totp.h"
#include "check.h"

#include <sodium.h>
#include <string.h>

static const unsigned char rfc_key[] = "12345678901234567890";
#define RFC_KEY_LEN 20

/* RFC 6238 Appendix B, SHA-1: Unix time → 8-digit TOTP. */
static void test_rfc6238_vectors(void)
{
	static const struct {
		long long t;
		const char *code;
	} v[] = {
	    {59LL, "94287082"},         {1111111109LL, "07081804"}, {1111111111LL, "14050471"},
	    {1234567890LL, "89005924"}, {2000000000LL, "69279037"}, {20000000000LL, "65353130"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char out[9], six[7];
		CHECK(totp_code(rfc_key, RFC_KEY_LEN, totp_step(v[i].t), 8, out) == 0);
		CHECK(strcmp(out, v[i].code) == 0);
		/* Six digits are the last six of eight (both are the value mod 10^n). */
		CHECK(totp_code(rfc_key, RFC_KEY_LEN, totp_step(v[i].t), 6, six) == 0);
		CHECK(strcmp(six, v[i].code + 2) == 0);
	}
}

/* RFC 4226 Appendix D: HOTP counters 0..9, 6 digits. */
static void test_rfc4226_vectors(void)
{
	static const char *const v[] = {"755224", "287082", "359152", "969429", "338314",
	                                "254676", "287922", "162583", "399871", "520489"};
	for (int i = 0; i < 10; i++) {
		char out[7];
		CHECK(totp_code(rfc_key, RFC_KEY_LEN, i, 6, out) == 0);
		CHECK(strcmp(out, v[i]) == 0);
	}
}

static void test_digits_range(void)
{
	char out[10];
	CHECK(totp_code(rfc_key, RFC_KEY_LEN, 1, 5, out) == -1);
	CHECK(totp_code(rfc_key, RFC_KEY_LEN, 1, 9, out) == -1);
}

static void test_step(void)
{
	CHECK(totp_step(0) == 0);
	CHECK(totp_step(29) == 0);
	CHECK(totp_step(30) == 1);
	CHECK(totp_step(59) == 1);
	CHECK(totp_step(-1) == -1);
}

/* The window: steps now-1, now, now+1 match; now±2 and garbage do not. */
static void test_window(void)
{
	int64_t now = totp_step(1111111111LL);
	for (int64_t d = -3; d <= 3; d++) {
		char c[7];
		CHECK(totp_code(rfc_key, RFC_KEY_LEN, now + d, 6, c) == 0);
		int64_t m = totp_match(rfc_key, RFC_KEY_LEN, now, c);
		if (d >= -1 && d <= 1)
			CHECK(m == now + d);
		else
			CHECK(m == TOTP_NO_STEP);
	}
	CHECK(totp_match(rfc_key, RFC_KEY_LEN, now, "12345") == TOTP_NO_STEP);
	CHECK(totp_match(rfc_key, RFC_KEY_LEN, now, "1234567") == TOTP_NO_STEP);
	CHECK(totp_match(rfc_key, RFC_KEY_LEN, now, "05047a") == TOTP_NO_STEP);
	CHECK(totp_match(rfc_key, RFC_KEY_LEN, now, "") == TOTP_NO_STEP);
	/* Another key's code for the same step does not match. */
	unsigned char other[RFC_KEY_LEN];
	memcpy(other, rfc_key, RFC_KEY_LEN);
	other[0] ^= 1;
	char c[7];
	CHECK(totp_code(other, RFC_KEY_LEN, now, 6, c) == 0);
	CHECK(totp_match(rfc_key, RFC_KEY_LEN, now, c) == TOTP_NO_STEP || strcmp(c, "050471") == 0);
}

static void test_shape(void)
{
	CHECK(totp_code_shape("000000"));
	CHECK(totp_code_shape("123456"));
	CHECK(!totp_code_shape("12345"));
	CHECK(!totp_code_shape("1234567"));
	CHECK(!totp_code_shape("12345a"));
	CHECK(!totp_code_shape(" 12345"));
	CHECK(!totp_code_shape("１２３４５６")); /* full-width digits */
}

/* RFC 4648 §10 test vectors. */
static void test_base32(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""},
	         {"f", "MY"},
	         {"fo", "MZXQ"},
	         {"foo", "MZXW6"},
	         {"foob", "MZXW6YQ"},
	         {"fooba", "MZXW6YTB"},
	         {"foobar", "MZXW6YTBOI"}};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char out[32];
		CHECK(totp_base32((const unsigned char *)v[i].in, strlen(v[i].in), out,
		                  sizeof out) == 0);
		CHECK(strcmp(out, v[i].out) == 0);
	}
	char b32[TOTP_BASE32_LEN + 1];
	CHECK(totp_base32(rfc_key, RFC_KEY_LEN, b32, sizeof b32) == 0);
	CHECK(strcmp(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") == 0);
	CHECK(totp_base32(rfc_key, RFC_KEY_LEN, b32, TOTP_BASE32_LEN) == -1);
}

/* Replay state: each step once, in any order within the window. */
static void test_step_fresh(void)
{
	int64_t last;
	unsigned used;
	CHECK(totp_step_fresh(TOTP_NO_STEP, 0, 100, &last, &used) && last == 100 && used == 0);
	CHECK(!totp_step_fresh(100, 0, 100, &last, &used)); /* the same step again */
	/* One step back, then two back, each once. */
	CHECK(totp_step_fresh(100, 0, 99, &last, &used) && last == 100 && used == 1);
	CHECK(!totp_step_fresh(100, 1, 99, &last, &used));
	CHECK(totp_step_fresh(100, 1, 98, &last, &used) && last == 100 && used == 3);
	CHECK(!totp_step_fresh(100, 3, 98, &last, &used));
	CHECK(!totp_step_fresh(100, 3, 97, &last, &used)); /* older than the state reaches */
	/* Moving forward carries what was used. */
	CHECK(totp_step_fresh(100, 0, 101, &last, &used) && last == 101 && used == 1);
	CHECK(totp_step_fresh(100, 1, 101, &last, &used) && last == 101 && used == 3);
	CHECK(totp_step_fresh(100, 0, 102, &last, &used) && last == 102 && used == 2);
	CHECK(totp_step_fresh(100, 3, 102, &last, &used) && last == 102 && used == 2);
	CHECK(totp_step_fresh(100, 3, 103, &last, &used) && last == 103 && used == 0);
	/* The window scenario: now+1, then now, then now-1 all pass once. */
	CHECK(totp_step_fresh(TOTP_NO_STEP, 0, 51, &last, &used));
	CHECK(totp_step_fresh(last, used, 50, &last, &used));
	CHECK(totp_step_fresh(last, used, 49, &last, &used));
	CHECK(!totp_step_fresh(last, used, 49, &last, &used));
	CHECK(!totp_step_fresh(last, used, 50, &last, &used));
	CHECK(!totp_step_fresh(last, used, 51, &last, &used));
}

static void test_recovery(void)
{
	char a[TOTP_RECOVERY_SHOWN], b[TOTP_RECOVERY_SHOWN], n[TOTP_RECOVERY_CHARS + 1];
	totp_recovery_new(a);
	totp_recovery_new(b);
	CHECK(strlen(a) == 14 && a[4] == '-' && a[9] == '-');
	CHECK(strcmp(a, b) != 0);
	CHECK(totp_recovery_normalise(a, n) == 0 && strlen(n) == TOTP_RECOVERY_CHARS);
	CHECK(totp_recovery_normalise("ABCD-EFGH-2345", n) == 0 && strcmp(n, "abcdefgh2345") == 0);
	CHECK(totp_recovery_normalise("abcd efgh 2345", n) == 0);
	CHECK(totp_recovery_normalise("abcd-efgh-234", n) == -1);   /* short */
	CHECK(totp_recovery_normalise("abcd-efgh-23456", n) == -1); /* long */
	CHECK(totp_recovery_normalise("abcd-efgh-2341", n) == -1);  /* 1 is not in the alphabet */
	CHECK(totp_recovery_normalise("", n) == -1);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_rfc6238_vectors();
	test_rfc4226_vectors();
	test_digits_range();
	test_step();
	test_window();
	test_shape();
	test_base32();
	test_step_fresh();
	test_recovery();
	CHECK_DONE();
}
