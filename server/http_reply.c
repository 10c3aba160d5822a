/* What handlers use to read a request and build its answer: header, query
 * and path parameter accessors, the reply setters (text, stream, JSON,
 * problem+json, validation and database errors), audit objects and purpose,
 * ETag / If-Match, the page limit. The request lifecycle (libmicrohttpd
 * callbacks, transactions, queueing the response) is in http.c. */
#include "server/http.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/util.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* -------------------------------------------------------------- accessors */

/* Returns the header value, owned by libmicrohttpd (or the local call). */
const char *http_header(struct http_req *req, const char *name)
{
	if (req->conn == NULL) {
		/* An in-process call (http_call_local) carries its own headers. */
		for (const struct http_header *h = req->local_headers; h && h->name; h++)
			if (strcasecmp(h->name, name) == 0)
				return h->value;
		return NULL;
	}
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* Returns the query value, owned by libmicrohttpd or the request arena. */
const char *http_query(struct http_req *req, const char *name)
{
	if (req->conn == NULL) {
		/* In-process call: "k=v&k2=v2" kept from its path (no escapes). */
		size_t n = strlen(name);
		for (const char *p = req->local_query; p && *p;) {
			const char *amp = strchr(p, '&');
			size_t len = amp ? (size_t)(amp - p) : strlen(p);
			if (len > n && strncmp(p, name, n) == 0 && p[n] == '=')
				return arena_strndup(req->arena, p + n + 1, len - n - 1);
			p = amp ? amp + 1 : p + len;
		}
		return NULL;
	}
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Returns path parameter i, owned by the request arena (NULL if none). */
const char *http_param(struct http_req *req, int i)
{
	return (i >= 0 && i < ROUTE_MAX_PARAMS) ? req->params[i] : NULL;
}

/* ---------------------------------------------------------------- replies */

/* Borrows type (static); copies id into the arena. */
int http_audit_object(struct http_req *req, const char *type, const char *id)
{
	if (id == NULL)
		return 0;
	struct http_audit_obj *o = arena_alloc(req->arena, sizeof *o);
	if (o == NULL)
		return -1;
	o->type = type;
	o->id = arena_strdup(req->arena, id);
	if (o->id == NULL)
		return -1;
	o->next = req->audit_objs;
	req->audit_objs = o;
	req->audit_count++;
	return 0;
}

/* Copies purpose into the arena. */
int http_audit_purpose(struct http_req *req, const char *purpose)
{
	req->audit_purpose = purpose ? arena_strdup(req->arena, purpose) : NULL;
	return purpose != NULL && req->audit_purpose == NULL ? -1 : 0;
}

/* Borrows name; copies value into the arena. */
int http_add_header(struct http_req *req, const char *name, const char *value)
{
	if (req->nheaders >= HTTP_MAX_HEADERS)
		return -1;
	char *v = arena_strdup(req->arena, value);
	if (v == NULL)
		return -1;
	req->headers[req->nheaders].name = name;
	req->headers[req->nheaders].value = v;
	req->nheaders++;
	return 0;
}

/* Borrows body, which must live as long as the request (static or arena). */
int http_reply_text(struct http_req *req, int status, const char *type, const char *body,
                    size_t len)
{
	req->status = status;
	req->resp_type = type;
	req->resp_body = body;
	req->resp_len = len;
	return 0;
}

/* As http_reply_text (body borrowed for the request), sent chunked. */
int http_reply_stream(struct http_req *req, int status, const char *type, const char *body,
                      size_t len)
{
	http_reply_text(req, status, type, body, len);
	req->resp_stream = true;
	return 0;
}

/* Sets an answer without a body; borrows nothing. */
int http_reply_empty(struct http_req *req, int status)
{
	return http_reply_text(req, status, NULL, "", 0);
}

/* Dumps body (stolen) into the arena and sets it as the response. */
static int http_reply_json_typed(struct http_req *req, int status, json_t *body, const char *type)
{
	/* Out of memory (no body to send, or no room to dump it): a static
	 * answer, never another problem body that would need memory too. */
	static const char oom[] = "{\"type\":\"/problems/internal\",\"title\":\"Errore "
	                          "interno\",\"status\":500}";
	if (body == NULL)
		return http_reply_text(req, 500, "application/problem+json", oom, sizeof oom - 1);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL || arena_defer(req->arena, free, text) != 0)
		return http_reply_text(req, 500, "application/problem+json", oom, sizeof oom - 1);
	return http_reply_text(req, status, type, text, strlen(text));
}

/* Steals body (dumped into the arena) and sets it as the JSON answer. */
int http_reply_json(struct http_req *req, int status, json_t *body)
{
	return http_reply_json_typed(req, status, body, "application/json");
}

/* Builds the problem object for id; detail and errors (stolen) optional. */
static json_t *http_problem_body(struct http_req *req, enum problem_id id, const char *detail,
                                 json_t *errors)
{
	const struct problem_def *p = problem_get(id);
	char type[96];
	problem_type_uri(id, type, sizeof type);
	json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", p->title, "status",
	                      p->status, "instance", req->request_id);
	if (o == NULL) {
		json_decref(errors);
		return NULL;
	}
	if (detail != NULL)
		json_object_set_new(o, "detail", json_string(detail));
	if (errors != NULL)
		json_object_set_new(o, "errors", errors);
	return o;
}

/* Borrows detail (copied into the answer); the body lives in the arena. */
int http_reply_problem(struct http_req *req, enum problem_id id, const char *detail)
{
	return http_reply_json_typed(req, problem_get(id)->status,
	                             http_problem_body(req, id, detail, NULL),
	                             "application/problem+json");
}

/* Borrows detail; steals extra, whose members are added to the problem. */
int http_reply_problem_with(struct http_req *req, enum problem_id id, const char *detail,
                            json_t *extra)
{
	json_t *body = http_problem_body(req, id, detail, NULL);
	if (body != NULL && extra != NULL)
		json_object_update_missing(body, extra);
	json_decref(extra);
	return http_reply_json_typed(req, problem_get(id)->status, body,
	                             "application/problem+json");
}

/* Steals errors (the list of {field, rule} objects) into a 400 problem. */
int http_reply_validation(struct http_req *req, json_t *errors)
{
	return http_reply_json_typed(
	    req, 400,
	    http_problem_body(req, PROBLEM_VALIDATION, "Uno o più campi non sono validi", errors),
	    "application/problem+json");
}

/* Maps a db_rc to its answer; HTTP_RETRY asks the caller to run it again. */
int http_reply_db_error(struct http_req *req, int db_rc)
{
	switch (db_rc) {
	case DB_RETRY:
		return HTTP_RETRY;
	case DB_UNIQUE:
		return http_reply_problem(req, PROBLEM_CONFLICT, NULL);
	case DB_UNAVAILABLE:
		http_add_header(req, "Retry-After", "5");
		return http_reply_problem(req, PROBLEM_UNAVAILABLE, NULL);
	default:
		return http_reply_problem(req, PROBLEM_INTERNAL, NULL);
	}
}

/* Adds the ETag of version (copied into the arena). */
int http_set_etag(struct http_req *req, long long version)
{
	char etag[32];
	snprintf(etag, sizeof etag, "\"%lld\"", version);
	return http_add_header(req, "ETag", etag);
}

/* Returns 0 when If-Match names version; otherwise replies (428/412), 1. */
int http_check_if_match(struct http_req *req, long long version)
{
	const char *im = http_header(req, "If-Match");
	if (im == NULL) {
		http_reply_problem(req, PROBLEM_PRECONDITION_REQUIRED,
		                   "Inviare If-Match con l'ETag ottenuto leggendo la risorsa");
		return 1;
	}
	char etag[32];
	snprintf(etag, sizeof etag, "\"%lld\"", version);
	if (strcmp(im, etag) != 0 && strcmp(im, "*") != 0) {
		http_reply_problem(req, PROBLEM_PRECONDITION_FAILED,
		                   "Rileggere la risorsa e ripetere la modifica");
		return 1;
	}
	return 0;
}

/* Writes the "limit" query value (or def) to *out; replies 400 and returns 1
 * when it is not an integer between 1 and the configured maximum. */
int http_page_limit(struct http_req *req, int def, int *out)
{
	const char *s = http_query(req, "limit");
	long long v = def;
	if (s != NULL && !util_parse_int(s, 1, config.page_max, &v)) {
		char detail[96];
		snprintf(detail, sizeof detail, "limit deve essere un intero tra 1 e %d",
		         config.page_max);
		http_reply_problem(req, PROBLEM_BAD_PARAMETER, detail);
		return 1;
	}
	*out = (int)v;
	return 0;
}
