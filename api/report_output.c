/* Reports written out: the rounding rules, the table (rp_grid) every report
 * writes as CSV or XLSX, and the regional spending report's JSON and table
 * (totals, composition percentages, per-user and per-capita spending). CSV
 * and XLSX of a report come from one table, so they hold the same cells. */
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
bool rp_percent_tenths(int64_t part, int64_t whole, int64_t *tenths)
{
	if (whole <= 0)
		return false;
	*tenths = (2 * part * 1000 + whole) / (2 * whole);
	return true;
}

bool rp_per_unit_cents(int64_t cents, long long n, int64_t *out)
{
	if (n <= 0)
		return false;
	*out = (2 * cents + n) / (2 * (int64_t)n);
	return true;
}

json_t *rp_percent_json(bool ok, int64_t tenths)
{
	if (!ok)
		return json_null();
	char s[32];
	snprintf(s, sizeof s, "%lld.%lld", (long long)(tenths / 10), (long long)(tenths % 10));
	return json_string(s);
}

json_t *rp_money_json(bool ok, int64_t cents)
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
		json_object_set_new(columns, rep->channel[c].code,
		                    rp_money_json(true, t.column[c]));
		bool ok = rp_percent_tenths(t.column[c], t.grand, &v);
		json_object_set_new(composition, rep->channel[c].code, rp_percent_json(ok, v));
	}
	for (size_t a = 0; a < rep->nareas; a++) {
		json_t *cells = json_object();
		for (size_t c = 0; c < rep->nchannels; c++)
			json_object_set_new(cells, rep->channel[c].code,
			                    rp_money_json(true, rep->cell[a][c]));
		bool pct = rp_percent_tenths(t.row[a], t.grand, &v);
		json_t *percent = rp_percent_json(pct, v);
		int64_t pu;
		bool per_user = rp_per_unit_cents(t.row[a], rep->users[a], &pu);
		json_array_append_new(
		    rows,
		    json_pack("{s:s, s:s, s:o, s:o, s:o, s:{s:o, s:o}, s:I, s:o}", "area",
		              rep->area[a].code, "label", rep->area[a].label, "cells", cells,
		              "total", rp_money_json(true, t.row[a]), "percent", percent,
		              "management", "single",
		              rp_money_json(true, rep->management[a][RS_SINGLE]), "associated",
		              rp_money_json(true, rep->management[a][RS_ASSOCIATED]), "users",
		              (json_int_t)rep->users[a], "spending_per_user",
		              rp_money_json(per_user, pu)));
	}
	int64_t per_user_all = 0, per_capita = 0;
	bool pu_ok = rp_per_unit_cents(t.grand, rep->users_total, &per_user_all);
	bool pc_ok =
	    rep->population_known && rp_per_unit_cents(t.grand, rep->population, &per_capita);
	return json_pack(
	    "{s:I, s:o, s:s, s:o, s:o, s:o, s:{s:o, s:o}, s:o, s:o, s:I, s:o, s:o, "
	    "s:o}",
	    "year", (json_int_t)rep->scope.year_n, "tenant", rp_scope_json(&rep->scope), "currency",
	    "EUR", "channels", channels, "rows", rows, "column_totals", columns,
	    "management_totals", "single", rp_money_json(true, t.management[RS_SINGLE]),
	    "associated", rp_money_json(true, t.management[RS_ASSOCIATED]), "grand_total",
	    rp_money_json(true, t.grand), "composition_percent", composition, "users",
	    (json_int_t)rep->users_total, "spending_per_user", rp_money_json(pu_ok, per_user_all),
	    "population", rep->population_known ? json_integer(rep->population) : json_null(),
	    "per_capita", rp_money_json(pc_ok, per_capita));
}

/* ---------------------------------------------------------------- the table */

int rp_grid_init(struct arena *a, struct rp_grid *g, size_t rows, size_t cols)
{
	g->rows = rows;
	g->cols = cols;
	g->cell = arena_alloc(a, rows * cols * sizeof *g->cell);
	if (g->cell == NULL)
		return -1;
	memset(g->cell, 0, rows * cols * sizeof *g->cell);
	return 0;
}

void rp_text(struct rp_grid *g, size_t r, size_t c, const char *text)
{
	if (r < g->rows && c < g->cols) {
		g->cell[r * g->cols + c].kind = RC_TEXT;
		g->cell[r * g->cols + c].text = text;
	}
}

void rp_num(struct rp_grid *g, size_t r, size_t c, enum rp_cell_kind kind, int64_t v)
{
	if (r < g->rows && c < g->cols) {
		g->cell[r * g->cols + c].kind = kind;
		g->cell[r * g->cols + c].v = v;
	}
}

/* The regional table: a header, one row per area, then the rows "totale",
 * "composizione_percentuale", "popolazione", "spesa_pro_capite". Columns:
 * area, etichetta, one per channel, totale, percentuale, gestione_singola,
 * gestione_associata, utenti, spesa_per_utente. */
int rs_grid(struct arena *a, const struct rs_report *rep, struct rp_grid *g)
{
	static const char *const tail[] = {"totale",           "percentuale",
	                                   "gestione_singola", "gestione_associata",
	                                   "utenti",           "spesa_per_utente"};
	size_t nc = rep->nchannels;
	if (rp_grid_init(a, g, rep->nareas + 5, nc + 8) != 0)
		return -1;
	struct rs_totals t;
	rs_totals(rep, &t);
	rp_text(g, 0, 0, "area");
	rp_text(g, 0, 1, "etichetta");
	for (size_t c = 0; c < nc; c++)
		rp_text(g, 0, 2 + c, rep->channel[c].code);
	for (size_t i = 0; i < 6; i++)
		rp_text(g, 0, nc + 2 + i, tail[i]);
	int64_t v;
	for (size_t r = 0; r < rep->nareas; r++) {
		size_t row = r + 1;
		rp_text(g, row, 0, rep->area[r].code);
		rp_text(g, row, 1, rep->area[r].label);
		for (size_t c = 0; c < nc; c++)
			rp_num(g, row, 2 + c, RC_MONEY, rep->cell[r][c]);
		rp_num(g, row, nc + 2, RC_MONEY, t.row[r]);
		if (rp_percent_tenths(t.row[r], t.grand, &v))
			rp_num(g, row, nc + 3, RC_PERCENT, v);
		rp_num(g, row, nc + 4, RC_MONEY, rep->management[r][RS_SINGLE]);
		rp_num(g, row, nc + 5, RC_MONEY, rep->management[r][RS_ASSOCIATED]);
		rp_num(g, row, nc + 6, RC_COUNT, rep->users[r]);
		if (rp_per_unit_cents(t.row[r], rep->users[r], &v))
			rp_num(g, row, nc + 7, RC_MONEY, v);
	}
	size_t tot = rep->nareas + 1, pct = tot + 1, pop = pct + 1, cap = pop + 1;
	rp_text(g, tot, 0, "totale");
	rp_text(g, tot, 1, "Totale");
	rp_text(g, pct, 0, "composizione_percentuale");
	rp_text(g, pct, 1, "Composizione percentuale");
	for (size_t c = 0; c < nc; c++) {
		rp_num(g, tot, 2 + c, RC_MONEY, t.column[c]);
		if (rp_percent_tenths(t.column[c], t.grand, &v))
			rp_num(g, pct, 2 + c, RC_PERCENT, v);
	}
	rp_num(g, tot, nc + 2, RC_MONEY, t.grand);
	rp_num(g, tot, nc + 4, RC_MONEY, t.management[RS_SINGLE]);
	rp_num(g, tot, nc + 5, RC_MONEY, t.management[RS_ASSOCIATED]);
	rp_num(g, tot, nc + 6, RC_COUNT, rep->users_total);
	if (rp_per_unit_cents(t.grand, rep->users_total, &v))
		rp_num(g, tot, nc + 7, RC_MONEY, v);
	rp_text(g, pop, 0, "popolazione");
	rp_text(g, pop, 1, "Popolazione residente");
	rp_text(g, cap, 0, "spesa_pro_capite");
	rp_text(g, cap, 1, "Spesa pro capite");
	if (rep->population_known) {
		rp_num(g, pop, nc + 2, RC_COUNT, rep->population);
		if (rp_per_unit_cents(t.grand, rep->population, &v))
			rp_num(g, cap, nc + 2, RC_MONEY, v);
	}
	return 0;
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

/* Text quoted for CSV when it holds a separator, a quote or a line break
 * (RFC 4180): arena-owned then, else text itself. NULL on OOM. */
static const char *csv_quote(struct arena *a, const char *text)
{
	if (strpbrk(text, ",\"\r\n") == NULL)
		return text;
	size_t n = strlen(text);
	char *q = arena_alloc(a, 2 * n + 3), *p = q;
	if (q == NULL)
		return NULL;
	*p++ = '"';
	for (const char *s = text; *s; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return q;
}

/* One cell as CSV text: out (size >= 32) for numbers, else the (quoted)
 * text. NULL on OOM. */
static const char *csv_cell(struct arena *a, const struct rp_cell *c, char *out, size_t outsz)
{
	out[0] = '\0';
	if (c->kind == RC_TEXT)
		return csv_quote(a, c->text);
	if (c->kind == RC_MONEY)
		validate_format_cents(c->v, out, (unsigned)outsz);
	else if (c->kind == RC_PERCENT)
		snprintf(out, outsz, "%lld.%lld", (long long)(c->v / 10), (long long)(c->v % 10));
	else if (c->kind == RC_COUNT)
		snprintf(out, outsz, "%lld", (long long)c->v);
	return out;
}

const char *rp_grid_csv(struct arena *a, const struct rp_grid *g, size_t *len)
{
	size_t cap = 0;
	char *buf = NULL;
	*len = 0;
	for (size_t r = 0; r < g->rows; r++) {
		for (size_t c = 0; c < g->cols; c++) {
			char tmp[64];
			const char *s = csv_cell(a, &g->cell[r * g->cols + c], tmp, sizeof tmp);
			if (s == NULL || (c > 0 && buf_put(a, &buf, len, &cap, ",") != 0) ||
			    buf_put(a, &buf, len, &cap, s) != 0)
				return NULL;
		}
		if (buf_put(a, &buf, len, &cap, "\r\n") != 0)
			return NULL;
	}
	return buf;
}

/* Writes the grid into a new workbook at path. Returns 0 or -1. */
static int xlsx_write(const char *path, const struct rp_grid *g, const char *sheet)
{
	lxw_workbook *wb = workbook_new(path);
	if (wb == NULL)
		return -1;
	int rc = 0;
	lxw_worksheet *ws = workbook_add_worksheet(wb, sheet);
	lxw_format *money = workbook_add_format(wb), *pct = workbook_add_format(wb),
	           *bold = workbook_add_format(wb);
	if (ws == NULL || money == NULL || pct == NULL || bold == NULL) {
		rc = -1;
		goto out;
	}
	format_set_num_format(money, "#,##0.00");
	format_set_num_format(pct, "0.0");
	format_set_bold(bold);
	for (size_t r = 0; r < g->rows && rc == 0; r++) {
		for (size_t c = 0; c < g->cols && rc == 0; c++) {
			const struct rp_cell *x = &g->cell[r * g->cols + c];
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

const char *rp_grid_xlsx(struct arena *a, const struct rp_grid *g, const char *sheet, size_t *len)
{
	const char *data = NULL;
	const char *dir = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/cartella-report-XXXXXX", dir && dir[0] ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	if (xlsx_write(path, g, sheet) == 0)
		data = read_all(a, path, len);
	unlink(path);
	close(fd);
	return data;
}
