/* Prometheus metrics: requests by route and status, a latency histogram per
 * route, database connections open and busy. Lock-free counters. */
#ifndef CARTELLA_METRICS_H
#define CARTELLA_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct arena;

/* Sizes the tables for the installed routes. Returns 0 or -1 (OOM). */
int metrics_init(size_t nroutes);

/* Counts one request: route index (-1 unmatched), status (0 = no answer). */
void metrics_record(int route, int status, uint64_t duration_ns);

/* Renders the Prometheus text exposition into the arena; NULL on OOM. */
char *metrics_render(struct arena *a, size_t *len);

/* Frees the tables. */
void metrics_free(void);

#endif
