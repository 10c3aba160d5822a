/* GET /api/v1/reports/data-quality?flow=siuss|sinba|regional-spending&year=
 * (DESIGN §7.7): the records of the caller's tenant each flow would refuse
 * or mis-report, one row per record and rule, so that the staff who fix
 * records can do so before the deadline. Every rule is the one the flow
 * applies, run by the same code (api/waas.c, api/sinba.c): this file only
 * chooses the records of the year and writes the rows. Rows name records
 * by id (intervention, person, case), never by name (docs/reporting.md). */
#include "api/api.h"
#include "api/reports.h"
#include "api/sinba.h"
#include "api/waas.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rows being collected. */
struct dq_rows {
	struct http_req *req;
	json_t *items; /* borrowed */
	size_t n;
};

static const char *const dq_header[] = {"record_type", "record_id", "person_id", "case_id",
                                        "rule",        "severity",  "message"};
#define DQ_COLS (sizeof dq_header / sizeof dq_header[0])

/* waas_finding_fn: appends one row; a finding on a person's record is a
 * read of that person's data (audited). Returns a db_rc. */
static int dq_add(void *ctx, const char *record_type, const char *record_id, const char *person_id,
                  const char *case_id, const struct waas_issue *issue)
{
	struct dq_rows *rows = ctx;
	json_t *row = json_pack(
	    "{s:s, s:s, s:s?, s:s?, s:s, s:s, s:s}", "record_type", record_type, "record_id",
	    record_id, "person_id", person_id, "case_id", case_id, "rule", issue->rule, "severity",
	    issue->refusal ? "refusal" : "misreport", "message", issue->message);
	if (row == NULL || json_array_append_new(rows->items, row) != 0)
		return DB_ERROR;
	rows->n++;
	if (person_id != NULL && http_audit_object(rows->req, "person", person_id) != 0)
		return DB_ERROR;
	return DB_OK;
}

/* The tenant-level finding of the INPS flows: a Comune without a Belfiore
 * code or operator fiscal code sends no flow at all. Returns a db_rc. */
static int dq_ente(struct dq_rows *rows)
{
	struct waas_ente ente;
	bool ok;
	int rc = waas_ente_load(rows->req, &ente, &ok);
	if (rc != DB_OK || ok)
		return rc;
	struct waas_issue issue = {"ente_not_configured",
	                           "Ente senza codice Belfiore o codice fiscale dell'operatore: "
	                           "nessun flusso verso INPS",
	                           true};
	return dq_add(rows, "tenant", rows->req->principal.tenant_id, NULL, NULL, &issue);
}

/* The records app.year_interventions counts for the regional spending
 * report, with what its rules read. */
static const struct db_stmt st_regional = {
    "dq_regional",
    "SELECT i.id, i.beneficiary_id, i.case_id, i.nature, to_char(i.end_date, 'YYYY-MM-DD'), "
    "i.status, i.monthly_amount_cents, i.total_amount_cents, i.share_tenant_cents, "
    "i.share_user_cents, i.share_health_cents, "
    "coalesce(i.share_user_cents, 0) <> coalesce((SELECT f.amount_cents "
    "   FROM intervention_funding f WHERE f.tenant_id = i.tenant_id "
    "   AND f.intervention_id = i.id AND f.channel = 'utenza'), 0) "
    "FROM app.year_interventions($1, $2::int) y "
    "JOIN intervention i ON i.tenant_id = $1 AND i.id = y.id ORDER BY i.created_at, i.id",
};

/* The regional spending flow's pass: the period rule shared with the PS
 * flow, and the users' co-payment told twice (shares.user for the ISTAT
 * survey and SIUSS, the utenza funding channel for the Region) that
 * differs. Returns a db_rc. */
static int dq_regional(struct dq_rows *rows, const char *year)
{
	PGresult *r;
	const char *p[2] = {rows->req->principal.tenant_id, year};
	int rc = db_exec(rows->req->arena, &st_regional, 2, p, &r);
#define COL(c) (PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c))
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++) {
		struct waas_money m = {COL(3), COL(4), COL(5), COL(6),
		                       COL(7), COL(8), COL(9), COL(10)};
		struct waas_issues is = {.n = 0};
		waas_period_checks(&m, &is);
		if (PQgetvalue(r, i, 11)[0] == 't')
			waas_issue_add(
			    &is, "user_share_vs_utenza",
			    "la quota dell'utente (shares.user) differisce dal canale di "
			    "finanziamento utenza: la compartecipazione risulta diversa "
			    "nei due rapporti",
			    false);
		for (size_t k = 0; rc == DB_OK && k < is.n; k++)
			rc = dq_add(rows, "intervention", COL(0), COL(1), COL(2), &is.v[k]);
	}
#undef COL
	return rc;
}

static const struct db_stmt st_tenant = {
    "dq_tenant",
    "SELECT code, name, kind FROM tenant WHERE id = $1",
};

/* The report as the CSV table: the header, then one line per row. Returns
 * 0 or -1 (OOM). */
static int dq_grid(struct arena *a, json_t *items, struct rp_grid *g)
{
	if (rp_grid_init(a, g, json_array_size(items) + 1, DQ_COLS) != 0)
		return -1;
	for (size_t c = 0; c < DQ_COLS; c++)
		rp_text(g, 0, c, dq_header[c]);
	size_t i;
	json_t *row;
	json_array_foreach(items, i, row)
	{
		for (size_t c = 0; c < DQ_COLS; c++) {
			const char *v = json_string_value(json_object_get(row, dq_header[c]));
			if (v != NULL)
				rp_text(g, i + 1, c, arena_strdup(a, v));
		}
	}
	return 0;
}

/* GET /api/v1/reports/data-quality?flow=&year= */
int api_report_data_quality(struct http_req *req)
{
	static const char *const flows[] = {"siuss", "sinba", "regional-spending"};
	const char *flow = http_query(req, "flow");
	size_t f = 0;
	while (f < 3 && (flow == NULL || strcmp(flow, flows[f]) != 0))
		f++;
	if (f == 3)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "flow obbligatorio: siuss, sinba o regional-spending");
	struct rp_scope sc;
	memset(&sc, 0, sizeof sc);
	if (api_year_param(req, true, sc.year, sizeof sc.year))
		return 0;
	PGresult *t;
	const char *tp[1] = {req->principal.tenant_id};
	int rc = db_exec(req->arena, &st_tenant, 1, tp, &t);
	if (rc != DB_OK || PQntuples(t) != 1)
		return http_reply_db_error(req, rc == DB_OK ? DB_ERROR : rc);
	sc.tenant_id = req->principal.tenant_id;
	sc.code = PQgetvalue(t, 0, 0);
	sc.name = PQgetvalue(t, 0, 1);
	sc.kind = PQgetvalue(t, 0, 2);
	json_t *items = json_array();
	json_t *body = json_pack("{s:s, s:i, s:o, s:o}", "flow", flows[f], "year", atoi(sc.year),
	                         "tenant", rp_scope_json(&sc), "items", items);
	if (body == NULL)
		return -1;
	struct dq_rows rows = {req, items, 0};
	char from[16], to[16];
	snprintf(from, sizeof from, "%s-01-01", sc.year);
	snprintf(to, sizeof to, "%s-12-31", sc.year);
	if (f == 2)
		rc = dq_regional(&rows, sc.year);
	else if ((rc = dq_ente(&rows)) == DB_OK)
		rc = f == 0 ? waas_ps_quality(req, from, to, dq_add, &rows)
		            : sinba_quality(req, from, to, dq_add, &rows);
	if (rc != DB_OK) {
		json_decref(body);
		if (rc == CRYPT_INTEGRITY)
			return http_reply_problem(req, PROBLEM_INTERNAL, NULL);
		return http_reply_db_error(req, rc);
	}
	json_object_set_new(body, "count", json_integer((json_int_t)rows.n));
	struct rp_grid grid;
	if (dq_grid(req->arena, items, &grid) != 0) {
		json_decref(body);
		return -1;
	}
	char stem[48];
	snprintf(stem, sizeof stem, "qualita-dati-%s", flows[f]);
	return rp_reply(req, &sc, body, &grid, "Qualità dei dati", stem);
}
