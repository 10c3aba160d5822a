#include "server/http.h"
#include "server/http_limits.h"
#include "server/alloc.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/jsonx.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_TX_ATTEMPTS 3

/* Per-connection state, kept in a list the watchdog walks to cut clients
 * that take longer than the timeout to send a complete request (MHD's own
 * timeout only counts idle time, so a byte-a-second client would never end). */
enum http_phase { PHASE_RECEIVING, PHASE_SERVING };

struct http_conn {
	struct http_conn *prev, *next;
	int fd;
	enum http_phase phase;
	uint64_t phase_start_ns;
	bool cut;
};

static struct MHD_Daemon *daemon_handle;
static const struct http_hooks *hooks;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct http_conn *conns;
static pthread_t watchdog_thread;
static atomic_bool watchdog_run;
static atomic_int inflight;

/* Accessors and replies are in http_reply.c. */

int http_inflight(void)
{
	return atomic_load(&inflight);
}

/* --------------------------------------------------------------- lifecycle */

/* Returns the connection's state (owned by MHD's socket context). */
static struct http_conn *http_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void http_conn_phase(struct http_conn *hc, enum http_phase phase)
{
	if (hc == NULL)
		return;
	pthread_mutex_lock(&conns_lock);
	hc->phase = phase;
	hc->phase_start_ns = util_mono_ns();
	pthread_mutex_unlock(&conns_lock);
}

/* MHD callback: a connection opened or closed. Owns the http_conn. */
static void http_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                               enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct http_conn *hc = calloc(1, sizeof *hc);
		if (hc == NULL)
			return;
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		hc->fd = ci ? ci->connect_fd : -1;
		hc->phase = PHASE_RECEIVING;
		hc->phase_start_ns = util_mono_ns();
		pthread_mutex_lock(&conns_lock);
		hc->next = conns;
		if (conns)
			conns->prev = hc;
		conns = hc;
		pthread_mutex_unlock(&conns_lock);
		*socket_context = hc;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct http_conn *hc = *socket_context;
		if (hc == NULL)
			return;
		pthread_mutex_lock(&conns_lock);
		if (hc->prev)
			hc->prev->next = hc->next;
		else
			conns = hc->next;
		if (hc->next)
			hc->next->prev = hc->prev;
		pthread_mutex_unlock(&conns_lock);
		free(hc);
		*socket_context = NULL;
	}
}

/* Watchdog thread: shuts down connections whose request has been arriving for
 * longer than the connection timeout. MHD then sees EOF and closes them.
 * Entries leave the list (under the lock) before MHD closes their socket, so
 * a descriptor here always belongs to the connection it names. Once a
 * second it also hands the heap back after large requests (alloc.h). */
static void *http_watchdog(void *arg)
{
	(void)arg;
	uint64_t limit = (uint64_t)config.conn_timeout * 1000000000u;
	for (unsigned tick = 1; atomic_load(&watchdog_run); tick++) {
		struct timespec ts = {0, 250 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (tick % 4 == 0)
			alloc_trim_pending(); /* the heap after large requests, once a second */
		uint64_t now = util_mono_ns();
		pthread_mutex_lock(&conns_lock);
		for (struct http_conn *hc = conns; hc != NULL; hc = hc->next) {
			if (hc->cut || hc->fd < 0 || hc->phase != PHASE_RECEIVING ||
			    now - hc->phase_start_ns <= limit)
				continue;
			shutdown(hc->fd, SHUT_RDWR);
			hc->cut = true;
			log_event(LOGL_INFO, "connection cut: request not received in time",
			          json_pack("{s:i}", "timeout_seconds", config.conn_timeout));
		}
		pthread_mutex_unlock(&conns_lock);
	}
	return NULL;
}

/* Creates the per-request state. Returns NULL on OOM. */
static struct http_req *http_req_new(struct MHD_Connection *c, const char *url, const char *method)
{
	struct arena *a = arena_new();
	if (a == NULL)
		return NULL;
	struct http_req *req = arena_alloc(a, sizeof *req);
	if (req == NULL) {
		arena_free(a);
		return NULL;
	}
	req->arena = a;
	req->conn = c;
	req->hc = http_conn_of(c);
	req->start_ns = util_mono_ns();
	req->method = arena_strdup(a, method);
	req->path = arena_strdup(a, url);
	if (req->method == NULL || req->path == NULL) {
		arena_free(a);
		return NULL;
	}
	const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
	if (rid != NULL && util_is_safe_token(rid)) {
		util_strlcpy(req->request_id, rid, sizeof req->request_id);
	} else {
		char uuid[UTIL_UUID_LEN + 1];
		util_uuid_v4(uuid);
		util_strlcpy(req->request_id, uuid, sizeof req->request_id);
	}
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	util_strlcpy(req->client_ip, "unknown", sizeof req->client_ip);
	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
			          &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			          req->client_ip, sizeof req->client_ip);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
			          &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			          req->client_ip, sizeof req->client_ip);
	}
	atomic_fetch_add(&inflight, 1);
	return req;
}

static void http_reset_response(struct http_req *req);

/* Replaces the prepared answer with 503 + Retry-After: an allocation failed
 * while the request was served (alloc_failed), so nothing it prepared can
 * be trusted to be whole. */
static void http_reply_out_of_memory(struct http_req *req)
{
	http_reset_response(req);
	http_add_header(req, "Retry-After", "1");
	http_reply_problem(req, PROBLEM_UNAVAILABLE, NULL);
}

/* A streamed body: a copy of the response bytes the response owns. */
struct http_stream {
	char *data;
	size_t len;
};

/* MHD content reader: hands out the next chunk of the stream at pos (at most
 * HTTP_STREAM_CHUNK bytes), then the end of the stream. Borrows cls. */
static ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *st = cls;
	if (pos >= st->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = st->len - (size_t)pos;
	if (n > max)
		n = max;
	if (n > HTTP_STREAM_CHUNK)
		n = HTTP_STREAM_CHUNK;
	memcpy(buf, st->data + pos, n);
	return (ssize_t)n;
}

/* MHD content reader cleanup: frees the stream (owned by the response). */
static void http_stream_free(void *cls)
{
	struct http_stream *st = cls;
	free(st->data);
	free(st);
}

/* A response for req's body: a buffer MHD copies, or for a streamed reply a
 * callback with unknown size, which MHD sends chunked. NULL on OOM. */
static struct MHD_Response *http_response_for(struct http_req *req)
{
	if (!req->resp_stream)
		return MHD_create_response_from_buffer(req->resp_len, (void *)req->resp_body,
		                                       MHD_RESPMEM_MUST_COPY);
	struct http_stream *st = calloc(1, sizeof *st);
	if (st == NULL)
		return NULL;
	st->data = malloc(req->resp_len ? req->resp_len : 1);
	if (st->data == NULL) {
		free(st);
		return NULL;
	}
	memcpy(st->data, req->resp_body, req->resp_len);
	st->len = req->resp_len;
	struct MHD_Response *resp = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, HTTP_STREAM_CHUNK, http_stream_read, st, http_stream_free);
	if (resp == NULL)
		http_stream_free(st);
	return resp;
}

/* Adds the headers every response carries to resp. */
static void http_common_headers(struct MHD_Response *resp, const char *request_id)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Content-Security-Policy",
	                        "default-src 'none'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Request-Id", request_id);
	if (alloc_fail_enabled()) {
		char n[24];
		snprintf(n, sizeof n, "%lu", alloc_fail_count());
		MHD_add_response_header(resp, "X-Cartella-Alloc-Count", n);
	}
}

/* Queues req's response on MHD. Returns MHD_YES/MHD_NO. */
static enum MHD_Result http_queue(struct http_req *req)
{
	if (alloc_failed() && req->status < 500)
		http_reply_out_of_memory(req); /* never an answer built short of memory */
	struct MHD_Response *resp = http_response_for(req);
	if (resp == NULL)
		return MHD_NO;
	if (req->resp_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->resp_type);
	http_common_headers(resp, req->request_id);
	for (int i = 0; i < req->nheaders; i++)
		MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
	enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)req->status, resp);
	MHD_destroy_response(resp);
	req->queued = true;
	http_conn_phase(req->hc, PHASE_SERVING);
	return r;
}

/* Forgets a response prepared by an attempt that will be retried. */
static void http_reset_response(struct http_req *req)
{
	req->status = 0;
	req->resp_body = NULL;
	req->resp_len = 0;
	req->resp_type = NULL;
	req->nheaders = 0;
	req->resp_stream = false;
	req->commit_on_error = false;
	req->hook_data = NULL;
	req->audit_objs = NULL;
	req->audit_count = 0;
	req->audit_purpose = NULL;
	req->audit_denied = false;
	if (req->conn != NULL)
		memset(&req->principal, 0, sizeof req->principal);
}

/* True when the media type of ct (parameters allowed) is type. */
static bool http_type_is(const char *ct, const char *type)
{
	if (ct == NULL)
		return false;
	size_t n = strlen(type);
	return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* True when the request's Content-Type is JSON: application/json, or for
 * PATCH also application/merge-patch+json (RFC 7396), the type the contract
 * names for partial updates. */
static bool http_is_json(const char *ct, const char *method)
{
	return http_type_is(ct, "application/json") ||
	       (strcmp(method, "PATCH") == 0 && http_type_is(ct, "application/merge-patch+json"));
}

/* First call for a request: route it and check the headers before any body
 * is read. Returns true when a response has been prepared (an error). */
static bool http_precheck(struct http_req *req)
{
	enum problem_id big = http_limits_check(req->conn, req->path);
	if (big != PROBLEM_OK_STATUS) {
		http_reply_problem(req, big, NULL);
		return true;
	}
	char allow[64];
	enum router_match m =
	    router_match(req->method, req->path, &req->route, req->params, allow, sizeof allow);
	if (m == ROUTER_NO_PATH) {
		http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
		return true;
	}
	if (m == ROUTER_NO_METHOD) {
		http_add_header(req, "Allow", allow);
		http_reply_problem(req, PROBLEM_METHOD_NOT_ALLOWED, NULL);
		return true;
	}
	const char *cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = http_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	long long len = 0;
	if (cl != NULL && !util_parse_int(cl, 0, (long long)1 << 62, &len)) {
		http_reply_problem(req, PROBLEM_BAD_REQUEST, "Content-Length non valido");
		return true;
	}
	if (te != NULL && strcasecmp(te, "chunked") != 0) {
		/* RFC 9112 6.3: without chunked last, the body has no known end. */
		http_reply_problem(req, PROBLEM_BAD_REQUEST,
		                   "Transfer-Encoding non supportato: ammesso solo chunked");
		return true;
	}
	req->has_body = len > 0 || te != NULL;
	if (len > config.max_body) {
		http_reply_problem(req, PROBLEM_PAYLOAD_TOO_LARGE, NULL);
		return true;
	}
	if (req->has_body &&
	    !http_is_json(http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE), req->method)) {
		http_reply_problem(req, PROBLEM_UNSUPPORTED_MEDIA_TYPE,
		                   "Il corpo deve essere application/json");
		return true;
	}
	return false;
}

/* Appends an upload chunk to the body, up to the cap. */
static void http_take_body(struct http_req *req, const char *data, size_t size)
{
	if (req->body_overflow)
		return;
	if (req->body_len + size > (size_t)config.max_body) {
		req->body_overflow = true;
		free(req->body);
		req->body = NULL;
		req->body_len = 0;
		return;
	}
	char *nb = alloc_realloc(req->body, req->body_len + size + 1);
	if (nb == NULL) {
		req->body_overflow = true;
		req->body_oom = true;
		free(req->body);
		req->body = NULL;
		req->body_len = 0;
		return;
	}
	memcpy(nb + req->body_len, data, size);
	req->body_len += size;
	nb[req->body_len] = '\0';
	req->body = nb;
}

/* Parses the complete body. Returns true when an error was prepared. */
static bool http_parse_body(struct http_req *req)
{
	if (req->body_oom) {
		http_add_header(req, "Retry-After", "1");
		http_reply_problem(req, PROBLEM_UNAVAILABLE, NULL);
		return true;
	}
	if (req->body_overflow) {
		http_reply_problem(req, PROBLEM_PAYLOAD_TOO_LARGE, NULL);
		return true;
	}
	if (!req->has_body || req->body_len == 0)
		return false;
	char where[64] = "";
	switch (jsonx_parse(req->body, req->body_len, config.json_max_depth, &req->json, where,
	                    sizeof where)) {
	case JSONX_OK:
		return false;
	case JSONX_TOO_DEEP: {
		char detail[96];
		snprintf(detail, sizeof detail, "Profondità massima consentita: %d",
		         config.json_max_depth);
		http_reply_problem(req, PROBLEM_JSON_TOO_DEEP, detail);
		return true;
	}
	case JSONX_MALFORMED:
		http_reply_problem(req, PROBLEM_MALFORMED_JSON, where);
		return true;
	}
	return true;
}

/* True when req is to leave an audit trail: an authenticated caller on a
 * route that is not public. */
static bool http_audited(const struct http_req *req)
{
	return hooks->audit != NULL && req->principal.authenticated &&
	       !(req->route->flags & ROUTE_PUBLIC);
}

/* Replaces the prepared answer with 503 + Retry-After: the audit trail could
 * not be written, so nothing is kept and no data leaves. */
static void http_fail_closed(struct http_req *req)
{
	log_event(
	    LOGL_ERROR, "audit trail not written: request refused",
	    json_pack("{s:s, s:s}", "request_id", req->request_id, "sqlstate", db_last_sqlstate()));
	http_reset_response(req);
	http_add_header(req, "Retry-After", "5");
	http_reply_problem(req, PROBLEM_UNAVAILABLE, NULL);
}

/* After the request's transaction was rolled back on a 403 or 404: records
 * the denied access in a short transaction of its own (tenant context set
 * again), so that it survives the rollback. Fails closed like a read. */
static void http_audit_denied(struct http_req *req)
{
	if ((req->status != 403 && req->status != 404) || !http_audited(req))
		return;
	req->audit_objs = NULL;
	req->audit_count = 0;
	req->audit_purpose = NULL;
	req->audit_denied = true;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(req->arena, req->principal.tenant_id, req->principal.user_id);
	if (rc == DB_OK)
		rc = hooks->audit(req);
	if (rc == DB_OK)
		rc = db_commit();
	else
		db_rollback();
	req->audit_denied = false;
	if (rc != DB_OK)
		http_fail_closed(req);
}

/* Runs the handler inside one transaction, retrying serialization failures.
 * Always leaves a response prepared. */
static void http_run(struct http_req *req)
{
	if (req->route->flags & ROUTE_NO_TX) {
		if (req->route->handler(req) < 0 || req->status == 0)
			http_reply_problem(req, PROBLEM_INTERNAL, NULL);
		return;
	}
	for (int attempt = 1; attempt <= HTTP_TX_ATTEMPTS; attempt++) {
		http_reset_response(req);
		int rc = db_begin();
		if (rc != DB_OK) {
			http_reply_db_error(req, rc == DB_RETRY ? DB_UNAVAILABLE : rc);
			return;
		}
		/* The hooks return 1 once they have replied (401, 403, 503). An
		 * in-process call comes with its principal already set. */
		if (req->conn == NULL && (rc = db_set_context(req->arena, req->principal.tenant_id,
		                                              req->principal.user_id)) != DB_OK) {
			db_rollback();
			http_reply_db_error(req, DB_UNAVAILABLE);
			return;
		}
		bool replied = !(req->route->flags & ROUTE_PUBLIC) && req->conn != NULL &&
		               hooks->authenticate(req) != 0;
		if (!replied)
			replied = hooks->authorize(req) != 0;
		if (!replied)
			replied = ratelimit_check(req) != 0;
		if (!replied && hooks->before_handler != NULL)
			replied = hooks->before_handler(req) != 0;
		rc = replied ? 0 : req->route->handler(req);
		if (!replied && rc == 0 && req->status >= 200 && req->status < 300 &&
		    hooks->after_handler != NULL && hooks->after_handler(req) != 0)
			rc = -1;
		if (rc == HTTP_RETRY) {
			db_rollback();
			continue;
		}
		if (rc < 0 || req->status == 0) {
			db_rollback();
			http_reset_response(req);
			http_reply_problem(req, PROBLEM_INTERNAL, NULL);
			return;
		}
		if (req->status >= 400 && !req->commit_on_error) {
			db_rollback();
			http_audit_denied(req);
			return;
		}
		if (alloc_failed()) {
			db_rollback();
			http_reply_out_of_memory(req);
			return;
		}
		/* The audit hook defers its insert to the commit (db_defer): the
		 * two travel together, and a failed insert fails the commit. */
		if ((req->status < 400 || req->commit_on_error) && http_audited(req)) {
			rc = hooks->audit(req);
			if (rc == DB_RETRY) {
				db_rollback();
				continue;
			}
			if (rc != DB_OK) {
				db_rollback();
				http_fail_closed(req);
				return;
			}
		}
		rc = db_commit();
		if (rc == DB_OK)
			return;
		if (rc == DB_RETRY)
			continue;
		if (db_commit_failed_deferred()) {
			http_fail_closed(req);
			return;
		}
		http_reset_response(req);
		http_reply_db_error(req, rc);
		return;
	}
	http_reset_response(req);
	http_add_header(req, "Retry-After", "1");
	http_reply_problem(req, PROBLEM_UNAVAILABLE, NULL);
}

/* Answers 503 with a static body when not even the request's state can be
 * allocated. Returns MHD_YES/MHD_NO. */
static enum MHD_Result http_queue_unavailable(struct MHD_Connection *c)
{
	static const char body[] = "{\"type\":\"/problems/unavailable\",\"title\":\"Servizio "
	                           "temporaneamente non disponibile\",\"status\":503}";
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
	MHD_add_response_header(resp, "Retry-After", "1");
	http_common_headers(resp, "");
	enum MHD_Result r = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
	MHD_destroy_response(resp);
	return r;
}

/* MHD access handler: called once with the headers, then per body chunk,
 * then once more with no data. */
static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
	(void)cls;
	(void)version;
	struct http_req *req = *con_cls;
	if (req == NULL) {
		alloc_fail_arm_header(
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Cartella-Alloc-Fail"));
		req = http_req_new(c, url, method);
		if (req == NULL)
			return http_queue_unavailable(c);
		*con_cls = req;
		if (http_precheck(req))
			return http_queue(req);
		return MHD_YES;
	}
	if (req->queued) {
		*upload_data_size = 0; /* discard what follows an early answer */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		http_take_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	http_conn_phase(req->hc, PHASE_SERVING);
	alloc_failed_clear();
	if (!http_parse_body(req))
		http_run(req);
	return http_queue(req);
}

/* MHD callback: the request is over (answered, or the client went away).
 * Logs it, counts it and frees everything it owned. */
static void http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	struct http_req *req = *con_cls;
	if (req == NULL)
		return;
	*con_cls = NULL;
	uint64_t dur = util_mono_ns() - req->start_ns;
	int status = req->queued ? req->status : 0;
	metrics_record(req->route ? (int)router_index(req->route) : -1, status, dur);
	json_t *f =
	    json_pack("{s:s, s:s, s:s, s:i, s:f, s:s}", "request_id", req->request_id, "method",
	              req->method, "route", req->route ? req->route->pattern : "unmatched",
	              "status", status, "duration_ms", (double)dur / 1e6, "client", req->client_ip);
	if (f != NULL && req->principal.authenticated) {
		if (req->principal.client)
			json_object_set_new(f, "principal", json_string(req->principal.client_ref));
		else
			json_object_set_new(f, "user", json_string(req->principal.user_id));
		json_object_set_new(f, "tenant", json_string(req->principal.tenant_id));
	}
	if (f != NULL && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		json_object_set_new(f, "termination", json_integer((json_int_t)toe));
	log_event(LOGL_INFO, "request", f);
	json_decref(req->json);
	free(req->body);
	struct http_conn *hc = http_conn_of(c);
	http_conn_phase(hc, PHASE_RECEIVING);
	arena_free(req->arena);
	alloc_fail_disarm();
	alloc_release_if_large();
	atomic_fetch_sub(&inflight, 1);
}

/* MHD's own diagnostics, as JSON lines. They carry no request data. */
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char buf[256];
	vsnprintf(buf, sizeof buf, fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_event(LOGL_WARN, "libmicrohttpd", json_pack("{s:s}", "detail", buf));
}

void http_set_hooks(const struct http_hooks *h)
{
	hooks = h;
}

/* Borrows everything; the answer (status, body) is left in *out's arena. */
int http_call_local(struct arena *a, const char *method, const char *path, json_t *body,
                    const struct http_header *headers, const struct http_principal *principal,
                    struct http_req **out)
{
	struct http_req *req = arena_alloc(a, sizeof *req);
	if (req == NULL)
		return -1;
	req->arena = a;
	req->method = method;
	req->path = arena_strdup(a, path);
	if (req->path == NULL)
		return -1;
	char *q = strchr(req->path, '?');
	if (q != NULL) {
		*q = '\0';
		req->local_query = q + 1;
	}
	util_uuid_v4(req->request_id);
	util_strlcpy(req->client_ip, "local", sizeof req->client_ip);
	char allow[64];
	*out = req;
	if (router_match(method, req->path, &req->route, req->params, allow, sizeof allow) !=
	    ROUTER_FOUND)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	req->json = body;
	req->has_body = body != NULL;
	req->local_headers = headers;
	req->principal = *principal;
	http_run(req);
	req->principal = *principal; /* http_run resets it per attempt */
	return 0;
}

/* Borrows h for the process lifetime. */
int http_start(const struct http_hooks *h)
{
	hooks = h;
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)config.port);
	if (inet_pton(AF_INET, config.bind, &addr.sin_addr) != 1) {
		log_fmt(LOGL_ERROR, "CARTELLA_BIND is not an IPv4 address");
		return -1;
	}
	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	daemon_handle = MHD_start_daemon(
	    flags, (uint16_t)config.port, NULL, NULL, http_on_request, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)config.threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)config.conn_timeout,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)config.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)config.per_ip_connections,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)config.conn_memory,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED, http_on_completed,
	    NULL, MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, NULL, MHD_OPTION_END);
	if (daemon_handle == NULL) {
		log_fmt(LOGL_ERROR, "cannot listen on %s:%d", config.bind, config.port);
		return -1;
	}
	atomic_store(&watchdog_run, true);
	if (pthread_create(&watchdog_thread, NULL, http_watchdog, NULL) != 0) {
		MHD_stop_daemon(daemon_handle);
		daemon_handle = NULL;
		return -1;
	}
	return 0;
}

void http_stop(int grace_seconds)
{
	if (daemon_handle == NULL)
		return;
	MHD_socket lsock = MHD_quiesce_daemon(daemon_handle);
	if (lsock != MHD_INVALID_SOCKET)
		close(lsock);
	for (int i = 0; i < grace_seconds * 20 && http_inflight() > 0; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	atomic_store(&watchdog_run, false);
	pthread_join(watchdog_thread, NULL);
	MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
}
