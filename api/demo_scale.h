/* `cartella demo --persons N`: regional-scale synthetic data (docs/performance.md,
 * "Synthetic data"). api/demo_rows.c makes the rows of one household (persons,
 * members, case, assessment, interventions and their funding) as COPY text,
 * encrypting through auth/crypt_bulk.h; api/demo_scale.c drives the run: the
 * arguments, the Comuni, the batches (COPY into session-local staging
 * tables, then INSERT ... SELECT under the tenant's row-level security), one
 * audit event per batch, the progress report. */
#ifndef CARTELLA_DEMO_SCALE_H
#define CARTELLA_DEMO_SCALE_H

#include "server/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct crypt_bulk;

/* ------------------------------------------------------------ options */

struct demo_opts {
	long persons; /* 0: the small demo through the API handlers */
	int jobs;     /* Comuni loaded at the same time, each on its own connection */
	uint64_t seed;
	bool append;
	double interventions_per_person;
};

/* Parses the arguments of `cartella demo` into *o. Returns 0 to go on, 1 when
 * help was printed (exit 0), 2 after printing a usage error (exit 2). */
int demo_parse_args(int argc, char **argv, struct demo_opts *o);

/* Loads the regional-scale data; the database and keyring must be set up.
 * Returns the exit status. */
int demo_scale_run(const struct demo_opts *o);

/* ------------------------------------------------------------ helpers */

/* A deterministic generator (xorshift64*), seeded by --seed. */
struct demo_rng {
	uint64_t s;
};
void demo_rng_seed(struct demo_rng *r, uint64_t seed);
uint32_t demo_rng_below(struct demo_rng *r, uint32_t n);
/* A version-4 UUID drawn from r into out[37]. */
void demo_rng_uuid(struct demo_rng *r, char out[UTIL_UUID_LEN + 1]);

/* A growable text buffer for COPY data (malloc'd, reused between batches). */
struct demo_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void demo_buf_put(struct demo_buf *b, const char *s, size_t n);
void demo_buf_str(struct demo_buf *b, const char *s);
void demo_buf_fmt(struct demo_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void demo_buf_free(struct demo_buf *b);

/* A valid 16-character fiscal code (check character computed by
 * api/validate.c) for the person, into out[17]. */
void demo_fiscal_code(const char *surname, const char *given, char sex, int year, int month,
                      int day, const char *place, char out[17]);

/* FNV-1a of the n bytes at p. */
uint64_t demo_hash(const void *p, size_t n);
/* Which of nparts Comuni fiscal code cf belongs to (a hash of it). */
size_t demo_cf_part(const char *cf, size_t nparts);

/* A set of 16-byte keys (open addressing): fiscal codes of this run, and the
 * first 16 bytes of the fiscal-code blind indexes already in the database. */
struct demo_set {
	unsigned char *slot; /* cap * 16 bytes; an all-zero key is an empty slot */
	size_t cap, n;
};
int demo_set_init(struct demo_set *s, size_t expected);
/* Adds key; returns 1 when added, 0 when present, -1 when full. */
int demo_set_add(struct demo_set *s, const unsigned char *key);
bool demo_set_has(const struct demo_set *s, const unsigned char *key);
void demo_set_free(struct demo_set *s);

/* ------------------------------------------------------------ rows */

/* The tables a batch fills, in the order they are inserted. */
enum demo_table {
	DT_HOUSEHOLD,
	DT_PERSON,
	DT_MEMBER,
	DT_CASE,
	DT_HISTORY,
	DT_ASSESSMENT,
	DT_INTERVENTION,
	DT_FUNDING,
	DT__COUNT
};

/* Table name and the columns the loader writes (COPY and INSERT order). */
struct demo_table_def {
	const char *name;
	const char *columns;
};
extern const struct demo_table_def demo_tables[DT__COUNT];

/* A service of the Ambito's catalogue. */
struct demo_service {
	char tenant_id[UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
	char code[33], regional_area[33];
	int nature; /* 0 periodic, 1 one-off, 2 both */
	bool isee_linked;
};

/* A Comune being loaded. */
struct demo_comune {
	char id[UTIL_UUID_LEN + 1], code[8], name[64];
	const char *postal_code;
	unsigned weight; /* residents, for the spread of persons */
	char provider_id[UTIL_UUID_LEN + 1];
	long persons_target, persons_done;
	long batches; /* transactions of this Comune so far (audit request ids) */
};

/* The state of one run that the row makers share. */
struct demo_gen {
	struct demo_rng rng;
	const struct demo_opts *opts;
	char user_id[UTIL_UUID_LEN + 1]; /* the demo account (created_by) */
	const struct demo_service *services;
	size_t nservices;
	struct demo_set cf_seen;           /* the current Comune's codes in this run */
	const struct demo_set *bidx_taken; /* codes already in the database (shared) */
	size_t part, nparts;               /* the current Comune's part of the codes */
	struct demo_buf buf[DT__COUNT];
	long rows[DT__COUNT];          /* rows written into buf since the last flush */
	long total[DT__COUNT];         /* rows loaded in the run */
	long serial;                   /* intervention protocol numbers */
	const struct crypt_bulk *bulk; /* the current batch's keys */
	const struct demo_comune *comune;
	int max_persons; /* the next household has at most this many (>= 1) */
	bool failed;     /* a row could not be made (crypto, OOM, no unique code) */
};

/* Appends the rows of one household (1-5 persons, its case, assessment,
 * interventions and funding) to g's buffers. Returns the number of persons. */
int demo_rows_household(struct demo_gen *g);

#endif
