/* Validators for Italian administrative codes and the wire formats of the
 * API. Each returns NULL when the value is valid, else an Italian message
 * for the problem body; the rule name goes in *rule when rule is not NULL. */
#ifndef CARTELLA_VALIDATE_H
#define CARTELLA_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum validate_cf_kind {
	CF_PERSONAL,  /* 16 characters, check character verified, omocodia decoded */
	CF_NUMERIC,   /* 11 digits (codice fiscale provvisorio), check digit verified */
	CF_TEMPORARY, /* STP/ENI code for people without a fiscal code: STP|ENI + 13 digits */
};

/* Decoded facts of a 16-character fiscal code. */
struct validate_cf_info {
	char sex;            /* 'M' or 'F' */
	int birth_year2;     /* two digits as written */
	int birth_month;     /* 1-12 */
	int birth_day;       /* 1-31 */
	char birth_place[5]; /* Belfiore code, omocodia decoded */
};

/* Upper-cases and strips spaces of a fiscal code into out (size >= 17);
 * returns false when the input is longer than any valid code. */
bool validate_cf_normalise(const char *in, char *out, unsigned outsz);

/* Checks a normalised fiscal code. Sets *kind; fills *info for CF_PERSONAL
 * (info may be NULL). */
const char *validate_fiscal_code(const char *cf, enum validate_cf_kind *kind,
                                 struct validate_cf_info *info, const char **rule);

/* Check letter of a 16-character fiscal code computed over its first 15
 * characters as written (omocodic letters included); '\0' when one of them is
 * not an upper-case letter or digit. Lets demo data build valid codes. */
char validate_cf_check_char(const char *first15);

/* Upper-cases, folds accented Latin letters to ASCII, keeps letters and
 * single spaces ("D'Angelo  Màrio" -> "D ANGELO MARIO"): the form names take
 * in blind indexes. Writes at most outn - 1 characters and a NUL into out
 * (caller-owned; strlen(s) + 1 bytes always suffice). */
void validate_name_normalise(const char *s, char *out, size_t outn);

/* RFC 3339 full-date that exists in the calendar (1900-01-01..2199-12-31).
 * On success *days is the day number (days since 1970-01-01). */
const char *validate_date(const char *s, int32_t *days, const char **rule);

/* Day number (days since 1970-01-01) of a proleptic Gregorian date, and
 * back; the date of a day number as YYYY-MM-DD into out (n >= 32 silences
 * the truncation analysis; 11 suffice for years 0-9999). */
int32_t validate_days_from_civil(int y, int m, int d);
void validate_civil_from_days(int32_t z, int *y, int *m, int *d);
void validate_date_text(int32_t z, char *out, size_t n);

/* Belfiore code syntax: a letter and three digits (Z = foreign state). */
const char *validate_belfiore(const char *s, const char **rule);

/* ISTAT municipality code: six digits, province 001-111. */
const char *validate_istat_comune(const char *s, const char **rule);

/* ISO 3166-1 numeric country code that exists (three digits, e.g. "380"). */
const char *validate_iso_country(const char *s, const char **rule);

/* DSU protocol: INPS-ISEE-YYYY-NNNNNNNNX-NN. */
const char *validate_dsu(const char *s, const char **rule);

/* Money as a decimal string with at most two decimals, > 0 (or >= 0 when
 * zero_ok), at most 999999999.99; *cents receives the value in cents. */
const char *validate_amount(const char *s, bool zero_ok, int64_t *cents, const char **rule);

/* Formats cents as a decimal string with two places into out (size >= 24). */
void validate_format_cents(int64_t cents, char *out, unsigned outsz);

#endif
