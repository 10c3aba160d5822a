#include "server/metrics.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/router.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[] = {0,   200, 201, 202, 204, 303, 304, 400, 401, 403, 404,
                               405, 409, 412, 413, 415, 422, 428, 429, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1) /* + "other" */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   5};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct route_metrics {
	atomic_ulong by_status[NSTATUS];
	atomic_ulong le[NBUCKETS]; /* non-cumulative; summed when rendered */
	atomic_ulong count;
	atomic_ulong sum_us;
};

static struct route_metrics *table; /* nroutes + 1 (last: unmatched) */
static size_t table_n;

int metrics_init(size_t nroutes)
{
	table = calloc(nroutes + 1, sizeof *table);
	if (table == NULL)
		return -1;
	table_n = nroutes + 1;
	return 0;
}

void metrics_free(void)
{
	free(table);
	table = NULL;
	table_n = 0;
}

static size_t status_slot(int status)
{
	for (size_t i = 0; i < NSTATUS - 1; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

void metrics_record(int route, int status, uint64_t duration_ns)
{
	if (table == NULL)
		return;
	size_t r = (route < 0 || (size_t)route >= table_n - 1) ? table_n - 1 : (size_t)route;
	struct route_metrics *m = &table[r];
	atomic_fetch_add(&m->by_status[status_slot(status)], 1);
	double s = (double)duration_ns / 1e9;
	for (size_t i = 0; i < NBUCKETS; i++) {
		if (s <= buckets[i]) {
			atomic_fetch_add(&m->le[i], 1);
			break;
		}
	}
	atomic_fetch_add(&m->count, 1);
	atomic_fetch_add(&m->sum_us, (unsigned long)(duration_ns / 1000));
}

/* Growable text buffer in an arena. */
struct mbuf {
	struct arena *a;
	char *p;
	size_t len, cap;
	int failed;
};

static void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap + (size_t)n + 1) * 2;
		char *np = arena_alloc(b->a, ncap);
		if (np == NULL) {
			b->failed = 1;
			return;
		}
		memcpy(np, b->p, b->len);
		b->p = np;
		b->cap = ncap;
	}
}

/* Borrows a; returns arena-owned text. */
char *metrics_render(struct arena *a, size_t *len)
{
	struct mbuf b = {a, NULL, 0, 4096, 0};
	b.p = arena_alloc(a, b.cap);
	if (b.p == NULL)
		return NULL;
	size_t nroutes = 0;
	const struct route *routes = router_routes(&nroutes);
	mbuf_printf(&b, "# HELP cartella_http_requests_total HTTP requests by route and status.\n"
	                "# TYPE cartella_http_requests_total counter\n");
	for (size_t r = 0; r < table_n; r++) {
		const char *pattern = r < nroutes ? routes[r].pattern : "unmatched";
		const char *method = r < nroutes ? routes[r].method : "";
		for (size_t s = 0; s < NSTATUS; s++) {
			unsigned long v = atomic_load(&table[r].by_status[s]);
			if (v == 0)
				continue;
			char st[8];
			if (s < NSTATUS - 1)
				snprintf(st, sizeof st, "%d", statuses[s]);
			else
				snprintf(st, sizeof st, "other");
			mbuf_printf(&b,
			            "cartella_http_requests_total{route=\"%s\",method=\"%s\","
			            "status=\"%s\"} %lu\n",
			            pattern, method, st, v);
		}
	}
	mbuf_printf(&b, "# HELP cartella_http_request_duration_seconds Request latency.\n"
	                "# TYPE cartella_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r < table_n; r++) {
		unsigned long count = atomic_load(&table[r].count);
		if (count == 0)
			continue;
		const char *pattern = r < nroutes ? routes[r].pattern : "unmatched";
		const char *method = r < nroutes ? routes[r].method : "";
		unsigned long cum = 0;
		for (size_t i = 0; i < NBUCKETS; i++) {
			cum += atomic_load(&table[r].le[i]);
			mbuf_printf(&b,
			            "cartella_http_request_duration_seconds_bucket{route=\"%s\","
			            "method=\"%s\",le=\"%g\"} %lu\n",
			            pattern, method, buckets[i], cum);
		}
		mbuf_printf(
		    &b,
		    "cartella_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
		    "le=\"+Inf\"} %lu\n"
		    "cartella_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} "
		    "%.6f\n"
		    "cartella_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} "
		    "%lu\n",
		    pattern, method, count, pattern, method,
		    (double)atomic_load(&table[r].sum_us) / 1e6, pattern, method, count);
	}
	int open = 0, busy = 0;
	db_pool_counts(&open, &busy);
	mbuf_printf(&b,
	            "# HELP cartella_db_connections Database connections of the server threads.\n"
	            "# TYPE cartella_db_connections gauge\n"
	            "cartella_db_connections{state=\"busy\"} %d\n"
	            "cartella_db_connections{state=\"idle\"} %d\n",
	            busy, open - busy);
	if (b.failed)
		return NULL;
	*len = b.len;
	return b.p;
}
