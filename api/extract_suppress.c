/* Small-cell suppression for the extract tables (docs/reporting.md,
 * "Suppression"). A table with its margins is a set of linear equations:
 * each row's cells add up to its total, each column's to its total. Seen as
 * a bipartite graph (a node per row and per column, margins included, an
 * edge per suppressed cell), a suppressed cell can be computed back from the
 * published cells exactly when its edge is a bridge: no cycle of suppressed
 * cells passes through it. Secondary suppression therefore adds cells until
 * no line holds a single suppressed cell and no suppressed cell is a
 * bridge. */
#include "api/extracts.h"
#include "server/arena.h"

#include <string.h>

int ex_table_init(struct arena *a, struct ex_table *t, size_t rows, size_t cols)
{
	size_t n = (rows + 1) * (cols + 1);
	t->rows = rows;
	t->cols = cols;
	t->v = arena_alloc(a, n * sizeof *t->v);
	t->sensitive = arena_alloc(a, n * sizeof *t->sensitive);
	t->state = arena_alloc(a, n);
	if (t->v == NULL || t->sensitive == NULL || t->state == NULL)
		return -1;
	memset(t->v, 0, n * sizeof *t->v);
	memset(t->sensitive, 0, n * sizeof *t->sensitive);
	memset(t->state, 0, n);
	return 0;
}

size_t ex_at(const struct ex_table *t, size_t r, size_t c)
{
	return r * (t->cols + 1) + c;
}

void ex_margins(struct ex_table *t)
{
	size_t R = t->rows, C = t->cols;
	for (size_t r = 0; r <= R; r++) {
		t->v[ex_at(t, r, C)] = 0;
		t->sensitive[ex_at(t, r, C)] = false;
	}
	for (size_t c = 0; c < C; c++) {
		t->v[ex_at(t, R, c)] = 0;
		t->sensitive[ex_at(t, R, c)] = false;
	}
	for (size_t r = 0; r < R; r++) {
		for (size_t c = 0; c < C; c++) {
			size_t i = ex_at(t, r, c);
			const size_t m[3] = {ex_at(t, r, C), ex_at(t, R, c), ex_at(t, R, C)};
			for (int k = 0; k < 3; k++) {
				t->v[m[k]] += t->v[i];
				t->sensitive[m[k]] = t->sensitive[m[k]] || t->sensitive[i];
			}
		}
	}
}

/* How bad a complement cell i of (r, c) is: interior before margins,
 * non-zero before zero, then the smaller count. */
static int64_t ex_cost(const struct ex_table *t, size_t r, size_t c)
{
	int64_t v = t->v[ex_at(t, r, c)];
	int64_t rank = (r == t->rows || c == t->cols) ? 2 : 0;
	if (v == 0)
		rank += 1;
	return rank * ((int64_t)1 << 40) + v;
}

/* Suppresses the cheapest published cell of the line with a single
 * suppressed cell, for every such line. Returns true when it suppressed
 * something. */
static bool ex_fix_lines(struct ex_table *t)
{
	bool changed = false;
	size_t R = t->rows + 1, C = t->cols + 1;
	for (int dir = 0; dir < 2; dir++) {
		size_t lines = dir == 0 ? R : C, len = dir == 0 ? C : R;
		for (size_t l = 0; l < lines; l++) {
			size_t count = 0, best = 0;
			int64_t best_cost = -1;
			for (size_t k = 0; k < len; k++) {
				size_t r = dir == 0 ? l : k, c = dir == 0 ? k : l;
				if (t->state[ex_at(t, r, c)] != EX_PUBLISHED) {
					count++;
				} else if (best_cost < 0 || ex_cost(t, r, c) < best_cost) {
					best_cost = ex_cost(t, r, c);
					best = ex_at(t, r, c);
				}
			}
			if (count == 1 && best_cost >= 0) {
				t->state[best] = EX_SECONDARY;
				changed = true;
			}
		}
	}
	return changed;
}

/* Marks in seen[] (rows first, then columns) the nodes reachable from node
 * start over suppressed cells, leaving out the cell (skip_r, skip_c). queue
 * holds (rows + cols + 2) entries. */
static void ex_reach(const struct ex_table *t, size_t start, size_t skip_r, size_t skip_c,
                     bool *seen, size_t *queue)
{
	size_t R = t->rows + 1, C = t->cols + 1, head = 0, tail = 0;
	memset(seen, 0, (R + C) * sizeof *seen);
	seen[start] = true;
	queue[tail++] = start;
	while (head < tail) {
		size_t node = queue[head++];
		bool is_row = node < R;
		size_t len = is_row ? C : R;
		for (size_t k = 0; k < len; k++) {
			size_t r = is_row ? node : k, c = is_row ? k : node - R;
			size_t other = is_row ? R + k : k;
			if (t->state[ex_at(t, r, c)] == EX_PUBLISHED || seen[other] ||
			    (r == skip_r && c == skip_c))
				continue;
			seen[other] = true;
			queue[tail++] = other;
		}
	}
}

/* Finds a suppressed cell no cycle passes through and closes a cycle
 * through it with the cheapest published cell that does. Returns 1 when it
 * suppressed a cell, 0 when there is no such cell. */
static int ex_fix_bridge(struct ex_table *t, bool *side_r, bool *side_c, size_t *queue)
{
	size_t R = t->rows + 1, C = t->cols + 1;
	for (size_t r = 0; r < R; r++) {
		for (size_t c = 0; c < C; c++) {
			if (t->state[ex_at(t, r, c)] == EX_PUBLISHED)
				continue;
			ex_reach(t, r, r, c, side_r, queue);
			if (side_r[R + c])
				continue; /* on a cycle */
			ex_reach(t, R + c, r, c, side_c, queue);
			size_t best = 0;
			int64_t best_cost = -1;
			for (size_t r1 = 0; r1 < R; r1++) {
				for (size_t c1 = 0; c1 < C; c1++) {
					if (!side_c[r1] || !side_r[R + c1])
						continue;
					if (best_cost < 0 || ex_cost(t, r1, c1) < best_cost) {
						best_cost = ex_cost(t, r1, c1);
						best = ex_at(t, r1, c1);
					}
				}
			}
			if (best_cost < 0)
				return 0; /* a line with one suppressed cell: fixed first */
			t->state[best] = EX_SECONDARY;
			return 1;
		}
	}
	return 0;
}

/* Borrows t; the work arrays are arena-owned. */
long ex_suppress(struct arena *a, struct ex_table *t)
{
	size_t R = t->rows + 1, C = t->cols + 1, n = R * C;
	for (size_t r = 0; r < R; r++) {
		for (size_t c = 0; c < C; c++) {
			size_t i = ex_at(t, r, c);
			int64_t limit = t->sensitive[i] ? EX_SENSITIVE_THRESHOLD : EX_THRESHOLD;
			t->state[i] = t->v[i] > 0 && t->v[i] < limit ? EX_PRIMARY : EX_PUBLISHED;
		}
	}
	bool *side_r = arena_alloc(a, (R + C) * sizeof *side_r);
	bool *side_c = arena_alloc(a, (R + C) * sizeof *side_c);
	size_t *queue = arena_alloc(a, (R + C) * sizeof *queue);
	if (side_r == NULL || side_c == NULL || queue == NULL)
		return -1;
	for (size_t guard = 0; guard <= n; guard++) {
		if (ex_fix_lines(t))
			continue;
		if (ex_fix_bridge(t, side_r, side_c, queue) == 0)
			break;
	}
	long suppressed = 0;
	for (size_t i = 0; i < n; i++)
		suppressed += t->state[i] != EX_PUBLISHED;
	return suppressed;
}
