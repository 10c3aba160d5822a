/* /api/v1/cases/{id}/assignments: who works on a case, in which capacity
 * (case_manager, co_worker, administrative), from when to when. A service
 * manager assigns on every case of the Comune; a social worker only on the
 * cases they are assigned to today. An assignment ends by setting valid_to. */
#include "api/api.h"
#include "api/case_common.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define ASSIGNMENT_COLUMNS \
	"a.id, a.case_id, a.user_id, u.username, a.role_in_case, " API_DATE("a.valid_from") ", " \
	API_DATE("a.valid_to") ", (a.valid_from <= current_date AND (a.valid_to IS NULL OR " \
	"a.valid_to >= current_date)), a.version, " API_TS("a.created_at") ", " \
	"(a.valid_from - DATE '1970-01-01')"
/* clang-format on */
enum {
	A_ID,
	A_CASE,
	A_USER,
	A_USERNAME,
	A_ROLE,
	A_FROM,
	A_TO,
	A_ACTIVE,
	A_VERSION,
	A_CREATED,
	A_FROM_DAYS
};

static const char *const roles_in_case[] = {"case_manager", "co_worker", "administrative", NULL};

/* The wire representation of row i (new reference). */
static json_t *assignment_json(PGresult *r, int i)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:o, s:b, s:I, s:s}", "id",
	                 PQgetvalue(r, i, A_ID), "case_id", PQgetvalue(r, i, A_CASE), "user", "id",
	                 PQgetvalue(r, i, A_USER), "username", PQgetvalue(r, i, A_USERNAME),
	                 "role_in_case", PQgetvalue(r, i, A_ROLE), "valid_from",
	                 PQgetvalue(r, i, A_FROM), "valid_to", api_case_opt(r, i, A_TO), "active",
	                 strcmp(PQgetvalue(r, i, A_ACTIVE), "t") == 0, "version",
	                 (json_int_t)atoll(PQgetvalue(r, i, A_VERSION)), "created_at",
	                 PQgetvalue(r, i, A_CREATED));
}

static const struct db_stmt st_list = {
    "assignments_list",
    "SELECT " ASSIGNMENT_COLUMNS " FROM case_assignment a JOIN app_user u ON u.id = a.user_id "
    "WHERE a.tenant_id = $1 AND a.case_id = $2 ORDER BY a.valid_from, a.id",
};

/* GET /api/v1/cases/{id}/assignments: every assignment, past ones included
 * (a case has few: one page). */
int api_case_assignment_list(struct http_req *req)
{
	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *p[2] = {req->principal.tenant_id, c.id};
	PGresult *r;
	if ((rc = db_exec(req->arena, &st_list, 2, p, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(items, assignment_json(r, i));
	return http_reply_json(req, 200, json_pack("{s:o, s:n}", "items", items, "next_cursor"));
}

static const struct db_stmt st_one = {
    "assignments_one",
    "SELECT " ASSIGNMENT_COLUMNS " FROM case_assignment a JOIN app_user u ON u.id = a.user_id "
    "WHERE a.tenant_id = $1 AND a.case_id = $2 AND a.id = $3",
};

/* Loads assignment aid of case case_id: 0, 1 after replying, HTTP_RETRY. */
static int assignment_load(struct http_req *req, const char *case_id, const char *aid, PGresult **r)
{
	const char *p[3] = {req->principal.tenant_id, case_id, aid};
	return api_load_row(req, &st_one, 3, p, r);
}

/* Replies with assignment aid of case case_id (ETag set). */
static int assignment_reply(struct http_req *req, const char *case_id, const char *aid, int status)
{
	PGresult *r;
	int rc = assignment_load(req, case_id, aid, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	http_set_etag(req, atoll(PQgetvalue(r, 0, A_VERSION)));
	return http_reply_json(req, status, assignment_json(r, 0));
}

/* GET /api/v1/cases/{id}/assignments/{assignment_id} */
int api_case_assignment_read(struct http_req *req)
{
	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return assignment_reply(req, c.id, http_param(req, 1), 200);
}

/* A social worker who is not a service manager may change the assignments
 * of a case only while assigned to it: 0 when allowed, 1 after replying 403. */
static int assignment_may_change(struct http_req *req, const char *case_id)
{
	if (policy_has_role(req->principal.roles, ROLE_SERVICE_MANAGER))
		return 0;
	bool assigned;
	int rc = api_case_is_assigned(req, case_id, &assigned);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (assigned)
		return 0;
	http_reply_problem(req, PROBLEM_FORBIDDEN,
	                   "Solo il responsabile del servizio o chi lavora sulla cartella può "
	                   "assegnarla");
	return 1;
}

static const struct db_stmt st_user_roles = {
    "assignments_user_roles",
    "SELECT r.role FROM user_role r JOIN app_user u ON u.id = r.user_id "
    "WHERE r.tenant_id = $1 AND r.user_id = $2 AND NOT u.disabled",
};

/* The roles of user_id in the caller's tenant (0 when none or disabled). */
static int assignment_user_roles(struct http_req *req, const char *user_id, uint32_t *roles)
{
	*roles = 0;
	const char *p[2] = {req->principal.tenant_id, user_id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_user_roles, 2, p, &r);
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++)
		*roles |= policy_role_bit(PQgetvalue(r, i, 0));
	return rc;
}

static const struct db_stmt st_overlap = {
    "assignments_overlap",
    "SELECT id FROM case_assignment WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3 "
    "AND role_in_case = $4 AND id <> coalesce($7::uuid, '00000000-0000-0000-0000-000000000000') "
    "AND daterange(valid_from, valid_to, '[]') && daterange($5::date, $6::date, '[]')",
};

/* Replies 409 when the user already holds the role in the case over an
 * overlapping period: 1 then, 0 when not, HTTP_RETRY. */
static int assignment_check_overlap(struct http_req *req, const char *const p[7])
{
	PGresult *r;
	int rc = db_exec(req->arena, &st_overlap, 7, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) == 0)
		return 0;
	const char *existing = PQgetvalue(r, 0, 0);
	char *loc = arena_printf(req->arena, "/api/v1/cases/%s/assignments/%s", p[1], existing);
	http_reply_problem_with(req, PROBLEM_CONFLICT,
	                        "L'utente ha già questo ruolo nella cartella in un periodo che si "
	                        "sovrappone",
	                        json_pack("{s:s, s:s?}", "existing_id", existing, "existing", loc));
	return 1;
}

/* Maps an insert or update failure: an exclusion violation (a concurrent
 * overlapping assignment) runs the transaction again, where the check answers. */
static int assignment_db_error(struct http_req *req, int rc)
{
	if (strcmp(db_last_sqlstate(), "23P01") == 0)
		return HTTP_RETRY;
	return http_reply_db_error(req, rc);
}

static const struct db_stmt st_insert = {
    "assignments_insert",
    "INSERT INTO case_assignment (tenant_id, id, case_id, user_id, role_in_case, valid_from, "
    "valid_to, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
};

/* POST /api/v1/cases/{id}/assignments */
int api_case_assignment_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *user_id = NULL, *role = NULL, *from = NULL, *to = NULL;
	const struct jsonx_field spec[] = {
	    {"user_id", JX_STRING, JX_REQUIRED, 1, 36, &user_id, NULL},
	    {"role_in_case", JX_STRING, JX_REQUIRED, 1, 32, &role, NULL},
	    {"valid_from", JX_STRING, 0, 1, 10, &from, NULL},
	    {"valid_to", JX_STRING, JX_NULLABLE, 1, 10, &to, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (user_id != NULL && !util_is_uuid(user_id))
		jsonx_error(errors, "user_id", "format", "deve essere un UUID");
	if (role != NULL && !jsonx_in(role, roles_in_case))
		jsonx_error(errors, "role_in_case", "enum",
		            "uno tra case_manager, co_worker, administrative");
	char today[11];
	api_case_today_text(today);
	int32_t dfrom = api_case_today(), dto;
	if (from == NULL)
		from = today;
	else if (!api_case_date(errors, "valid_from", from, false, &dfrom))
		dfrom = INT32_MIN;
	if (to != NULL && api_case_date(errors, "valid_to", to, false, &dto) &&
	    dfrom != INT32_MIN && dto < dfrom)
		jsonx_error(errors, "valid_to", "range", "non può precedere valid_from");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc == 0)
		rc = assignment_may_change(req, c.id);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (strcmp(c.status, "closed") == 0)
		return api_case_closed_conflict(req);
	uint32_t roles;
	if ((rc = assignment_user_roles(req, user_id, &roles)) != DB_OK)
		return http_reply_db_error(req, rc);
	if (!policy_has_role(roles, POLICY_ANY_ROLE))
		return api_reply_not_found_field(req, "user_id"); /* none, disabled, elsewhere */
	uint32_t need = strcmp(role, "administrative") == 0
	                    ? ROLE_ADMINISTRATIVE
	                    : ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER;
	if (!policy_has_role(roles, need)) {
		jsonx_error(errors, "user_id", "role",
		            strcmp(role, "administrative") == 0
		                ? "l'utente non ha il ruolo administrative nell'ente"
		                : "l'utente non è assistente sociale né responsabile nell'ente");
		return http_reply_validation(req, json_incref(errors));
	}
	const char *po[7] = {req->principal.tenant_id, c.id, user_id, role, from, to, NULL};
	if ((rc = assignment_check_overlap(req, po)) != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *p[8] = {req->principal.tenant_id, id, c.id, user_id, role, from, to,
	                    req->principal.user_id};
	if ((rc = db_exec(req->arena, &st_insert, 8, p, NULL)) != DB_OK)
		return assignment_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/cases/%s/assignments/%s", c.id, id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return assignment_reply(req, c.id, id, 201);
}

static const struct db_stmt st_update = {
    "assignments_update",
    "UPDATE case_assignment SET valid_to = $4, updated_by = $5, updated_at = now(), "
    "version = version + 1 WHERE tenant_id = $1 AND case_id = $2 AND id = $3 AND version = $6",
};

/* PATCH /api/v1/cases/{id}/assignments/{assignment_id}: sets or clears
 * valid_to (ends or extends the assignment). */
int api_case_assignment_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *to = NULL;
	const struct jsonx_field spec[] = {
	    {"valid_to", JX_STRING, JX_NULLABLE, 1, 10, &to, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, 1, errors);
	if (json_object_get(req->json, "valid_to") == NULL)
		jsonx_error(errors, "valid_to", "required", "indicare valid_to (o null)");
	int32_t dto = 0;
	if (to != NULL)
		api_case_date(errors, "valid_to", to, false, &dto);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	struct api_case_ref c;
	PGresult *r;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc == 0)
		rc = assignment_load(req, c.id, http_param(req, 1), &r);
	if (rc == 0)
		rc = assignment_may_change(req, c.id);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *version = PQgetvalue(r, 0, A_VERSION);
	if (http_check_if_match(req, atoll(version)))
		return 0;
	if (to != NULL && dto < (int32_t)atol(PQgetvalue(r, 0, A_FROM_DAYS))) {
		char *m = arena_printf(req->arena, "non può precedere valid_from (%s)",
		                       PQgetvalue(r, 0, A_FROM));
		jsonx_error(errors, "valid_to", "range", m ? m : "precede valid_from");
		return http_reply_validation(req, json_incref(errors));
	}
	const char *aid = PQgetvalue(r, 0, A_ID);
	const char *po[7] = {req->principal.tenant_id,
	                     c.id,
	                     PQgetvalue(r, 0, A_USER),
	                     PQgetvalue(r, 0, A_ROLE),
	                     PQgetvalue(r, 0, A_FROM),
	                     to,
	                     aid};
	if ((rc = assignment_check_overlap(req, po)) != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *p[6] = {req->principal.tenant_id, c.id,   aid, to,
	                    req->principal.user_id,   version};
	PGresult *ur;
	if ((rc = db_exec(req->arena, &st_update, 6, p, &ur)) != DB_OK)
		return assignment_db_error(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY;
	return assignment_reply(req, c.id, aid, 200);
}
