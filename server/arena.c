#include "server/arena.h"
#include "server/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 8192u
#define ARENA_ALIGN 16u

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

struct arena_cleanup {
	struct arena_cleanup *next;
	void (*fn)(void *);
	void *ptr;
};

struct arena {
	struct arena_block *head;
	struct arena_cleanup *cleanups;
	size_t total;
};

/* Owns: nothing yet. Returns a fresh arena or NULL. */
struct arena *arena_new(void)
{
	return alloc_calloc(1, sizeof(struct arena));
}

/* Owns: a and everything in it; releases them all. */
void arena_free(struct arena *a)
{
	if (a == NULL)
		return;
	struct arena_cleanup *c = a->cleanups;
	while (c != NULL) {
		struct arena_cleanup *next = c->next;
		c->fn(c->ptr);
		c = next;
	}
	struct arena_block *b = a->head;
	while (b != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	free(a);
}

/* Borrows a; returns arena-owned zeroed memory or NULL. */
void *arena_alloc(struct arena *a, size_t size)
{
	if (a == NULL || size > SIZE_MAX / 2)
		return NULL;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	struct arena_block *b = a->head;
	if (b == NULL || b->size - b->used < need) {
		size_t bsize = need > ARENA_BLOCK ? need : ARENA_BLOCK;
		b = alloc_malloc(sizeof(*b) + bsize);
		if (b == NULL)
			return NULL;
		b->size = bsize;
		b->used = 0;
		/* A large one-off block goes behind the head so the head keeps
		 * serving small allocations. */
		if (a->head != NULL && need > ARENA_BLOCK) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
		a->total += bsize;
	}
	void *p = b->data + b->used;
	b->used += need;
	memset(p, 0, size);
	return p;
}

/* Borrows a and s; returns an arena-owned copy or NULL. */
char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	if (s == NULL)
		return NULL;
	char *p = arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Borrows a and s; returns an arena-owned copy or NULL. */
char *arena_strdup(struct arena *a, const char *s)
{
	if (s == NULL)
		return NULL;
	return arena_strndup(a, s, strlen(s));
}

/* Borrows a; returns an arena-owned formatted string or NULL. */
char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *p = arena_alloc(a, (size_t)n + 1);
	if (p == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* Takes ptr (released by fn at arena_free, or at once on failure). */
int arena_defer(struct arena *a, void (*fn)(void *), void *ptr)
{
	struct arena_cleanup *c = arena_alloc(a, sizeof(*c));
	if (c == NULL) {
		fn(ptr);
		return -1;
	}
	c->fn = fn;
	c->ptr = ptr;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}

/* Borrows a. */
size_t arena_used(const struct arena *a)
{
	return a == NULL ? 0 : a->total;
}
