/* /api/v1/cases/{id}/plans: care plans (progetto personalizzato, di vita,
 * familiare): goals, period, outcome when the plan ends and a follow-up
 * some months later (the impact indicators of the Piano di Zona). Goals may
 * name people: the whole array is stored as one encrypted value. */
#include "api/api.h"
#include "api/case_common.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOALS_MAX      50
#define GOAL_MAX_CHARS 1000

static const char *const plan_kinds[] = {"personalised", "life_project", "family_project", NULL};
static const char *const outcomes[] = {"achieved", "partly_achieved", "not_achieved", NULL};
static const char *const follow_ups[] = {"out_of_poverty", "improved_quality_of_life", "no_change",
                                         "worse", NULL};

/* clang-format off */
#define PLAN_COLUMNS \
	"id, case_id, kind, goals_enc, " API_DATE("start_on") ", " API_DATE("end_on") ", " \
	"outcome, " API_DATE("follow_up_on") ", follow_up_outcome, version, " \
	API_TS("created_at") ", " API_TS("updated_at")
/* clang-format on */
enum {
	P_ID,
	P_CASE,
	P_KIND,
	P_GOALS,
	P_START,
	P_END,
	P_OUTCOME,
	P_FOLLOW_ON,
	P_FOLLOW_OUTCOME,
	P_VERSION,
	P_CREATED,
	P_UPDATED
};

/* A plan as it will be stored (strings borrowed or arena-owned). */
struct plan_in {
	const char *kind, *start_on, *end_on, *outcome, *follow_up_on, *follow_up_outcome;
	json_t *goals; /* borrowed */
};

/* Checks the goals array: 1-50 objects {text, target_on}. */
static void plan_check_goals(json_t *goals, json_t *errors)
{
	size_t i;
	json_t *g;
	char prefix[48];
	json_array_foreach(goals, i, g)
	{
		const char *text = NULL, *target = NULL;
		const struct jsonx_field spec[] = {
		    {"text", JX_STRING, JX_REQUIRED, 1, GOAL_MAX_CHARS, &text, NULL},
		    {"target_on", JX_STRING, JX_NULLABLE, 1, 10, &target, NULL},
		};
		if (!json_is_object(g)) {
			snprintf(prefix, sizeof prefix, "goals[%zu]", i);
			jsonx_error(errors, prefix, "type",
			            "deve essere un oggetto {text, target_on}");
			continue;
		}
		snprintf(prefix, sizeof prefix, "goals[%zu].", i);
		jsonx_read(g, prefix, spec, 2, errors);
		int32_t days;
		snprintf(prefix, sizeof prefix, "goals[%zu].target_on", i);
		if (target != NULL)
			api_case_date(errors, prefix, target, false, &days);
	}
}

/* Checks the values of a plan and how its dates and outcomes agree. */
static void plan_check(const struct plan_in *in, json_t *errors)
{
	int32_t start = 0, end = 0, follow = 0;
	bool ok_start = false, ok_end = false, ok_follow = false;
	if (in->kind != NULL && !jsonx_in(in->kind, plan_kinds))
		jsonx_error(errors, "kind", "enum",
		            "uno tra personalised, life_project, family_project");
	if (in->outcome != NULL && !jsonx_in(in->outcome, outcomes))
		jsonx_error(errors, "outcome", "enum",
		            "uno tra achieved, partly_achieved, not_achieved");
	if (in->follow_up_outcome != NULL && !jsonx_in(in->follow_up_outcome, follow_ups))
		jsonx_error(errors, "follow_up_outcome", "enum",
		            "uno tra out_of_poverty, improved_quality_of_life, no_change, worse");
	if (in->start_on != NULL)
		ok_start = api_case_date(errors, "start_on", in->start_on, false, &start);
	if (in->end_on != NULL)
		ok_end = api_case_date(errors, "end_on", in->end_on, false, &end);
	if (in->follow_up_on != NULL)
		ok_follow = api_case_date(errors, "follow_up_on", in->follow_up_on, false, &follow);
	if (ok_start && ok_end && end < start)
		jsonx_error(errors, "end_on", "range", "non può precedere start_on");
	if (ok_follow && ((ok_end && follow < end) || (!in->end_on && ok_start && follow < start)))
		jsonx_error(errors, "follow_up_on", "range",
		            "il follow-up viene dopo la fine del progetto");
	if (in->outcome != NULL && in->end_on == NULL)
		jsonx_error(errors, "outcome", "required_with",
		            "l'esito si registra quando il progetto ha una data di fine (end_on)");
	else if (in->outcome != NULL && ok_end && end > api_case_today())
		jsonx_error(errors, "outcome", "range", "il progetto non è ancora concluso");
	if (in->follow_up_outcome != NULL && in->follow_up_on == NULL)
		jsonx_error(errors, "follow_up_outcome", "required_with",
		            "l'esito del follow-up richiede la data del follow-up (follow_up_on)");
	else if (in->follow_up_outcome != NULL && ok_follow && follow > api_case_today())
		jsonx_error(errors, "follow_up_outcome", "range",
		            "il follow-up non è ancora avvenuto");
	if (in->goals != NULL)
		plan_check_goals(in->goals, errors);
}

/* The wire representation of row i (goals decrypted); NULL with *rc set. */
static json_t *plan_json(struct http_req *req, PGresult *r, int i, int *rc)
{
	const char *goals_text;
	*rc = api_case_decrypt(req, "care_plan", "goals", PQgetvalue(r, i, P_ID), r, i, P_GOALS,
	                       &goals_text);
	if (*rc != DB_OK)
		return NULL;
	json_t *goals = goals_text ? json_loads(goals_text, 0, NULL) : NULL;
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:I, s:s, s:s}", "id",
	    PQgetvalue(r, i, P_ID), "case_id", PQgetvalue(r, i, P_CASE), "kind",
	    PQgetvalue(r, i, P_KIND), "goals", goals ? goals : json_array(), "start_on",
	    PQgetvalue(r, i, P_START), "end_on", api_case_opt(r, i, P_END), "outcome",
	    api_case_opt(r, i, P_OUTCOME), "follow_up_on", api_case_opt(r, i, P_FOLLOW_ON),
	    "follow_up_outcome", api_case_opt(r, i, P_FOLLOW_OUTCOME), "version",
	    (json_int_t)atoll(PQgetvalue(r, i, P_VERSION)), "created_at",
	    PQgetvalue(r, i, P_CREATED), "updated_at", PQgetvalue(r, i, P_UPDATED));
	*rc = o ? DB_OK : DB_ERROR;
	return o;
}

static const struct db_stmt st_list = {
    "plans_list",
    "SELECT " PLAN_COLUMNS " FROM care_plan p WHERE tenant_id = $1 AND case_id = $2 "
    "AND ($3::uuid IS NULL OR (start_on, id) < (SELECT k.start_on, k.id FROM care_plan k "
    "WHERE k.tenant_id = $1 AND k.case_id = $2 AND k.id = $3)) "
    "ORDER BY start_on DESC, id DESC LIMIT $4",
};

/* GET /api/v1/cases/{id}/plans?cursor=&limit= (latest start first) */
int api_case_plan_list(struct http_req *req)
{
	int limit;
	const char *cursor;
	if (http_page_limit(req, 50, &limit) || api_case_cursor(req, &cursor))
		return 0;
	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[4] = {req->principal.tenant_id, c.id, cursor, slimit};
	PGresult *r;
	if ((rc = db_exec(req->arena, &st_list, 4, p, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	return api_case_reply_page(req, r, limit, P_ID, NULL, plan_json);
}

static const struct db_stmt st_one = {
    "plans_one",
    "SELECT " PLAN_COLUMNS " FROM care_plan WHERE tenant_id = $1 AND case_id = $2 AND id = $3",
};

/* Loads plan pid of case case_id: 0, 1 after replying 404/error, HTTP_RETRY. */
static int plan_load(struct http_req *req, const char *case_id, const char *pid, PGresult **r)
{
	const char *p[3] = {req->principal.tenant_id, case_id, pid};
	return api_load_row(req, &st_one, 3, p, r);
}

/* Replies with plan pid of case case_id (ETag set). */
static int plan_reply(struct http_req *req, const char *case_id, const char *pid, int status)
{
	PGresult *r;
	int rc = plan_load(req, case_id, pid, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	json_t *o = plan_json(req, r, 0, &rc);
	if (o == NULL)
		return api_case_fail(req, rc);
	http_set_etag(req, atoll(PQgetvalue(r, 0, P_VERSION)));
	return http_reply_json(req, status, o);
}

/* GET /api/v1/cases/{id}/plans/{plan_id} */
int api_case_plan_read(struct http_req *req)
{
	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return plan_reply(req, c.id, http_param(req, 1), 200);
}

/* Encrypts the goals of plan id. */
static int plan_goals_enc(struct http_req *req, const char *id, json_t *goals, const char **out)
{
	char *text = json_dumps(goals, JSON_COMPACT);
	if (text == NULL || arena_defer(req->arena, free, text) != 0)
		return DB_ERROR;
	return api_case_encrypt(req, "care_plan", "goals", id, text, out);
}

static const struct db_stmt st_insert = {
    "plans_insert",
    "INSERT INTO care_plan (tenant_id, id, case_id, kind, goals_enc, goal_count, start_on, "
    "end_on, outcome, follow_up_on, follow_up_outcome, created_by, updated_by) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
};

/* POST /api/v1/cases/{id}/plans. The case must be open. */
int api_case_plan_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct plan_in in = {0};
	const struct jsonx_field spec[] = {
	    {"kind", JX_STRING, JX_REQUIRED, 1, 32, &in.kind, NULL},
	    {"goals", JX_ARRAY, JX_REQUIRED, 1, GOALS_MAX, &in.goals, NULL},
	    {"start_on", JX_STRING, JX_REQUIRED, 1, 10, &in.start_on, NULL},
	    {"end_on", JX_STRING, JX_NULLABLE, 1, 10, &in.end_on, NULL},
	    {"outcome", JX_STRING, JX_NULLABLE, 1, 32, &in.outcome, NULL},
	    {"follow_up_on", JX_STRING, JX_NULLABLE, 1, 10, &in.follow_up_on, NULL},
	    {"follow_up_outcome", JX_STRING, JX_NULLABLE, 1, 32, &in.follow_up_outcome, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	plan_check(&in, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (strcmp(c.status, "closed") == 0)
		return api_case_closed_conflict(req);
	char id[UTIL_UUID_LEN + 1], count[8];
	util_uuid_v4(id);
	snprintf(count, sizeof count, "%zu", json_array_size(in.goals));
	const char *enc;
	if ((rc = plan_goals_enc(req, id, in.goals, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[12] = {req->principal.tenant_id,
	                     id,
	                     c.id,
	                     in.kind,
	                     enc,
	                     count,
	                     in.start_on,
	                     in.end_on,
	                     in.outcome,
	                     in.follow_up_on,
	                     in.follow_up_outcome,
	                     req->principal.user_id};
	if ((rc = db_exec(req->arena, &st_insert, 12, p, NULL)) != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/cases/%s/plans/%s", c.id, id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return plan_reply(req, c.id, id, 201);
}

static const struct db_stmt st_update = {
    "plans_update",
    "UPDATE care_plan SET goals_enc = $4, goal_count = $5, start_on = $6, end_on = $7, "
    "outcome = $8, follow_up_on = $9, follow_up_outcome = $10, updated_by = $11, "
    "updated_at = now(), version = version + 1 "
    "WHERE tenant_id = $1 AND case_id = $2 AND id = $3 AND version = $12",
};

/* The stored value of column col of row 0, or NULL. */
static const char *plan_cur(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : PQgetvalue(r, 0, col);
}

/* PATCH /api/v1/cases/{id}/plans/{plan_id}: goals, dates, outcome and
 * follow-up (null clears a nullable one). Allowed on a closed case too: the
 * follow-up comes after the closure. */
int api_case_plan_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct plan_in in = {0};
	const struct jsonx_field spec[] = {
	    {"goals", JX_ARRAY, 0, 1, GOALS_MAX, &in.goals, NULL},
	    {"start_on", JX_STRING, 0, 1, 10, &in.start_on, NULL},
	    {"end_on", JX_STRING, JX_NULLABLE, 1, 10, &in.end_on, NULL},
	    {"outcome", JX_STRING, JX_NULLABLE, 1, 32, &in.outcome, NULL},
	    {"follow_up_on", JX_STRING, JX_NULLABLE, 1, 10, &in.follow_up_on, NULL},
	    {"follow_up_outcome", JX_STRING, JX_NULLABLE, 1, 32, &in.follow_up_outcome, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (json_object_size(req->json) == 0)
		jsonx_error(errors, "", "min_properties", "indicare almeno un campo da modificare");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	struct api_case_ref c;
	PGresult *r;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc == 0)
		rc = plan_load(req, c.id, http_param(req, 1), &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *version = PQgetvalue(r, 0, P_VERSION);
	if (http_check_if_match(req, atoll(version)))
		return 0;
	const char *pid = PQgetvalue(r, 0, P_ID);
	/* Merge: what the body gives (null included), else what is stored. */
#define MERGE(field, col)                                                                          \
	if (json_object_get(req->json, #field) == NULL)                                            \
		in.field = plan_cur(r, col);
	MERGE(start_on, P_START)
	MERGE(end_on, P_END)
	MERGE(outcome, P_OUTCOME)
	MERGE(follow_up_on, P_FOLLOW_ON)
	MERGE(follow_up_outcome, P_FOLLOW_OUTCOME)
#undef MERGE
	if (in.goals == NULL) {
		json_t *cur = plan_json(req, r, 0, &rc);
		if (cur == NULL || api_case_keep(req, cur) != 0)
			return cur == NULL ? api_case_fail(req, rc) : -1;
		in.goals = json_object_get(cur, "goals");
	}
	plan_check(&in, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));
	char count[8];
	snprintf(count, sizeof count, "%zu", json_array_size(in.goals));
	const char *enc;
	if ((rc = plan_goals_enc(req, pid, in.goals, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[12] = {req->principal.tenant_id,
	                     c.id,
	                     pid,
	                     enc,
	                     count,
	                     in.start_on,
	                     in.end_on,
	                     in.outcome,
	                     in.follow_up_on,
	                     in.follow_up_outcome,
	                     req->principal.user_id,
	                     version};
	PGresult *ur;
	if ((rc = db_exec(req->arena, &st_update, 12, p, &ur)) != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY;
	return plan_reply(req, c.id, pid, 200);
}
