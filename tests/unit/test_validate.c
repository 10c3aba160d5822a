#include "api/validate.h"
#include "tests/unit/check.h"

#include <string.h>

/* True when v is valid; borrows v. */
static bool cf_ok(const char *v)
{
	enum validate_cf_kind kind;
	return validate_fiscal_code(v, &kind, NULL, NULL) == NULL;
}

/* The rule v breaks, or "" when it is valid; borrows v. */
static const char *cf_rule(const char *v)
{
	enum validate_cf_kind kind;
	const char *rule = "";
	const char *msg = validate_fiscal_code(v, &kind, NULL, &rule);
	return msg == NULL ? "" : rule;
}

static const char *date_rule(const char *v)
{
	const char *rule = "";
	int32_t days;
	return validate_date(v, &days, &rule) == NULL ? "" : rule;
}

static const char *amount_rule(const char *v, bool zero_ok)
{
	const char *rule = "";
	int64_t cents;
	return validate_amount(v, zero_ok, &cents, &rule) == NULL ? "" : rule;
}

static void test_fiscal_code(void)
{
	enum validate_cf_kind kind = CF_NUMERIC;
	struct validate_cf_info info;
	const char *rule = NULL;

	/* Published vectors. */
	CHECK(validate_fiscal_code("RSSMRA80A01F205X", &kind, &info, &rule) == NULL);
	CHECK(kind == CF_PERSONAL);
	CHECK(info.sex == 'M' && info.birth_year2 == 80 && info.birth_month == 1 &&
	      info.birth_day == 1 && strcmp(info.birth_place, "F205") == 0);
	CHECK(validate_fiscal_code("RSSMRK66C14H501U", &kind, &info, NULL) == NULL);
	CHECK(info.birth_year2 == 66 && info.birth_month == 3 && info.birth_day == 14 &&
	      strcmp(info.birth_place, "H501") == 0);
	CHECK(validate_cf_check_char("RSSMRA80A01F205") == 'X');
	CHECK(validate_cf_check_char("RSSMRK66C14H501") == 'U');
	CHECK(validate_cf_check_char("RSSMRA80A01F2") == '\0'); /* too short */
	CHECK(cf_ok("XXXXXX80P20B501B"));                       /* the INPS flow example */

	/* Female: day + 40 (check letter computed by hand-written python). */
	CHECK(validate_fiscal_code("RSSMRA80A41F205B", &kind, &info, NULL) == NULL);
	CHECK(info.sex == 'F' && info.birth_day == 1);

	/* Omocodia, by hand: position 15 '5' -> 'R'; odd-table values 13 -> 8, so the
	 * sum drops by 5 and the check letter goes from X (23) to S (18). */
	CHECK(validate_cf_check_char("RSSMRA80A01F20R") == 'S');
	CHECK(validate_fiscal_code("RSSMRA80A01F20RS", &kind, &info, NULL) == NULL);
	CHECK(strcmp(info.birth_place, "F205") == 0);
	/* Every omocodic position replaced (computed independently in python). */
	CHECK(validate_fiscal_code("RSSMRAULALMFNLRD", &kind, &info, NULL) == NULL);
	CHECK(info.birth_year2 == 80 && info.birth_month == 1 && info.birth_day == 1 &&
	      info.sex == 'M' && strcmp(info.birth_place, "F205") == 0);
	/* The omocodic code with the plain code's check letter is wrong. */
	CHECK(strcmp(cf_rule("RSSMRA80A01F20RX"), "check_digit") == 0);
	/* A letter outside LMNPQRSTUV at an omocodic position. */
	CHECK(strcmp(cf_rule("RSSMRA8AA01F205X"), "format") == 0);

	/* Wrong check character, wrong month letter. */
	rule = NULL;
	CHECK(validate_fiscal_code("RSSMRA80A01F205Y", &kind, NULL, &rule) != NULL);
	CHECK(rule != NULL && strcmp(rule, "check_digit") == 0);
	CHECK(strcmp(cf_rule("RSSMRA80F01F205X"), "format") == 0);
	CHECK(strcmp(cf_rule("RSSMRA80Z01F205X"), "format") == 0);

	/* Calendar: check letters recomputed so that only the day is wrong. */
	char cf[17];
	memcpy(cf, "RSSMRA80B30F205", 15); /* 30 February */
	cf[15] = validate_cf_check_char(cf);
	cf[16] = '\0';
	CHECK(strcmp(cf_rule(cf), "calendar") == 0);
	memcpy(cf, "RSSMRA81B29F205", 15); /* 29 February 1981/2081 */
	cf[15] = validate_cf_check_char(cf);
	CHECK(strcmp(cf_rule(cf), "calendar") == 0);
	memcpy(cf, "RSSMRA80B29F205", 15); /* 29 February 1980 */
	cf[15] = validate_cf_check_char(cf);
	CHECK(cf_ok(cf));
	memcpy(cf, "RSSMRA00B69F205", 15); /* 29 February 2000 (not 1900), female */
	cf[15] = validate_cf_check_char(cf);
	CHECK(cf_ok(cf));
	memcpy(cf, "RSSMRA80D31F205", 15); /* 31 April */
	cf[15] = validate_cf_check_char(cf);
	CHECK(strcmp(cf_rule(cf), "calendar") == 0);
	memcpy(cf, "RSSMRA80A35F205", 15); /* day 35: neither sex */
	cf[15] = validate_cf_check_char(cf);
	CHECK(strcmp(cf_rule(cf), "calendar") == 0);
	memcpy(cf, "RSSMRA80A00F205", 15);
	cf[15] = validate_cf_check_char(cf);
	CHECK(strcmp(cf_rule(cf), "calendar") == 0);

	/* Lengths and characters. */
	CHECK(strcmp(cf_rule(""), "format") == 0);
	CHECK(strcmp(cf_rule(NULL), "format") == 0);
	CHECK(strcmp(cf_rule("RSSMRA80A01F205"), "format") == 0);
	CHECK(strcmp(cf_rule("RSSMRA80A01F205XX"), "format") == 0);
	CHECK(strcmp(cf_rule("rssmra80a01f205x"), "format") == 0); /* not normalised */
	CHECK(strcmp(cf_rule("RSSMR480A01F205X"), "format") == 0);

	/* Normalisation: case and spaces. */
	char out[17];
	CHECK(validate_cf_normalise(" rssmra80a01f205x ", out, sizeof out));
	CHECK(strcmp(out, "RSSMRA80A01F205X") == 0 && cf_ok(out));
	CHECK(validate_cf_normalise("RSS MRA 80A01 F205X", out, sizeof out) &&
	      strcmp(out, "RSSMRA80A01F205X") == 0);
	CHECK(validate_cf_normalise("12345678903     ", out, sizeof out) &&
	      strcmp(out, "12345678903") == 0);
	CHECK(!validate_cf_normalise("RSSMRA80A01F205XY", out, sizeof out));
	CHECK(!validate_cf_normalise("RSSMRA80A01F205X", out, 16)); /* out too small */
	CHECK(!validate_cf_normalise(NULL, out, sizeof out));
	CHECK(validate_cf_normalise("", out, sizeof out) && out[0] == '\0');

	/* 11 digits: 1234567890 -> odd 1+3+5+7+9 = 25, even 4+8+3+7+0 = 22, check 3. */
	CHECK(validate_fiscal_code("12345678903", &kind, NULL, NULL) == NULL);
	CHECK(kind == CF_NUMERIC);
	CHECK(strcmp(cf_rule("12345678904"), "check_digit") == 0);
	CHECK(cf_ok("00743110157")); /* a real partita IVA */
	CHECK(strcmp(cf_rule("00743110158"), "check_digit") == 0);
	CHECK(strcmp(cf_rule("00000000000"), "format") == 0);
	CHECK(strcmp(cf_rule("1234567890"), "format") == 0);
	CHECK(strcmp(cf_rule("123456789012"), "format") == 0);

	/* STP / ENI. */
	CHECK(validate_fiscal_code("STP0301201234567", &kind, NULL, NULL) == NULL);
	CHECK(kind == CF_TEMPORARY);
	CHECK(cf_ok("ENI0301201234567"));
	CHECK(strcmp(cf_rule("STP030120123456"), "format") == 0);   /* 12 digits */
	CHECK(strcmp(cf_rule("STP03012012345678"), "format") == 0); /* 14 digits */
	CHECK(strcmp(cf_rule("STP03012012345A7"), "format") == 0);
	CHECK(strcmp(cf_rule("XYZ0301201234567"), "format") == 0);
	CHECK(validate_fiscal_code("STP", &kind, NULL, NULL) != NULL && kind == CF_TEMPORARY);
	/* A personal code whose surname letters happen to be STP is still personal. */
	memcpy(cf, "STPMRA80A01F205", 15);
	cf[15] = validate_cf_check_char(cf);
	CHECK(validate_fiscal_code(cf, &kind, NULL, NULL) == NULL && kind == CF_PERSONAL);
}

static void test_dates(void)
{
	int32_t days = -1;
	CHECK(validate_date("1970-01-01", &days, NULL) == NULL && days == 0);
	CHECK(validate_date("1970-01-02", &days, NULL) == NULL && days == 1);
	CHECK(validate_date("1969-12-31", &days, NULL) == NULL && days == -1);
	CHECK(validate_date("2000-03-01", &days, NULL) == NULL && days == 11017);
	CHECK(validate_date("1900-01-01", &days, NULL) == NULL && days == -25567);
	CHECK(validate_date("2199-12-31", &days, NULL) == NULL && days == 84005);
	CHECK(validate_date("2024-02-29", &days, NULL) == NULL && days == 19782);
	CHECK(strcmp(date_rule("2023-02-29"), "calendar") == 0);
	CHECK(strcmp(date_rule("1900-02-29"), "calendar") == 0);
	CHECK(strcmp(date_rule("2000-02-29"), "") == 0);
	CHECK(strcmp(date_rule("2024-04-31"), "calendar") == 0);
	CHECK(strcmp(date_rule("2024-13-01"), "calendar") == 0);
	CHECK(strcmp(date_rule("2024-00-10"), "calendar") == 0);
	CHECK(strcmp(date_rule("2024-01-00"), "calendar") == 0);
	CHECK(strcmp(date_rule("2024-1-01"), "format") == 0);
	CHECK(strcmp(date_rule("2024-01-01T00:00:00Z"), "format") == 0);
	CHECK(strcmp(date_rule("2024/01/01"), "format") == 0);
	CHECK(strcmp(date_rule("+024-01-01"), "format") == 0);
	CHECK(strcmp(date_rule(""), "format") == 0);
	CHECK(strcmp(date_rule(NULL), "format") == 0);
	CHECK(strcmp(date_rule("1899-12-31"), "range") == 0);
	CHECK(strcmp(date_rule("2200-01-01"), "range") == 0);
	CHECK(validate_date("2024-05-06", NULL, NULL) == NULL);
}

static void test_codes(void)
{
	const char *rule = NULL;
	CHECK(validate_belfiore("F205", &rule) == NULL);
	CHECK(validate_belfiore("Z404", NULL) == NULL);
	CHECK(validate_belfiore("f205", &rule) != NULL && strcmp(rule, "format") == 0);
	CHECK(validate_belfiore("F20", NULL) != NULL);
	CHECK(validate_belfiore("F2055", NULL) != NULL);
	CHECK(validate_belfiore("FF05", NULL) != NULL);
	CHECK(validate_belfiore("", NULL) != NULL);

	CHECK(validate_istat_comune("015093", &rule) == NULL); /* Corsico */
	CHECK(validate_istat_comune("111001", NULL) == NULL);
	CHECK(validate_istat_comune("112001", &rule) != NULL && strcmp(rule, "range") == 0);
	CHECK(validate_istat_comune("000001", NULL) != NULL);
	CHECK(validate_istat_comune("015000", NULL) != NULL);
	CHECK(validate_istat_comune("15093", &rule) != NULL && strcmp(rule, "format") == 0);
	CHECK(validate_istat_comune("0150931", NULL) != NULL);
	CHECK(validate_istat_comune("01509A", NULL) != NULL);

	CHECK(validate_iso_country("380", &rule) == NULL); /* Italy */
	CHECK(validate_iso_country("004", NULL) == NULL);  /* Afghanistan, first */
	CHECK(validate_iso_country("894", NULL) == NULL);  /* Zambia, last */
	CHECK(validate_iso_country("642", NULL) == NULL);  /* Romania */
	CHECK(validate_iso_country("999", &rule) != NULL && strcmp(rule, "unknown") == 0);
	CHECK(validate_iso_country("000", NULL) != NULL);
	CHECK(validate_iso_country("38", &rule) != NULL && strcmp(rule, "format") == 0);
	CHECK(validate_iso_country("0380", NULL) != NULL);
	CHECK(validate_iso_country("ITA", NULL) != NULL);

	CHECK(validate_dsu("INPS-ISEE-2024-12345678A-00", &rule) == NULL);
	CHECK(validate_dsu("INPS-ISEE-2015-000000009-12", NULL) == NULL);
	CHECK(validate_dsu("INPS-ISEE-2014-12345678A-00", &rule) != NULL &&
	      strcmp(rule, "range") == 0);
	CHECK(validate_dsu("INPS-ISEE-2024-1234567AA-00", &rule) != NULL &&
	      strcmp(rule, "format") == 0);
	CHECK(validate_dsu("INPS-ISEE-2024-12345678a-00", NULL) != NULL);
	CHECK(validate_dsu("INPS-ISEE-2024-12345678A-0", NULL) != NULL);
	CHECK(validate_dsu("INPS-ISEE-2024-12345678A-000", NULL) != NULL);
	CHECK(validate_dsu("inps-isee-2024-12345678A-00", NULL) != NULL);
	CHECK(validate_dsu("", NULL) != NULL);
}

static void test_amounts(void)
{
	int64_t cents = -1;
	CHECK(validate_amount("12.5", false, &cents, NULL) == NULL && cents == 1250);
	CHECK(validate_amount("0.01", false, &cents, NULL) == NULL && cents == 1);
	CHECK(validate_amount("7", false, &cents, NULL) == NULL && cents == 700);
	CHECK(validate_amount("999999999.99", false, &cents, NULL) == NULL &&
	      cents == 99999999999LL);
	CHECK(validate_amount("0", true, &cents, NULL) == NULL && cents == 0);
	CHECK(validate_amount("0.00", true, &cents, NULL) == NULL && cents == 0);
	CHECK(strcmp(amount_rule("0", false), "positive") == 0);
	CHECK(strcmp(amount_rule("0.00", false), "positive") == 0);
	CHECK(strcmp(amount_rule("1.234", false), "decimals") == 0);
	CHECK(strcmp(amount_rule("-1", false), "positive") == 0);
	CHECK(strcmp(amount_rule("-1", true), "positive") == 0);
	CHECK(strcmp(amount_rule("1e3", false), "format") == 0);
	CHECK(strcmp(amount_rule("", false), "format") == 0);
	CHECK(strcmp(amount_rule(NULL, false), "format") == 0);
	CHECK(strcmp(amount_rule("+1", false), "format") == 0);
	CHECK(strcmp(amount_rule("1,50", false), "format") == 0);
	CHECK(strcmp(amount_rule("1.", false), "format") == 0);
	CHECK(strcmp(amount_rule(".5", false), "format") == 0);
	CHECK(strcmp(amount_rule(" 1", false), "format") == 0);
	CHECK(strcmp(amount_rule("-", false), "format") == 0);
	CHECK(strcmp(amount_rule("1000000000.00", false), "range") == 0);
	CHECK(strcmp(amount_rule("99999999999999999999999", false), "range") == 0);

	char out[24];
	validate_format_cents(80561100, out, sizeof out);
	CHECK(strcmp(out, "805611.00") == 0);
	validate_format_cents(1250, out, sizeof out);
	CHECK(strcmp(out, "12.50") == 0);
	validate_format_cents(5, out, sizeof out);
	CHECK(strcmp(out, "0.05") == 0);
	validate_format_cents(0, out, sizeof out);
	CHECK(strcmp(out, "0.00") == 0);
	validate_format_cents(-1250, out, sizeof out);
	CHECK(strcmp(out, "-12.50") == 0);
	validate_format_cents(-5, out, sizeof out);
	CHECK(strcmp(out, "-0.05") == 0);
	validate_format_cents(INT64_MIN, out, sizeof out);
	CHECK(strcmp(out, "-92233720368547758.08") == 0);
	char tiny[4];
	validate_format_cents(123456, tiny, sizeof tiny);
	CHECK(strlen(tiny) == 3); /* truncated, still terminated */
}

int main(void)
{
	test_fiscal_code();
	test_dates();
	test_codes();
	test_amounts();
	CHECK_DONE();
}
