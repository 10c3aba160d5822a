/* The job pool: worker threads that claim queued jobs (app.job_claim: FOR
 * UPDATE SKIP LOCKED, one tenant at a time), run them as their requester and
 * store the result encrypted (AD: job/result/tenant/job id) with its SHA-256;
 * and one housekeeping thread that renews this process's heartbeat on the
 * jobs it runs, queues again the jobs a dead process left running (failed
 * after the third attempt) and deletes expired results
 * (app.job_housekeeping). Each thread has its own database connection. */
#include "api/jobs.h"
#include "api/api.h"
#include "auth/crypt.h"
#include "auth/policy.h"
#include "server/alloc.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/jsonx.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOBS_MAX_WORKERS 64
#define JOBS_IDLE_MS     250

static const struct db_stmt st_claim = {
    "jobs_claim",
    "SELECT tenant_id::text, id::text, kind, parameters::text, requested_by::text, "
    "requester_roles::text FROM app.job_claim($1)",
};

static const struct db_stmt st_housekeeping = {
    "jobs_housekeeping",
    "SELECT requeued, failed, expired FROM app.job_housekeeping($1, $2::integer)",
};

static const struct db_stmt st_done = {
    "jobs_done",
    "UPDATE job SET status = 'done', progress = 100, result_enc = $4, result_type = $5, "
    "result_sha256 = decode($6, 'hex'), result_size = $7::bigint, finished_at = now(), "
    "expires_at = now() + make_interval(secs => ttl_seconds) "
    "WHERE tenant_id = $1 AND id = $2 AND status = 'running' AND runner = $3",
};

static const struct db_stmt st_failed = {
    "jobs_failed",
    "UPDATE job SET status = 'failed', error = $4::jsonb, finished_at = now() "
    "WHERE tenant_id = $1 AND id = $2 AND status = 'running' AND runner = $3",
};

static const struct db_stmt st_progress = {
    "jobs_progress",
    "UPDATE job SET progress = greatest(progress, $3::smallint) "
    "WHERE tenant_id = $1 AND id = $2 AND status = 'running'",
};

static const struct db_stmt st_insert = {
    "jobs_insert",
    "INSERT INTO job (tenant_id, id, kind, parameters, requested_by, requester_roles, "
    "ttl_seconds) VALUES ($1, $2, $3, $4::jsonb, $5, "
    "ARRAY(SELECT jsonb_array_elements_text($6::jsonb)), $7::integer)",
};

enum { C_TENANT, C_ID, C_KIND, C_PARAMS, C_USER, C_ROLES };

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static bool jobs_stopping; /* guarded by jobs_lock */
static bool jobs_running;  /* only the starting/stopping thread touches it */
static pthread_t workers[JOBS_MAX_WORKERS];
static int nworkers;
static pthread_t keeper;
static char runner_id[UTIL_UUID_LEN + 1]; /* this process, for app.job_claim */

/* Waits up to ms milliseconds or until jobs_stop; true when stopping. */
static bool jobs_wait(int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&jobs_lock);
	while (!jobs_stopping)
		if (pthread_cond_timedwait(&jobs_cond, &jobs_lock, &until) == ETIMEDOUT)
			break;
	bool stop = jobs_stopping;
	pthread_mutex_unlock(&jobs_lock);
	return stop;
}

/* Runs one statement with params in a transaction of its own with the
 * context tenant/user (both may be NULL). Borrows everything; *out (may be
 * NULL) is owned by a. Returns a db_rc. */
static int jobs_tx(struct arena *a, const char *tenant, const char *user, const struct db_stmt *st,
                   int n, const char *const *p, PGresult **out)
{
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(a, tenant, user);
	if (rc == DB_OK)
		rc = db_exec(a, st, n, p, out);
	if (rc == DB_OK)
		rc = db_commit();
	else
		db_rollback();
	return rc;
}

/* Borrows run. */
int job_progress(struct arena *a, const struct job_run *run, int percent)
{
	char pct[8];
	snprintf(pct, sizeof pct, "%d", percent < 0 ? 0 : percent > 99 ? 99 : percent);
	const char *p[3] = {run->who.tenant_id, run->id, pct};
	return jobs_tx(a, run->who.tenant_id, run->who.user_id, &st_progress, 3, p, NULL);
}

/* A problem object (new reference) for a job that failed inside. */
static json_t *jobs_internal_problem(const char *detail)
{
	return json_pack("{s:s, s:s, s:i, s:s}", "type", "/problems/internal", "title",
	                 "Errore interno", "status", 500, "detail", detail);
}

/* Stores out (borrowed) as the job's result, or its problem as its error,
 * if this process still runs the job. Returns a db_rc or CRYPT_INTEGRITY. */
static int jobs_store(struct arena *a, const struct job_run *run, const struct job_output *out)
{
	const char *tenant = run->who.tenant_id;
	if (out->status != 200) {
		char *err = json_dumps(out->problem, JSON_COMPACT);
		if (err == NULL || arena_defer(a, free, err) != 0) {
			free(err);
			return DB_ERROR;
		}
		const char *p[4] = {tenant, run->id, runner_id, err};
		return jobs_tx(a, tenant, run->who.user_id, &st_failed, 4, p, NULL);
	}
	unsigned char sum[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(sum, (const unsigned char *)out->body, out->len);
	char hex[2 * crypto_hash_sha256_BYTES + 1], size[24];
	util_hex(sum, sizeof sum, hex);
	snprintf(size, sizeof size, "%zu", out->len);
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(a, tenant, run->who.user_id);
	const char *enc = NULL;
	struct crypt_ctx ctx = {"job", "result", tenant, run->id};
	if (rc == DB_OK)
		rc = crypt_encrypt(a, &ctx, out->body, out->len, &enc);
	const char *p[7] = {tenant, run->id, runner_id, enc, out->type, hex, size};
	if (rc == DB_OK)
		rc = db_exec(a, &st_done, 7, p, NULL);
	if (rc == DB_OK)
		rc = db_commit();
	else
		db_rollback();
	return rc;
}

/* The runner of kind, or NULL. */
static job_runner jobs_runner_of(const char *kind)
{
	if (strcmp(kind, "report") == 0)
		return report_job_run;
	if (strcmp(kind, "subject_access") == 0)
		return subject_access_run;
	return NULL;
}

/* Runs the claimed job in row 0 of r (owned by a). */
static void jobs_run_claimed(struct arena *a, PGresult *r)
{
	struct job_run run;
	memset(&run, 0, sizeof run);
	run.id = PQgetvalue(r, 0, C_ID);
	run.kind = PQgetvalue(r, 0, C_KIND);
	run.who.authenticated = true;
	util_strlcpy(run.who.tenant_id, PQgetvalue(r, 0, C_TENANT), sizeof run.who.tenant_id);
	util_strlcpy(run.who.user_id, PQgetvalue(r, 0, C_USER), sizeof run.who.user_id);
	run.who.roles = policy_roles_from_array(PQgetvalue(r, 0, C_ROLES));
	run.params = json_loads(PQgetvalue(r, 0, C_PARAMS), 0, NULL);
	struct job_output out;
	memset(&out, 0, sizeof out);
	uint64_t t0 = util_mono_ns();
	job_runner fn = jobs_runner_of(run.kind);
	int rc = (fn != NULL && json_is_object(run.params)) ? fn(a, &run, &out) : -1;
	if (rc != 0 || out.status == 0 || (out.status == 200 && out.body == NULL)) {
		json_decref(out.problem);
		memset(&out, 0, sizeof out);
		out.status = 500;
		out.problem = jobs_internal_problem("Il lavoro non è riuscito");
	} else if (out.status == 200 && out.len > (size_t)config.job_result_max) {
		out.status = 413;
		out.problem =
		    json_pack("{s:s, s:s, s:i, s:s}", "type", "/problems/payload-too-large",
		              "title", "Contenuto troppo grande", "status", 413, "detail",
		              "Il risultato supera CARTELLA_JOB_RESULT_MAX");
	}
	if (out.status != 200 && out.problem == NULL)
		out.problem = jobs_internal_problem("Il lavoro non è riuscito");
	rc = jobs_store(a, &run, &out);
	log_event(rc == DB_OK ? LOGL_INFO : LOGL_ERROR, "job finished",
	          json_pack("{s:s, s:s, s:s, s:i, s:I, s:f, s:i}", "component", "jobs", "job",
	                    run.id, "kind", run.kind, "status", out.status, "bytes",
	                    (json_int_t)out.len, "duration_ms", (double)(util_mono_ns() - t0) / 1e6,
	                    "store_rc", rc));
	json_decref(out.problem);
	json_decref(run.params);
}

/* Claims and runs one job. Returns 1 when it ran one, 0 when none was
 * queued, -1 when the database failed. */
static int jobs_one(void)
{
	struct arena *a = arena_new();
	if (a == NULL)
		return -1;
	PGresult *r = NULL;
	const char *p[1] = {runner_id};
	int rc = jobs_tx(a, NULL, NULL, &st_claim, 1, p, &r);
	int ran = rc != DB_OK ? -1 : PQntuples(r) == 1 ? 1 : 0;
	if (ran == 1)
		jobs_run_claimed(a, r);
	arena_free(a);
	return ran;
}

/* A worker thread: claims and runs jobs until stopped. */
static void *jobs_worker(void *arg)
{
	(void)arg;
	for (;;) {
		int ran = jobs_one();
		alloc_release_if_large();
		if (ran == 1) {
			pthread_mutex_lock(&jobs_lock);
			bool stop = jobs_stopping;
			pthread_mutex_unlock(&jobs_lock);
			if (stop)
				break;
			continue;
		}
		if (jobs_wait(ran < 0 ? 1000 : JOBS_IDLE_MS))
			break;
	}
	db_disconnect();
	return NULL;
}

/* One housekeeping pass. Returns a db_rc. */
static int jobs_housekeeping(void)
{
	struct arena *a = arena_new();
	if (a == NULL)
		return DB_ERROR;
	char lease[16];
	snprintf(lease, sizeof lease, "%d", config.job_lease);
	const char *p[2] = {runner_id, lease};
	PGresult *r = NULL;
	int rc = jobs_tx(a, NULL, NULL, &st_housekeeping, 2, p, &r);
	if (rc == DB_OK && PQntuples(r) == 1 &&
	    (atoi(PQgetvalue(r, 0, 0)) | atoi(PQgetvalue(r, 0, 1)) | atoi(PQgetvalue(r, 0, 2))))
		log_event(LOGL_INFO, "job housekeeping",
		          json_pack("{s:s, s:i, s:i, s:i}", "component", "jobs", "requeued",
		                    atoi(PQgetvalue(r, 0, 0)), "failed", atoi(PQgetvalue(r, 0, 1)),
		                    "expired", atoi(PQgetvalue(r, 0, 2))));
	arena_free(a);
	return rc;
}

/* The housekeeping thread: a pass every lease/4 seconds (1 to 15). */
static void *jobs_keeper(void *arg)
{
	(void)arg;
	int period = config.job_lease / 4;
	period = period < 1 ? 1 : period > 15 ? 15 : period;
	int last_rc = DB_OK;
	while (!jobs_wait(period * 1000)) {
		int rc = jobs_housekeeping();
		if (rc != DB_OK && rc != last_rc)
			log_event(LOGL_WARN, "job housekeeping failed; will retry",
			          json_pack("{s:s, s:i, s:s}", "component", "jobs", "rc", rc,
			                    "sqlstate", db_last_sqlstate()));
		last_rc = rc;
	}
	db_disconnect();
	return NULL;
}

int jobs_start(void)
{
	if (jobs_running)
		return 0;
	util_uuid_v4(runner_id);
	pthread_mutex_lock(&jobs_lock);
	jobs_stopping = false;
	pthread_mutex_unlock(&jobs_lock);
	if (jobs_housekeeping() != DB_OK)
		log_event(LOGL_WARN, "job housekeeping at start failed; the thread will retry",
		          json_pack("{s:s}", "component", "jobs"));
	db_disconnect(); /* the threads open their own */
	if (pthread_create(&keeper, NULL, jobs_keeper, NULL) != 0)
		return -1;
	jobs_running = true;
	nworkers = 0;
	int want = config.job_workers < JOBS_MAX_WORKERS ? config.job_workers : JOBS_MAX_WORKERS;
	for (int i = 0; i < want; i++) {
		if (pthread_create(&workers[i], NULL, jobs_worker, NULL) != 0) {
			jobs_stop();
			return -1;
		}
		nworkers++;
	}
	log_event(LOGL_INFO, "job workers started",
	          json_pack("{s:s, s:s, s:i, s:i}", "component", "jobs", "runner", runner_id,
	                    "workers", nworkers, "lease_seconds", config.job_lease));
	return 0;
}

void jobs_stop(void)
{
	if (!jobs_running)
		return;
	pthread_mutex_lock(&jobs_lock);
	jobs_stopping = true;
	pthread_cond_broadcast(&jobs_cond);
	pthread_mutex_unlock(&jobs_lock);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	pthread_join(keeper, NULL);
	nworkers = 0;
	jobs_running = false;
}

/* Borrows params. */
int job_enqueue(struct http_req *req, const char *kind, json_t *params,
                char id_out[UTIL_UUID_LEN + 1])
{
	util_uuid_v4(id_out);
	char *ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *roles = api_roles_json(req->principal.roles);
	char *rtext = roles ? json_dumps(roles, JSON_COMPACT) : NULL;
	json_decref(roles);
	int rc = DB_ERROR;
	char ttl[16];
	snprintf(ttl, sizeof ttl, "%d", config.job_ttl);
	char *location = arena_printf(req->arena, "/api/v1/jobs/%s", id_out);
	if (ptext != NULL && rtext != NULL && location != NULL) {
		const char *p[7] = {req->principal.tenant_id, id_out, kind, ptext,
		                    req->principal.user_id,   rtext,  ttl};
		rc = db_exec(req->arena, &st_insert, 7, p, NULL);
	}
	free(ptext);
	free(rtext);
	if (rc == DB_OK && (http_add_header(req, "Location", location) != 0 ||
	                    http_audit_object(req, "job", id_out) != 0))
		rc = DB_ERROR;
	return rc;
}

int job_no_body(struct http_req *req)
{
	if (req->json == NULL)
		return 0;
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", NULL, 0, errors);
	if (json_array_size(errors) == 0) {
		json_decref(errors);
		return 0;
	}
	http_reply_validation(req, errors);
	return 1;
}
