/* /api/v1/reports/istat-survey: the year's users and spending of a Comune or
 * of the whole Ambito by ISTAT user area (FAM, DIS, ELD, ADD, IMMNOM, POV,
 * MULBEN) and service of the local catalogue, with the co-payments of the
 * users and of the health service (ISTAT survey "interventi e servizi
 * sociali dei comuni singoli e associati"; DESIGN §7.4, docs/reporting.md).
 * The facts come from app.istat_facts (schema/015_spending.sql), aggregates
 * only, under the same scope rules as the regional spending report. */
#include "api/api.h"
#include "api/reports.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IS_MAX_AREAS 16

static const struct db_stmt st_areas = {
    "reports_istat_areas",
    "SELECT code, label_it FROM code WHERE list = 'istat-user-areas' ORDER BY position, code",
};

static const struct db_stmt st_facts = {
    "reports_istat_facts",
    "SELECT kind, area, service, service_name, amount FROM app.istat_facts($1, $2) "
    "ORDER BY area, service",
};

enum { F_KIND, F_AREA, F_SERVICE, F_NAME, F_AMOUNT };
enum is_measure { M_COST, M_USER, M_HEALTH, M__COUNT };

/* The figures of a service in an area, of an area, or of the whole report. */
struct is_line {
	size_t area;
	const char *code, *name; /* NULL for an area or the total */
	int64_t sum[M__COUNT];
	long long users;
};

struct is_report {
	struct rp_scope scope;
	const char *area_code[IS_MAX_AREAS], *area_label[IS_MAX_AREAS];
	size_t nareas;
	struct is_line area[IS_MAX_AREAS], total;
	struct is_line *service; /* arena-owned, nservices of them */
	size_t nservices;
};

/* The line of service code in area a, added when new; NULL when full. */
static struct is_line *service_line(struct is_report *rep, size_t cap, size_t a, const char *code,
                                    const char *name)
{
	for (size_t i = 0; i < rep->nservices; i++)
		if (rep->service[i].area == a && strcmp(rep->service[i].code, code) == 0)
			return &rep->service[i];
	if (rep->nservices == cap)
		return NULL;
	struct is_line *l = &rep->service[rep->nservices++];
	memset(l, 0, sizeof *l);
	l->area = a;
	l->code = code;
	l->name = name;
	return l;
}

/* Loads the areas and the facts of the scope into rep. Returns a db_rc. */
static int istat_load(struct http_req *req, struct is_report *rep)
{
	PGresult *r;
	int rc = db_exec(req->arena, &st_areas, 0, NULL, &r);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && rep->nareas < IS_MAX_AREAS; i++, rep->nareas++) {
		rep->area_code[rep->nareas] = arena_strdup(req->arena, PQgetvalue(r, i, 0));
		rep->area_label[rep->nareas] = arena_strdup(req->arena, PQgetvalue(r, i, 1));
		rep->area[rep->nareas].area = rep->nareas;
	}
	const char *p[2] = {rep->scope.tenant_id, rep->scope.year};
	if ((rc = db_exec(req->arena, &st_facts, 2, p, &r)) != DB_OK)
		return rc;
	size_t cap = (size_t)PQntuples(r) + 1;
	if ((rep->service = arena_alloc(req->arena, cap * sizeof *rep->service)) == NULL)
		return DB_ERROR;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *kind = PQgetvalue(r, i, F_KIND);
		long long amount = atoll(PQgetvalue(r, i, F_AMOUNT));
		size_t a = 0;
		while (a < rep->nareas && strcmp(rep->area_code[a], PQgetvalue(r, i, F_AREA)) != 0)
			a++;
		struct is_line *l = NULL;
		if (PQgetisnull(r, i, F_AREA))
			l = &rep->total; /* users across all areas */
		else if (a == rep->nareas)
			return DB_ERROR; /* an area the list does not hold: never expected */
		else if (PQgetisnull(r, i, F_SERVICE))
			l = &rep->area[a]; /* users of the area */
		else if ((l = service_line(rep, cap, a, PQgetvalue(r, i, F_SERVICE),
		                           PQgetvalue(r, i, F_NAME))) == NULL)
			return DB_ERROR;
		int m = strcmp(kind, "cost") == 0           ? M_COST
		        : strcmp(kind, "user_share") == 0   ? M_USER
		        : strcmp(kind, "health_share") == 0 ? M_HEALTH
		                                            : -1;
		if (m < 0) {
			l->users += amount;
			continue;
		}
		l->sum[m] += amount;
		rep->area[a].sum[m] += amount;
		rep->total.sum[m] += amount;
	}
	return DB_OK;
}

/* A line's figures as JSON members added to obj (borrowed). */
static void line_json(json_t *obj, const struct is_line *l)
{
	json_object_set_new(obj, "users", json_integer(l->users));
	json_object_set_new(obj, "spending", rp_money_json(true, l->sum[M_COST]));
	json_object_set_new(obj, "user_copay", rp_money_json(true, l->sum[M_USER]));
	json_object_set_new(obj, "health_copay", rp_money_json(true, l->sum[M_HEALTH]));
	json_object_set_new(
	    obj, "net", rp_money_json(true, l->sum[M_COST] - l->sum[M_USER] - l->sum[M_HEALTH]));
}

/* The report as JSON (new reference). */
static json_t *istat_json(const struct is_report *rep)
{
	json_t *areas = json_array();
	for (size_t a = 0; a < rep->nareas; a++) {
		json_t *services = json_array();
		for (size_t i = 0; i < rep->nservices; i++) {
			if (rep->service[i].area != a)
				continue;
			json_t *s = json_pack("{s:s, s:s}", "code", rep->service[i].code, "name",
			                      rep->service[i].name);
			line_json(s, &rep->service[i]);
			json_array_append_new(services, s);
		}
		json_t *o = json_pack("{s:s, s:s, s:o}", "area", rep->area_code[a], "label",
		                      rep->area_label[a], "services", services);
		line_json(o, &rep->area[a]);
		json_array_append_new(areas, o);
	}
	json_t *totals = json_object();
	line_json(totals, &rep->total);
	return json_pack("{s:I, s:o, s:s, s:o, s:o}", "year", (json_int_t)rep->scope.year_n,
	                 "tenant", rp_scope_json(&rep->scope), "currency", "EUR", "areas", areas,
	                 "totals", totals);
}

/* One line of the table at row r. */
static void line_row(struct rp_grid *g, size_t r, const char *area, const char *label,
                     const struct is_line *l)
{
	rp_text(g, r, 0, area);
	rp_text(g, r, 1, label);
	rp_text(g, r, 2, l->code ? l->code : "totale");
	rp_text(g, r, 3, l->name ? l->name : "Totale");
	rp_num(g, r, 4, RC_COUNT, l->users);
	rp_num(g, r, 5, RC_MONEY, l->sum[M_COST]);
	rp_num(g, r, 6, RC_MONEY, l->sum[M_USER]);
	rp_num(g, r, 7, RC_MONEY, l->sum[M_HEALTH]);
	rp_num(g, r, 8, RC_MONEY, l->sum[M_COST] - l->sum[M_USER] - l->sum[M_HEALTH]);
}

/* The table: per area its services then its total row, then the report's
 * total row "totale". Returns 0 or -1. */
static int istat_grid(struct arena *ar, const struct is_report *rep, struct rp_grid *g)
{
	static const char *const head[] = {"area",
	                                   "etichetta",
	                                   "servizio",
	                                   "nome_servizio",
	                                   "utenti",
	                                   "spesa",
	                                   "compartecipazione_utenti",
	                                   "compartecipazione_ssn",
	                                   "spesa_netta"};
	if (rp_grid_init(ar, g, 1 + rep->nservices + rep->nareas + 1, 9) != 0)
		return -1;
	for (size_t c = 0; c < 9; c++)
		rp_text(g, 0, c, head[c]);
	size_t r = 1;
	for (size_t a = 0; a < rep->nareas; a++) {
		for (size_t i = 0; i < rep->nservices; i++)
			if (rep->service[i].area == a)
				line_row(g, r++, rep->area_code[a], rep->area_label[a],
				         &rep->service[i]);
		line_row(g, r++, rep->area_code[a], rep->area_label[a], &rep->area[a]);
	}
	line_row(g, r, "totale", "Totale", &rep->total);
	return 0;
}

/* GET /api/v1/reports/istat-survey?year=&tenant= */
int api_report_istat_survey(struct http_req *req)
{
	struct is_report *rep = arena_alloc(req->arena, sizeof *rep);
	if (rep == NULL)
		return -1;
	memset(rep, 0, sizeof *rep);
	int rc = rp_scope_read(req, &rep->scope);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if ((rc = istat_load(req, rep)) != DB_OK)
		return http_reply_db_error(req, rc);
	struct rp_grid grid;
	char sheet[32];
	snprintf(sheet, sizeof sheet, "Indagine ISTAT %s", rep->scope.year);
	if (istat_grid(req->arena, rep, &grid) != 0)
		return -1;
	return rp_reply(req, &rep->scope, istat_json(rep), &grid, sheet, "indagine-istat");
}
