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

/* Adds bytes to the calling thread's count of heap memory asked for: the
 * alloc_* functions count their own; db.c adds the size of each libpq
 * result it keeps. */
void alloc_count(size_t bytes);

/* Returns the calling thread's count and starts it again from zero. */
size_t alloc_bytes_take(void);

/* Called when a unit of work (a request, a job) has freed what it used:
 * when the calling thread asked for at least ALLOC_TRIM_BYTES since the
 * last call, marks the heap for trimming (alloc_trim_pending). glibc keeps
 * each thread's malloc arena at its peak otherwise, so one page of SIUSS
 * flows or one yearly report would leave every worker thread's arena tens
 * of MiB large for the life of the process. Returns true when it marked.
 * Starts the count again either way. */
#define ALLOC_TRIM_BYTES (1u << 20)
bool alloc_release_if_large(void);

/* When a large unit of work marked the heap since the last call, gives the
 * free pages of every arena back to the system (malloc_trim) and returns
 * true. Called by one housekeeping thread (server/http.c's watchdog, once a
 * second), not after each request: trimming after every page of flows made
 * the next page fault the same pages in again (twice the CPU per page), and
 * a run of large requests now costs at most one trim a second. */
bool alloc_trim_pending(void);

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
