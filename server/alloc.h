/* Heap allocation of the request path through one place, so that a build
 * configured with -Dalloc_fail=true (CARTELLA_ALLOC_FAIL) can make the Nth
 * allocation of a request fail: the project's own (arena blocks, request
 * bodies, the XML writer, the log line, key caches) and jansson's, which
 * alloc_install_json routes here. libpq, OpenSSL, libsodium and
 * libmicrohttpd allocate on their own and are not covered.
 *
 * The countdown is per thread: server/http.c arms it when a request's
 * headers arrive (header X-Cartella-Alloc-Fail: N, or N+ for every
 * allocation from the Nth on) and reports the allocations counted so far in
 * X-Cartella-Alloc-Count. In the normal build the functions are plain
 * malloc/calloc/realloc and the header is ignored. docs/reliability.md,
 * "Allocation failure". */
#ifndef CARTELLA_ALLOC_H
#define CARTELLA_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* malloc, calloc and realloc, or NULL when the countdown says so. The
 * memory is released with free(). */
void *alloc_malloc(size_t size);
void *alloc_calloc(size_t n, size_t size);
void *alloc_realloc(void *p, size_t size);

/* True when an allocation of the calling thread failed (really, or by the
 * countdown) since alloc_failed_clear. server/http.c clears it when a
 * request's processing starts and answers 503 instead of anything the
 * request would otherwise have committed or answered: a handler that
 * missed a NULL (a list that silently lost an item) cannot hand out a
 * truncated answer. */
bool alloc_failed(void);

/* Forgets the calling thread's failures. */
void alloc_failed_clear(void);

/* True in a build with -Dalloc_fail=true. */
bool alloc_fail_enabled(void);

/* Routes jansson's allocations through alloc_malloc, so that its failures
 * are seen too. Call once, before any thread starts. */
void alloc_install_json(void);

/* Restarts the calling thread's count and forgets its failures; the nth
 * allocation from now fails (and every later one when persistent); n = 0
 * only counts. */
void alloc_fail_arm(unsigned long n, bool persistent);

/* Arms the calling thread from the value of X-Cartella-Alloc-Fail ("N" or
 * "N+"; NULL or anything else: count only). */
void alloc_fail_arm_header(const char *value);

/* Stops failing on the calling thread (the count stays readable). */
void alloc_fail_disarm(void);

/* Allocations the calling thread made since it was last armed. */
unsigned long alloc_fail_count(void);

#endif
