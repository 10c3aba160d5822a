/* /api/v1/reports/indicators: the Piano di Zona indicators of a Comune or of
 * the whole Ambito for several years side by side (DESIGN §7.5,
 * docs/reporting.md): social spending, users, resident population,
 * per-capita spending, spending per user, take-up (users per 1,000
 * residents) overall and by age band, users per regional area, emergency
 * interventions, social workers per 4,000 inhabitants and the plan's impact
 * indicators from care-plan outcomes. The spending figures of every year are
 * those of the regional spending report (rs_load), so the two always agree;
 * the others come from app.indicator_facts (schema/022_extracts.sql),
 * aggregates only. */
#include "api/api.h"
#include "api/reports.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_BANDS 5 /* the age bands; the last, unknown, has no population */

static const char *const in_bands[IN_BANDS] = {"0-17", "18-64", "65-74", "75+", "unknown"};

static const struct db_stmt st_facts = {
    "reports_indicator_facts",
    "SELECT kind, band, amount FROM app.indicator_facts($1, $2)",
};

/* The impact counts of one kind of project (family or life). */
enum { IMP_ENDED, IMP_FOLLOWED, IMP_REACHED, IMP__COUNT };

/* One year's indicators beside the regional report's figures. */
struct in_year {
	struct rs_report rep;
	long long users_age[IN_BANDS], population_age[IN_BANDS];
	bool population_age_known[IN_BANDS];
	long long emergency, emergency_users;
	long long fte_hundredths; /* social workers, FTE x 100 */
	bool fte_known;
	long long family[IMP__COUNT], life[IMP__COUNT];
};

/* The index of band b in in_bands, or -1. */
static int in_band(const char *b)
{
	for (int i = 0; i < IN_BANDS; i++)
		if (strcmp(in_bands[i], b) == 0)
			return i;
	return -1;
}

/* Adds the facts of app.indicator_facts for y's scope and year into y.
 * Returns a db_rc. */
static int in_load_facts(struct http_req *req, struct in_year *y)
{
	const char *p[2] = {y->rep.scope.tenant_id, y->rep.scope.year};
	PGresult *r;
	int rc = db_exec(req->arena, &st_facts, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	static const char *const family[IMP__COUNT] = {"family_ended", "family_followed",
	                                               "family_out_of_poverty"};
	static const char *const life[IMP__COUNT] = {"life_ended", "life_followed",
	                                             "life_improved"};
	bool any_pop[IN_BANDS] = {false}, any_fte = false;
	for (int b = 0; b < IN_BANDS; b++)
		y->population_age_known[b] = true;
	y->fte_known = true;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *kind = PQgetvalue(r, i, 0);
		int b = PQgetisnull(r, i, 1) ? -1 : in_band(PQgetvalue(r, i, 1));
		bool null = PQgetisnull(r, i, 2);
		long long v = null ? 0 : atoll(PQgetvalue(r, i, 2));
		if (strcmp(kind, "users_age") == 0 && b >= 0) {
			y->users_age[b] += v;
		} else if (strcmp(kind, "population_age") == 0 && b >= 0) {
			any_pop[b] = true;
			y->population_age[b] += v;
			y->population_age_known[b] = y->population_age_known[b] && !null;
		} else if (strcmp(kind, "emergency") == 0) {
			y->emergency += v;
		} else if (strcmp(kind, "emergency_users") == 0) {
			y->emergency_users += v;
		} else if (strcmp(kind, "social_workers") == 0) {
			any_fte = true;
			y->fte_hundredths += v;
			y->fte_known = y->fte_known && !null;
		}
		for (int k = 0; k < IMP__COUNT; k++) {
			if (strcmp(kind, family[k]) == 0)
				y->family[k] += v;
			if (strcmp(kind, life[k]) == 0)
				y->life[k] += v;
		}
	}
	for (int b = 0; b < IN_BANDS; b++)
		y->population_age_known[b] = y->population_age_known[b] && any_pop[b];
	y->fte_known = y->fte_known && any_fte;
	return DB_OK;
}

/* Social workers per 4,000 inhabitants in hundredths, rounded half up;
 * false without staff or population. */
static bool in_per_4000(const struct in_year *y, int64_t *out)
{
	return y->fte_known && y->rep.population_known &&
	       rp_per_unit_cents(y->fte_hundredths * 4000, y->rep.population, out);
}

/* Users per 1,000 residents in tenths, rounded half up; false without
 * population. */
static bool take_up_tenths(long long users, bool known, long long population, int64_t *out)
{
	if (!known || population <= 0)
		return false;
	*out = (2 * (int64_t)users * 10000 + population) / (2 * (int64_t)population);
	return true;
}

/* Reads ?years=Y1,Y2,... (up to 10 distinct years, sorted), or ?from= and
 * ?to= (default: the three years up to the scope's year, which defaults to
 * the last complete one) into ys[] (*n of them). Returns 0, or replies 400
 * and returns 1. */
int rp_years_read(struct http_req *req, const struct rp_scope *sc, long long *ys, size_t *n)
{
	const char *f = http_query(req, "from"), *t = http_query(req, "to");
	const char *list = http_query(req, "years");
	*n = 0;
	if (list != NULL) {
		bool ok = f == NULL && t == NULL && strlen(list) <= 10 * 5;
		for (const char *p = list; ok && *p != '\0';) {
			size_t len = strcspn(p, ",");
			char y[8] = "";
			ok = len == 4 && *n < IN_MAX_YEARS;
			if (ok) {
				memcpy(y, p, 4);
				y[4] = '\0';
				ok = api_year_ok(y);
			}
			size_t i = *n;
			long long v = atoll(y);
			for (; ok && i > 0 && ys[i - 1] >= v; i--) {
				ok = ys[i - 1] != v;
				ys[i] = ys[i - 1];
			}
			if (ok) {
				ys[i] = v;
				(*n)++;
			}
			p += len;
			if (*p == ',' && *++p == '\0')
				ok = false;
		}
		if (!ok || *n == 0) {
			http_reply_problem(req, PROBLEM_BAD_PARAMETER,
			                   "years: da 1 a 10 anni distinti 2000-2100 separati da "
			                   "virgole (senza from e to)");
			return 1;
		}
		return 0;
	}
	long long to = t != NULL ? atoll(t) : sc->year_n;
	long long from = f != NULL ? atoll(f) : to - 2;
	if ((f != NULL && !api_year_ok(f)) || (t != NULL && !api_year_ok(t)) || from > to ||
	    to - from >= IN_MAX_YEARS || from < 2000) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   "from, to: anni 2000-2100, from <= to, al massimo 10 anni");
		return 1;
	}
	for (long long y = from; y <= to; y++)
		ys[(*n)++] = y;
	return 0;
}

/* {ended, followed_up, reached: n, share_percent} of an impact indicator
 * (new reference); reached names the outcome. */
static json_t *impact_json(const long long *c, const char *reached)
{
	int64_t v;
	bool ok = rp_percent_tenths(c[IMP_REACHED], c[IMP_ENDED], &v);
	return json_pack("{s:I, s:I, s:I, s:o}", "ended", (json_int_t)c[IMP_ENDED], "followed_up",
	                 (json_int_t)c[IMP_FOLLOWED], reached, (json_int_t)c[IMP_REACHED],
	                 "share_percent", rp_percent_json(ok, v));
}

/* One year's indicators as JSON (new reference). */
static json_t *year_json(const struct in_year *y)
{
	const struct rs_report *rep = &y->rep;
	struct rs_totals t;
	rs_totals(rep, &t);
	int64_t v;
	json_t *areas = json_object(), *ages = json_object();
	for (size_t a = 0; a < rep->nareas; a++)
		json_object_set_new(areas, rep->area[a].code, json_integer(rep->users[a]));
	for (int b = 0; b < IN_BANDS; b++) {
		bool known = b < IN_BANDS - 1 && y->population_age_known[b];
		bool tu = take_up_tenths(y->users_age[b], known, y->population_age[b], &v);
		json_object_set_new(
		    ages, in_bands[b],
		    json_pack("{s:I, s:o, s:o}", "users", (json_int_t)y->users_age[b], "population",
		              known ? json_integer(y->population_age[b]) : json_null(),
		              "take_up_per_thousand", rp_percent_json(tu, v)));
	}
	bool pc = rep->population_known && rp_per_unit_cents(t.grand, rep->population, &v);
	json_t *per_capita = rp_money_json(pc, v);
	bool pu = rp_per_unit_cents(t.grand, rep->users_total, &v);
	json_t *per_user = rp_money_json(pu, v);
	bool tu = take_up_tenths(rep->users_total, rep->population_known, rep->population, &v);
	json_t *take_up = rp_percent_json(tu, v);
	bool sw = in_per_4000(y, &v);
	json_t *o = json_pack(
	    "{s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:o}", "year", (json_int_t)rep->scope.year_n,
	    "spending", rp_money_json(true, t.grand), "users", (json_int_t)rep->users_total,
	    "population", rep->population_known ? json_integer(rep->population) : json_null(),
	    "per_capita", per_capita, "spending_per_user", per_user, "take_up_per_thousand",
	    take_up, "users_by_area", areas);
	json_object_update_new(
	    o, json_pack("{s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "take_up_by_age", ages,
	                 "emergency_interventions", (json_int_t)y->emergency, "emergency_users",
	                 (json_int_t)y->emergency_users, "social_workers_fte",
	                 rp_money_json(y->fte_known, y->fte_hundredths), "social_workers_per_4000",
	                 rp_money_json(sw, v), "family_projects",
	                 impact_json(y->family, "out_of_poverty"), "life_projects",
	                 impact_json(y->life, "improved_quality_of_life")));
	return o;
}

/* The rows of the table after the areas' users, in order. */
static const char *const tail_names[] = {
    "interventi_emergenza",        "utenti_emergenza",
    "assistenti_sociali_fte",      "assistenti_sociali_ogni_4000_abitanti",
    "progetti_familiari_conclusi", "progetti_familiari_con_follow_up_6_mesi",
    "nuclei_fuori_poverta_6_mesi", "quota_nuclei_fuori_poverta",
    "progetti_di_vita_conclusi",   "progetti_di_vita_con_follow_up",
    "qualita_vita_migliorata",     "quota_qualita_vita_migliorata",
};
#define NTAIL (sizeof tail_names / sizeof tail_names[0])

/* Year column c of the rows after the areas' users, from row r0. */
static void tail_cells(struct rp_grid *g, size_t r0, size_t c, const struct in_year *y)
{
	int64_t v;
	size_t r = r0;
	rp_num(g, r++, c, RC_COUNT, y->emergency);
	rp_num(g, r++, c, RC_COUNT, y->emergency_users);
	if (y->fte_known)
		rp_num(g, r, c, RC_MONEY, y->fte_hundredths);
	r++;
	if (in_per_4000(y, &v))
		rp_num(g, r, c, RC_MONEY, v);
	r++;
	const long long *imp[2] = {y->family, y->life};
	for (int k = 0; k < 2; k++) {
		rp_num(g, r++, c, RC_COUNT, imp[k][IMP_ENDED]);
		rp_num(g, r++, c, RC_COUNT, imp[k][IMP_FOLLOWED]);
		rp_num(g, r++, c, RC_COUNT, imp[k][IMP_REACHED]);
		if (rp_percent_tenths(imp[k][IMP_REACHED], imp[k][IMP_ENDED], &v))
			rp_num(g, r, c, RC_PERCENT, v);
		r++;
	}
}

/* The table: one row per indicator (then one per area's users, per age
 * band's users and take-up, and the tail), one column per year. Returns 0
 * or -1. */
static int indicators_grid(struct arena *ar, struct in_year *const *ys, size_t n, struct rp_grid *g)
{
	static const char *const names[] = {"spesa",
	                                    "utenti",
	                                    "popolazione",
	                                    "spesa_pro_capite",
	                                    "spesa_per_utente",
	                                    "tasso_presa_in_carico_per_mille"};
	size_t nareas = ys[0]->rep.nareas, age0 = 7 + nareas, tail0 = age0 + 2 * IN_BANDS - 1;
	if (rp_grid_init(ar, g, tail0 + NTAIL, 1 + n) != 0)
		return -1;
	rp_text(g, 0, 0, "indicatore");
	for (size_t i = 0; i < 6; i++)
		rp_text(g, 1 + i, 0, names[i]);
	for (size_t a = 0; a < nareas; a++) {
		const char *label = arena_printf(ar, "utenti_%s", ys[0]->rep.area[a].code);
		if (label == NULL)
			return -1;
		rp_text(g, 7 + a, 0, label);
	}
	for (size_t b = 0; b < IN_BANDS; b++) {
		const char *u = arena_printf(ar, "utenti_eta_%s", in_bands[b]);
		const char *t = arena_printf(ar, "tasso_per_mille_eta_%s", in_bands[b]);
		if (u == NULL || t == NULL)
			return -1;
		rp_text(g, age0 + b, 0, u);
		if (b < IN_BANDS - 1)
			rp_text(g, age0 + IN_BANDS + b, 0, t);
	}
	for (size_t i = 0; i < NTAIL; i++)
		rp_text(g, tail0 + i, 0, tail_names[i]);
	for (size_t j = 0; j < n; j++) {
		const struct in_year *y = ys[j];
		const struct rs_report *r = &y->rep;
		struct rs_totals t;
		rs_totals(r, &t);
		int64_t v;
		rp_text(g, 0, 1 + j, r->scope.year);
		rp_num(g, 1, 1 + j, RC_MONEY, t.grand);
		rp_num(g, 2, 1 + j, RC_COUNT, r->users_total);
		if (r->population_known)
			rp_num(g, 3, 1 + j, RC_COUNT, r->population);
		if (r->population_known && rp_per_unit_cents(t.grand, r->population, &v))
			rp_num(g, 4, 1 + j, RC_MONEY, v);
		if (rp_per_unit_cents(t.grand, r->users_total, &v))
			rp_num(g, 5, 1 + j, RC_MONEY, v);
		if (take_up_tenths(r->users_total, r->population_known, r->population, &v))
			rp_num(g, 6, 1 + j, RC_PERCENT, v);
		for (size_t a = 0; a < nareas; a++)
			rp_num(g, 7 + a, 1 + j, RC_COUNT, r->users[a]);
		for (size_t b = 0; b < IN_BANDS; b++) {
			rp_num(g, age0 + b, 1 + j, RC_COUNT, y->users_age[b]);
			if (b < IN_BANDS - 1 &&
			    take_up_tenths(y->users_age[b], y->population_age_known[b],
			                   y->population_age[b], &v))
				rp_num(g, age0 + IN_BANDS + b, 1 + j, RC_PERCENT, v);
		}
		tail_cells(g, tail0, 1 + j, y);
	}
	return 0;
}

/* GET /api/v1/reports/indicators?from=&to=|years=&tenant= */
int api_report_indicators(struct http_req *req)
{
	struct rp_scope sc;
	memset(&sc, 0, sizeof sc);
	int rc = rp_scope_read(req, &sc);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	long long ys[IN_MAX_YEARS];
	size_t n;
	if (rp_years_read(req, &sc, ys, &n))
		return 0;
	struct in_year *y[IN_MAX_YEARS];
	json_t *years = json_array();
	for (size_t i = 0; i < n; i++) {
		y[i] = arena_alloc(req->arena, sizeof *y[i]);
		if (y[i] == NULL) {
			json_decref(years);
			return -1;
		}
		memset(y[i], 0, sizeof *y[i]);
		y[i]->rep.scope = sc;
		y[i]->rep.scope.year_n = ys[i];
		snprintf(y[i]->rep.scope.year, sizeof y[i]->rep.scope.year, "%04lld",
		         ys[i] % 10000);
		if ((rc = rs_load(req, &y[i]->rep)) != DB_OK ||
		    (rc = in_load_facts(req, y[i])) != DB_OK) {
			json_decref(years);
			return http_reply_db_error(req, rc);
		}
		json_array_append_new(years, year_json(y[i]));
	}
	struct rp_grid grid;
	if (indicators_grid(req->arena, y, n, &grid) != 0) {
		json_decref(years);
		return -1;
	}
	snprintf(sc.year, sizeof sc.year, "%04lld", ys[n - 1] % 10000);
	json_t *body =
	    json_pack("{s:I, s:I, s:o, s:o}", "from", (json_int_t)ys[0], "to",
	              (json_int_t)ys[n - 1], "tenant", rp_scope_json(&sc), "years", years);
	return rp_reply(req, &sc, body, &grid, "Indicatori Piano di Zona", "indicatori");
}
