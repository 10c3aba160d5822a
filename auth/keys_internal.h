/* What auth/keys.c (the commands, status, rotations) and
 * auth/keys_reencrypt.c (the encrypted columns, re-encryption, retirement)
 * share. Only those two files include this. */
#ifndef CARTELLA_KEYS_INTERNAL_H
#define CARTELLA_KEYS_INTERNAL_H

#include "server/db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

#define KEYS_NAME_MAX 64
#define KEYS_MSG_MAX  512

/* An encrypted column found in the catalogue, and the convention of its
 * values' associated data (auth/crypt.h): table and column names, the
 * tenant (always the row's tenant_id) and the row id column. */
struct keys_column {
	char table[KEYS_NAME_MAX];     /* SQL table */
	char column[KEYS_NAME_MAX];    /* SQL column */
	char ad_table[KEYS_NAME_MAX];  /* associated data: table name */
	char ad_column[KEYS_NAME_MAX]; /* associated data: column name */
	char row_col[KEYS_NAME_MAX];   /* the uuid column bound as the row id */
	bool has_tenant;               /* the table has a uuid tenant_id: countable */
	bool usable;                   /* re-encryption can address its rows */
	/* Statements built for this column (names unique in the process). */
	struct db_stmt count; /* (tenant) -> version, values, malformed */
	struct db_stmt scan;  /* (tenant, active header, after row, limit) -> row, value */
	struct db_stmt write; /* (tenant, row, new, old) -> compare-and-swap */
};

/* The encrypted columns of the database and what is wrong with the schema
 * for re-encryption (warnings). Arena-owned. */
struct keys_catalogue {
	struct keys_column *cols;
	size_t ncols;
	char **warnings;
	size_t nwarnings;
};

/* Reads the catalogue (pg_attribute) for every bytea column of the public
 * tables, classifies it (encrypted, digest or key material, unknown) and
 * builds the statements of the encrypted ones. Returns a db_rc. */
int keys_discover(struct arena *a, struct keys_catalogue *cat);

/* Values per data key version of one tenant. */
struct keys_version_count {
	uint32_t version;
	long long values;
};
struct keys_counts {
	struct keys_version_count *v; /* arena-owned, by ascending version */
	size_t n;
	long long malformed; /* values whose header cannot be read */
};

/* Counts the tenant's values per key version over every encrypted column,
 * in the current transaction (the tenant's context set). Returns a db_rc. */
int keys_count_values(struct arena *a, const struct keys_catalogue *cat, const char *tenant_id,
                      struct keys_counts *out);

/* Values of version in counts (0 when none). */
long long keys_count_of(const struct keys_counts *c, uint32_t version);

/* The tenants: code NULL or "all" for every one. *out columns: id, code,
 * name. Returns a db_rc. */
int keys_tenants(struct arena *a, const char *code, PGresult **out);

/* Prints a database failure of a keys command on stderr; returns 1. */
int keys_db_fail(const char *what, int rc);

/* cartella keys reencrypt [--tenant CODE|all] [--batch N]; returns the exit
 * status. The database is configured, the KEKs are loaded and checked. */
int keys_reencrypt(const char *tenant, int batch);

#endif
