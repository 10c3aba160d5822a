/* libFuzzer target: one API request, the way the server takes it after the
 * headers arrived, minus libmicrohttpd and PostgreSQL. The input is the text
 * of a request:
 *
 *   METHOD /path?query        (the request line)
 *   Name: value               (headers, up to HTTP_MAX_HEADERS, optional)
 *                             (an empty line)
 *   body                      (JSON, optional)
 *
 * The path goes through the real router (server/router.c) over the real
 * route table (api/routes.c), the query string through http_query, the body
 * through jsonx_depth/jsonx_parse as server/http.c parses it, and then the
 * route's handler runs with a principal holding every role. No database is
 * configured, so a handler that gets past its validation meets DB_UNAVAILABLE
 * (503) at its first statement: what is fuzzed is everything a request
 * reaches before the database — parsing, validation, the field rules of each
 * resource.
 *
 * One exception: a new password that passes the policy is not hashed (see
 * below).
 *
 * Checked on every input: the handler answers (a status, a body for every
 * error), a problem body is valid problem+json whose status is the answer's,
 * a validation problem names a field and a rule for each error, and nothing
 * leaks (LeakSanitizer) or overflows (ASan/UBSan). */
#include "api/api.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/http.h"
#include "server/jsonx.h"
#include "server/log.h"
#include "server/router.h"
#include "tests/fuzz/fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ_MAX_LINE 2048

/* Installs the route table once. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_setup();
	FUZZ_ASSERT(password_init() == 0);
	size_t n = 0;
	const struct route *routes = api_routes(&n);
	char err[256];
	if (router_init(routes, n, policy_route_check, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_request: router_init: %s\n", err);
		abort();
	}
	return 0;
}

/* Checks the answer req carries (see the file comment); aborts on a breach. */
static void check_answer(struct http_req *req, int rc)
{
	FUZZ_ASSERT(rc == 0 || rc == -1 || rc == HTTP_RETRY);
	if (rc != 0)
		return; /* the server answers 500 or runs again: nothing to check */
	FUZZ_ASSERT(req->status >= 200 && req->status <= 599);
	if (req->status < 400)
		return;
	FUZZ_ASSERT(req->resp_body != NULL && req->resp_type != NULL);
	FUZZ_ASSERT(strcmp(req->resp_type, "application/problem+json") == 0);
	json_error_t jerr;
	json_t *p = json_loadb(req->resp_body, req->resp_len, 0, &jerr);
	FUZZ_ASSERT(json_is_object(p));
	FUZZ_ASSERT(json_integer_value(json_object_get(p, "status")) == req->status);
	FUZZ_ASSERT(json_is_string(json_object_get(p, "type")));
	FUZZ_ASSERT(json_is_string(json_object_get(p, "title")));
	json_t *errors = json_object_get(p, "errors");
	if (req->status == 400 && errors != NULL) {
		FUZZ_ASSERT(json_is_array(errors) && json_array_size(errors) > 0);
		size_t i;
		json_t *e;
		json_array_foreach(errors, i, e)
		{
			FUZZ_ASSERT(json_is_string(json_object_get(e, "field")));
			FUZZ_ASSERT(json_string_length(json_object_get(e, "rule")) > 0);
			FUZZ_ASSERT(json_string_length(json_object_get(e, "message")) > 0);
		}
	}
	json_decref(p);
}

/* Reads "Name: value" lines from *text (arena copies) into hdrs until an
 * empty line or the end; moves *text past them. Returns false on OOM. */
static bool read_headers(struct arena *a, const char **text, const char *end,
                         struct http_header *hdrs, size_t max)
{
	size_t n = 0;
	const char *p = *text;
	while (p < end) {
		const char *line = p;
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *eol = nl ? nl : end;
		p = nl ? nl + 1 : end;
		if (eol == line)
			break;
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL || n >= max)
			continue;
		const char *v = colon + 1;
		while (v < eol && *v == ' ')
			v++;
		hdrs[n].name = arena_strndup(a, line, (size_t)(colon - line));
		hdrs[n].value = arena_strndup(a, v, (size_t)(eol - v));
		if (hdrs[n].name == NULL || hdrs[n].value == NULL)
			return false;
		n++;
	}
	*text = p;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *end = text + size;
	const char *nl = memchr(text, '\n', size);
	size_t linelen = nl ? (size_t)(nl - text) : size;
	const char *sp = memchr(text, ' ', linelen);
	if (sp == NULL || linelen > REQ_MAX_LINE || memchr(text, '\0', linelen) != NULL)
		return 0;
	struct arena *a = arena_new();
	FUZZ_ASSERT(a != NULL);
	struct http_req *req = arena_alloc(a, sizeof *req);
	struct http_header *hdrs = arena_alloc(a, sizeof *hdrs * (HTTP_MAX_HEADERS + 1));
	char *method = arena_strndup(a, text, (size_t)(sp - text));
	char *target = arena_strndup(a, sp + 1, linelen - (size_t)(sp + 1 - text));
	FUZZ_ASSERT(req != NULL && hdrs != NULL && method != NULL && target != NULL);
	const char *rest = nl ? nl + 1 : end;
	FUZZ_ASSERT(read_headers(a, &rest, end, hdrs, HTTP_MAX_HEADERS));

	req->arena = a;
	req->method = method;
	req->path = target;
	char *q = strchr(target, '?');
	if (q != NULL) {
		*q = '\0';
		req->local_query = q + 1;
	}
	req->local_headers = hdrs;
	util_strlcpy(req->request_id, "fuzz-request-0001", sizeof req->request_id);
	util_strlcpy(req->client_ip, "fuzz", sizeof req->client_ip);
	fuzz_principal(&req->principal);

	char allow[64];
	size_t pathlen = strlen(req->path);
	if (router_match(method, req->path, &req->route, req->params, allow, sizeof allow) !=
	    ROUTER_FOUND)
		goto out;
	/* Each placeholder of the pattern has its value inside the path; the
	 * other slots are NULL. */
	int nparams = 0;
	for (const char *b = strchr(req->route->pattern, '{'); b; b = strchr(b + 1, '{'))
		nparams++;
	for (int i = 0; i < ROUTE_MAX_PARAMS; i++)
		FUZZ_ASSERT(i < nparams ? req->params[i] > req->path &&
		                              req->params[i] <= req->path + pathlen
		                        : req->params[i] == NULL);
	size_t blen = (size_t)(end - rest);
	if (blen > 0) {
		char where[64] = "";
		req->has_body = true;
		if (jsonx_parse(rest, blen, config.json_max_depth, &req->json, where,
		                sizeof where) != JSONX_OK) {
			FUZZ_ASSERT(req->json == NULL);
			goto out;
		}
	}
	/* A new password is hashed (Argon2id, 64 MiB, about a second under
	 * ASan) before the database is reached: that would make the target
	 * crawl, so a body with a password that passes the policy stops here
	 * (the policy itself runs on every password the fuzzer writes). */
	const char *pw = json_string_value(json_object_get(req->json, "password"));
	if (pw != NULL && strncmp(req->route->action, "user.", 5) == 0 &&
	    password_policy_error(pw) == NULL)
		goto out;
	int rc = req->route->handler(req);
	check_answer(req, rc);
out:
	json_decref(req->json);
	arena_free(a);
	return 0;
}
