/* Pseudonymised extracts (POST /api/v1/extracts, docs/reporting.md): the
 * statistical disclosure control their tables share. */
#ifndef CARTELLA_EXTRACTS_H
#define CARTELLA_EXTRACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* Counts under these are suppressed: EX_THRESHOLD in general,
 * EX_SENSITIVE_THRESHOLD in a cell of minors, health or violence. */
#define EX_THRESHOLD           3
#define EX_SENSITIVE_THRESHOLD 5

enum ex_state { EX_PUBLISHED = 0, EX_PRIMARY = 1, EX_SECONDARY = 2 };

/* A table of rows x cols counts with its margins, as (rows + 1) x (cols + 1)
 * cells: row `rows` holds the column totals, column `cols` the row totals,
 * the last cell the grand total. Arena-owned arrays, row-major. */
struct ex_table {
	size_t rows, cols;
	int64_t *v;
	bool *sensitive;
	unsigned char *state; /* enum ex_state */
};

/* Allocates a zeroed table of rows x cols interior cells. Returns 0 or -1. */
int ex_table_init(struct arena *a, struct ex_table *t, size_t rows, size_t cols);

/* The index of cell (r, c), margins included (r <= rows, c <= cols). */
size_t ex_at(const struct ex_table *t, size_t r, size_t c);

/* Fills the margins from the interior cells (sums; a margin is sensitive
 * when one of its cells is). */
void ex_margins(struct ex_table *t);

/* Marks the cells to suppress, margins included: primary suppression of
 * every count from 1 to under its threshold, then secondary suppression
 * until no suppressed cell can be computed back from the published ones:
 * every row and column has none or at least two suppressed cells, and
 * every suppressed cell lies on a cycle of suppressed cells (the cells of a
 * table with its margins are determined by the others exactly when they do
 * not). Complements are the smallest non-zero interior counts where there
 * is a choice. Returns the number of suppressed cells, or -1 (OOM). */
long ex_suppress(struct arena *a, struct ex_table *t);

#endif
