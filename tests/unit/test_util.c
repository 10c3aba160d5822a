#include "server/util.h"
#include "tests/unit/check.h"

#include <sodium.h>
#include <string.h>

int main(void)
{
	CHECK(sodium_init() >= 0);
	char u1[UTIL_UUID_LEN + 1], u2[UTIL_UUID_LEN + 1];
	util_uuid_v4(u1);
	util_uuid_v4(u2);
	CHECK(util_is_uuid(u1) && util_is_uuid(u2) && strcmp(u1, u2) != 0);
	CHECK(u1[14] == '4');
	CHECK(!util_is_uuid("not-a-uuid"));
	CHECK(!util_is_uuid("0123456789abcdef0123456789abcdef0123"));
	CHECK(!util_is_uuid(NULL));
	CHECK(util_is_uuid("123e4567-e89b-12d3-a456-426614174000"));

	char b64[64];
	CHECK(util_b64url_encode((const unsigned char *)"\xfb\xff", 2, b64, sizeof b64) == 3);
	CHECK(strcmp(b64, "-_8") == 0);

	char hex[5];
	util_hex((const unsigned char *)"\x01\xab", 2, hex);
	CHECK(strcmp(hex, "01ab") == 0);

	char now[32];
	util_rfc3339_now(now);
	CHECK(strlen(now) == 24 && now[10] == 'T' && now[23] == 'Z');

	char small[4];
	CHECK(!util_strlcpy(small, "abcdef", sizeof small) && strcmp(small, "abc") == 0);
	CHECK(util_strlcpy(small, "ab", sizeof small) && strcmp(small, "ab") == 0);

	long long v;
	CHECK(util_parse_int("42", 0, 100, &v) && v == 42);
	CHECK(!util_parse_int("101", 0, 100, &v));
	CHECK(!util_parse_int("-1", -5, 100, &v)); /* signs are not accepted */
	CHECK(!util_parse_int("4x", 0, 100, &v));
	CHECK(!util_parse_int("", 0, 100, &v));
	CHECK(!util_parse_int("99999999999999999999", 0, 100, &v));

	CHECK(util_is_safe_token("abc-123_x.y"));
	CHECK(!util_is_safe_token("short"));
	CHECK(!util_is_safe_token("has space in it"));
	CHECK(!util_is_safe_token("new\nline-here"));
	CHECK(util_ncpu() >= 1);
	CHECK_DONE();
}
