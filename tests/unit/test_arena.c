#include "server/arena.h"
#include "tests/unit/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int cleanups_run;
static void count_cleanup(void *p)
{
	cleanups_run++;
	free(p);
}

int main(void)
{
	struct arena *a = arena_new();
	CHECK(a != NULL);

	/* Allocations are zeroed, aligned, and distinct. */
	unsigned char *p = arena_alloc(a, 100);
	unsigned char *q = arena_alloc(a, 1);
	CHECK(p != NULL && q != NULL && p != q);
	CHECK(((uintptr_t)p % 16) == 0 && ((uintptr_t)q % 16) == 0);
	int zero = 1;
	for (int i = 0; i < 100; i++)
		zero &= p[i] == 0;
	CHECK(zero);

	/* Large allocations get their own block and the head keeps serving. */
	void *big = arena_alloc(a, 100000);
	CHECK(big != NULL);
	memset(big, 0xAB, 100000);
	CHECK(arena_used(a) >= 100000);
	CHECK(arena_alloc(a, 16) != NULL);

	CHECK(strcmp(arena_strdup(a, "ciao"), "ciao") == 0);
	CHECK(strcmp(arena_strndup(a, "abcdef", 3), "abc") == 0);
	CHECK(arena_strdup(a, NULL) == NULL);
	CHECK(strcmp(arena_printf(a, "%s-%d", "x", 42), "x-42") == 0);

	/* Overflowing sizes are refused, not wrapped. */
	CHECK(arena_alloc(a, SIZE_MAX) == NULL);
	CHECK(arena_alloc(NULL, 8) == NULL);

	/* Cleanups run exactly once, at arena_free. */
	CHECK(arena_defer(a, count_cleanup, malloc(8)) == 0);
	CHECK(arena_defer(a, count_cleanup, malloc(8)) == 0);
	CHECK(cleanups_run == 0);
	arena_free(a);
	CHECK(cleanups_run == 2);
	arena_free(NULL);
	CHECK_DONE();
}
