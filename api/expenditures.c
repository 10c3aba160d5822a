/* /api/v1/expenditures: spending that is not one beneficiary's (the
 * professional social service's staff, running costs, grants to
 * organisations, other), recorded per year, regional spending area, funding
 * channel and management, so that the spending reports cover a year's whole
 * social spending (schema/015_spending.sql). Tenant-owned: another tenant's
 * expenditure does not exist for the caller (404). Description and budget
 * chapter name an accounting line, never a person. */
#include "api/api.h"
#include "api/validate.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPENDITURE_COLUMNS                                                                        \
	"id, year, regional_area, channel, management, kind, amount_cents, description, "          \
	"budget_chapter, version, "                                                                \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "               \
	"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
enum {
	EX_ID,
	EX_YEAR,
	EX_AREA,
	EX_CHANNEL,
	EX_MANAGEMENT,
	EX_KIND,
	EX_AMOUNT,
	EX_DESCRIPTION,
	EX_CHAPTER,
	EX_VERSION,
	EX_CREATED,
	EX_UPDATED
};

static const struct db_stmt st_list = {
    "expenditures_list",
    "SELECT " EXPENDITURE_COLUMNS " FROM expenditure WHERE tenant_id = $1 "
    "AND ($2::uuid IS NULL OR id > $2) AND ($3::integer IS NULL OR year = $3) "
    "AND ($4::text IS NULL OR regional_area = $4) AND ($5::text IS NULL OR channel = $5) "
    "ORDER BY id LIMIT $6",
};

static const struct db_stmt st_one = {
    "expenditures_one",
    "SELECT " EXPENDITURE_COLUMNS " FROM expenditure WHERE tenant_id = $1 AND id = $2",
};

static const struct db_stmt st_insert = {
    "expenditures_insert",
    "INSERT INTO expenditure (tenant_id, year, regional_area, channel, management, kind, "
    "amount_cents, description, budget_chapter, created_by, updated_by) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
};

static const struct db_stmt st_update = {
    "expenditures_update",
    "UPDATE expenditure SET year = $3, regional_area = $4, channel = $5, management = $6, "
    "kind = $7, amount_cents = $8, description = $9, budget_chapter = $10, updated_by = $11, "
    "updated_at = now(), version = version + 1 "
    "WHERE tenant_id = $1 AND id = $2 AND version = $12 RETURNING version",
};

static const char *const managements[] = {"single", "associated", NULL};
static const char *const kinds[] = {"staff", "running_costs", "grants", "other", NULL};

/* The expenditure as the API shows it (new reference). */
static json_t *expenditure_json(PGresult *r, int i)
{
	char amount[24];
	validate_format_cents(atoll(PQgetvalue(r, i, EX_AMOUNT)), amount, sizeof amount);
	return json_pack(
	    "{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:s}", "id",
	    PQgetvalue(r, i, EX_ID), "year", (json_int_t)atoll(PQgetvalue(r, i, EX_YEAR)),
	    "regional_area", PQgetvalue(r, i, EX_AREA), "channel", PQgetvalue(r, i, EX_CHANNEL),
	    "management", PQgetvalue(r, i, EX_MANAGEMENT), "kind", PQgetvalue(r, i, EX_KIND),
	    "amount", amount, "description", PQgetvalue(r, i, EX_DESCRIPTION), "budget_chapter",
	    PQgetisnull(r, i, EX_CHAPTER) ? json_null() : json_string(PQgetvalue(r, i, EX_CHAPTER)),
	    "version", (json_int_t)atoll(PQgetvalue(r, i, EX_VERSION)), "created_at",
	    PQgetvalue(r, i, EX_CREATED), "updated_at", PQgetvalue(r, i, EX_UPDATED));
}

/* True when y (may be NULL) is a year 2000-2100 written with four digits. */
bool api_year_ok(const char *y)
{
	return y != NULL && strlen(y) == 4 && strspn(y, "0123456789") == 4 &&
	       strcmp(y, "2000") >= 0 && strcmp(y, "2100") <= 0;
}

/* Reads ?year= (2000-2100) into out (size >= 8; "" when absent). Returns 0,
 * or replies 400 and returns 1. Shared with the reports through api.h. */
int api_year_param(struct http_req *req, bool required, char *out, size_t outsz)
{
	const char *y = http_query(req, "year");
	out[0] = '\0';
	if (y == NULL && !required)
		return 0;
	if (!api_year_ok(y)) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   "year: anno di quattro cifre, 2000-2100");
		return 1;
	}
	snprintf(out, outsz, "%s", y);
	return 0;
}

/* GET /api/v1/expenditures[?year=&regional_area=&channel=&cursor=&limit=] */
int api_expenditure_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	char year[8];
	if (api_year_param(req, false, year, sizeof year))
		return 0;
	bool bad;
	const char *after = api_cursor_decode(req, UTIL_UUID_LEN, &bad);
	if (bad || (after != NULL && !util_is_uuid(after)))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[6] = {req->principal.tenant_id,   after,
	                    year[0] ? year : NULL,      http_query(req, "regional_area"),
	                    http_query(req, "channel"), slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 6, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++)
		json_array_append_new(items, expenditure_json(r, i));
	json_t *next = NULL;
	if (rows > limit &&
	    (next = api_cursor_encode(req->arena, PQgetvalue(r, limit - 1, EX_ID))) == NULL) {
		json_decref(items);
		return -1;
	}
	return http_reply_json(
	    req, 200,
	    json_pack("{s:o, s:o}", "items", items, "next_cursor", next ? next : json_null()));
}

/* Reads the expenditure {id} of the caller's tenant into *out (arena-owned).
 * Returns 0, 1 after replying (404 or an error), or HTTP_RETRY. */
static int expenditure_load(struct http_req *req, PGresult **out)
{
	const char *p[2] = {req->principal.tenant_id, http_param(req, 0)};
	return api_load_row(req, &st_one, 2, p, out);
}

/* Replies with the expenditure {id} and its ETag. */
static int expenditure_reply(struct http_req *req, int status)
{
	PGresult *r;
	int rc = expenditure_load(req, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	http_set_etag(req, atoll(PQgetvalue(r, 0, EX_VERSION)));
	return http_reply_json(req, status, expenditure_json(r, 0));
}

/* GET /api/v1/expenditures/{id} */
int api_expenditure_read(struct http_req *req)
{
	return expenditure_reply(req, 200);
}

/* An expenditure's writable fields (borrowed strings; NULL = absent). */
struct expenditure_in {
	long long year;
	const char *area, *channel, *management, *kind, *amount, *description, *chapter;
	char year_text[8], cents_text[24];
	bool year_given, chapter_given;
};

/* Reads and checks the body, codes included; returns DB_OK (errors may have
 * been appended) or a db_rc. */
static int expenditure_read_body(struct http_req *req, bool create, struct expenditure_in *in,
                                 json_t *errors)
{
	unsigned rq = create ? JX_REQUIRED : 0;
	bool chapter_present = false;
	const struct jsonx_field spec[] = {
	    {"year", JX_INT, rq, 0, 0, &in->year, &in->year_given},
	    {"regional_area", JX_STRING, rq, 1, 32, &in->area, NULL},
	    {"channel", JX_STRING, rq, 1, 32, &in->channel, NULL},
	    {"management", JX_STRING, rq, 1, 16, &in->management, NULL},
	    {"kind", JX_STRING, rq, 1, 16, &in->kind, NULL},
	    {"amount", JX_STRING, rq, 1, 24, &in->amount, NULL},
	    {"description", JX_STRING, rq, 1, 200, &in->description, NULL},
	    {"budget_chapter", JX_STRING, JX_NULLABLE, 1, 32, &in->chapter, &chapter_present},
	};
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	in->chapter_given =
	    chapter_present || json_is_null(json_object_get(req->json, "budget_chapter"));
	if (in->year_given && (in->year < 2000 || in->year > 2100))
		jsonx_error(errors, "year", "range", "anno tra 2000 e 2100");
	if (in->year_given)
		snprintf(in->year_text, sizeof in->year_text, "%lld", in->year);
	if (in->management != NULL && !jsonx_in(in->management, managements))
		jsonx_error(errors, "management", "enum", "valori ammessi: single, associated");
	if (in->kind != NULL && !jsonx_in(in->kind, kinds))
		jsonx_error(errors, "kind", "enum",
		            "valori ammessi: staff, running_costs, grants, other");
	const char *rule, *m;
	int64_t cents = 0;
	if (in->amount != NULL && (m = validate_amount(in->amount, false, &cents, &rule)) != NULL)
		jsonx_error(errors, "amount", rule, m);
	if (in->amount != NULL)
		snprintf(in->cents_text, sizeof in->cents_text, "%lld", (long long)cents);
	int rc = DB_OK;
	if (in->area != NULL)
		rc = api_code_check(req, errors, "regional_area", "regional-spending-areas",
		                    in->area);
	if (rc == DB_OK && in->channel != NULL)
		rc = api_code_check(req, errors, "channel", "funding-channels", in->channel);
	return rc;
}

/* POST /api/v1/expenditures */
int api_expenditure_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct expenditure_in in = {0};
	json_t *errors = jsonx_errors_new();
	int rc = expenditure_read_body(req, true, &in, errors);
	if (rc != DB_OK) {
		json_decref(errors);
		return http_reply_db_error(req, rc);
	}
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	const char *p[10] = {req->principal.tenant_id,
	                     in.year_text,
	                     in.area,
	                     in.channel,
	                     in.management,
	                     in.kind,
	                     in.cents_text,
	                     in.description,
	                     in.chapter,
	                     req->principal.user_id[0] ? req->principal.user_id : NULL};
	PGresult *r;
	rc = db_exec(req->arena, &st_insert, 10, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	req->params[0] = arena_strdup(req->arena, PQgetvalue(r, 0, 0));
	char *loc = arena_printf(req->arena, "/api/v1/expenditures/%s", PQgetvalue(r, 0, 0));
	if (req->params[0] == NULL || loc == NULL)
		return -1;
	http_add_header(req, "Location", loc);
	return expenditure_reply(req, 201);
}

/* PATCH /api/v1/expenditures/{id} */
int api_expenditure_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct expenditure_in in = {0};
	json_t *errors = jsonx_errors_new();
	int rc = expenditure_read_body(req, false, &in, errors);
	if (rc != DB_OK) {
		json_decref(errors);
		return http_reply_db_error(req, rc);
	}
	if (json_object_size(req->json) == 0)
		jsonx_error(errors, "", "min_properties", "indicare almeno un campo da modificare");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	PGresult *cur;
	int lrc = expenditure_load(req, &cur);
	if (lrc != 0)
		return lrc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (http_check_if_match(req, atoll(PQgetvalue(cur, 0, EX_VERSION))))
		return 0;
	const char *chapter =
	    in.chapter_given
	        ? in.chapter
	        : (PQgetisnull(cur, 0, EX_CHAPTER) ? NULL : PQgetvalue(cur, 0, EX_CHAPTER));
	const char *p[12] = {req->principal.tenant_id,
	                     PQgetvalue(cur, 0, EX_ID),
	                     in.year_text[0] ? in.year_text : PQgetvalue(cur, 0, EX_YEAR),
	                     in.area ? in.area : PQgetvalue(cur, 0, EX_AREA),
	                     in.channel ? in.channel : PQgetvalue(cur, 0, EX_CHANNEL),
	                     in.management ? in.management : PQgetvalue(cur, 0, EX_MANAGEMENT),
	                     in.kind ? in.kind : PQgetvalue(cur, 0, EX_KIND),
	                     in.amount ? in.cents_text : PQgetvalue(cur, 0, EX_AMOUNT),
	                     in.description ? in.description : PQgetvalue(cur, 0, EX_DESCRIPTION),
	                     chapter,
	                     req->principal.user_id[0] ? req->principal.user_id : NULL,
	                     PQgetvalue(cur, 0, EX_VERSION)};
	PGresult *r;
	rc = db_exec(req->arena, &st_update, 12, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_PRECONDITION_FAILED,
		                          "Rileggere la risorsa e ripetere la modifica");
	return expenditure_reply(req, 200);
}
