/* The route table: method + path pattern → handler + policy action.
 * Patterns are literal segments and {name} placeholders, e.g.
 * "/api/v1/users/{id}". The table is data, validated once at start. */
#ifndef CARTELLA_ROUTER_H
#define CARTELLA_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct http_req;
typedef int (*route_handler)(struct http_req *req);

#define ROUTE_MAX_PARAMS 4
#define ROUTE_NO_TX      1u /* handler needs no database transaction */
#define ROUTE_PUBLIC     2u /* no authentication (the policy must agree) */
#define ROUTE_NO_REPLAY                                                                            \
	4u                    /* POST whose answer holds a secret shown once: never stored for     \
	                         Idempotency-Key replays (the header is ignored) */
#define ROUTE_RATE_SEARCH 8u  /* counts against the principal's search budget */
#define ROUTE_RATE_EXPORT 16u /* counts against the principal's export budget */

struct route {
	const char *method;
	const char *pattern;
	route_handler handler;
	const char *action; /* policy action name; required */
	unsigned flags;
};

enum router_match { ROUTER_FOUND, ROUTER_NO_PATH, ROUTER_NO_METHOD };

/* Validates and installs the table (borrowed for the life of the process).
 * action_check(action, flags) must return NULL when the route's action is
 * known to the policy and consistent with its flags, else a reason. Returns 0,
 * or -1 with the reason written into err. */
int router_init(const struct route *routes, size_t n,
                const char *(*action_check)(const char *action, unsigned flags), char *err,
                size_t errn);

/* Matches method and path (path is modified: placeholders become
 * NUL-terminated values pointed to by params). On ROUTER_NO_METHOD writes the
 * allowed methods ("GET, POST") into allow. */
enum router_match router_match(const char *method, char *path, const struct route **out,
                               const char *params[ROUTE_MAX_PARAMS], char *allow, size_t allown);

/* The installed table, and its size (for metrics and the contract check). */
const struct route *router_routes(size_t *n);

/* Index of r in the table. */
size_t router_index(const struct route *r);

#endif
