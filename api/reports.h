/* The reporting flows (docs/reporting.md): the plumbing they share (scope
 * and access, rounding, a table written as CSV or XLSX, the reply in the
 * format the client accepts) and the regional spending report. Reports
 * carry aggregates only: no field of them identifies a person. */
#ifndef CARTELLA_REPORTS_H
#define CARTELLA_REPORTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct http_req;

/* ---------------------------------------------------------------- shared */

/* The tenant and year a report is about (arena-owned strings). */
struct rp_scope {
	const char *tenant_id, *code, *name, *kind;
	char year[8];
	long long year_n;
};

/* Reads ?year= (default: the last complete year, UTC) and ?tenant= (default: the session's tenant)
 * and checks the caller may see that tenant's report: its own tenant (an Ambito's covers its member
 * Comuni and needs the planning office role), or, for the Ambito's planning office, a member
 * Comune. Returns 0, or 1 after replying (400, 403, an error), or HTTP_RETRY. */
int rp_scope_read(struct http_req *req, struct rp_scope *sc);

/* The same with the year already in sc->year ("" for the default) and the
 * tenant code given (NULL: the session's tenant; borrowed), for a request
 * that carries them in its body. */
int rp_scope_resolve(struct http_req *req, const char *code, struct rp_scope *sc);

#define IN_MAX_YEARS 10 /* years side by side in the indicators */

/* Reads the indicators' ?years=Y1,Y2,... or ?from= and ?to= (default: the
 * three years up to the scope's year) into ys[] (IN_MAX_YEARS at most, *n of
 * them). Returns 0, or replies 400 and returns 1. */
int rp_years_read(struct http_req *req, const struct rp_scope *sc, long long *ys, size_t *n);

/* {code, name, kind} of the scope's tenant (new reference). */
json_t *rp_scope_json(const struct rp_scope *sc);

/* part/whole (both >= 0) as a percentage in tenths, rounded half up
 * (85.3% = 853) into *tenths; false when whole is 0. */
bool rp_percent_tenths(int64_t part, int64_t whole, int64_t *tenths);

/* cents/n (both >= 0) rounded half up to the cent into *out; false when n
 * is 0. */
bool rp_per_unit_cents(int64_t cents, long long n, int64_t *out);

/* Cents as "805611.00" (new JSON string), or JSON null when !ok. */
json_t *rp_money_json(bool ok, int64_t cents);

/* Tenths as "85.3" (new JSON string), or JSON null when !ok. */
json_t *rp_percent_json(bool ok, int64_t tenths);

enum rp_cell_kind { RC_EMPTY, RC_TEXT, RC_MONEY, RC_PERCENT, RC_COUNT };

/* One cell: text (static or arena-owned), or a number (cents, tenths, a
 * count). */
struct rp_cell {
	enum rp_cell_kind kind;
	const char *text;
	int64_t v;
};

/* A table of rows x cols cells (arena-owned), the first row a header. */
struct rp_grid {
	struct rp_cell *cell;
	size_t rows, cols;
};

/* Allocates an empty grid. Returns 0 or -1 (OOM). */
int rp_grid_init(struct arena *a, struct rp_grid *g, size_t rows, size_t cols);

/* Sets a cell (out-of-range cells are ignored). */
void rp_text(struct rp_grid *g, size_t r, size_t c, const char *text);
void rp_num(struct rp_grid *g, size_t r, size_t c, enum rp_cell_kind kind, int64_t v);

/* The grid as CSV (RFC 4180, CRLF; arena-owned, *len bytes); NULL on OOM. */
const char *rp_grid_csv(struct arena *a, const struct rp_grid *g, size_t *len);

/* The grid as an XLSX workbook with one sheet named sheet (arena-owned
 * bytes, *len of them), written through a temporary file; NULL on failure.
 * Money cells are numbers formatted #,##0.00, percentages 0.0. */
const char *rp_grid_xlsx(struct arena *a, const struct rp_grid *g, const char *sheet, size_t *len);

/* Replies 200 with the report: json (stolen) by default, or grid as CSV
 * (Accept: text/csv) or XLSX (Accept: the spreadsheetml type), as an
 * attachment named <stem>-<year>-<tenant code>.<ext>. Returns the handler's
 * return value. */
int rp_reply(struct http_req *req, const struct rp_scope *sc, json_t *json,
             const struct rp_grid *grid, const char *sheet, const char *stem);

/* ---------------------------------------------------------------- regional */

#define RS_MAX_CODES 32

enum rs_management { RS_SINGLE, RS_ASSOCIATED, RS__MANAGEMENTS };

/* A code of a list with its Italian label (arena-owned strings). */
struct rs_code {
	const char *code, *label;
};

/* The regional spending report's facts, in cents and counts. */
struct rs_report {
	struct rp_scope scope;
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

/* Loads the code lists and the facts of rep->scope (tenant and year) into
 * rep (zeroed by the caller). Returns a db_rc. */
int rs_load(struct http_req *req, struct rs_report *rep);

/* Sums the cells of rep into *t. */
void rs_totals(const struct rs_report *rep, struct rs_totals *t);

/* The report as JSON (new reference, NULL on OOM). */
json_t *rs_json(const struct rs_report *rep);

/* The report as the table CSV and XLSX share. Returns 0 or -1 (OOM). */
int rs_grid(struct arena *a, const struct rs_report *rep, struct rp_grid *g);

#endif
