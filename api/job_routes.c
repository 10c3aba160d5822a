/* /api/v1/jobs/{id} (status, then 303 to the result), /result (the result,
 * streamed with chunked transfer encoding and its SHA-256 in Repr-Digest),
 * /release (a subject-access result given to the data subject), and the
 * reports started as jobs: POST /api/v1/reports/{report}/jobs with the
 * query parameters of GET /api/v1/reports/{report}, whose runner calls that
 * GET in process as the requester, so the result is the synchronous report
 * byte for byte (docs/api.md, "Jobs"). A job is visible to its requester
 * only (schema/019_jobs.sql); anyone else gets 404. */
#include "api/api.h"
#include "api/jobs.h"
#include "api/reports.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"
#include "server/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define JOB_COLUMNS                                                                                \
	"id::text, kind, parameters::text, status, progress, " TS("created_at") ", " TS(           \
	    "started_at") ", " TS("finished_at") ", " TS("expires_at") ", result_type, "           \
	                                                               "result_size, "             \
	                                                               "encode(result_sha256, "    \
	                                                               "'hex'), error::text, " TS( \
	                                                                   "released_at") ", "     \
	                                                                                  "releas" \
	                                                                                  "ed_by:" \
	                                                                                  ":text," \
	                                                                                  " relea" \
	                                                                                  "se_"    \
	                                                                                  "channe" \
	                                                                                  "l, "    \
	                                                                                  "expire" \
	                                                                                  "s_at "  \
	                                                                                  "<= "    \
	                                                                                  "now()"
enum {
	J_ID,
	J_KIND,
	J_PARAMS,
	J_STATUS,
	J_PROGRESS,
	J_CREATED,
	J_STARTED,
	J_FINISHED,
	J_EXPIRES,
	J_TYPE,
	J_SIZE,
	J_SHA,
	J_ERROR,
	J_RELEASED_AT,
	J_RELEASED_BY,
	J_CHANNEL,
	J_PAST_EXPIRY,
	J__COUNT
};

static const struct db_stmt st_one = {
    "job_one",
    "SELECT " JOB_COLUMNS " FROM job WHERE tenant_id = $1 AND id = $2",
};

static const struct db_stmt st_result = {
    "job_result",
    "SELECT " JOB_COLUMNS ", result_enc FROM job WHERE tenant_id = $1 AND id = $2",
};

static const struct db_stmt st_release = {
    "job_release",
    "UPDATE job SET released_at = now(), released_by = app.user_id(), release_channel = $3 "
    "WHERE tenant_id = $1 AND id = $2 AND kind = 'subject_access' AND status = 'done' "
    "AND released_at IS NULL AND expires_at > now() RETURNING id",
};

/* Text of column c of row 0, or NULL when SQL NULL. */
static const char *col(PGresult *r, int c)
{
	return PQgetisnull(r, 0, c) ? NULL : PQgetvalue(r, 0, c);
}

/* A nullable string column as JSON (new reference). */
static json_t *col_json(PGresult *r, int c)
{
	return PQgetisnull(r, 0, c) ? json_null() : json_string(PQgetvalue(r, 0, c));
}

/* The status a client sees: a done job past its expiry reads "expired"
 * before the sweeper has deleted its result. */
static const char *job_status(PGresult *r)
{
	const char *s = PQgetvalue(r, 0, J_STATUS);
	if (strcmp(s, "done") == 0 && strcmp(PQgetvalue(r, 0, J_PAST_EXPIRY), "t") == 0)
		return "expired";
	return s;
}

/* The job in row 0 of r as the API shows it (new reference, NULL on OOM). */
static json_t *job_json(PGresult *r)
{
	const char *id = PQgetvalue(r, 0, J_ID);
	const char *status = job_status(r);
	json_t *params = json_loads(PQgetvalue(r, 0, J_PARAMS), 0, NULL);
	json_t *o =
	    json_pack("{s:s, s:s, s:o, s:s, s:i, s:o, s:o, s:o, s:o}", "id", id, "kind",
	              PQgetvalue(r, 0, J_KIND), "parameters", params ? params : json_null(),
	              "status", status, "progress", atoi(PQgetvalue(r, 0, J_PROGRESS)),
	              "created_at", col_json(r, J_CREATED), "started_at", col_json(r, J_STARTED),
	              "finished_at", col_json(r, J_FINISHED), "expires_at", col_json(r, J_EXPIRES));
	if (o == NULL)
		return NULL;
	json_t *result = json_null();
	if (strcmp(status, "done") == 0) {
		char href[64];
		snprintf(href, sizeof href, "/api/v1/jobs/%s/result", id);
		result = json_pack("{s:s, s:s, s:I, s:s}", "href", href, "media_type",
		                   PQgetvalue(r, 0, J_TYPE), "size",
		                   (json_int_t)atoll(PQgetvalue(r, 0, J_SIZE)), "sha256",
		                   PQgetvalue(r, 0, J_SHA));
	}
	json_object_set_new(o, "result", result ? result : json_null());
	json_t *err = col(r, J_ERROR) ? json_loads(col(r, J_ERROR), 0, NULL) : NULL;
	json_object_set_new(o, "error", err ? err : json_null());
	if (strcmp(PQgetvalue(r, 0, J_KIND), "subject_access") == 0)
		json_object_set_new(o, "release",
		                    col(r, J_RELEASED_AT)
		                        ? json_pack("{s:s, s:s, s:s}", "released_at",
		                                    col(r, J_RELEASED_AT), "released_by",
		                                    col(r, J_RELEASED_BY), "channel",
		                                    col(r, J_CHANNEL))
		                        : json_null());
	return o;
}

/* Loads the caller's job {id} (param 0) with st. Returns 0, 1 after
 * replying (404, error) or HTTP_RETRY. */
static int job_load(struct http_req *req, const struct db_stmt *st, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, http_param(req, 0)};
	return api_load_row(req, st, 2, p, r);
}

/* Borrows id. */
int job_reply_accepted(struct http_req *req, const char *id)
{
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_one, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return -1;
	return http_reply_json(req, 202, job_json(r));
}

/* GET /api/v1/jobs/{id}: 200 with the job; 303 to its result once done. */
int api_job_read(struct http_req *req)
{
	PGresult *r;
	int rc = job_load(req, &st_one, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	bool done = strcmp(job_status(r), "done") == 0;
	if (done) {
		char loc[64];
		snprintf(loc, sizeof loc, "/api/v1/jobs/%s/result", PQgetvalue(r, 0, J_ID));
		if (http_add_header(req, "Location", loc) != 0)
			return -1;
	}
	return http_reply_json(req, done ? 303 : 200, job_json(r));
}

/* Registers the person a subject-access job is about (params text of row 0)
 * for the audit trail, so the download shows in the person's access log. */
static int job_audit_subject(struct http_req *req, PGresult *r)
{
	if (strcmp(PQgetvalue(r, 0, J_KIND), "subject_access") != 0)
		return 0;
	json_t *params = json_loads(PQgetvalue(r, 0, J_PARAMS), 0, NULL);
	const char *person = json_string_value(json_object_get(params, "person_id"));
	int rc =
	    (person != NULL && util_is_uuid(person)) ? http_audit_object(req, "person", person) : 0;
	json_decref(params);
	return rc;
}

/* GET /api/v1/jobs/{id}/result: the result bytes, streamed (chunked), with
 * Repr-Digest: sha-256=:<base64>: (RFC 9530); 410 once expired; 409 while
 * the job is not done. */
int api_job_result(struct http_req *req)
{
	PGresult *r;
	int rc = job_load(req, &st_result, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *status = job_status(r);
	if (strcmp(status, "expired") == 0)
		return http_reply_problem(req, PROBLEM_GONE,
		                          "Il risultato è scaduto ed è stato cancellato; avviare "
		                          "di nuovo il lavoro");
	if (strcmp(status, "done") != 0)
		return http_reply_problem(req, PROBLEM_CONFLICT,
		                          strcmp(status, "failed") == 0
		                              ? "Il lavoro non è riuscito: nessun risultato"
		                              : "Il lavoro non è ancora concluso");
	const char *id = PQgetvalue(r, 0, J_ID);
	struct crypt_ctx ctx = {"job", "result", req->principal.tenant_id, id};
	const char *body = NULL;
	size_t len = 0;
	rc = crypt_decrypt(req->arena, &ctx, PQgetvalue(r, 0, J__COUNT), &body, &len);
	if (rc == CRYPT_INTEGRITY)
		return http_reply_problem(req, PROBLEM_INTERNAL, NULL);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	unsigned char sum[crypto_hash_sha256_BYTES];
	if (sodium_hex2bin(sum, sizeof sum, PQgetvalue(r, 0, J_SHA), 2 * sizeof sum, NULL, NULL,
	                   NULL) != 0)
		return -1;
	char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
	                                   sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof b64, sum, sizeof sum, sodium_base64_VARIANT_ORIGINAL);
	char *digest = arena_printf(req->arena, "sha-256=:%s:", b64);
	char *disposition = arena_printf(req->arena, "attachment; filename=\"job-%s\"", id);
	if (digest == NULL || disposition == NULL ||
	    http_add_header(req, "Repr-Digest", digest) != 0 ||
	    http_add_header(req, "Content-Disposition", disposition) != 0 ||
	    http_audit_object(req, "job", id) != 0 || job_audit_subject(req, r) != 0)
		return -1;
	return http_reply_stream(req, 200, PQgetvalue(r, 0, J_TYPE), body, len);
}

/* PUT /api/v1/jobs/{id}/release {channel}: records that the result of a
 * subject-access job was given to the data subject (once). */
int api_job_release(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *channel = NULL;
	const struct jsonx_field spec[] = {
	    {"channel", JX_STRING, JX_REQUIRED, 1, 16, &channel, NULL},
	};
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, 1, errors);
	static const char *const channels[] = {"in_person", "post", "email", "pec", NULL};
	if (channel != NULL && !jsonx_in(channel, channels))
		jsonx_error(errors, "channel", "enum", "uno tra in_person, post, email, pec");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	PGresult *r;
	int rc = job_load(req, &st_one, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (strcmp(PQgetvalue(r, 0, J_KIND), "subject_access") != 0)
		return http_reply_problem(
		    req, PROBLEM_CONFLICT,
		    "Solo il risultato di un accesso dell'interessato si consegna");
	if (col(r, J_RELEASED_AT) != NULL)
		return http_reply_problem(req, PROBLEM_CONFLICT, "Risultato già consegnato");
	if (strcmp(job_status(r), "done") != 0)
		return http_reply_problem(req, PROBLEM_CONFLICT,
		                          "Il lavoro non ha un risultato da consegnare");
	const char *p[3] = {req->principal.tenant_id, PQgetvalue(r, 0, J_ID), channel};
	PGresult *u;
	if ((rc = db_exec(req->arena, &st_release, 3, p, &u)) != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(u) != 1)
		return http_reply_problem(req, PROBLEM_CONFLICT, "Risultato già consegnato");
	if (http_audit_object(req, "job", p[1]) != 0 || job_audit_subject(req, r) != 0 ||
	    (rc = db_exec(req->arena, &st_one, 2, p, &r)) != DB_OK)
		return rc == DB_OK ? -1 : http_reply_db_error(req, rc);
	return http_reply_json(req, 200, job_json(r));
}

/* ------------------------------------------------------------ report jobs */

/* A report that can run as a job: its GET path, the query parameters it
 * reads and the formats it answers in. */
struct report_job {
	const char *name;
	const char *const *params;
	bool tabular; /* JSON, CSV, XLSX; else the one format of the report */
	int (*check)(struct http_req *req);
};

/* The checks of the synchronous reports, run on the POST's query. */
static int check_scope(struct http_req *req)
{
	struct rp_scope sc;
	memset(&sc, 0, sizeof sc);
	return rp_scope_read(req, &sc);
}

static int check_years(struct http_req *req)
{
	struct rp_scope sc;
	memset(&sc, 0, sizeof sc);
	int rc = rp_scope_read(req, &sc);
	long long ys[IN_MAX_YEARS];
	size_t n;
	return rc != 0 ? rc : rp_years_read(req, &sc, ys, &n);
}

static const char *const scope_params[] = {"year", "tenant", NULL};
static const char *const indicator_params[] = {"year", "tenant", "from", "to", "years", NULL};
static const char *const batch_params[] = {"from", "to", NULL};

static const struct report_job report_jobs[] = {
    {"regional-spending", scope_params, true, check_scope},
    {"istat-survey", scope_params, true, check_scope},
    {"indicators", indicator_params, true, check_years},
    {"siuss-batch", batch_params, false, api_siuss_batch_params},
};

#define XLSX_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/* The Accept header a format asks the report for, or NULL for an unknown
 * format. */
static const char *format_accept(const char *format)
{
	if (strcmp(format, "json") == 0)
		return "application/json";
	if (strcmp(format, "csv") == 0)
		return "text/csv";
	if (strcmp(format, "xlsx") == 0)
		return XLSX_TYPE;
	return NULL;
}

/* POST /api/v1/reports/{report}/jobs?<the report's parameters>&format=:
 * checks them as the report would, then queues the job (202). */
static int report_job_start(struct http_req *req, const struct report_job *rj)
{
	if (job_no_body(req))
		return 0;
	const char *format = http_query(req, "format");
	if (format != NULL && (!rj->tabular || format_accept(format) == NULL))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          rj->tabular
		                              ? "format: uno tra json, csv, xlsx"
		                              : "format: questo rapporto ha un solo formato");
	int rc = rj->check(req);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	json_t *query = json_object();
	for (size_t i = 0; rj->params[i] != NULL; i++) {
		const char *v = http_query(req, rj->params[i]);
		if (v != NULL)
			json_object_set_new(query, rj->params[i], json_string(v));
	}
	json_t *params = json_pack("{s:s, s:o, s:s}", "report", rj->name, "query", query, "format",
	                           format ? format : (rj->tabular ? "json" : "xml"));
	char id[UTIL_UUID_LEN + 1];
	rc = params ? job_enqueue(req, "report", params, id) : DB_ERROR;
	json_decref(params);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return job_reply_accepted(req, id);
}

int api_report_job_regional_spending(struct http_req *req)
{
	return report_job_start(req, &report_jobs[0]);
}

int api_report_job_istat_survey(struct http_req *req)
{
	return report_job_start(req, &report_jobs[1]);
}

int api_report_job_indicators(struct http_req *req)
{
	return report_job_start(req, &report_jobs[2]);
}

int api_report_job_siuss_batch(struct http_req *req)
{
	return report_job_start(req, &report_jobs[3]);
}

/* The query string of the report's GET from the job's query object: values
 * were checked by the report's own rules at POST (digits, dates, tenant
 * codes), so they need no escaping. Arena-owned; NULL on OOM or a value
 * that is not plain. */
static char *report_query(struct arena *a, json_t *query)
{
	char *q = arena_strdup(a, "");
	const char *k;
	json_t *v;
	json_object_foreach(query, k, v)
	{
		const char *s = json_string_value(v);
		if (q == NULL || s == NULL ||
		    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-,") != strlen(s))
			return NULL;
		q = arena_printf(a, "%s%s%s=%s", q, q[0] ? "&" : "", k, s);
	}
	return q;
}

/* Borrows run; out's body is owned by a. The report runs in process as the
 * requester, through the same route, policy, transaction and audit as GET. */
int report_job_run(struct arena *a, const struct job_run *run, struct job_output *out)
{
	const char *name = json_string_value(json_object_get(run->params, "report"));
	const char *format = json_string_value(json_object_get(run->params, "format"));
	char *query = report_query(a, json_object_get(run->params, "query"));
	if (name == NULL || format == NULL || query == NULL)
		return -1;
	const char *accept = strcmp(format, "xml") == 0 ? "application/xml" : format_accept(format);
	char *path = arena_printf(a, "/api/v1/reports/%s%s%s", name, query[0] ? "?" : "", query);
	if (accept == NULL || path == NULL)
		return -1;
	const struct http_header headers[] = {{"Accept", accept}, {NULL, NULL}};
	if (job_progress(a, run, 10) != DB_OK)
		return -1;
	struct http_req *req = NULL;
	if (http_call_local(a, "GET", path, NULL, headers, &run->who, &req) != 0 || req == NULL)
		return -1;
	out->status = req->status;
	if (req->status == 200) {
		out->type = req->resp_type;
		out->body = req->resp_body;
		out->len = req->resp_len;
		return 0;
	}
	out->problem = json_loadb(req->resp_body, req->resp_len, 0, NULL);
	json_object_del(out->problem, "instance");
	return 0;
}
