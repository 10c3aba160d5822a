/* /api/v1/staffing/{tenant}/{year}: the professional social workers of a
 * Comune (or of the Ambito, for its associated services) in a year, in
 * full-time equivalents, as the personnel office counts them: the source of
 * the indicator "assistenti sociali ogni 4.000 abitanti" (docs/reporting.md).
 * Not personal data. The tenant's administrator, or its Ambito's, records it
 * (PUT, with If-Match once recorded); every role may read it. */
#include "api/api.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct db_stmt st_read = {
    "staffing_read",
    "SELECT to_char(social_workers_fte, 'FM9990.00'), version FROM staffing "
    "WHERE tenant_id = $1 AND year = $2",
};

static const struct db_stmt st_upsert = {
    "staffing_upsert",
    "INSERT INTO staffing (tenant_id, year, social_workers_fte, loaded_by) "
    "VALUES ($1, $2, $3::numeric, $4) ON CONFLICT (tenant_id, year) DO UPDATE SET "
    "social_workers_fte = EXCLUDED.social_workers_fte, loaded_by = EXCLUDED.loaded_by, "
    "loaded_at = now(), version = staffing.version + 1 WHERE staffing.version = $5::int",
};

/* True when s is a decimal FTE "N", "N.N" or "N.NN" with 1-4 integer digits. */
static bool staffing_fte_ok(const char *s)
{
	size_t i = strspn(s, "0123456789");
	if (i < 1 || i > 4)
		return false;
	if (s[i] == '\0')
		return true;
	size_t d = strspn(s + i + 1, "0123456789");
	return s[i] == '.' && d >= 1 && d <= 2 && s[i + 1 + d] == '\0';
}

/* Replies with the record of tenant_id (borrowed) for year, or 404. */
static int staffing_reply(struct http_req *req, const char *tenant_id, const char *year)
{
	const char *p[2] = {tenant_id, year};
	PGresult *r;
	int rc = db_exec(req->arena, &st_read, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) == 0)
		return http_reply_problem(req, PROBLEM_NOT_FOUND,
		                          "nessun dato sul personale per l'ente e l'anno");
	http_set_etag(req, atoll(PQgetvalue(r, 0, 1)));
	return http_reply_json(req, 200,
	                       json_pack("{s:s, s:I, s:s}", "tenant", http_param(req, 0), "year",
	                                 (json_int_t)atoll(year), "social_workers_fte",
	                                 PQgetvalue(r, 0, 0)));
}

/* GET /api/v1/staffing/{tenant}/{year} */
int api_staffing_read(struct http_req *req)
{
	const char *tenant_id;
	char year[8];
	int rc = api_tenant_year_target(req, true, &tenant_id, year, sizeof year);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return staffing_reply(req, tenant_id, year);
}

/* PUT /api/v1/staffing/{tenant}/{year} {social_workers_fte}: records or
 * replaces the figure (If-Match once there is one: 428, 412). */
int api_staffing_replace(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *fte = NULL;
	const struct jsonx_field spec[] = {
	    {"social_workers_fte", JX_STRING, JX_REQUIRED, 1, 7, &fte, NULL},
	};
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, 1, errors);
	if (fte != NULL && !staffing_fte_ok(fte))
		jsonx_error(errors, "social_workers_fte", "format",
		            "numero di operatori equivalenti a tempo pieno, es. \"3.50\" (da 0 a "
		            "9999.99)");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	const char *tenant_id;
	char year[8];
	int rc = api_tenant_year_target(req, true, &tenant_id, year, sizeof year);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *rp[2] = {tenant_id, year};
	PGresult *r;
	if ((rc = db_exec(req->arena, &st_read, 2, rp, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *version = "0";
	if (PQntuples(r) == 1) {
		version = PQgetvalue(r, 0, 1);
		if (http_check_if_match(req, atoll(version)))
			return 0;
	}
	const char *p[5] = {tenant_id, year, fte,
	                    req->principal.user_id[0] ? req->principal.user_id : NULL, version};
	if ((rc = db_exec(req->arena, &st_upsert, 5, p, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(r), "1") != 0)
		return HTTP_RETRY;
	return staffing_reply(req, tenant_id, year);
}
