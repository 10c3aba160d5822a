/* /api/v1/access-contacts: segretariato sociale, the contacts at the front
 * office (or by phone, e-mail, home visit). The person may stay anonymous;
 * the request is free text and is stored encrypted. A contact that opened
 * a case links to it (and so to its person). */
#include "api/api.h"
#include "api/case_common.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUEST_MAX_CHARS 5000
#define AREA_LIST         "siuss-user-areas"

static const char *const channels[] = {"front_office", "phone", "email",
                                       "home_visit",   "other", NULL};
static const char *const outcomes[] = {"information", "referral", "case_opened", "none", NULL};

/* clang-format off */
#define CONTACT_COLUMNS \
	"a.id, " API_DATE("a.contact_on") ", a.channel, a.person_id, a.area, a.request_enc, " \
	"a.outcome, a.case_id, " API_TS("a.created_at") ", a.created_by, u.username"
/* clang-format on */
enum {
	K_ID,
	K_ON,
	K_CHANNEL,
	K_PERSON,
	K_AREA,
	K_REQUEST,
	K_OUTCOME,
	K_CASE,
	K_CREATED,
	K_BY,
	K_USERNAME
};

/* The wire representation of row i (request decrypted); NULL with *rc. */
static json_t *contact_json(struct http_req *req, PGresult *r, int i, int *rc)
{
	const char *request;
	*rc = api_case_decrypt(req, "access_contact", "request", PQgetvalue(r, i, K_ID), r, i,
	                       K_REQUEST, &request);
	if (*rc != DB_OK)
		return NULL;
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:s, s:{s:o, s:o}}", "id",
	                      PQgetvalue(r, i, K_ID), "contact_on", PQgetvalue(r, i, K_ON),
	                      "channel", PQgetvalue(r, i, K_CHANNEL), "person_id",
	                      api_case_opt(r, i, K_PERSON), "area", api_case_opt(r, i, K_AREA),
	                      "request", request ? json_string(request) : json_null(), "outcome",
	                      PQgetvalue(r, i, K_OUTCOME), "case_id", api_case_opt(r, i, K_CASE),
	                      "created_at", PQgetvalue(r, i, K_CREATED), "created_by", "id",
	                      api_case_opt(r, i, K_BY), "username", api_case_opt(r, i, K_USERNAME));
	*rc = o ? DB_OK : DB_ERROR;
	return o;
}

static const struct db_stmt st_list = {
    "access_contacts_list",
    "SELECT " CONTACT_COLUMNS " FROM access_contact a LEFT JOIN app_user u ON u.id = "
    "a.created_by WHERE a.tenant_id = $1 "
    "AND ($2::uuid IS NULL OR (a.contact_on, a.id) < (SELECT k.contact_on, k.id FROM "
    "access_contact k WHERE k.tenant_id = $1 AND k.id = $2)) "
    "AND ($3::uuid IS NULL OR a.person_id = $3) AND ($4::uuid IS NULL OR a.case_id = $4) "
    "AND ($5::text IS NULL OR a.outcome = $5) "
    "ORDER BY a.contact_on DESC, a.id DESC LIMIT $6",
};

/* GET /api/v1/access-contacts?person_id=&case_id=&outcome=&cursor=&limit= */
int api_access_contact_list(struct http_req *req)
{
	int limit;
	const char *cursor;
	if (http_page_limit(req, 50, &limit) || api_case_cursor(req, &cursor))
		return 0;
	const char *person_id = http_query(req, "person_id"), *case_id = http_query(req, "case_id"),
	           *outcome = http_query(req, "outcome");
	if (outcome != NULL && !jsonx_in(outcome, outcomes))
		return http_reply_problem(
		    req, PROBLEM_BAD_PARAMETER,
		    "outcome: uno tra information, referral, case_opened, none");
	if ((person_id != NULL && !util_is_uuid(person_id)) ||
	    (case_id != NULL && !util_is_uuid(case_id)))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "person_id e case_id sono UUID");
	int rc = 0;
	if ((person_id != NULL &&
	     (rc = api_case_check_ref(req, "person", person_id, "person_id"))) ||
	    (case_id != NULL && (rc = api_case_check_ref(req, "social_case", case_id, "case_id"))))
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[6] = {req->principal.tenant_id, cursor, person_id, case_id, outcome, slimit};
	PGresult *r;
	if ((rc = db_exec(req->arena, &st_list, 6, p, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	if (api_case_keep(req, items) != 0)
		return -1;
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++) {
		json_t *o = contact_json(req, r, i, &rc);
		if (o == NULL)
			return api_case_fail(req, rc);
		json_array_append_new(items, o);
		if (http_audit_object(req, "access-contact", PQgetvalue(r, i, K_ID)) != 0)
			return -1;
	}
	json_t *next = rows > limit ? json_string(PQgetvalue(r, limit - 1, K_ID)) : json_null();
	return http_reply_json(req, 200,
	                       json_pack("{s:O, s:o}", "items", items, "next_cursor", next));
}

static const struct db_stmt st_one = {
    "access_contacts_one",
    "SELECT " CONTACT_COLUMNS " FROM access_contact a LEFT JOIN app_user u ON u.id = "
    "a.created_by WHERE a.tenant_id = $1 AND a.id = $2",
};

/* Replies with contact id. */
static int contact_reply(struct http_req *req, const char *id, int status)
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
	json_t *o = contact_json(req, r, 0, &rc);
	if (o == NULL)
		return api_case_fail(req, rc);
	return http_reply_json(req, status, o);
}

/* GET /api/v1/access-contacts/{id} */
int api_access_contact_read(struct http_req *req)
{
	return contact_reply(req, http_param(req, 0), 200);
}

static const struct db_stmt st_insert = {
    "access_contacts_insert",
    "INSERT INTO access_contact (tenant_id, id, contact_on, channel, person_id, area, "
    "request_enc, outcome, case_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10)",
};

/* POST /api/v1/access-contacts: {contact_on, channel, person_id, area,
 * request, outcome, case_id}. With case_id and no person_id the contact is
 * linked to the case's person; with both they must agree. */
int api_access_contact_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *on = NULL, *channel = NULL, *person_id = NULL, *area = NULL, *request = NULL,
	           *outcome = NULL, *case_id = NULL;
	const struct jsonx_field spec[] = {
	    {"contact_on", JX_STRING, 0, 1, 10, &on, NULL},
	    {"channel", JX_STRING, JX_REQUIRED, 1, 16, &channel, NULL},
	    {"person_id", JX_STRING, JX_NULLABLE, 1, 36, &person_id, NULL},
	    {"area", JX_STRING, JX_NULLABLE, 1, 32, &area, NULL},
	    {"request", JX_STRING, JX_NULLABLE, 1, REQUEST_MAX_CHARS, &request, NULL},
	    {"outcome", JX_STRING, JX_REQUIRED, 1, 16, &outcome, NULL},
	    {"case_id", JX_STRING, JX_NULLABLE, 1, 36, &case_id, NULL},
	};
	json_t *errors = jsonx_errors_new(), *pending = json_array();
	if (api_case_keep(req, errors) != 0 || api_case_keep(req, pending) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (channel != NULL && !jsonx_in(channel, channels))
		jsonx_error(errors, "channel", "enum",
		            "uno tra front_office, phone, email, home_visit, other");
	if (outcome != NULL && !jsonx_in(outcome, outcomes))
		jsonx_error(errors, "outcome", "enum",
		            "uno tra information, referral, case_opened, none");
	if (outcome != NULL && strcmp(outcome, "case_opened") == 0 && case_id == NULL)
		jsonx_error(errors, "case_id", "required",
		            "un contatto che ha aperto una cartella indica quale (case_id)");
	if (person_id != NULL && !util_is_uuid(person_id))
		jsonx_error(errors, "person_id", "format", "deve essere un UUID");
	if (case_id != NULL && !util_is_uuid(case_id))
		jsonx_error(errors, "case_id", "format", "deve essere un UUID");
	char today[11];
	api_case_today_text(today);
	int32_t days;
	if (on == NULL)
		on = today;
	else
		api_case_date(errors, "contact_on", on, true, &days);
	if (area != NULL)
		api_codes_add(pending, "area", AREA_LIST, area);
	int rc = api_codes_verify(req, pending, errors);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	if (person_id != NULL && (rc = api_case_check_ref(req, "person", person_id, "person_id")))
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (case_id != NULL) {
		struct api_case_ref c;
		if ((rc = api_case_check_ref(req, "social_case", case_id, "case_id")) != 0 ||
		    (rc = api_case_find(req, case_id, &c)) != 0)
			return rc == HTTP_RETRY ? HTTP_RETRY : 0;
		if (person_id == NULL) {
			person_id = c.person_id;
		} else if (strcmp(person_id, c.person_id) != 0) {
			jsonx_error(errors, "case_id", "mismatch",
			            "la cartella è di un'altra persona (person_id)");
			return http_reply_validation(req, json_incref(errors));
		}
	}
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *enc;
	if ((rc = api_case_encrypt(req, "access_contact", "request", id, request, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[10] = {
	    req->principal.tenant_id, id, on, channel, person_id, area, enc, outcome, case_id,
	    req->principal.user_id};
	if ((rc = db_exec(req->arena, &st_insert, 10, p, NULL)) != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/access-contacts/%s", id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return contact_reply(req, id, 201);
}
