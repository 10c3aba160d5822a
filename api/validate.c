#include "api/validate.h"

#include "iso3166.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CF_PERSONAL_LEN     16
#define CF_NUMERIC_LEN      11
#define CF_TEMPORARY_DIGITS 13
#define AMOUNT_INT_DIGITS   9
#define AMOUNT_DEC_DIGITS   2

/* Sets *rule when the caller asked for it; returns msg so callers can
 * `return fail(...)`. Borrows both strings (static). */
static const char *fail(const char **rule, const char *name, const char *msg)
{
	if (rule != NULL)
		*rule = name;
	return msg;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* True when s[0..n) are all decimal digits. Borrows s. */
static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* Value of the n digits at s (caller checked they are digits). Borrows s. */
static int digits_value(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in month m (1-12) of year y. */
static int month_days(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && is_leap(y))
		return 29;
	return days[m - 1];
}

/* Borrows nothing. */
int32_t validate_days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + doe - 719468);
}

/* Writes into *y, *m, *d (caller-owned). */
void validate_civil_from_days(int32_t z, int *y, int *m, int *d)
{
	z += 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	int doe = z - era * 146097;
	int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

/* Writes into out (caller-owned). */
void validate_date_text(int32_t z, char *out, size_t n)
{
	int y, m, d;
	validate_civil_from_days(z, &y, &m, &d);
	snprintf(out, n, "%04d-%02d-%02d", y, m, d);
}

/* ---------------------------------------------------------------- fiscal code */

/* Omocodia: the letters that stand for the digits 0-9. */
static const char CF_OMOCODIA[] = "LMNPQRSTUV";
/* Month letters, January first. */
static const char CF_MONTHS[] = "ABCDEHLMPRST";
/* Positions (0-based) whose digits omocodia may replace with letters. */
static const size_t CF_OMOCODIC_POS[] = {6, 7, 9, 10, 12, 13, 14};

/* Digit value of c at an omocodic position (a digit or one of LMNPQRSTUV),
 * or -1. */
static int cf_decode_digit(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c == '\0')
		return -1;
	const char *p = strchr(CF_OMOCODIA, c);
	return p != NULL ? (int)(p - CF_OMOCODIA) : -1;
}

/* Borrows first15; returns the check letter, or '\0' when a character is
 * neither an upper-case letter nor a digit. */
char validate_cf_check_char(const char *first15)
{
	/* Values of 0-9 and A-Z at the 1-based odd positions. */
	static const int odd[26] = {1,  0,  5, 7, 9, 13, 15, 17, 19, 21, 2,  4,  18,
	                            20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23};
	int sum = 0;
	for (size_t i = 0; i < CF_PERSONAL_LEN - 1; i++) {
		char c = first15[i];
		int v;
		if (is_digit(c))
			v = c - '0';
		else if (is_upper(c))
			v = c - 'A';
		else
			return '\0';
		sum += (i % 2 == 0) ? odd[v] : v; /* index 0 is position 1, odd */
	}
	return (char)('A' + sum % 26);
}

/* Borrows in; writes into out (caller-owned, outsz bytes). */
bool validate_cf_normalise(const char *in, char *out, unsigned outsz)
{
	if (out == NULL || outsz == 0)
		return false;
	out[0] = '\0';
	if (in == NULL)
		return false;
	size_t n = 0;
	for (const char *p = in; *p != '\0'; p++) {
		char c = *p;
		if (c == ' ')
			continue;
		if (n >= CF_PERSONAL_LEN || n + 1 >= outsz) {
			out[0] = '\0';
			return false;
		}
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/* 11-digit numeric code (codice fiscale provvisorio, partita IVA form).
 * Borrows cf. */
static const char *cf_check_numeric(const char *cf, const char **rule)
{
	int sum = 0;
	bool nonzero = false;
	for (size_t i = 0; i < CF_NUMERIC_LEN - 1; i++) {
		int d = cf[i] - '0';
		if (d != 0)
			nonzero = true;
		if (i % 2 == 1) { /* even 1-based position: doubled */
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	if (!nonzero)
		return fail(rule, "format", "Il codice fiscale numerico non può essere tutto zeri");
	if ((10 - sum % 10) % 10 != cf[CF_NUMERIC_LEN - 1] - '0')
		return fail(rule, "check_digit",
		            "Il codice fiscale numerico non è valido: cifra di controllo errata");
	return NULL;
}

/* 16-character personal code. Borrows cf; fills *info when valid and info is
 * not NULL. */
static const char *cf_check_personal(const char *cf, struct validate_cf_info *info,
                                     const char **rule)
{
	static const char *const bad_format =
	    "Il codice fiscale non è valido: sono attesi 6 lettere, anno, mese, giorno, "
	    "comune di nascita e carattere di controllo";
	for (size_t i = 0; i < 6; i++)
		if (!is_upper(cf[i]))
			return fail(rule, "format", bad_format);
	for (size_t k = 0; k < sizeof CF_OMOCODIC_POS / sizeof CF_OMOCODIC_POS[0]; k++)
		if (cf_decode_digit(cf[CF_OMOCODIC_POS[k]]) < 0)
			return fail(rule, "format", bad_format);
	if (!is_upper(cf[11]) || !is_upper(cf[15]))
		return fail(rule, "format", bad_format);
	const char *month = strchr(CF_MONTHS, cf[8]);
	if (cf[8] == '\0' || month == NULL)
		return fail(rule, "format",
		            "Il codice fiscale non è valido: lettera del mese di nascita errata");

	int year2 = cf_decode_digit(cf[6]) * 10 + cf_decode_digit(cf[7]);
	int m = (int)(month - CF_MONTHS) + 1;
	int day = cf_decode_digit(cf[9]) * 10 + cf_decode_digit(cf[10]);
	char sex = 'M';
	if (day > 40) {
		sex = 'F';
		day -= 40;
	}
	/* The century is not written: a day that exists in 19yy or 20yy passes. */
	if (day < 1 || day > 31 ||
	    (day > month_days(1900 + year2, m) && day > month_days(2000 + year2, m)))
		return fail(rule, "calendar",
		            "Il codice fiscale non è valido: giorno di nascita inesistente");

	if (validate_cf_check_char(cf) != cf[15])
		return fail(rule, "check_digit",
		            "Il codice fiscale non è valido: carattere di controllo errato");

	if (info != NULL) {
		info->sex = sex;
		info->birth_year2 = year2;
		info->birth_month = m;
		info->birth_day = day;
		info->birth_place[0] = cf[11];
		for (size_t i = 12; i < 15; i++)
			info->birth_place[i - 11] = (char)('0' + cf_decode_digit(cf[i]));
		info->birth_place[4] = '\0';
	}
	return NULL;
}

/* Borrows cf; writes *kind and *info (caller-owned, each may be NULL). */
const char *validate_fiscal_code(const char *cf, enum validate_cf_kind *kind,
                                 struct validate_cf_info *info, const char **rule)
{
	if (info != NULL)
		memset(info, 0, sizeof *info);
	if (kind != NULL)
		*kind = CF_PERSONAL;
	if (cf == NULL || cf[0] == '\0')
		return fail(rule, "format", "Il codice fiscale è obbligatorio");
	size_t n = strnlen(cf, CF_PERSONAL_LEN + 1);

	if (n == CF_NUMERIC_LEN && all_digits(cf, n)) {
		if (kind != NULL)
			*kind = CF_NUMERIC;
		return cf_check_numeric(cf, rule);
	}
	/* STP/ENI + 13 digits is also 16 characters long; a personal code has
	 * letters where the temporary one has its first digits. */
	if (n >= 3 && (strncmp(cf, "STP", 3) == 0 || strncmp(cf, "ENI", 3) == 0) &&
	    (n < 4 || is_digit(cf[3]))) {
		if (kind != NULL)
			*kind = CF_TEMPORARY;
		if (n != 3 + CF_TEMPORARY_DIGITS || !all_digits(cf + 3, CF_TEMPORARY_DIGITS))
			return fail(rule, "format",
			            "Il codice STP/ENI non è valido: sono attese 13 cifre dopo "
			            "STP o ENI");
		return NULL;
	}
	if (n != CF_PERSONAL_LEN)
		return fail(rule, "format",
		            "Il codice fiscale deve avere 16 caratteri (o 11 cifre, o essere un "
		            "codice STP/ENI)");
	return cf_check_personal(cf, info, rule);
}

/* ---------------------------------------------------------------- dates */

/* Borrows s; writes *days (may be NULL) on success. */
const char *validate_date(const char *s, int32_t *days, const char **rule)
{
	if (s == NULL || strnlen(s, 11) != 10 || !all_digits(s, 4) || s[4] != '-' ||
	    !all_digits(s + 5, 2) || s[7] != '-' || !all_digits(s + 8, 2))
		return fail(rule, "format", "La data deve essere nel formato AAAA-MM-GG");
	int y = digits_value(s, 4), m = digits_value(s + 5, 2), d = digits_value(s + 8, 2);
	if (m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return fail(rule, "calendar", "La data non esiste nel calendario");
	if (y < 1900 || y > 2199)
		return fail(rule, "range", "La data deve essere compresa tra il 1900 e il 2199");
	if (days != NULL)
		*days = validate_days_from_civil(y, m, d);
	return NULL;
}

/* ---------------------------------------------------------------- places */

/* Borrows s. */
const char *validate_belfiore(const char *s, const char **rule)
{
	if (s == NULL || strnlen(s, 5) != 4 || !is_upper(s[0]) || !all_digits(s + 1, 3))
		return fail(rule, "format",
		            "Il codice catastale deve essere una lettera maiuscola seguita da tre "
		            "cifre (es. F205; Z per gli Stati esteri)");
	return NULL;
}

/* Borrows s. */
const char *validate_istat_comune(const char *s, const char **rule)
{
	if (s == NULL || strnlen(s, 7) != 6 || !all_digits(s, 6))
		return fail(rule, "format", "Il codice ISTAT del comune deve avere 6 cifre");
	int province = digits_value(s, 3), progressive = digits_value(s + 3, 3);
	if (province < 1 || province > 111 || progressive < 1)
		return fail(rule, "range",
		            "Il codice ISTAT del comune non è valido: provincia fuori intervallo "
		            "(001-111) o progressivo 000");
	return NULL;
}

/* Borrows s. */
const char *validate_iso_country(const char *s, const char **rule)
{
	if (s == NULL || strnlen(s, 4) != 3 || !all_digits(s, 3))
		return fail(
		    rule, "format",
		    "Il codice dello Stato deve avere 3 cifre (ISO 3166-1 numerico, es. 380)");
	int code = digits_value(s, 3);
	unsigned lo = 0, hi = iso3166_numeric_count;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (iso3166_numeric[mid] == code)
			return NULL;
		if (iso3166_numeric[mid] < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return fail(rule, "unknown", "Codice dello Stato sconosciuto (ISO 3166-1 numerico)");
}

/* ---------------------------------------------------------------- DSU */

/* Borrows s. */
const char *validate_dsu(const char *s, const char **rule)
{
	/* INPS-ISEE-YYYY-NNNNNNNNX-NN */
	static const char *const bad =
	    "Il protocollo DSU deve essere nel formato INPS-ISEE-AAAA-NNNNNNNNX-NN";
	if (s == NULL || strnlen(s, 28) != 27 || strncmp(s, "INPS-ISEE-", 10) != 0 ||
	    !all_digits(s + 10, 4) || s[14] != '-' || !all_digits(s + 15, 8) ||
	    !(is_digit(s[23]) || is_upper(s[23])) || s[24] != '-' || !all_digits(s + 25, 2))
		return fail(rule, "format", bad);
	int year = digits_value(s + 10, 4);
	if (year < 2015 || year > 2099)
		return fail(rule, "range",
		            "L'anno del protocollo DSU deve essere compreso tra il 2015 e il 2099");
	return NULL;
}

/* ---------------------------------------------------------------- money */

/* Borrows s; writes *cents (may be NULL) on success. */
const char *validate_amount(const char *s, bool zero_ok, int64_t *cents, const char **rule)
{
	static const char *const bad =
	    "L'importo deve essere un numero con il punto decimale e al massimo due "
	    "decimali (es. 12.50)";
	if (s == NULL || s[0] == '\0')
		return fail(rule, "format", bad);
	bool negative = s[0] == '-';
	const char *p = negative ? s + 1 : s;
	size_t int_len = 0;
	while (is_digit(p[int_len]))
		int_len++;
	if (int_len == 0)
		return fail(rule, "format", bad);
	size_t dec_len = 0;
	const char *q = p + int_len;
	if (*q == '.') {
		q++;
		while (is_digit(q[dec_len]))
			dec_len++;
		if (dec_len == 0)
			return fail(rule, "format", bad);
	}
	if (q[dec_len] != '\0')
		return fail(rule, "format", bad);
	if (negative)
		return fail(rule, "positive", "L'importo non può essere negativo");
	if (dec_len > AMOUNT_DEC_DIGITS)
		return fail(rule, "decimals", "L'importo può avere al massimo due decimali");
	if (int_len > AMOUNT_INT_DIGITS)
		return fail(rule, "range", "L'importo non può superare 999999999.99");

	int64_t v = 0;
	for (size_t i = 0; i < int_len; i++)
		v = v * 10 + (p[i] - '0');
	for (size_t i = 0; i < AMOUNT_DEC_DIGITS; i++)
		v = v * 10 + (i < dec_len ? q[i] - '0' : 0);
	if (v == 0 && !zero_ok)
		return fail(rule, "positive", "L'importo deve essere maggiore di zero");
	if (cents != NULL)
		*cents = v;
	return NULL;
}

/* Writes into out (caller-owned, outsz bytes; 24 always suffice). */
void validate_format_cents(int64_t cents, char *out, unsigned outsz)
{
	if (out == NULL || outsz == 0)
		return;
	/* Magnitude in unsigned arithmetic so INT64_MIN is representable. */
	uint64_t mag = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
	snprintf(out, outsz, "%s%" PRIu64 ".%02u", cents < 0 ? "-" : "", mag / 100u,
	         (unsigned)(mag % 100u));
}

/* Borrows s; writes into out (caller-owned). */
void validate_name_normalise(const char *s, char *out, size_t outn)
{
	size_t n = strlen(s), o = 0;
	bool space = true;
	if (outn == 0)
		return;
	for (size_t i = 0; i < n && o + 1 < outn; i++) {
		unsigned char c = (unsigned char)s[i];
		char letter = 0;
		if (c < 0x80) {
			if (isalpha(c))
				letter = (char)toupper(c);
		} else if (c == 0xC3 && i + 1 < n) {
			unsigned char d = (unsigned char)s[++i] & 0xDF; /* fold case */
			static const char map[32] = "AAAAAAACEEEEIIII"
			                            "DNOOOOO OUUUUY  ";
			letter = (d >= 0x80 && d < 0xA0) ? map[d - 0x80] : 0;
			if (letter == ' ')
				letter = 0;
		}
		if (letter) {
			out[o++] = letter;
			space = false;
		} else if (!space) {
			out[o++] = ' ';
			space = true;
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}
