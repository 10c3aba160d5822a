/* Cartella's own limits on the size of a request's target and header block,
 * checked when the headers are in, before any body is read. They lie well
 * below the point where libmicrohttpd, its per-connection memory
 * (CARTELLA_CONN_MEMORY) full, refuses a request by itself with a bare 414 or
 * 431 of its own that carries none of the security headers (it has no hook
 * for them): between the two, the client gets Cartella's problem+json. */
#ifndef CARTELLA_HTTP_LIMITS_H
#define CARTELLA_HTTP_LIMITS_H

#include "server/problem.h"

#include <microhttpd.h>

/* Header fields a request may carry (libmicrohttpd itself, with the default
 * 128 KiB of connection memory, refuses about 1,700 short ones). */
#define HTTP_LIMITS_MAX_FIELDS 100

/* Checks the request on c, whose path (without the query) is path: returns
 * PROBLEM_URI_TOO_LONG when path and query arguments exceed a quarter of
 * CARTELLA_CONN_MEMORY, PROBLEM_HEADERS_TOO_LARGE when they and the header
 * fields do or there are more than HTTP_LIMITS_MAX_FIELDS fields, else
 * PROBLEM_OK_STATUS. Borrows everything. */
enum problem_id http_limits_check(struct MHD_Connection *c, const char *path);

#endif
