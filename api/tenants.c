/* /api/v1/tenants: the Comuni and Ambiti (reference data every role reads;
 * membership of an Ambito is data: parent_id, valid_from, valid_to). */
#include "api/api.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT_COLUMNS                                                                             \
	"id, kind, code, name, istat_code, belfiore_code, parent_id, "                             \
	"to_char(valid_from, 'YYYY-MM-DD'), to_char(valid_to, 'YYYY-MM-DD')"
enum { TC_ID, TC_KIND, TC_CODE, TC_NAME, TC_ISTAT, TC_BELFIORE, TC_PARENT, TC_FROM, TC_TO };

static const struct db_stmt st_list = {
    "tenants_list",
    "SELECT " TENANT_COLUMNS " FROM tenant WHERE ($1::text IS NULL OR code > $1) "
    "ORDER BY code LIMIT $2",
};

static const struct db_stmt st_one = {
    "tenants_one",
    "SELECT " TENANT_COLUMNS " FROM tenant WHERE id = $1",
};

static json_t *text_or_null(PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ? json_null() : json_string(PQgetvalue(r, i, col));
}

/* The tenant as the API shows it (new reference). */
static json_t *tenant_json(PGresult *r, int i)
{
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", PQgetvalue(r, i, TC_ID), "kind",
	    PQgetvalue(r, i, TC_KIND), "code", PQgetvalue(r, i, TC_CODE), "name",
	    PQgetvalue(r, i, TC_NAME), "istat_code", text_or_null(r, i, TC_ISTAT), "belfiore_code",
	    text_or_null(r, i, TC_BELFIORE), "parent_id", text_or_null(r, i, TC_PARENT),
	    "valid_from", text_or_null(r, i, TC_FROM), "valid_to", text_or_null(r, i, TC_TO));
}

/* GET /api/v1/tenants[?cursor=&limit=] (ordered by code) */
int api_tenant_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	bool bad;
	const char *after = api_cursor_decode(req, 32, &bad);
	if (bad)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[2] = {after, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++)
		json_array_append_new(items, tenant_json(r, i));
	json_t *next = NULL;
	if (rows > limit &&
	    (next = api_cursor_encode(req->arena, PQgetvalue(r, limit - 1, TC_CODE))) == NULL) {
		json_decref(items);
		return -1;
	}
	return http_reply_json(
	    req, 200,
	    json_pack("{s:o, s:o}", "items", items, "next_cursor", next ? next : json_null()));
}

/* GET /api/v1/tenants/{id} */
int api_tenant_read(struct http_req *req)
{
	const char *id = http_param(req, 0);
	if (!util_is_uuid(id))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	const char *p[1] = {id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_one, 1, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	return http_reply_json(req, 200, tenant_json(r, 0));
}
