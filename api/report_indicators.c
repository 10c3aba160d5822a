/* /api/v1/reports/indicators: the Piano di Zona indicators of a Comune or of
 * the whole Ambito for several years side by side (DESIGN §7.5,
 * docs/reporting.md): social spending, users, resident population,
 * per-capita spending, spending per user, take-up (users per 1,000
 * residents) and users per regional area. Every year's figures are those of
 * the regional spending report (rs_load), so the two always agree. */
#include "api/api.h"
#include "api/reports.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_MAX_YEARS 10

/* Users per 1,000 residents in tenths, rounded half up; false without
 * population. */
static bool take_up_tenths(long long users, const struct rs_report *rep, int64_t *out)
{
	if (!rep->population_known || rep->population <= 0)
		return false;
	*out = (2 * (int64_t)users * 10000 + rep->population) / (2 * (int64_t)rep->population);
	return true;
}

/* Reads ?from= and ?to= (default: the three years up to the scope's year,
 * which defaults to the last complete one) into *from and *to. Returns 0,
 * or replies 400 and returns 1. */
static int years_read(struct http_req *req, const struct rp_scope *sc, long long *from,
                      long long *to)
{
	const char *f = http_query(req, "from"), *t = http_query(req, "to");
	*to = t != NULL ? atoll(t) : sc->year_n;
	*from = f != NULL ? atoll(f) : *to - 2;
	if ((f != NULL && !api_year_ok(f)) || (t != NULL && !api_year_ok(t)) || *from > *to ||
	    *to - *from >= IN_MAX_YEARS || *from < 2000) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   "from, to: anni 2000-2100, from <= to, al massimo 10 anni");
		return 1;
	}
	return 0;
}

/* One year's indicators as JSON (new reference). */
static json_t *year_json(const struct rs_report *rep)
{
	struct rs_totals t;
	rs_totals(rep, &t);
	int64_t v;
	json_t *areas = json_object();
	for (size_t a = 0; a < rep->nareas; a++)
		json_object_set_new(areas, rep->area[a].code, json_integer(rep->users[a]));
	bool pc = rep->population_known && rp_per_unit_cents(t.grand, rep->population, &v);
	json_t *per_capita = rp_money_json(pc, v);
	bool pu = rp_per_unit_cents(t.grand, rep->users_total, &v);
	json_t *per_user = rp_money_json(pu, v);
	bool tu = take_up_tenths(rep->users_total, rep, &v);
	return json_pack("{s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:o}", "year",
	                 (json_int_t)rep->scope.year_n, "spending", rp_money_json(true, t.grand),
	                 "users", (json_int_t)rep->users_total, "population",
	                 rep->population_known ? json_integer(rep->population) : json_null(),
	                 "per_capita", per_capita, "spending_per_user", per_user,
	                 "take_up_per_thousand", rp_percent_json(tu, v), "users_by_area", areas);
}

/* The table: one row per indicator (then one per area's users), one column
 * per year. Returns 0 or -1. */
static int indicators_grid(struct arena *ar, struct rs_report *const *rep, size_t n,
                           struct rp_grid *g)
{
	static const char *const names[] = {"spesa",
	                                    "utenti",
	                                    "popolazione",
	                                    "spesa_pro_capite",
	                                    "spesa_per_utente",
	                                    "tasso_presa_in_carico_per_mille"};
	size_t nareas = rep[0]->nareas;
	if (rp_grid_init(ar, g, 1 + 6 + nareas, 1 + n) != 0)
		return -1;
	rp_text(g, 0, 0, "indicatore");
	for (size_t i = 0; i < 6; i++)
		rp_text(g, 1 + i, 0, names[i]);
	for (size_t a = 0; a < nareas; a++) {
		const char *label = arena_printf(ar, "utenti_%s", rep[0]->area[a].code);
		if (label == NULL)
			return -1;
		rp_text(g, 7 + a, 0, label);
	}
	for (size_t y = 0; y < n; y++) {
		const struct rs_report *r = rep[y];
		struct rs_totals t;
		rs_totals(r, &t);
		int64_t v;
		rp_text(g, 0, 1 + y, r->scope.year);
		rp_num(g, 1, 1 + y, RC_MONEY, t.grand);
		rp_num(g, 2, 1 + y, RC_COUNT, r->users_total);
		if (r->population_known)
			rp_num(g, 3, 1 + y, RC_COUNT, r->population);
		if (r->population_known && rp_per_unit_cents(t.grand, r->population, &v))
			rp_num(g, 4, 1 + y, RC_MONEY, v);
		if (rp_per_unit_cents(t.grand, r->users_total, &v))
			rp_num(g, 5, 1 + y, RC_MONEY, v);
		if (take_up_tenths(r->users_total, r, &v))
			rp_num(g, 6, 1 + y, RC_PERCENT, v);
		for (size_t a = 0; a < nareas; a++)
			rp_num(g, 7 + a, 1 + y, RC_COUNT, r->users[a]);
	}
	return 0;
}

/* GET /api/v1/reports/indicators?from=&to=&tenant= */
int api_report_indicators(struct http_req *req)
{
	struct rp_scope sc;
	memset(&sc, 0, sizeof sc);
	int rc = rp_scope_read(req, &sc);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	long long from, to;
	if (years_read(req, &sc, &from, &to))
		return 0;
	struct rs_report *rep[IN_MAX_YEARS];
	size_t n = 0;
	json_t *years = json_array();
	for (long long y = from; y <= to; y++, n++) {
		rep[n] = arena_alloc(req->arena, sizeof *rep[n]);
		if (rep[n] == NULL) {
			json_decref(years);
			return -1;
		}
		memset(rep[n], 0, sizeof *rep[n]);
		rep[n]->scope = sc;
		rep[n]->scope.year_n = y;
		snprintf(rep[n]->scope.year, sizeof rep[n]->scope.year, "%04lld", y % 10000);
		if ((rc = rs_load(req, rep[n])) != DB_OK) {
			json_decref(years);
			return http_reply_db_error(req, rc);
		}
		json_array_append_new(years, year_json(rep[n]));
	}
	struct rp_grid grid;
	if (indicators_grid(req->arena, rep, n, &grid) != 0) {
		json_decref(years);
		return -1;
	}
	snprintf(sc.year, sizeof sc.year, "%04lld", to % 10000);
	json_t *body = json_pack("{s:I, s:I, s:o, s:o}", "from", (json_int_t)from, "to",
	                         (json_int_t)to, "tenant", rp_scope_json(&sc), "years", years);
	return rp_reply(req, &sc, body, &grid, "Indicatori Piano di Zona", "indicatori");
}
