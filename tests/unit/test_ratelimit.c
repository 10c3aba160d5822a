#include "server/ratelimit.h"
#include "tests/unit/check.h"

#include <stdio.h>

#define SEC 1000000000ull

int main(void)
{
	struct ratelimit_verdict v;
	ratelimit_configure(60, 0);
	/* An unlimited class takes nothing and says so. */
	CHECK(!ratelimit_take(RATELIMIT_EXPORT, "user-a", 0, &v));

	/* A full bucket: 60 requests at once, the 61st refused. */
	uint64_t t = 1000 * SEC;
	for (int i = 0; i < 60; i++) {
		CHECK(ratelimit_take(RATELIMIT_SEARCH, "user-a", t, &v));
		CHECK(v.allowed && v.limit == 60 && v.remaining == 59 - i);
	}
	CHECK(ratelimit_take(RATELIMIT_SEARCH, "user-a", t, &v));
	CHECK(!v.allowed && v.remaining == 0 && v.retry_s == 1 && v.reset_s == 60);

	/* Another principal has a budget of its own. */
	CHECK(ratelimit_take(RATELIMIT_SEARCH, "user-b", t, &v) && v.allowed);

	/* One token a second comes back (60 a minute). */
	CHECK(ratelimit_take(RATELIMIT_SEARCH, "user-a", t + SEC / 2, &v) && !v.allowed);
	CHECK(ratelimit_take(RATELIMIT_SEARCH, "user-a", t + SEC + SEC / 10, &v) && v.allowed);
	CHECK(ratelimit_take(RATELIMIT_SEARCH, "user-a", t + SEC + SEC / 5, &v) && !v.allowed);
	/* ...and never more than a minute's worth. */
	CHECK(ratelimit_take(RATELIMIT_SEARCH, "user-a", t + 3600 * SEC, &v));
	CHECK(v.allowed && v.remaining == 59);

	/* Thousands of principals: the table stays the same size, and the ones
	 * pushed out start again with a full bucket (never a refusal by mistake). */
	char name[32];
	int refused = 0;
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof name, "p-%d", i);
		CHECK(ratelimit_take(RATELIMIT_SEARCH, name, t + 7200 * SEC, &v));
		refused += !v.allowed;
	}
	CHECK(refused == 0);

	/* Reconfigured: the new budget applies. */
	ratelimit_configure(0, 2);
	CHECK(!ratelimit_take(RATELIMIT_SEARCH, "user-a", t, &v));
	CHECK(ratelimit_take(RATELIMIT_EXPORT, "user-a", t, &v) && v.allowed);
	CHECK(ratelimit_take(RATELIMIT_EXPORT, "user-a", t, &v) && v.allowed && v.remaining == 0);
	CHECK(ratelimit_take(RATELIMIT_EXPORT, "user-a", t, &v) && !v.allowed && v.retry_s == 30);
	CHECK_DONE();
}
