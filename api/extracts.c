/* POST /api/v1/extracts: pseudonymised extracts for the planning office
 * (DESIGN §7.6, docs/reporting.md). Predefined tables only, each a count
 * table with its margins under small-cell suppression (extract_suppress.c),
 * and one microdata table whose rows carry a per-purpose pseudonym instead
 * of the person: a keyed BLAKE2b of the person under a subkey of the
 * requesting tenant's index key and the purpose, which nobody outside the
 * server holds. No name, fiscal code, address or date of a person leaves
 * this file. Restricted persons, sealed persons, persons with a sealed case
 * and the interventions of sealed cases never appear
 * (app.extract_interventions, schema/022_extracts.sql). Every extract is
 * registered in extract_run and audited with its purpose. */
#include "api/api.h"
#include "api/extracts.h"
#include "api/reports.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"
#include "server/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EX_MAX_COLS       64
#define EX_PSEUDONYM_LEN  16
#define EX_PURPOSE_MAX    64
#define EX_MICRO_FIELDS   13
#define EX_SUPPRESSED_CSV "x"

/* A predefined table: its name, the dimensions of its rows, the dimension of
 * its columns and the columns it always has. */
struct ex_def {
	const char *name;
	const char *row_dims[3];
	size_t nrow_dims;
	const char *col_dim;
	const char *fixed_cols[3];
};

static const struct ex_def ex_defs[] = {
    {"users_by_area_age_sex", {"tenant", "regional_area", "age_band"}, 3, "sex", {"F", "M", NULL}},
    {"interventions_by_service_tenant", {"service", NULL, NULL}, 1, "tenant", {NULL}},
};

#define EX_MICRODATA "users_microdata"

static const char *const ex_micro_fields[EX_MICRO_FIELDS] = {
    "pseudonym", "tenant", "age_band", "sex",       "regional_area", "istat_area", "service",
    "inps_code", "nature", "months",   "in_charge", "user_area",     "means_test",
};

static const struct db_stmt st_cells = {
    "extracts_cells",
    "SELECT array_to_string(row_key, '|'), col, n, sensitive "
    "FROM app.extract_cells($1, $2, $3) ORDER BY 1, 2",
};

static const struct db_stmt st_micro = {
    "extracts_microdata",
    "SELECT tenant_id, tenant_code, person_id, age_band, sex, regional_area, istat_area, "
    "service_code, inps_code, nature, months, in_charge, user_area, means_test "
    "FROM app.extract_microdata($1, $2)",
};

static const struct db_stmt st_register = {
    "extracts_register",
    "INSERT INTO extract_run (tenant_id, id, scope_tenant_id, table_name, year, purpose, "
    "row_count, suppressed, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
};

/* What the request asks (strings borrowed from the body). */
struct ex_request {
	const char *table, *purpose, *tenant;
	const struct ex_def *def; /* NULL for the microdata */
	struct rp_scope scope;
	char id[UTIL_UUID_LEN + 1];
};

/* True when s is a purpose identifier: 3-64 of [a-z0-9-], not starting with
 * a hyphen. */
static bool ex_purpose_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 3 && n <= EX_PURPOSE_MAX && s[0] != '-' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* Reads and checks the body into *in. Returns 0, or 1 after replying 400. */
static int ex_read(struct http_req *req, struct ex_request *in)
{
	long long year = 0;
	const struct jsonx_field spec[] = {
	    {"table", JX_STRING, JX_REQUIRED, 1, 64, &in->table, NULL},
	    {"year", JX_INT, JX_REQUIRED, 0, 0, &year, NULL},
	    {"purpose", JX_STRING, JX_REQUIRED, 1, EX_PURPOSE_MAX, &in->purpose, NULL},
	    {"tenant", JX_STRING, 0, 1, 32, &in->tenant, NULL},
	};
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (in->table != NULL) {
		for (size_t i = 0; i < sizeof ex_defs / sizeof ex_defs[0]; i++)
			if (strcmp(in->table, ex_defs[i].name) == 0)
				in->def = &ex_defs[i];
		if (in->def == NULL && strcmp(in->table, EX_MICRODATA) != 0)
			jsonx_error(
			    errors, "table", "enum",
			    "uno tra users_by_area_age_sex, interventions_by_service_tenant, "
			    "users_microdata");
	}
	if (json_is_integer(json_object_get(req->json, "year")) && (year < 2000 || year > 2100))
		jsonx_error(errors, "year", "range", "anno da 2000 a 2100");
	if (in->purpose != NULL && !ex_purpose_ok(in->purpose))
		jsonx_error(
		    errors, "purpose", "format",
		    "identificativo della finalità: da 3 a 64 caratteri tra a-z, 0-9 e '-', "
		    "senza dati personali");
	if (json_array_size(errors) > 0) {
		http_reply_validation(req, errors);
		return 1;
	}
	json_decref(errors);
	snprintf(in->scope.year, sizeof in->scope.year, "%04lld", year);
	return 0;
}

/* Registers the extract (rows, suppressed cells) and its audit event with
 * the purpose. Returns a db_rc. */
static int ex_register(struct http_req *req, const struct ex_request *in, size_t rows,
                       long suppressed)
{
	char srows[24], ssupp[24];
	snprintf(srows, sizeof srows, "%zu", rows);
	snprintf(ssupp, sizeof ssupp, "%ld", suppressed);
	const char *p[9] = {req->principal.tenant_id,
	                    in->id,
	                    in->scope.tenant_id,
	                    in->table,
	                    in->scope.year,
	                    in->purpose,
	                    srows,
	                    ssupp,
	                    req->principal.user_id[0] ? req->principal.user_id : NULL};
	int rc = db_exec(req->arena, &st_register, 9, p, NULL);
	if (rc == DB_OK && (http_audit_object(req, "extract", in->id) != 0 ||
	                    http_audit_purpose(req, in->purpose) != 0))
		rc = DB_ERROR;
	return rc;
}

/* The common head of an extract's JSON (new reference). */
static json_t *ex_head(const struct ex_request *in)
{
	return json_pack("{s:s, s:s, s:I, s:o, s:s}", "extract_id", in->id, "table", in->table,
	                 "year", (json_int_t)in->scope.year_n, "tenant", rp_scope_json(&in->scope),
	                 "purpose", in->purpose);
}

/* ---------------------------------------------------------------- tables */

/* The table's columns: the fixed ones, then every other value of r's
 * column 1 in order. Returns the count, or EX_MAX_COLS + 1 when there are
 * too many. */
static size_t ex_columns(const struct ex_def *def, PGresult *r, const char **col)
{
	size_t n = 0;
	for (; n < 3 && def->fixed_cols[n] != NULL; n++)
		col[n] = def->fixed_cols[n];
	for (int i = 0; i < PQntuples(r); i++) {
		const char *c = PQgetvalue(r, i, 1);
		size_t j = 0;
		while (j < n && strcmp(col[j], c) != 0)
			j++;
		if (j < n)
			continue;
		if (n == EX_MAX_COLS)
			return EX_MAX_COLS + 1;
		/* insertion in order */
		for (j = n; j > 0 && strcmp(col[j - 1], c) > 0 && def->fixed_cols[0] == NULL; j--)
			col[j] = col[j - 1];
		col[j] = c;
		n++;
	}
	return n;
}

/* A cell of the table as JSON: its count, or null when suppressed. */
static json_t *ex_cell_json(const struct ex_table *t, size_t r, size_t c)
{
	size_t i = ex_at(t, r, c);
	return t->state[i] != EX_PUBLISHED ? json_null() : json_integer(t->v[i]);
}

/* A cell of the table into the grid: the count, or "x" when suppressed. */
static void ex_cell_grid(const struct ex_table *t, struct rp_grid *g, size_t r, size_t c, size_t gr,
                         size_t gc)
{
	size_t i = ex_at(t, r, c);
	if (t->state[i] != EX_PUBLISHED)
		rp_text(g, gr, gc, EX_SUPPRESSED_CSV);
	else
		rp_num(g, gr, gc, RC_COUNT, t->v[i]);
}

/* The table as JSON and as the grid CSV/XLSX share. key[r] holds row r's
 * key ("a|b|c", split in place). Returns the JSON (new reference) or NULL. */
static json_t *ex_table_out(struct arena *a, const struct ex_request *in, const struct ex_table *t,
                            char **key, const char **col, struct rp_grid *g)
{
	const struct ex_def *def = in->def;
	size_t nd = def->nrow_dims, R = t->rows, C = t->cols;
	if (rp_grid_init(a, g, R + 2, nd + C + 1) != 0)
		return NULL;
	json_t *dims = json_array(), *cols = json_array(), *rows = json_array(),
	       *totals = json_object();
	for (size_t d = 0; d < nd; d++) {
		json_array_append_new(dims, json_string(def->row_dims[d]));
		rp_text(g, 0, d, def->row_dims[d]);
	}
	for (size_t c = 0; c < C; c++) {
		json_array_append_new(cols, json_string(col[c]));
		json_object_set_new(totals, col[c], ex_cell_json(t, R, c));
		rp_text(g, 0, nd + c, col[c]);
		ex_cell_grid(t, g, R, c, R + 1, nd + c);
	}
	rp_text(g, 0, nd + C, "totale");
	rp_text(g, R + 1, 0, "totale");
	ex_cell_grid(t, g, R, C, R + 1, nd + C);
	for (size_t r = 0; r < R; r++) {
		json_t *k = json_object(), *cells = json_object();
		char *save = NULL, *part = strtok_r(key[r], "|", &save);
		for (size_t d = 0; d < nd; d++, part = strtok_r(NULL, "|", &save)) {
			json_object_set_new(k, def->row_dims[d], json_string(part ? part : ""));
			rp_text(g, r + 1, d, part ? part : "");
		}
		for (size_t c = 0; c < C; c++) {
			json_object_set_new(cells, col[c], ex_cell_json(t, r, c));
			ex_cell_grid(t, g, r, c, r + 1, nd + c);
		}
		ex_cell_grid(t, g, r, C, r + 1, nd + C);
		json_array_append_new(rows, json_pack("{s:o, s:o, s:o}", "key", k, "cells", cells,
		                                      "total", ex_cell_json(t, r, C)));
	}
	json_t *o = ex_head(in);
	json_object_update_new(o, json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:{s:i, s:i}}",
	                                    "row_dimensions", dims, "column_dimension",
	                                    def->col_dim, "columns", cols, "rows", rows,
	                                    "column_totals", totals, "grand_total",
	                                    ex_cell_json(t, R, C), "thresholds", "general",
	                                    EX_THRESHOLD, "sensitive", EX_SENSITIVE_THRESHOLD));
	return o;
}

/* Loads the facts of a predefined table into t (rows keyed by key[]),
 * suppresses, registers and replies. */
static int ex_run_table(struct http_req *req, struct ex_request *in)
{
	const char *p[3] = {in->scope.tenant_id, in->scope.year, in->table};
	PGresult *r;
	int rc = db_exec(req->arena, &st_cells, 3, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	const char *col[EX_MAX_COLS];
	size_t ncols = ex_columns(in->def, r, col), nrows = 0;
	int n = PQntuples(r);
	char **key = arena_alloc(req->arena, ((size_t)n + 1) * sizeof *key);
	if (ncols > EX_MAX_COLS || key == NULL)
		return -1;
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(PQgetvalue(r, i, 0), PQgetvalue(r, i - 1, 0)) != 0)
			if ((key[nrows++] = arena_strdup(req->arena, PQgetvalue(r, i, 0))) == NULL)
				return -1;
	struct ex_table t;
	if (ex_table_init(req->arena, &t, nrows, ncols) != 0)
		return -1;
	for (int i = 0, row = -1; i < n; i++) {
		if (i == 0 || strcmp(PQgetvalue(r, i, 0), PQgetvalue(r, i - 1, 0)) != 0)
			row++;
		size_t c = 0;
		while (c < ncols && strcmp(col[c], PQgetvalue(r, i, 1)) != 0)
			c++;
		size_t at = ex_at(&t, (size_t)row, c);
		t.v[at] = atoll(PQgetvalue(r, i, 2));
		t.sensitive[at] = strcmp(PQgetvalue(r, i, 3), "t") == 0;
	}
	ex_margins(&t);
	long suppressed = ex_suppress(req->arena, &t);
	if (suppressed < 0)
		return -1;
	if ((rc = ex_register(req, in, nrows, suppressed)) != DB_OK)
		return http_reply_db_error(req, rc);
	struct rp_grid g;
	json_t *o = ex_table_out(req->arena, in, &t, key, col, &g);
	if (o == NULL)
		return -1;
	json_object_set_new(o, "suppressed_cells", json_integer(suppressed));
	return rp_reply(req, &in->scope, o, &g, "Estratto", in->table);
}

/* ---------------------------------------------------------------- microdata */

/* One row of the microdata: the pseudonym (hex) and the other fields as
 * text (borrowed from the result), in ex_micro_fields order (field[0] is
 * unused: rows move when sorted, so the pseudonym is read from the row). */
struct ex_micro_row {
	char pseudonym[2 * EX_PSEUDONYM_LEN + 1];
	const char *field[EX_MICRO_FIELDS];
};

static int ex_micro_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ex_micro_row *)a)->pseudonym,
	              ((const struct ex_micro_row *)b)->pseudonym);
}

/* The pseudonym of person person_id of tenant tenant_id under key: hex of
 * keyed BLAKE2b-128 of "<tenant>:<person>" into out. Returns 0 or -1. */
static int ex_pseudonym(const unsigned char *key, const char *tenant_id, const char *person_id,
                        char *out)
{
	unsigned char h[EX_PSEUDONYM_LEN];
	char in[2 * UTIL_UUID_LEN + 2];
	int n = snprintf(in, sizeof in, "%s:%s", tenant_id, person_id);
	if (n < 0 || (size_t)n >= sizeof in ||
	    crypto_generichash(h, sizeof h, (const unsigned char *)in, (size_t)n, key,
	                       CRYPT_SUBKEY_LEN) != 0)
		return -1;
	util_hex(h, sizeof h, out);
	return 0;
}

/* The microdata rows of r, pseudonymised under key and sorted by pseudonym
 * (so that their order tells nothing); arena-owned, NULL on failure. */
static struct ex_micro_row *ex_micro_rows(struct arena *a, PGresult *r, const unsigned char *key)
{
	size_t n = (size_t)PQntuples(r);
	struct ex_micro_row *row = arena_alloc(a, (n + 1) * sizeof *row);
	if (row == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (ex_pseudonym(key, PQgetvalue(r, (int)i, 0), PQgetvalue(r, (int)i, 2),
		                 row[i].pseudonym) != 0)
			return NULL;
		row[i].field[0] = NULL;
		row[i].field[1] = PQgetvalue(r, (int)i, 1);
		for (int f = 2; f < EX_MICRO_FIELDS; f++)
			row[i].field[f] =
			    PQgetisnull(r, (int)i, f + 1) ? NULL : PQgetvalue(r, (int)i, f + 1);
	}
	qsort(row, n, sizeof *row, ex_micro_cmp);
	return row;
}

/* Field f of a microdata row as JSON: numbers and booleans typed. */
static json_t *ex_micro_value(int f, const char *v)
{
	if (v == NULL)
		return json_null();
	if (strcmp(ex_micro_fields[f], "in_charge") == 0)
		return json_boolean(strcmp(v, "t") == 0);
	if (strcmp(ex_micro_fields[f], "months") == 0 ||
	    strcmp(ex_micro_fields[f], "user_area") == 0 ||
	    strcmp(ex_micro_fields[f], "means_test") == 0)
		return json_integer(atoll(v));
	return json_string(v);
}

/* Runs the microdata extract, registers it and replies. */
static int ex_run_microdata(struct http_req *req, struct ex_request *in)
{
	const char *p[2] = {in->scope.tenant_id, in->scope.year};
	PGresult *r;
	int rc = db_exec(req->arena, &st_micro, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	unsigned char key[CRYPT_SUBKEY_LEN];
	const char *label = arena_printf(req->arena, "extract-pseudonym|%s", in->purpose);
	if (label == NULL)
		return -1;
	rc = crypt_tenant_subkey(req->arena, req->principal.tenant_id, label, key);
	struct ex_micro_row *row = rc == DB_OK ? ex_micro_rows(req->arena, r, key) : NULL;
	sodium_memzero(key, sizeof key);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	size_t n = (size_t)PQntuples(r);
	struct rp_grid g;
	if (row == NULL || rp_grid_init(req->arena, &g, n + 1, EX_MICRO_FIELDS) != 0)
		return -1;
	if ((rc = ex_register(req, in, n, 0)) != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *fields = json_array(), *rows = json_array();
	for (int f = 0; f < EX_MICRO_FIELDS; f++) {
		json_array_append_new(fields, json_string(ex_micro_fields[f]));
		rp_text(&g, 0, (size_t)f, ex_micro_fields[f]);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		for (int f = 0; f < EX_MICRO_FIELDS; f++) {
			const char *v = f == 0 ? row[i].pseudonym : row[i].field[f];
			json_object_set_new(o, ex_micro_fields[f], ex_micro_value(f, v));
			rp_text(&g, i + 1, (size_t)f, v ? v : "");
		}
		json_array_append_new(rows, o);
	}
	json_t *o = ex_head(in);
	json_object_update_new(o, json_pack("{s:o, s:o}", "fields", fields, "rows", rows));
	return rp_reply(req, &in->scope, o, &g, "Microdati", in->table);
}

/* POST /api/v1/extracts {table, year, purpose, tenant?} */
int api_extract_run(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct ex_request in;
	memset(&in, 0, sizeof in);
	if (ex_read(req, &in))
		return 0;
	int rc = rp_scope_resolve(req, in.tenant, &in.scope);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	util_uuid_v4(in.id);
	return in.def != NULL ? ex_run_table(req, &in) : ex_run_microdata(req, &in);
}
