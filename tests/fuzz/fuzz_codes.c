/* libFuzzer target: the code validators of api/validate.c and the small
 * parsers of server/util.c. The first byte picks the validator, the rest is
 * the value (cut at its first NUL, as a C string from jansson would be).
 *
 * Each accepted value is checked against an independent statement of what
 * the validator promises, so a validator that accepts too much fails here,
 * not only one that crashes:
 *   fiscal code   normalising twice changes nothing; a personal code has 16
 *                 characters, its own check character, a month 1-12, a day
 *                 1-31, sex M/F and a Belfiore code of a letter and 3 digits;
 *                 a numeric one 11 digits; a temporary one STP/ENI + 13 digits
 *   date          the day number formats back (gmtime) to the same text
 *   amount        cents in range, formatted and validated again: same cents
 *   Belfiore, ISTAT, ISO 3166, DSU: the syntax each promises
 *   integers, UUIDs, request-id tokens: range, shape and length */
#include "api/validate.h"
#include "server/util.h"
#include "tests/fuzz/fuzz_common.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define VALUE_MAX 256

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static void fuzz_fiscal(const char *s)
{
	char norm[24], again[24];
	if (!validate_cf_normalise(s, norm, sizeof norm))
		return;
	FUZZ_ASSERT(strchr(norm, ' ') == NULL && strlen(norm) <= 16);
	FUZZ_ASSERT(validate_cf_normalise(norm, again, sizeof again) && strcmp(norm, again) == 0);
	for (const char *p = norm; *p; p++)
		FUZZ_ASSERT(!(*p >= 'a' && *p <= 'z'));
	enum validate_cf_kind kind;
	struct validate_cf_info info;
	const char *rule = NULL;
	if (validate_fiscal_code(norm, &kind, &info, &rule) != NULL) {
		FUZZ_ASSERT(rule != NULL && rule[0] != '\0');
		return;
	}
	size_t n = strlen(norm);
	switch (kind) {
	case CF_PERSONAL:
		FUZZ_ASSERT(n == 16);
		FUZZ_ASSERT(validate_cf_check_char(norm) == norm[15]);
		FUZZ_ASSERT(info.sex == 'M' || info.sex == 'F');
		FUZZ_ASSERT(info.birth_month >= 1 && info.birth_month <= 12);
		FUZZ_ASSERT(info.birth_day >= 1 && info.birth_day <= 31);
		FUZZ_ASSERT(info.birth_year2 >= 0 && info.birth_year2 <= 99);
		FUZZ_ASSERT(strlen(info.birth_place) == 4 && upper(info.birth_place[0]) &&
		            digits(info.birth_place + 1, 3));
		FUZZ_ASSERT(validate_belfiore(info.birth_place, NULL) == NULL);
		break;
	case CF_NUMERIC:
		FUZZ_ASSERT(n == 11 && digits(norm, 11));
		break;
	case CF_TEMPORARY:
		FUZZ_ASSERT(n == 16 && digits(norm + 3, 13) &&
		            (strncmp(norm, "STP", 3) == 0 || strncmp(norm, "ENI", 3) == 0));
		break;
	}
}

static void fuzz_date(const char *s)
{
	int32_t days = 0;
	if (validate_date(s, &days, NULL) != NULL)
		return;
	time_t t = (time_t)days * 86400;
	struct tm tm;
	char back[16];
	FUZZ_ASSERT(gmtime_r(&t, &tm) != NULL);
	FUZZ_ASSERT(strftime(back, sizeof back, "%Y-%m-%d", &tm) == 10);
	FUZZ_ASSERT(strcmp(back, s) == 0);
	FUZZ_ASSERT(tm.tm_year + 1900 >= 1900 && tm.tm_year + 1900 <= 2199);
}

static void fuzz_amount(const char *s, bool zero_ok)
{
	int64_t cents = -1, again = -1;
	if (validate_amount(s, zero_ok, &cents, NULL) != NULL)
		return;
	FUZZ_ASSERT(cents >= (zero_ok ? 0 : 1) && cents <= INT64_C(99999999999));
	char text[24];
	validate_format_cents(cents, text, sizeof text);
	FUZZ_ASSERT(validate_amount(text, zero_ok, &again, NULL) == NULL && again == cents);
}

static void fuzz_util(const char *s)
{
	long long v = 0;
	if (util_parse_int(s, -5, 1000000, &v))
		FUZZ_ASSERT(v >= -5 && v <= 1000000);
	if (util_parse_int(s, 0, INT64_MAX, &v))
		FUZZ_ASSERT(v >= 0);
	if (util_is_uuid(s)) {
		FUZZ_ASSERT(strlen(s) == UTIL_UUID_LEN);
		for (size_t i = 0; i < UTIL_UUID_LEN; i++) {
			char c = s[i];
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;
			FUZZ_ASSERT(dash ? c == '-'
			                 : (digits(&c, 1) || (c >= 'a' && c <= 'f') ||
			                    (c >= 'A' && c <= 'F')));
		}
	}
	if (util_is_safe_token(s)) {
		size_t n = strlen(s);
		FUZZ_ASSERT(n >= 8 && n <= 64);
		FUZZ_ASSERT(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                      "0123456789._-") == n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > VALUE_MAX)
		return 0;
	char s[VALUE_MAX + 1];
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	const char *rule = NULL;
	switch (data[0] % 9) {
	case 0:
		fuzz_fiscal(s);
		break;
	case 1:
		fuzz_date(s);
		break;
	case 2:
		fuzz_amount(s, data[0] & 0x80);
		break;
	case 3:
		if (validate_belfiore(s, &rule) == NULL)
			FUZZ_ASSERT(strlen(s) == 4 && upper(s[0]) && digits(s + 1, 3));
		break;
	case 4:
		if (validate_istat_comune(s, &rule) == NULL)
			FUZZ_ASSERT(strlen(s) == 6 && digits(s, 6) && strncmp(s, "000", 3) != 0 &&
			            strcmp(s + 3, "000") != 0);
		break;
	case 5:
		if (validate_iso_country(s, &rule) == NULL)
			FUZZ_ASSERT(strlen(s) == 3 && digits(s, 3));
		break;
	case 6:
		if (validate_dsu(s, &rule) == NULL)
			FUZZ_ASSERT(strlen(s) == 27 && strncmp(s, "INPS-ISEE-", 10) == 0);
		break;
	case 7:
		fuzz_util(s);
		break;
	default: {
		/* The check character of any 15 characters: a letter or '\0'. */
		char c = strlen(s) >= 15 ? validate_cf_check_char(s) : 'A';
		FUZZ_ASSERT(c == '\0' || upper(c));
		break;
	}
	}
	return 0;
}
