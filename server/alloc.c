#include "server/alloc.h"

#include <jansson.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Whether an allocation of this thread returned NULL since the last
 * alloc_failed_clear (a real failure, or one the countdown asked for). */
static _Thread_local bool failed;

/* Bytes asked for since the last alloc_bytes_take (alloc_count). */
static _Thread_local size_t asked;

#ifdef CARTELLA_ALLOC_FAIL
static _Thread_local unsigned long fail_at;   /* 0: never */
static _Thread_local unsigned long fail_seen; /* allocations since armed */
static _Thread_local bool fail_persistent;

/* Counts one allocation; true when it is to fail. */
static bool alloc_should_fail(void)
{
	fail_seen++;
	if (fail_at == 0)
		return false;
	return fail_persistent ? fail_seen >= fail_at : fail_seen == fail_at;
}
#else
static bool alloc_should_fail(void)
{
	return false;
}
#endif

/* Records a NULL result, or counts size; returns p. */
static void *alloc_note(void *p, size_t size)
{
	if (p == NULL)
		failed = true;
	else
		asked += size;
	return p;
}

/* Borrows nothing. */
void alloc_count(size_t bytes)
{
	asked += bytes;
}

/* Borrows nothing. */
size_t alloc_bytes_take(void)
{
	size_t n = asked;
	asked = 0;
	return n;
}

/* Whether a large unit of work ended since the last trim. */
static atomic_bool trim_wanted;

/* Borrows nothing. */
bool alloc_release_if_large(void)
{
	if (alloc_bytes_take() < ALLOC_TRIM_BYTES)
		return false;
	atomic_store(&trim_wanted, true);
	return true;
}

/* Borrows nothing. */
bool alloc_trim_pending(void)
{
	if (!atomic_exchange(&trim_wanted, false))
		return false;
	malloc_trim(0);
	return true;
}

/* Returns caller-owned memory (free()) or NULL. */
void *alloc_malloc(size_t size)
{
	return alloc_note(alloc_should_fail() ? NULL : malloc(size), size);
}

/* Returns caller-owned zeroed memory (free()) or NULL. */
void *alloc_calloc(size_t n, size_t size)
{
	return alloc_note(alloc_should_fail() ? NULL : calloc(n, size), n * size);
}

/* Takes p on success (returns its replacement); on NULL p is still the
 * caller's. */
void *alloc_realloc(void *p, size_t size)
{
	return alloc_note(alloc_should_fail() ? NULL : realloc(p, size), size);
}

bool alloc_failed(void)
{
	return failed;
}

void alloc_failed_clear(void)
{
	failed = false;
}

bool alloc_fail_enabled(void)
{
#ifdef CARTELLA_ALLOC_FAIL
	return true;
#else
	return false;
#endif
}

void alloc_install_json(void)
{
	json_set_alloc_funcs(alloc_malloc, free);
}

void alloc_fail_arm(unsigned long n, bool persistent)
{
	failed = false;
#ifdef CARTELLA_ALLOC_FAIL
	fail_at = n;
	fail_seen = 0;
	fail_persistent = persistent;
#else
	(void)n;
	(void)persistent;
#endif
}

void alloc_fail_arm_header(const char *value)
{
	unsigned long n = 0;
	bool persistent = false;
	if (alloc_fail_enabled() && value != NULL) {
		char *end = NULL;
		n = strtoul(value, &end, 10);
		persistent = end != NULL && *end == '+';
		if (end == value || (*end != '\0' && !(persistent && end[1] == '\0')))
			n = 0;
	}
	alloc_fail_arm(n, persistent);
}

void alloc_fail_disarm(void)
{
#ifdef CARTELLA_ALLOC_FAIL
	fail_at = 0;
#endif
}

unsigned long alloc_fail_count(void)
{
#ifdef CARTELLA_ALLOC_FAIL
	return fail_seen;
#else
	return 0;
#endif
}
