/* HTTP plumbing over libmicrohttpd: the daemon, the per-request state, the
 * one path every request takes (route → body → transaction → authenticate →
 * authorise → handler → commit → response), and the reply helpers handlers
 * use. Handlers never call MHD or libpq directly. */
#ifndef CARTELLA_HTTP_H
#define CARTELLA_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/problem.h"
#include "server/router.h"
#include "server/util.h"

struct arena;
struct MHD_Connection;
struct http_conn;

#define HTTP_MAX_HEADERS 8
#define HTTP_RETRY       2 /* handler return: run the whole transaction again */

/* Who is calling: filled by the authenticate hook. */
struct http_principal {
	bool authenticated;
	char user_id[UTIL_UUID_LEN + 1];
	char tenant_id[UTIL_UUID_LEN + 1];
	char session_id[UTIL_UUID_LEN + 1];
	char username[65];
	char tenant_code[33];
	uint32_t roles; /* bit set; bits are defined by auth/policy.h */
	/* An integration client instead of a staff session: user_id,
	 * session_id, username and roles stay empty; scopes (bits defined by
	 * auth/policy.h) are what it may do; client_ref names it in the audit
	 * trail ("api:<client uuid>" or "pdnd:<e-service>:<consumer>:<purpose>"). */
	bool client;
	uint32_t scopes;
	char client_id[UTIL_UUID_LEN + 1]; /* the api_client row; empty for PDND */
	char client_ref[200];
	/* How the session passed the second factor (session.second_factor):
	 * "none", "totp", "recovery_code" or "enrolment_required"; "" for
	 * in-process calls. */
	char second_factor[24];
};

struct http_header {
	const char *name;
	const char *value;
};

/* One object a handler read or wrote, for the audit trail (arena-owned). */
struct http_audit_obj {
	struct http_audit_obj *next;
	const char *type; /* "person", "case", ... */
	const char *id;   /* a UUID */
};

struct http_req {
	struct arena *arena; /* everything below that is a pointer lives here */
	struct MHD_Connection *conn;
	struct http_conn *hc;
	const char *method;
	char *path; /* routing copy; placeholders split out */
	const struct route *route;
	const char *params[ROUTE_MAX_PARAMS];
	char request_id[65];
	char client_ip[64];
	uint64_t start_ns;

	char *body; /* malloc'd, freed on completion */
	size_t body_len;
	bool has_body;
	bool body_overflow;
	bool body_oom; /* the body could not be stored: out of memory (503) */
	json_t *json;  /* parsed body, owned */

	int status;
	const char *resp_body;
	size_t resp_len;
	const char *resp_type;
	struct http_header headers[HTTP_MAX_HEADERS];
	int nheaders;
	bool queued;
	bool resp_stream; /* send resp_body with chunked transfer encoding */

	bool commit_on_error;  /* keep the transaction's writes on a 4xx answer, with
	                          the request's audit events when it is audited (a
	                          refused erasure) */
	const char *hook_data; /* arena-owned state a before_handler leaves for after_handler */
	const struct http_header *local_headers; /* in-process calls only */
	const char *local_query;                 /* in-process calls only */
	struct http_principal principal;

	/* Objects the handler read or wrote (newest first), for the audit hook. */
	struct http_audit_obj *audit_objs;
	size_t audit_count;
	const char *audit_purpose; /* the purpose of the request's events, or NULL */
	bool audit_denied;         /* set while the hook records a denied access */
};

/* Hooks the composition root installs: server/ never calls auth/. Each
 * returns 0 to go on, or 1 after replying (the request then ends). */
struct http_hooks {
	int (*authenticate)(struct http_req *req);
	int (*authorize)(struct http_req *req);
	/* Optional: runs after authorisation, before the handler (e.g. replays
	 * an idempotent POST). */
	int (*before_handler)(struct http_req *req);
	/* Optional: runs after a handler answered 2xx, before commit; returns 0
	 * or -1 (the request then fails with 500 and nothing is kept). */
	int (*after_handler)(struct http_req *req);
	/* Optional: records the audit trail of an authenticated request to a
	 * route that is not public. On a 2xx/3xx answer it runs in the request's
	 * transaction, before commit; on a 403/404 answer (req->audit_denied) in
	 * a transaction of its own after the request's was rolled back. Returns
	 * DB_OK or a db_rc; anything else than DB_OK fails the request closed
	 * (503 with Retry-After, nothing kept, no data returned). */
	int (*audit)(struct http_req *req);
};

/* Installs the hooks without starting the daemon (for in-process calls). */
void http_set_hooks(const struct http_hooks *hooks);

/* Runs one request in process, on the calling thread's database connection,
 * the way the server would (route, transaction, authorise, handler, commit),
 * for the given principal, skipping only HTTP and authentication. body and
 * headers (terminated by a NULL name; may be NULL) are borrowed. *out (arena-owned) holds status
 * and resp_body. Returns 0 or -1. */
int http_call_local(struct arena *a, const char *method, const char *path, json_t *body,
                    const struct http_header *headers, const struct http_principal *principal,
                    struct http_req **out);

/* Starts the daemon with config and the installed route table. Returns 0 or -1. */
int http_start(const struct http_hooks *hooks);

/* Stops accepting, waits up to grace_seconds for requests in flight, stops. */
void http_stop(int grace_seconds);

/* Request accessors (borrowed results, valid for the request). */
const char *http_header(struct http_req *req, const char *name);
const char *http_query(struct http_req *req, const char *name);
const char *http_param(struct http_req *req, int i);

/* Reply helpers. Each returns 0 (the handler's own return value). */
int http_reply_json(struct http_req *req, int status, json_t *body /* stolen */);
int http_reply_text(struct http_req *req, int status, const char *type, const char *body,
                    size_t len /* body borrowed; must outlive the request */);
int http_reply_empty(struct http_req *req, int status);
/* As http_reply_text, but the body leaves in chunks of HTTP_STREAM_CHUNK
 * bytes with chunked transfer encoding (no Content-Length). body is
 * borrowed and must outlive the request (arena or static). */
#define HTTP_STREAM_CHUNK 16384
int http_reply_stream(struct http_req *req, int status, const char *type, const char *body,
                      size_t len);
int http_reply_problem(struct http_req *req, enum problem_id id, const char *detail);
int http_reply_validation(struct http_req *req, json_t *errors /* stolen */);
/* As http_reply_problem, adding the members of extra (stolen) to the body. */
int http_reply_problem_with(struct http_req *req, enum problem_id id, const char *detail,
                            json_t *extra);
/* Maps a db_rc: DB_RETRY → HTTP_RETRY, unique → 409, unavailable → 503, else 500. */
int http_reply_db_error(struct http_req *req, int db_rc);

/* Records that the handler read or wrote the object type/id (type borrowed,
 * static; id copied into the arena) so the audit hook writes an event for it.
 * Call it for every personal-data row a response carries or a write
 * touches. A NULL id is ignored. Returns 0 or -1 (out of memory). */
int http_audit_object(struct http_req *req, const char *type, const char *id);

/* Records the purpose the request's audit events carry (an identifier the
 * handler validated, never personal data; copied into the arena). A
 * break-glass grant's id takes precedence on the events under it. Returns 0
 * or -1 (out of memory). */
int http_audit_purpose(struct http_req *req, const char *purpose);

/* Adds a response header (value copied into the arena). Returns 0 or -1. */
int http_add_header(struct http_req *req, const char *name, const char *value);

/* Sets ETag to the quoted row version. */
int http_set_etag(struct http_req *req, long long version);

/* Checks If-Match against the current row version: 0 when it matches;
 * otherwise replies 428 (absent) or 412 (stale) and returns 1. */
int http_check_if_match(struct http_req *req, long long version);

/* Page size from ?limit= (default def, at most config.page_max): 0 or replies
 * 400 and returns 1. */
int http_page_limit(struct http_req *req, int def, int *out);

/* Requests answered so far that are still in flight (for shutdown). */
int http_inflight(void);

#endif
