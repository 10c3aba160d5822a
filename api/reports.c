/* The reports' shared plumbing (scope and access, the reply in the format
 * the client accepts) and /api/v1/reports/regional-spending: a year's social spending of a Comune
 * or of the whole Ambito by regional spending area x funding channel and by
 * management, with the distinct users per area and the per-user and
 * per-capita figures (Regione Lombardia; DESIGN §7.1, docs/reporting.md).
 * The facts come from app.spending_facts (schema/015_spending.sql), which
 * returns aggregates only: the handler never reads an intervention or a
 * person row, and the Ambito's planning office gets sums and counts of its
 * member Comuni without any row access to them. */
#include "api/api.h"
#include "api/reports.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XLSX_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

static const struct db_stmt st_tenant = {
    "reports_tenant",
    "SELECT id, code, name, kind, parent_id FROM tenant "
    "WHERE ($1::text IS NULL AND id = $2) OR code = $1",
};

static const struct db_stmt st_codes = {
    "reports_codes",
    "SELECT code, label_it FROM code WHERE list = $1 ORDER BY position, code",
};

static const struct db_stmt st_facts = {
    "reports_spending_facts",
    "SELECT kind, area, channel, management, amount FROM app.spending_facts($1, $2)",
};

enum { T_ID, T_CODE, T_NAME, T_KIND, T_PARENT };
enum { F_KIND, F_AREA, F_CHANNEL, F_MANAGEMENT, F_AMOUNT };

int rp_scope_read(struct http_req *req, struct rp_scope *sc)
{
	if (api_year_param(req, false, sc->year, sizeof sc->year))
		return 1;
	return rp_scope_resolve(req, http_query(req, "tenant"), sc);
}

int rp_scope_resolve(struct http_req *req, const char *code, struct rp_scope *sc)
{
	if (sc->year[0] == '\0') { /* the last complete year */
		time_t now = time(NULL);
		struct tm tm;
		if (gmtime_r(&now, &tm) == NULL)
			return -1;
		int last = tm.tm_year + 1900 - 1;
		snprintf(sc->year, sizeof sc->year, "%04d", last < 2000 ? 2000 : last % 10000);
	}
	sc->year_n = atoll(sc->year);
	if (code != NULL &&
	    (strlen(code) < 2 || strlen(code) > 32 ||
	     strspn(code, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(code))) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   "tenant: codice di un Comune (codice ISTAT) o dell'Ambito");
		return 1;
	}
	const char *p[2] = {code, req->principal.tenant_id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_tenant, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) != 1) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER, "tenant: ente sconosciuto");
		return 1;
	}
	bool own = strcmp(PQgetvalue(r, 0, T_ID), req->principal.tenant_id) == 0;
	bool member = strcmp(PQgetvalue(r, 0, T_PARENT), req->principal.tenant_id) == 0;
	bool ambito = strcmp(PQgetvalue(r, 0, T_KIND), "ambito") == 0;
	bool planning = policy_has_role(req->principal.roles, ROLE_PLANNING_OFFICE);
	if (!own && !member) {
		http_reply_problem(req, PROBLEM_FORBIDDEN,
		                   "il rapporto di un ente fuori dall'ente della sessione");
		return 1;
	}
	if ((member || ambito) && !planning) {
		http_reply_problem(req, PROBLEM_FORBIDDEN,
		                   "i dati aggregati di più Comuni sono dell'Ufficio di Piano "
		                   "(ruolo planning_office)");
		return 1;
	}
	sc->tenant_id = arena_strdup(req->arena, PQgetvalue(r, 0, T_ID));
	sc->code = arena_strdup(req->arena, PQgetvalue(r, 0, T_CODE));
	sc->name = arena_strdup(req->arena, PQgetvalue(r, 0, T_NAME));
	sc->kind = arena_strdup(req->arena, PQgetvalue(r, 0, T_KIND));
	return (sc->tenant_id && sc->code && sc->name && sc->kind) ? 0 : -1;
}

json_t *rp_scope_json(const struct rp_scope *sc)
{
	return json_pack("{s:s, s:s, s:s}", "code", sc->code, "name", sc->name, "kind", sc->kind);
}

/* True when the Accept header (may be NULL) names media type. */
static bool accepts(const char *accept, const char *type)
{
	return accept != NULL && strstr(accept, type) != NULL;
}

int rp_reply(struct http_req *req, const struct rp_scope *sc, json_t *json,
             const struct rp_grid *grid, const char *sheet, const char *stem)
{
	const char *accept = http_header(req, "Accept");
	const char *ext = NULL, *type = NULL, *body = NULL;
	size_t len = 0;
	if (accepts(accept, "text/csv")) {
		ext = "csv";
		type = "text/csv; charset=utf-8";
		body = rp_grid_csv(req->arena, grid, &len);
	} else if (accepts(accept, XLSX_TYPE)) {
		ext = "xlsx";
		type = XLSX_TYPE;
		body = rp_grid_xlsx(req->arena, grid, sheet, &len);
	} else {
		return http_reply_json(req, 200, json);
	}
	json_decref(json);
	if (body == NULL)
		return -1;
	const char *disposition = arena_printf(req->arena, "attachment; filename=\"%s-%s-%s.%s\"",
	                                       stem, sc->year, sc->code, ext);
	if (disposition == NULL || http_add_header(req, "Content-Disposition", disposition) != 0)
		return -1;
	return http_reply_text(req, 200, type, body, len);
}

/* Loads the code list list into codes[] (*n of them). Returns a db_rc. */
static int report_codes(struct http_req *req, const char *list, struct rs_code *codes, size_t *n)
{
	const char *p[1] = {list};
	PGresult *r;
	int rc = db_exec(req->arena, &st_codes, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	*n = 0;
	for (int i = 0; i < PQntuples(r) && *n < RS_MAX_CODES; i++, (*n)++) {
		codes[*n].code = arena_strdup(req->arena, PQgetvalue(r, i, 0));
		codes[*n].label = arena_strdup(req->arena, PQgetvalue(r, i, 1));
		if (codes[*n].code == NULL || codes[*n].label == NULL)
			return DB_ERROR;
	}
	return DB_OK;
}

/* The index of code in codes[0..n), or -1. */
static int code_index(const struct rs_code *codes, size_t n, const char *code)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(codes[i].code, code) == 0)
			return (int)i;
	return -1;
}

/* Adds the facts of the report's scope into rep. Returns a db_rc. */
static int report_facts(struct http_req *req, struct rs_report *rep)
{
	const char *p[2] = {rep->scope.tenant_id, rep->scope.year};
	PGresult *r;
	int rc = db_exec(req->arena, &st_facts, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	rep->population_known = true;
	bool any_population = false;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *kind = PQgetvalue(r, i, F_KIND);
		long long amount =
		    PQgetisnull(r, i, F_AMOUNT) ? -1 : atoll(PQgetvalue(r, i, F_AMOUNT));
		int a = PQgetisnull(r, i, F_AREA)
		            ? -1
		            : code_index(rep->area, rep->nareas, PQgetvalue(r, i, F_AREA));
		if (strcmp(kind, "population") == 0) {
			any_population = true;
			if (amount < 0)
				rep->population_known = false;
			else
				rep->population += amount;
		} else if (strcmp(kind, "users") == 0) {
			if (PQgetisnull(r, i, F_AREA))
				rep->users_total += amount;
			else if (a >= 0)
				rep->users[a] += amount;
		} else {
			int c =
			    code_index(rep->channel, rep->nchannels, PQgetvalue(r, i, F_CHANNEL));
			int m = strcmp(PQgetvalue(r, i, F_MANAGEMENT), "associated") == 0
			            ? RS_ASSOCIATED
			            : RS_SINGLE;
			if (a < 0 || c < 0)
				return DB_ERROR; /* a code the lists do not hold: never expected */
			rep->cell[a][c] += amount;
			rep->management[a][m] += amount;
		}
	}
	/* An Ambito alone (no member Comuni) has no population of its own. */
	rep->population_known = rep->population_known && any_population;
	return DB_OK;
}

int rs_load(struct http_req *req, struct rs_report *rep)
{
	int rc = report_codes(req, "regional-spending-areas", rep->area, &rep->nareas);
	if (rc == DB_OK)
		rc = report_codes(req, "funding-channels", rep->channel, &rep->nchannels);
	if (rc == DB_OK)
		rc = report_facts(req, rep);
	return rc;
}

/* GET /api/v1/reports/regional-spending?year=&tenant= */
int api_report_regional_spending(struct http_req *req)
{
	struct rs_report *rep = arena_alloc(req->arena, sizeof *rep);
	if (rep == NULL)
		return -1;
	memset(rep, 0, sizeof *rep);
	int rc = rp_scope_read(req, &rep->scope);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	rc = rs_load(req, rep);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	struct rp_grid grid;
	char sheet[32];
	snprintf(sheet, sizeof sheet, "Spesa sociale %s", rep->scope.year);
	if (rs_grid(req->arena, rep, &grid) != 0)
		return -1;
	return rp_reply(req, &rep->scope, rs_json(rep), &grid, sheet, "spesa-sociale");
}
