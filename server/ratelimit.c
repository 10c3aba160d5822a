#include "server/ratelimit.h"
#include "server/http.h"
#include "server/problem.h"
#include "server/router.h"
#include "server/util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define RL_SLOTS 4096u /* a power of two */
#define RL_PROBE 8u

struct rl_slot {
	uint64_t key; /* 0: free */
	double tokens;
	uint64_t last_ns;
};

static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rl_slot rl_table[RL_SLOTS];
static int rl_per_minute[RATELIMIT_CLASSES];

void ratelimit_configure(int search_per_minute, int export_per_minute)
{
	pthread_mutex_lock(&rl_lock);
	rl_per_minute[RATELIMIT_SEARCH] = search_per_minute;
	rl_per_minute[RATELIMIT_EXPORT] = export_per_minute;
	memset(rl_table, 0, sizeof rl_table);
	pthread_mutex_unlock(&rl_lock);
}

/* FNV-1a of the class and the principal; never 0. Borrows principal. */
static uint64_t rl_key(enum ratelimit_class cls, const char *principal)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)cls;
	for (const unsigned char *p = (const unsigned char *)principal; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

/* The slot of key within its probe window: the one holding it, else a free
 * one, else the one used least recently (whose principal then starts again
 * with a full bucket). Call with rl_lock held. */
static struct rl_slot *rl_slot_for(uint64_t key, double capacity, uint64_t now_ns)
{
	struct rl_slot *victim = NULL;
	for (unsigned i = 0; i < RL_PROBE; i++) {
		struct rl_slot *s = &rl_table[(key + i) & (RL_SLOTS - 1)];
		if (s->key == key)
			return s;
		if (victim == NULL || s->key == 0 ||
		    (victim->key != 0 && s->last_ns < victim->last_ns))
			victim = s;
	}
	victim->key = key;
	victim->tokens = capacity;
	victim->last_ns = now_ns;
	return victim;
}

bool ratelimit_take(enum ratelimit_class cls, const char *principal, uint64_t now_ns,
                    struct ratelimit_verdict *v)
{
	if (cls < 0 || cls >= RATELIMIT_CLASSES)
		return false;
	pthread_mutex_lock(&rl_lock);
	int per_minute = rl_per_minute[cls];
	if (per_minute <= 0) {
		pthread_mutex_unlock(&rl_lock);
		return false;
	}
	double capacity = per_minute, rate = per_minute / 60.0; /* tokens a second */
	struct rl_slot *s = rl_slot_for(rl_key(cls, principal), capacity, now_ns);
	double elapsed = now_ns > s->last_ns ? (double)(now_ns - s->last_ns) / 1e9 : 0.0;
	s->tokens = s->tokens + elapsed * rate;
	if (s->tokens > capacity)
		s->tokens = capacity;
	s->last_ns = now_ns;
	v->allowed = s->tokens >= 1.0;
	if (v->allowed)
		s->tokens -= 1.0;
	v->limit = per_minute;
	v->remaining = (int)s->tokens;
	v->reset_s = (int)((capacity - s->tokens) / rate + 0.999);
	v->retry_s = v->allowed ? 0 : (int)((1.0 - s->tokens) / rate + 0.999);
	if (!v->allowed && v->retry_s < 1)
		v->retry_s = 1;
	pthread_mutex_unlock(&rl_lock);
	return true;
}

int ratelimit_check(struct http_req *req)
{
	unsigned flags = req->route->flags;
	enum ratelimit_class cls;
	if (flags & ROUTE_RATE_SEARCH)
		cls = RATELIMIT_SEARCH;
	else if (flags & ROUTE_RATE_EXPORT)
		cls = RATELIMIT_EXPORT;
	else
		return 0;
	/* In-process calls (cartella demo) and anonymous requests have no budget. */
	if (req->conn == NULL || !req->principal.authenticated)
		return 0;
	const char *who =
	    req->principal.client ? req->principal.client_ref : req->principal.user_id;
	struct ratelimit_verdict v;
	if (!ratelimit_take(cls, who, util_mono_ns(), &v))
		return 0;
	char n[24];
	snprintf(n, sizeof n, "%d", v.limit);
	http_add_header(req, "X-RateLimit-Limit", n);
	snprintf(n, sizeof n, "%d", v.remaining);
	http_add_header(req, "X-RateLimit-Remaining", n);
	snprintf(n, sizeof n, "%d", v.reset_s);
	http_add_header(req, "X-RateLimit-Reset", n);
	if (v.allowed)
		return 0;
	snprintf(n, sizeof n, "%d", v.retry_s);
	http_add_header(req, "Retry-After", n);
	http_reply_problem(req, PROBLEM_TOO_MANY_REQUESTS,
	                   cls == RATELIMIT_SEARCH
	                       ? "Troppe ricerche in poco tempo: riprovare più tardi"
	                       : "Troppe estrazioni in poco tempo: riprovare più tardi");
	return 1;
}
