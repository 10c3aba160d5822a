/* The regional spending report written out: the derived figures (totals,
 * composition percentages, per-user and per-capita spending, with their
 * rounding rules), and the JSON, CSV and XLSX forms. CSV and XLSX share one
 * table (rs_table) so that they always hold the same cells. */
#include "api/reports.h"
#include "api/validate.h"
#include "server/arena.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

void rs_totals(const struct rs_report *rep, struct rs_totals *t)
{
	memset(t, 0, sizeof *t);
	for (size_t a = 0; a < rep->nareas; a++) {
		for (size_t c = 0; c < rep->nchannels; c++) {
			t->row[a] += rep->cell[a][c];
			t->column[c] += rep->cell[a][c];
			t->grand += rep->cell[a][c];
		}
		for (int m = 0; m < RS__MANAGEMENTS; m++)
			t->management[m] += rep->management[a][m];
	}
}

/* Half up: (2 * part * 1000 + whole) / (2 * whole) tenths of a percent. The
 * rule of Tabella 2.4/2.3 of the Piano di Zona: each percentage is rounded on
 * its own (they need not add up to 100.0). */
bool rs_percent_tenths(int64_t part, int64_t whole, int64_t *tenths)
{
	if (whole <= 0)
		return false;
	*tenths = (2 * part * 1000 + whole) / (2 * whole);
	return true;
}

bool rs_per_unit_cents(int64_t cents, long long n, int64_t *out)
{
	if (n <= 0)
		return false;
	*out = (2 * cents + n) / (2 * (int64_t)n);
	return true;
}

/* Tenths as "85.3" (arena-owned), or JSON null when !ok. */
static json_t *percent_json(bool ok, int64_t tenths)
{
	if (!ok)
		return json_null();
	char s[32];
	snprintf(s, sizeof s, "%lld.%lld", (long long)(tenths / 10), (long long)(tenths % 10));
	return json_string(s);
}

/* Cents as "805611.00" (new JSON string), or JSON null when !ok. */
static json_t *money_json(bool ok, int64_t cents)
{
	if (!ok)
		return json_null();
	char s[24];
	validate_format_cents(cents, s, sizeof s);
	return json_string(s);
}

json_t *rs_json(const struct rs_report *rep)
{
	struct rs_totals t;
	rs_totals(rep, &t);
	int64_t v;
	json_t *channels = json_array(), *rows = json_array(), *columns = json_object(),
	       *composition = json_object();
	for (size_t c = 0; c < rep->nchannels; c++) {
		json_array_append_new(channels,
		                      json_pack("{s:s, s:s}", "code", rep->channel[c].code, "label",
		                                rep->channel[c].label));
		json_object_set_new(columns, rep->channel[c].code, money_json(true, t.column[c]));
		bool ok = rs_percent_tenths(t.column[c], t.grand, &v);
		json_object_set_new(composition, rep->channel[c].code, percent_json(ok, v));
	}
	for (size_t a = 0; a < rep->nareas; a++) {
		json_t *cells = json_object();
		for (size_t c = 0; c < rep->nchannels; c++)
			json_object_set_new(cells, rep->channel[c].code,
			                    money_json(true, rep->cell[a][c]));
		bool pct = rs_percent_tenths(t.row[a], t.grand, &v);
		json_t *percent = percent_json(pct, v);
		int64_t pu;
		bool per_user = rs_per_unit_cents(t.row[a], rep->users[a], &pu);
		json_array_append_new(
		    rows,
		    json_pack("{s:s, s:s, s:o, s:o, s:o, s:{s:o, s:o}, s:I, s:o}", "area",
		              rep->area[a].code, "label", rep->area[a].label, "cells", cells,
		              "total", money_json(true, t.row[a]), "percent", percent, "management",
		              "single", money_json(true, rep->management[a][RS_SINGLE]),
		              "associated", money_json(true, rep->management[a][RS_ASSOCIATED]),
		              "users", (json_int_t)rep->users[a], "spending_per_user",
		              money_json(per_user, pu)));
	}
	int64_t per_user_all, per_capita;
	bool pu_ok = rs_per_unit_cents(t.grand, rep->users_total, &per_user_all);
	bool pc_ok =
	    rep->population_known && rs_per_unit_cents(t.grand, rep->population, &per_capita);
	return json_pack(
	    "{s:I, s:{s:s, s:s, s:s}, s:s, s:o, s:o, s:o, s:{s:o, s:o}, s:o, s:o, s:I, s:o, s:o, "
	    "s:o}",
	    "year", (json_int_t)rep->year, "tenant", "code", rep->tenant_code, "name",
	    rep->tenant_name, "kind", rep->tenant_kind, "currency", "EUR", "channels", channels,
	    "rows", rows, "column_totals", columns, "management_totals", "single",
	    money_json(true, t.management[RS_SINGLE]), "associated",
	    money_json(true, t.management[RS_ASSOCIATED]), "grand_total", money_json(true, t.grand),
	    "composition_percent", composition, "users", (json_int_t)rep->users_total,
	    "spending_per_user", money_json(pu_ok, per_user_all), "population",
	    rep->population_known ? json_integer(rep->population) : json_null(), "per_capita",
	    money_json(pc_ok, per_capita));
}

/* ---------------------------------------------------------------- the table */

enum rs_cell_kind { RC_EMPTY, RC_TEXT, RC_MONEY, RC_PERCENT, RC_COUNT };

/* One cell: text (static or arena), or a number (cents, tenths, count). */
struct rs_cell {
	enum rs_cell_kind kind;
	const char *text;
	int64_t v;
};

/* The table CSV and XLSX share: a header, one row per area, then the rows
 * "totale", "composizione_percentuale", "popolazione", "spesa_pro_capite".
 * Columns: area, label, one per channel, totale, percentuale, gestione_singola,
 * gestione_associata, utenti, spesa_per_utente. Returns rows*cols cells
 * (arena-owned), NULL on OOM. */
static struct rs_cell *rs_table(struct arena *a, const struct rs_report *rep, size_t *rows,
                                size_t *cols)
{
	static const char *const tail[] = {"totale",           "percentuale",
	                                   "gestione_singola", "gestione_associata",
	                                   "utenti",           "spesa_per_utente"};
	size_t nc = rep->nchannels, w = nc + 8, h = rep->nareas + 5;
	struct rs_cell *cell = arena_alloc(a, w * h * sizeof *cell);
	if (cell == NULL)
		return NULL;
	memset(cell, 0, w * h * sizeof *cell);
	struct rs_totals t;
	rs_totals(rep, &t);
#define AT(r, c)        cell[(r)*w + (c)]
#define TEXT(r, c, s)   (AT(r, c).kind = RC_TEXT, AT(r, c).text = (s))
#define NUM(r, c, k, x) (AT(r, c).kind = (k), AT(r, c).v = (x))
	TEXT(0, 0, "area");
	TEXT(0, 1, "etichetta");
	for (size_t c = 0; c < nc; c++)
		TEXT(0, 2 + c, rep->channel[c].code);
	for (size_t i = 0; i < 6; i++)
		TEXT(0, nc + 2 + i, tail[i]);
	int64_t v;
	for (size_t r = 0; r < rep->nareas; r++) {
		size_t row = r + 1;
		TEXT(row, 0, rep->area[r].code);
		TEXT(row, 1, rep->area[r].label);
		for (size_t c = 0; c < nc; c++)
			NUM(row, 2 + c, RC_MONEY, rep->cell[r][c]);
		NUM(row, nc + 2, RC_MONEY, t.row[r]);
		if (rs_percent_tenths(t.row[r], t.grand, &v))
			NUM(row, nc + 3, RC_PERCENT, v);
		NUM(row, nc + 4, RC_MONEY, rep->management[r][RS_SINGLE]);
		NUM(row, nc + 5, RC_MONEY, rep->management[r][RS_ASSOCIATED]);
		NUM(row, nc + 6, RC_COUNT, rep->users[r]);
		if (rs_per_unit_cents(t.row[r], rep->users[r], &v))
			NUM(row, nc + 7, RC_MONEY, v);
	}
	size_t tot = rep->nareas + 1, pct = tot + 1, pop = pct + 1, cap = pop + 1;
	TEXT(tot, 0, "totale");
	TEXT(tot, 1, "Totale");
	TEXT(pct, 0, "composizione_percentuale");
	TEXT(pct, 1, "Composizione percentuale");
	for (size_t c = 0; c < nc; c++) {
		NUM(tot, 2 + c, RC_MONEY, t.column[c]);
		if (rs_percent_tenths(t.column[c], t.grand, &v))
			NUM(pct, 2 + c, RC_PERCENT, v);
	}
	NUM(tot, nc + 2, RC_MONEY, t.grand);
	NUM(tot, nc + 4, RC_MONEY, t.management[RS_SINGLE]);
	NUM(tot, nc + 5, RC_MONEY, t.management[RS_ASSOCIATED]);
	NUM(tot, nc + 6, RC_COUNT, rep->users_total);
	if (rs_per_unit_cents(t.grand, rep->users_total, &v))
		NUM(tot, nc + 7, RC_MONEY, v);
	TEXT(pop, 0, "popolazione");
	TEXT(pop, 1, "Popolazione residente");
	TEXT(cap, 0, "spesa_pro_capite");
	TEXT(cap, 1, "Spesa pro capite");
	if (rep->population_known) {
		NUM(pop, nc + 2, RC_COUNT, rep->population);
		if (rs_per_unit_cents(t.grand, rep->population, &v))
			NUM(cap, nc + 2, RC_MONEY, v);
	}
#undef AT
#undef TEXT
#undef NUM
	*rows = h;
	*cols = w;
	return cell;
}

/* Appends s to the buffer *buf (arena-grown, *len used of *cap). Returns 0 or
 * -1. */
static int buf_put(struct arena *a, char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	if (*len + n + 1 > *cap) {
		size_t ncap = (*cap ? *cap * 2 : 4096);
		while (ncap < *len + n + 1)
			ncap *= 2;
		char *nb = arena_alloc(a, ncap);
		if (nb == NULL)
			return -1;
		if (*len)
			memcpy(nb, *buf, *len);
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
	return 0;
}

/* One cell as CSV text into out (size >= 64); text is quoted when it holds a
 * separator, a quote or a line break (RFC 4180). Returns arena text for long
 * quoted text, else out. */
static const char *csv_cell(struct arena *a, const struct rs_cell *c, char *out, size_t outsz)
{
	out[0] = '\0';
	switch (c->kind) {
	case RC_EMPTY:
		break;
	case RC_MONEY:
		validate_format_cents(c->v, out, (unsigned)outsz);
		break;
	case RC_PERCENT:
		snprintf(out, outsz, "%lld.%lld", (long long)(c->v / 10), (long long)(c->v % 10));
		break;
	case RC_COUNT:
		snprintf(out, outsz, "%lld", (long long)c->v);
		break;
	case RC_TEXT:
		if (strpbrk(c->text, ",\"\r\n") == NULL)
			return c->text;
		{
			size_t n = strlen(c->text);
			char *q = arena_alloc(a, 2 * n + 3), *p = q;
			if (q == NULL)
				return NULL;
			*p++ = '"';
			for (const char *s = c->text; *s; s++) {
				if (*s == '"')
					*p++ = '"';
				*p++ = *s;
			}
			*p++ = '"';
			*p = '\0';
			return q;
		}
	}
	return out;
}

const char *rs_csv(struct arena *a, const struct rs_report *rep, size_t *len)
{
	size_t rows, cols, cap = 0;
	struct rs_cell *cell = rs_table(a, rep, &rows, &cols);
	char *buf = NULL;
	*len = 0;
	if (cell == NULL)
		return NULL;
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < cols; c++) {
			char tmp[64];
			const char *s = csv_cell(a, &cell[r * cols + c], tmp, sizeof tmp);
			if (s == NULL || (c > 0 && buf_put(a, &buf, len, &cap, ",") != 0) ||
			    buf_put(a, &buf, len, &cap, s) != 0)
				return NULL;
		}
		if (buf_put(a, &buf, len, &cap, "\r\n") != 0)
			return NULL;
	}
	return buf;
}

/* Writes the table into a new workbook at path. Returns 0 or -1. */
static int xlsx_write(const char *path, const struct rs_report *rep, const struct rs_cell *cell,
                      size_t rows, size_t cols)
{
	lxw_workbook *wb = workbook_new(path);
	if (wb == NULL)
		return -1;
	int rc = 0;
	char title[64];
	snprintf(title, sizeof title, "Spesa sociale %lld", rep->year);
	lxw_worksheet *ws = workbook_add_worksheet(wb, title);
	lxw_format *money = workbook_add_format(wb), *pct = workbook_add_format(wb),
	           *bold = workbook_add_format(wb);
	if (ws == NULL || money == NULL || pct == NULL || bold == NULL) {
		rc = -1;
		goto out;
	}
	format_set_num_format(money, "#,##0.00");
	format_set_num_format(pct, "0.0");
	format_set_bold(bold);
	for (size_t r = 0; r < rows && rc == 0; r++) {
		for (size_t c = 0; c < cols && rc == 0; c++) {
			const struct rs_cell *x = &cell[r * cols + c];
			lxw_row_t row = (lxw_row_t)r;
			lxw_col_t col = (lxw_col_t)c;
			lxw_error e = LXW_NO_ERROR;
			if (x->kind == RC_TEXT)
				e = worksheet_write_string(ws, row, col, x->text,
				                           r == 0 ? bold : NULL);
			else if (x->kind == RC_MONEY)
				e = worksheet_write_number(ws, row, col, (double)x->v / 100.0,
				                           money);
			else if (x->kind == RC_PERCENT)
				e = worksheet_write_number(ws, row, col, (double)x->v / 10.0, pct);
			else if (x->kind == RC_COUNT)
				e = worksheet_write_number(ws, row, col, (double)x->v, NULL);
			rc = e == LXW_NO_ERROR ? 0 : -1;
		}
	}
out:
	if (workbook_close(wb) != LXW_NO_ERROR)
		rc = -1;
	return rc;
}

/* Reads the whole file path into the arena (*len bytes). NULL on failure. */
static const char *read_all(struct arena *a, const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	if (f == NULL)
		return NULL;
	long size = -1;
	if (fseek(f, 0, SEEK_END) == 0)
		size = ftell(f);
	if (size > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (data = arena_alloc(a, (size_t)size)) != NULL &&
	    fread(data, 1, (size_t)size, f) == (size_t)size)
		*len = (size_t)size;
	else
		data = NULL;
	fclose(f);
	return data;
}

const char *rs_xlsx(struct arena *a, const struct rs_report *rep, size_t *len)
{
	size_t rows, cols;
	const char *data = NULL;
	struct rs_cell *cell = rs_table(a, rep, &rows, &cols);
	if (cell == NULL)
		return NULL;
	const char *dir = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/cartella-report-XXXXXX", dir && dir[0] ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	if (xlsx_write(path, rep, cell, rows, cols) == 0)
		data = read_all(a, path, len);
	unlink(path);
	close(fd);
	return data;
}
