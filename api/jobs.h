/* Jobs (DESIGN §3.2, §6 "Long work"; schema/019_jobs.sql): long work a user
 * asks for (a report in the background, a subject-access export) runs on a
 * small pool of worker threads, as the user who asked, and leaves its result
 * encrypted with the tenant data key, with its media type and SHA-256. The
 * HTTP side is api/job_routes.c; each kind's work lives with its resource
 * (report jobs in job_routes.c, subject access in subject_access.c). */
#ifndef CARTELLA_JOBS_H
#define CARTELLA_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/http.h"

struct arena;

/* A claimed job as its runner sees it (everything borrowed from the worker). */
struct job_run {
	const char *id;
	const char *kind;
	json_t *params;            /* the job's parameters object */
	struct http_principal who; /* the requester: tenant, user, roles */
};

/* What a runner produced: status 200 with a body (arena-owned, len bytes,
 * media type type), or a problem status with problem (a new reference to an
 * RFC 7807 object without personal data) that the job keeps as its error. */
struct job_output {
	int status;
	const char *type;
	const char *body;
	size_t len;
	json_t *problem;
};

/* A runner: does the job's work outside any transaction (it opens its own,
 * with the requester's tenant and user as context) and fills *out. Allocations
 * belong to arena a. Returns 0, or -1 on an internal failure (the job then
 * fails with 500). */
typedef int (*job_runner)(struct arena *a, const struct job_run *run, struct job_output *out);

/* The runners of the kinds (schema/019_jobs.sql: job.kind). */
int report_job_run(struct arena *a, const struct job_run *run, struct job_output *out);
int subject_access_run(struct arena *a, const struct job_run *run, struct job_output *out);

/* Starts the housekeeping thread (heartbeat, crash recovery, expiry; one
 * pass before returning, so jobs a crashed process left are queued again at
 * start once their lease ran out) and config.job_workers worker threads.
 * Returns 0 or -1. */
int jobs_start(void);

/* Stops the threads: each worker finishes the job in hand, then all are
 * joined. A no-op when not started. */
void jobs_stop(void);

/* Records a runner's progress (0-100) on the job, in a short transaction of
 * its own: call it between transactions, never inside one. Returns a db_rc. */
int job_progress(struct arena *a, const struct job_run *run, int percent);

/* Inserts a queued job of kind with params (borrowed) for the caller of req,
 * in req's transaction, writes its id into id_out, registers it for the audit
 * trail and sets Location: /api/v1/jobs/{id}. Returns a db_rc. */
int job_enqueue(struct http_req *req, const char *kind, json_t *params,
                char id_out[UTIL_UUID_LEN + 1]);

/* A POST that starts a job takes its parameters from the query: a body, if
 * any, must be an empty object. Returns 0, or replies 400 (each member
 * "unknown") and returns 1. */
int job_no_body(struct http_req *req);

/* Replies 202 with the job id's representation (GET /api/v1/jobs/{id}),
 * after job_enqueue. Returns the handler's return value. */
int job_reply_accepted(struct http_req *req, const char *id);

#endif
