/* Per-principal request budgets for the routes that can be abused in bulk:
 * person searches (enumeration) and reports/exports (flooding). Each
 * (principal, class) has a token bucket holding a minute's worth of requests
 * (CARTELLA_RATE_SEARCH, CARTELLA_RATE_EXPORT per minute; 0 turns a class
 * off), refilled continuously. The buckets live in a fixed-size table in this
 * process (memory stays bounded whatever the number of principals; several
 * instances each count their own). */
#ifndef CARTELLA_RATELIMIT_H
#define CARTELLA_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct http_req;

enum ratelimit_class { RATELIMIT_SEARCH, RATELIMIT_EXPORT, RATELIMIT_CLASSES };

struct ratelimit_verdict {
	bool allowed;
	int limit;     /* requests a minute */
	int remaining; /* whole tokens left after this request */
	int reset_s;   /* seconds until the bucket is full again */
	int retry_s;   /* when refused: seconds until one token is back */
};

/* Sets the per-minute budgets (0: unlimited) and empties the table. */
void ratelimit_configure(int search_per_minute, int export_per_minute);

/* Takes one token of class cls for principal (borrowed) at now_ns (a
 * monotonic clock). Returns false when the class is unlimited (v untouched),
 * else true with the verdict in v. */
bool ratelimit_take(enum ratelimit_class cls, const char *principal, uint64_t now_ns,
                    struct ratelimit_verdict *v);

/* For an authenticated request on a route flagged ROUTE_RATE_SEARCH or
 * ROUTE_RATE_EXPORT: takes a token, adds the X-RateLimit-* headers and, when
 * the budget is spent, answers 429 with Retry-After. Returns 1 once it has
 * answered, else 0. Borrows req. */
int ratelimit_check(struct http_req *req);

#endif
