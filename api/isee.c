/* /api/v1/isee: ISEE attestations of a household or a person, as the
 * administrative staff register them from the DSU: protocol
 * (INPS-ISEE-YYYY-NNNNNNNNX-NN), its year and date, the kind of indicator,
 * the value (decimal string on the wire, cents in the database) and the
 * validity period. Attestations are not edited: a new DSU is a new row. */
#include "api/api.h"
#include "api/validate.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const isee_types[] = {
    "ordinario", "ridotto", "minorenni", "universitario", "sociosanitario", "corrente", NULL,
};

#define ISEE_COLUMNS                                                                               \
	"id, household_id, person_id, dsu_protocol, year, signed_on::text, indicator_type, "       \
	"value_cents, valid_from::text, valid_to::text, version, "                                 \
	"(current_date BETWEEN valid_from AND valid_to), "                                         \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
enum {
	IC_ID,
	IC_HOUSEHOLD,
	IC_PERSON,
	IC_DSU,
	IC_YEAR,
	IC_SIGNED,
	IC_TYPE,
	IC_VALUE,
	IC_FROM,
	IC_TO,
	IC_VERSION,
	IC_CURRENT,
	IC_CREATED
};

/* The default end of validity: six months less a day for an ISEE corrente,
 * else 31 December of the DSU's year (DPCM 159/2013 as amended in 2019). */
static void isee_default_valid_to(const char *type, const char *valid_from, int dsu_year, char *out,
                                  size_t n)
{
	if (strcmp(type, "corrente") != 0) {
		snprintf(out, n, "%04d-12-31", dsu_year);
		return;
	}
	int y = atoi(valid_from), m = atoi(valid_from + 5) + 6, d = atoi(valid_from + 8);
	if (m > 12) {
		m -= 12;
		y++;
	}
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int last = mdays[m - 1] + (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
	if (d > last)
		d = last;
	validate_date_text(validate_days_from_civil(y, m, d) - 1, out, n);
}

/* The wire form of an ISEE row (new reference, or NULL). */
static json_t *isee_json(PGresult *r, int row)
{
	char value[24];
	validate_format_cents(strtoll(PQgetvalue(r, row, IC_VALUE), NULL, 10), value, sizeof value);
#define OPT(c) (PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c))
	return json_pack("{s:s, s:s?, s:s?, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:s}",
	                 "id", PQgetvalue(r, row, IC_ID), "household_id", OPT(IC_HOUSEHOLD),
	                 "person_id", OPT(IC_PERSON), "dsu_protocol", PQgetvalue(r, row, IC_DSU),
	                 "year", (json_int_t)atoll(PQgetvalue(r, row, IC_YEAR)), "signed_on",
	                 PQgetvalue(r, row, IC_SIGNED), "indicator_type",
	                 PQgetvalue(r, row, IC_TYPE), "value", value, "valid_from",
	                 PQgetvalue(r, row, IC_FROM), "valid_to", PQgetvalue(r, row, IC_TO),
	                 "current", strcmp(PQgetvalue(r, row, IC_CURRENT), "t") == 0, "version",
	                 (json_int_t)atoll(PQgetvalue(r, row, IC_VERSION)), "created_at",
	                 PQgetvalue(r, row, IC_CREATED));
#undef OPT
}

static const struct db_stmt st_latest = {
    "isee_latest",
    "SELECT " ISEE_COLUMNS " FROM isee WHERE tenant_id = $1 AND household_id = $2 "
    "ORDER BY signed_on DESC, created_at DESC, id DESC LIMIT 1",
};

/* The latest ISEE of household_id by DSU date: *out a new reference or NULL.
 * Returns a db_rc. */
int api_isee_latest(struct http_req *req, const char *household_id, json_t **out)
{
	*out = NULL;
	const char *p[2] = {req->principal.tenant_id, household_id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_latest, 2, p, &r);
	if (rc == DB_OK && PQntuples(r) == 1 && (*out = isee_json(r, 0)) == NULL)
		rc = DB_ERROR;
	return rc;
}

static const struct db_stmt st_one = {
    "isee_one",
    "SELECT " ISEE_COLUMNS " FROM isee WHERE tenant_id = $1 AND id = $2",
};

/* Replies with ISEE id of the caller's tenant (404 when absent). */
static int isee_reply(struct http_req *req, const char *id, int status)
{
	if (!util_is_uuid(id))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_one, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	http_set_etag(req, atoll(PQgetvalue(r, 0, IC_VERSION)));
	return http_reply_json(req, status, isee_json(r, 0));
}

/* GET /api/v1/isee/{id} */
int api_isee_read(struct http_req *req)
{
	return isee_reply(req, http_param(req, 0), 200);
}

/* An attestation as requested, checked and completed with its defaults. */
struct isee_in {
	const char *household_id, *person_id, *dsu, *signed_on, *type, *value, *valid_from,
	    *valid_to;
	long long year;
	bool year_given;
	int64_t cents;
	char to_buf[32], cents_buf[24], year_buf[24];
};

/* Reads and checks a POST body: every failing field goes into errors. */
static void isee_parse(struct http_req *req, struct isee_in *in, json_t *errors)
{
	memset(in, 0, sizeof *in);
	const struct jsonx_field spec[] = {
	    {"household_id", JX_STRING, JX_NULLABLE, 1, 64, &in->household_id, NULL},
	    {"person_id", JX_STRING, JX_NULLABLE, 1, 64, &in->person_id, NULL},
	    {"dsu_protocol", JX_STRING, JX_REQUIRED, 1, 40, &in->dsu, NULL},
	    {"year", JX_INT, 0, 0, 0, &in->year, &in->year_given},
	    {"signed_on", JX_STRING, JX_REQUIRED, 1, 32, &in->signed_on, NULL},
	    {"indicator_type", JX_STRING, JX_REQUIRED, 1, 32, &in->type, NULL},
	    {"value", JX_STRING, JX_REQUIRED, 1, 32, &in->value, NULL},
	    {"valid_from", JX_STRING, JX_NULLABLE, 1, 32, &in->valid_from, NULL},
	    {"valid_to", JX_STRING, JX_NULLABLE, 1, 32, &in->valid_to, NULL},
	};
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	bool hh_sent = json_object_get(req->json, "household_id") != NULL &&
	               !json_is_null(json_object_get(req->json, "household_id"));
	bool person_sent = json_object_get(req->json, "person_id") != NULL &&
	                   !json_is_null(json_object_get(req->json, "person_id"));
	if (!hh_sent && !person_sent)
		jsonx_error(errors, "household_id", "required",
		            "indicare household_id, person_id o entrambi");
	if (in->household_id && !util_is_uuid(in->household_id))
		jsonx_error(errors, "household_id", "format", "deve essere un UUID");
	if (in->person_id && !util_is_uuid(in->person_id))
		jsonx_error(errors, "person_id", "format", "deve essere un UUID");

	const char *rule, *m;
	int dsu_year = 0;
	if (in->dsu) {
		if ((m = validate_dsu(in->dsu, &rule)) != NULL) {
			jsonx_error(errors, "dsu_protocol", rule, m);
		} else {
			dsu_year = atoi(in->dsu + 10);
		}
	}
	time_t now = time(NULL);
	struct tm tm;
	int this_year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 2099;
	int32_t today = (int32_t)(now / 86400);
	in->year_given = in->year_given && json_is_integer(json_object_get(req->json, "year"));
	if (in->year_given && (in->year < 2015 || in->year > this_year))
		jsonx_error(errors, "year", "range", "anno tra il 2015 e l'anno in corso");
	else if (in->year_given && dsu_year && in->year != dsu_year)
		jsonx_error(errors, "year", "mismatch",
		            "non concorda con l'anno del protocollo DSU");
	if (!in->year_given)
		in->year = dsu_year;

	int32_t signed_days = 0, from_days = 0, to_days = 0;
	bool signed_ok = false, from_ok = false, to_ok = false;
	if (in->signed_on) {
		if ((m = validate_date(in->signed_on, &signed_days, &rule)) != NULL)
			jsonx_error(errors, "signed_on", rule, m);
		else if (signed_days > today)
			jsonx_error(errors, "signed_on", "range", "la data della DSU è nel futuro");
		else if (dsu_year && atoi(in->signed_on) != dsu_year)
			jsonx_error(errors, "signed_on", "mismatch",
			            "non è nell'anno del protocollo DSU");
		else
			signed_ok = true;
	}
	if (in->type && !jsonx_in(in->type, isee_types))
		jsonx_error(errors, "indicator_type", "enum",
		            "uno tra ordinario, ridotto, minorenni, universitario, sociosanitario, "
		            "corrente");
	if (in->value && (m = validate_amount(in->value, true, &in->cents, &rule)) != NULL)
		jsonx_error(errors, "value", rule, m);
	if (in->valid_from) {
		if ((m = validate_date(in->valid_from, &from_days, &rule)) != NULL)
			jsonx_error(errors, "valid_from", rule, m);
		else
			from_ok = true;
	} else if (signed_ok) {
		in->valid_from = in->signed_on;
		from_days = signed_days;
		from_ok = true;
	}
	if (in->valid_to) {
		if ((m = validate_date(in->valid_to, &to_days, &rule)) != NULL)
			jsonx_error(errors, "valid_to", rule, m);
		else
			to_ok = true;
	} else if (from_ok && dsu_year && in->type && jsonx_in(in->type, isee_types)) {
		isee_default_valid_to(in->type, in->valid_from, dsu_year, in->to_buf,
		                      sizeof in->to_buf);
		in->valid_to = in->to_buf;
		to_ok = validate_date(in->valid_to, &to_days, NULL) == NULL;
	}
	if (from_ok && signed_ok && from_days < signed_days)
		jsonx_error(errors, "valid_from", "order", "non può precedere signed_on");
	if (from_ok && to_ok && to_days < from_days)
		jsonx_error(errors, "valid_to", "order", "non può precedere valid_from");
}

static const struct db_stmt st_was_member = {
    "isee_was_member",
    "SELECT 1 FROM household_member WHERE tenant_id = $1 AND household_id = $2 "
    "AND person_id = $3 LIMIT 1",
};

static const struct db_stmt st_duplicate = {
    "isee_duplicate",
    "SELECT id FROM isee WHERE tenant_id = $1 AND dsu_protocol = $2 AND indicator_type = $3 "
    "AND person_id IS NOT DISTINCT FROM $4::uuid",
};

static const struct db_stmt st_insert = {
    "isee_insert",
    "INSERT INTO isee (tenant_id, id, household_id, person_id, dsu_protocol, year, "
    "signed_on, indicator_type, value_cents, valid_from, valid_to, created_by, updated_by) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
};

/* Checks the references of in against the tenant's rows: replies 404
 * naming the field, 400 when the person was never in the household, or 409
 * for an attestation already registered, and returns 1; returns 0 when
 * clear, HTTP_RETRY on a retryable failure. */
static int isee_references(struct http_req *req, const struct isee_in *in)
{
	bool found = true;
	int rc = DB_OK;
	if (in->household_id) {
		rc = api_household_lookup(req, in->household_id, &found);
		if (rc == DB_OK && !found) {
			api_reply_not_found_field(req, "household_id");
			return 1;
		}
	}
	if (rc == DB_OK && in->person_id) {
		rc = api_person_lookup(req, in->person_id, &found, NULL);
		if (rc == DB_OK && !found) {
			api_reply_not_found_field(req, "person_id");
			return 1;
		}
	}
	PGresult *r;
	if (rc == DB_OK && in->household_id && in->person_id) {
		const char *p[3] = {req->principal.tenant_id, in->household_id, in->person_id};
		rc = db_exec(req->arena, &st_was_member, 3, p, &r);
		if (rc == DB_OK && PQntuples(r) == 0) {
			json_t *errors = jsonx_errors_new();
			jsonx_error(errors, "person_id", "not_member",
			            "la persona non è mai stata membro del nucleo household_id");
			http_reply_validation(req, errors);
			return 1;
		}
	}
	if (rc == DB_OK) {
		const char *p[4] = {req->principal.tenant_id, in->dsu, in->type, in->person_id};
		rc = db_exec(req->arena, &st_duplicate, 4, p, &r);
		if (rc == DB_OK && PQntuples(r) > 0) {
			const char *existing = PQgetvalue(r, 0, 0);
			char *loc = arena_printf(req->arena, "/api/v1/isee/%s", existing);
			http_reply_problem_with(
			    req, PROBLEM_CONFLICT,
			    "Attestazione ISEE già registrata per questo protocollo DSU e tipo",
			    json_pack("{s:s, s:s?}", "existing_id", existing, "existing", loc));
			return 1;
		}
	}
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	return 0;
}

/* POST /api/v1/isee */
int api_isee_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct isee_in in;
	json_t *errors = jsonx_errors_new();
	isee_parse(req, &in, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	int rc = isee_references(req, &in);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;

	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	snprintf(in.cents_buf, sizeof in.cents_buf, "%lld", (long long)in.cents);
	snprintf(in.year_buf, sizeof in.year_buf, "%lld", in.year);
	const char *p[12] = {req->principal.tenant_id,
	                     id,
	                     in.household_id,
	                     in.person_id,
	                     in.dsu,
	                     in.year_buf,
	                     in.signed_on,
	                     in.type,
	                     in.cents_buf,
	                     in.valid_from,
	                     in.valid_to,
	                     req->principal.user_id};
	rc = db_exec(req->arena, &st_insert, 12, p, NULL);
	if (rc == DB_UNIQUE)
		return HTTP_RETRY; /* registered concurrently: the retry answers 409 */
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/isee/%s", id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return isee_reply(req, id, 201);
}

static const struct db_stmt st_list = {
    "isee_list",
    "SELECT " ISEE_COLUMNS " FROM isee WHERE tenant_id = $1 "
    "AND ($2::uuid IS NULL OR household_id = $2) "
    "AND ($3::uuid IS NULL OR person_id = $3) "
    "AND ($4::date IS NULL OR (signed_on, id) < ($4::date, $5::uuid)) "
    "ORDER BY signed_on DESC, id DESC LIMIT $6",
};

/* GET /api/v1/isee?household_id=&person_id=&cursor=&limit=: newest DSU
 * first. */
int api_isee_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	const char *cdate, *cid;
	if (api_cursor_date_id(req, http_query(req, "cursor"), &cdate, &cid))
		return 0;
	const char *hid = http_query(req, "household_id"), *pid = http_query(req, "person_id");
	if (hid && !util_is_uuid(hid))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "household_id deve essere un UUID");
	if (pid && !util_is_uuid(pid))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "person_id deve essere un UUID");
	bool found = true;
	int rc = DB_OK;
	if (hid) {
		rc = api_household_lookup(req, hid, &found);
		if (rc == DB_OK && !found)
			return api_reply_not_found_field(req, "household_id");
	}
	if (rc == DB_OK && pid) {
		rc = api_person_lookup(req, pid, &found, NULL);
		if (rc == DB_OK && !found)
			return api_reply_not_found_field(req, "person_id");
	}
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[6] = {req->principal.tenant_id, hid, pid, cdate, cid, slimit};
	PGresult *r;
	rc = db_exec(req->arena, &st_list, 6, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++) {
		if (http_audit_object(req, "isee", PQgetvalue(r, i, IC_ID)) != 0) {
			json_decref(items);
			return -1;
		}
		json_array_append_new(items, isee_json(r, i));
	}
	json_t *next = json_null();
	if (rows > limit)
		next = json_sprintf("%s_%s", PQgetvalue(r, limit - 1, IC_SIGNED),
		                    PQgetvalue(r, limit - 1, IC_ID));
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}
