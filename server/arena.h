/* Request arena: a bump allocator freed wholesale when a request completes.
 * Besides memory it keeps a list of cleanups (PGresult, json_t, ...) run in
 * reverse order by arena_free, so handlers never free piecemeal. */
#ifndef CARTELLA_ARENA_H
#define CARTELLA_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/* Returns a new empty arena (caller owns it; free with arena_free), or NULL. */
struct arena *arena_new(void);

/* Runs the cleanups, then frees every block and the arena itself. NULL is ok. */
void arena_free(struct arena *a);

/* Returns size bytes aligned for any type, owned by the arena; NULL on OOM.
 * Memory is zeroed. */
void *arena_alloc(struct arena *a, size_t size);

/* Returns an arena-owned copy of s (NUL-terminated), or NULL. */
char *arena_strdup(struct arena *a, const char *s);

/* Returns an arena-owned copy of the first n bytes of s plus a NUL, or NULL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* Returns an arena-owned formatted string, or NULL. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Registers fn(ptr) to run when the arena is freed. Returns 0, or -1 on OOM
 * (in which case fn(ptr) has been run already, so ownership always passes). */
int arena_defer(struct arena *a, void (*fn)(void *), void *ptr);

/* Bytes currently held by the arena (for metrics and limits). */
size_t arena_used(const struct arena *a);

#endif
