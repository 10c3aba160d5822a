/* The regional spending report (api/reports.c builds it, api/report_output.c
 * writes it as JSON, CSV or XLSX). Aggregates only: no field of it
 * identifies a person (docs/reporting.md says where each one comes from). */
#ifndef CARTELLA_REPORTS_H
#define CARTELLA_REPORTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

#define RS_MAX_CODES 32

enum rs_management { RS_SINGLE, RS_ASSOCIATED, RS__MANAGEMENTS };

/* A code of a list with its Italian label (arena-owned strings). */
struct rs_code {
	const char *code, *label;
};

/* The report's facts, in cents and counts. */
struct rs_report {
	long long year;
	const char *tenant_code, *tenant_name, *tenant_kind;
	struct rs_code area[RS_MAX_CODES], channel[RS_MAX_CODES];
	size_t nareas, nchannels;
	int64_t cell[RS_MAX_CODES][RS_MAX_CODES]; /* [area][channel] */
	int64_t management[RS_MAX_CODES][RS__MANAGEMENTS];
	long long users[RS_MAX_CODES]; /* distinct beneficiaries per area */
	long long users_total;         /* distinct beneficiaries across areas */
	long long population;          /* residents; valid when population_known */
	bool population_known;
};

/* Totals derived from the cells. */
struct rs_totals {
	int64_t row[RS_MAX_CODES], column[RS_MAX_CODES], management[RS__MANAGEMENTS], grand;
};

/* Sums the cells of rep into *t. */
void rs_totals(const struct rs_report *rep, struct rs_totals *t);

/* part/whole (both >= 0) as a percentage in tenths, rounded half up
 * (85.3% = 853) into *tenths; false when whole is 0. */
bool rs_percent_tenths(int64_t part, int64_t whole, int64_t *tenths);

/* cents/n (both >= 0) rounded half up to the cent into *out; false when n
 * is 0. */
bool rs_per_unit_cents(int64_t cents, long long n, int64_t *out);

/* The report as JSON (new reference, NULL on OOM). */
json_t *rs_json(const struct rs_report *rep);

/* The report as CSV (RFC 4180, CRLF, arena-owned text of *len bytes), NULL
 * on OOM. */
const char *rs_csv(struct arena *a, const struct rs_report *rep, size_t *len);

/* The report as an XLSX workbook (arena-owned bytes, *len of them), written
 * through a temporary file; NULL on failure. */
const char *rs_xlsx(struct arena *a, const struct rs_report *rep, size_t *len);

#endif
