/* /api/v1/population/{tenant}/{year}: a Comune's residents on 1 January of
 * a year by sex and age band (ISTAT demographic data, not personal), for the
 * per-capita figures of the reports. An administrator loads a whole year at
 * once (PUT replaces it, with If-Match once the year exists): the Comune's
 * own administrator, or its Ambito's. {tenant} is the
 * Comune's tenant code (its ISTAT code); a Comune outside the caller's scope
 * (not the caller's tenant nor one of its member Comuni) answers 404. */
#include "api/api.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POP_MAX_ROWS 64

static const struct db_stmt st_scope_tenant = {
    "tenant_year_target",
    "SELECT id, kind FROM tenant WHERE code = $2 AND (id = $1 OR parent_id = $1)",
};

static const struct db_stmt st_rows = {
    "population_rows",
    "SELECT sex, age_from, age_to, residents, version FROM population "
    "WHERE tenant_id = $1 AND year = $2 ORDER BY sex DESC, age_from",
};

static const struct db_stmt st_version = {
    "population_version",
    "SELECT max(version) FROM population WHERE tenant_id = $1 AND year = $2",
};

static const struct db_stmt st_delete = {
    "population_delete",
    "DELETE FROM population WHERE tenant_id = $1 AND year = $2",
};

static const struct db_stmt st_insert = {
    "population_insert",
    "INSERT INTO population (tenant_id, year, sex, age_from, age_to, residents, loaded_by, "
    "version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
};

int api_tenant_year_target(struct http_req *req, bool allow_ambito, const char **tenant_id,
                           char *year, size_t yearsz)
{
	const char *code = http_param(req, 0), *y = http_param(req, 1);
	if (!api_year_ok(y)) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   "year: anno di quattro cifre, 2000-2100");
		return 1;
	}
	snprintf(year, yearsz, "%s", y);
	const char *p[2] = {req->principal.tenant_id, code};
	PGresult *r;
	int rc = db_exec(req->arena, &st_scope_tenant, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) != 1) {
		http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
		return 1;
	}
	if (!allow_ambito && strcmp(PQgetvalue(r, 0, 1), "comune") != 0) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   "la popolazione si carica per Comune: quella dell'Ambito è la "
		                   "somma dei suoi Comuni");
		return 1;
	}
	*tenant_id = arena_strdup(req->arena, PQgetvalue(r, 0, 0));
	return *tenant_id == NULL ? -1 : 0;
}

/* Replies with the population of tenant_id (borrowed) for year, with the
 * year's version as ETag when it has rows. */
static int population_reply(struct http_req *req, const char *tenant_id, const char *year)
{
	const char *p[2] = {tenant_id, year};
	PGresult *r;
	int rc = db_exec(req->arena, &st_rows, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *rows = json_array();
	long long total = 0;
	if (PQntuples(r) > 0)
		http_set_etag(req, atoll(PQgetvalue(r, 0, 4)));
	for (int i = 0; i < PQntuples(r); i++) {
		const char *band = PQgetisnull(r, i, 2)
		                       ? arena_printf(req->arena, "%s+", PQgetvalue(r, i, 1))
		                       : arena_printf(req->arena, "%s-%s", PQgetvalue(r, i, 1),
		                                      PQgetvalue(r, i, 2));
		long long n = atoll(PQgetvalue(r, i, 3));
		total += n;
		json_array_append_new(rows, json_pack("{s:s, s:s, s:I}", "sex", PQgetvalue(r, i, 0),
		                                      "age_band", band ? band : "", "residents",
		                                      (json_int_t)n));
	}
	return http_reply_json(req, 200,
	                       json_pack("{s:s, s:I, s:o, s:I}", "tenant", http_param(req, 0),
	                                 "year", (json_int_t)atoll(year), "rows", rows, "total",
	                                 (json_int_t)total));
}

/* GET /api/v1/population/{tenant}/{year} */
int api_population_read(struct http_req *req)
{
	const char *tenant_id;
	char year[8];
	int rc = api_tenant_year_target(req, false, &tenant_id, year, sizeof year);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return population_reply(req, tenant_id, year);
}

/* One row of the body, parsed. */
struct pop_row {
	const char *sex;
	long long from, to; /* to = -1: open band ("85+") */
	long long residents;
};

/* Parses an age band "N-M" or "N+" (0 <= N <= M <= 120). Returns true when
 * valid. */
static bool age_band_parse(const char *s, long long *from, long long *to)
{
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return false;
	*from = strtoll(s, &end, 10);
	if (strcmp(end, "+") == 0) {
		*to = -1;
		return *from <= 120;
	}
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return false;
	*to = strtoll(end + 1, &end, 10);
	return *end == '\0' && *from <= *to && *to <= 120;
}

/* True when bands a and b of the same sex share an age. */
static bool bands_overlap(const struct pop_row *a, const struct pop_row *b)
{
	long long ato = a->to < 0 ? 1000 : a->to, bto = b->to < 0 ? 1000 : b->to;
	return strcmp(a->sex, b->sex) == 0 && a->from <= bto && b->from <= ato;
}

/* Reads the body's rows into row[] (*n of them); errors are appended. */
static void population_read_body(struct http_req *req, struct pop_row *row, size_t *n,
                                 json_t *errors)
{
	json_t *rows = NULL;
	const struct jsonx_field spec[] = {
	    {"rows", JX_ARRAY, JX_REQUIRED, 1, POP_MAX_ROWS, &rows, NULL},
	};
	*n = 0;
	if (jsonx_read(req->json, "", spec, 1, errors) > 0 || rows == NULL)
		return;
	size_t i;
	json_t *v;
	json_array_foreach(rows, i, v)
	{
		char prefix[32], field[48];
		snprintf(prefix, sizeof prefix, "rows[%zu].", i);
		struct pop_row *r = &row[*n];
		const char *band = NULL;
		r->sex = NULL;
		r->residents = -1;
		const struct jsonx_field rs[] = {
		    {"sex", JX_STRING, JX_REQUIRED, 1, 1, &r->sex, NULL},
		    {"age_band", JX_STRING, JX_REQUIRED, 2, 7, &band, NULL},
		    {"residents", JX_INT, JX_REQUIRED, 0, 0, &r->residents, NULL},
		};
		if (jsonx_read(v, prefix, rs, sizeof rs / sizeof rs[0], errors) > 0)
			continue;
		bool ok = true;
		if (strcmp(r->sex, "M") != 0 && strcmp(r->sex, "F") != 0) {
			snprintf(field, sizeof field, "%ssex", prefix);
			jsonx_error(errors, field, "enum", "valori ammessi: M, F");
			ok = false;
		}
		if (!age_band_parse(band, &r->from, &r->to)) {
			snprintf(field, sizeof field, "%sage_band", prefix);
			jsonx_error(errors, field, "format",
			            "fascia d'età \"N-M\" o \"N+\" con 0 <= N <= M <= 120");
			ok = false;
		}
		if (r->residents < 0 || r->residents > 10000000) {
			snprintf(field, sizeof field, "%sresidents", prefix);
			jsonx_error(errors, field, "range", "da 0 a 10000000");
			ok = false;
		}
		for (size_t j = 0; ok && j < *n; j++) {
			if (bands_overlap(&row[j], r)) {
				snprintf(field, sizeof field, "%sage_band", prefix);
				jsonx_error(errors, field, "overlap",
				            "fascia sovrapposta a un'altra dello stesso sesso");
				ok = false;
			}
		}
		if (ok)
			(*n)++;
	}
}

/* PUT /api/v1/population/{tenant}/{year}: replaces the year's rows; once the
 * year has rows, only with If-Match naming their version (428, 412). */
int api_population_replace(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct pop_row row[POP_MAX_ROWS];
	size_t n;
	json_t *errors = jsonx_errors_new();
	population_read_body(req, row, &n, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	const char *tenant_id;
	char year[8];
	int rc = api_tenant_year_target(req, false, &tenant_id, year, sizeof year);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *dp[2] = {tenant_id, year};
	PGresult *r;
	rc = db_exec(req->arena, &st_version, 2, dp, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	long long version = 1;
	if (!PQgetisnull(r, 0, 0)) {
		long long current = atoll(PQgetvalue(r, 0, 0));
		if (http_check_if_match(req, current))
			return 0;
		version = current + 1;
	}
	char sversion[24];
	snprintf(sversion, sizeof sversion, "%lld", version);
	rc = db_exec(req->arena, &st_delete, 2, dp, &r);
	for (size_t i = 0; rc == DB_OK && i < n; i++) {
		char from[8], to[8], residents[16];
		snprintf(from, sizeof from, "%lld", row[i].from);
		snprintf(to, sizeof to, "%lld", row[i].to);
		snprintf(residents, sizeof residents, "%lld", row[i].residents);
		const char *p[8] = {tenant_id,
		                    year,
		                    row[i].sex,
		                    from,
		                    row[i].to < 0 ? NULL : to,
		                    residents,
		                    req->principal.user_id[0] ? req->principal.user_id : NULL,
		                    sversion};
		rc = db_exec(req->arena, &st_insert, 8, p, &r);
	}
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return population_reply(req, tenant_id, year);
}
