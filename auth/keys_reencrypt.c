/* The encrypted columns of the database, counted per key version, and the
 * re-encryption of every value still under an older data key version
 * (`cartella keys reencrypt`), ending with the retirement of the versions no
 * value uses any more (DESIGN §5.4, docs/operations.md "Keys").
 *
 * Columns are discovered from the catalogue, never listed by hand: every
 * bytea column of a public table is either encrypted (named *_enc, bound to
 * (table, name without _enc, tenant_id, id); or one of the exceptions
 * below), a digest or key material (*_bidx, *_hash, *_sha256, hash,
 * tenant_key.wrapped), or unknown (a warning).
 *
 * Concurrency with a running server: each batch is its own transaction and
 * rewrites a value only if it is still the one read (compare-and-swap on the
 * ciphertext), so a value the server changed meanwhile is left to the
 * server (it wrote it under the active version) or taken by the next pass.
 * Before its first pass on a tenant the command takes the tenant's
 * key-rotation lock in exclusive mode once (migration 018), which waits for
 * every transaction that read an older active version and may still write
 * values under it. A kill at any point loses at most the batch in flight;
 * running the command again resumes. */
#include "auth/crypt.h"
#include "auth/crypt_internal.h"
#include "auth/keys_internal.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Encrypted columns whose associated data does not follow the *_enc rule. */
static const struct {
	const char *table, *column, *ad_table, *ad_column, *row_col;
} keys_exceptions[] = {
    /* TOTP secrets: bound to the account's home tenant and the user id
     * (auth/totp_store.c). */
    {"user_totp", "secret", "user_totp", "secret", "user_id"},
};

#define KEYS_NIL_UUID "00000000-0000-0000-0000-000000000000"
/* The exclusive barrier of the tenant's key-rotation lock (migration 018). */
#define KEYS_LOCK_CLASS "1128354388"

static const struct db_stmt st_columns = {
    "keys_columns",
    "SELECT c.relname, a.attname, "
    "  EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attnum > 0 "
    "          AND NOT t.attisdropped AND t.attname = 'tenant_id' "
    "          AND t.atttypid = 'uuid'::regtype), "
    "  coalesce((SELECT string_agg(u.attname, ',') FROM pg_attribute u "
    "            WHERE u.attrelid = c.oid AND u.attnum > 0 AND NOT u.attisdropped "
    "              AND u.atttypid = 'uuid'::regtype), '') "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "  AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'bytea'::regtype "
    "ORDER BY c.relname, a.attname",
};

static const struct db_stmt st_tenants = {
    "keys_tenants",
    "SELECT id::text, code, name FROM tenant "
    "WHERE $1::text IS NULL OR $1 = 'all' OR code = $1 ORDER BY code",
};

static const struct db_stmt st_active = {
    "keys_active_version",
    "SELECT version FROM tenant_key WHERE tenant_id = $1 AND kind = 'data' "
    "AND retired_at IS NULL ORDER BY version DESC LIMIT 1",
};

static const struct db_stmt st_barrier = {
    "keys_barrier",
    "SELECT pg_advisory_xact_lock(" KEYS_LOCK_CLASS ", app.data_key_lock_id($1::uuid))",
};

static const struct db_stmt st_unretired = {
    "keys_unretired",
    "SELECT version FROM tenant_key WHERE tenant_id = $1 AND kind = 'data' "
    "AND retired_at IS NULL AND version <> $2::int ORDER BY version",
};

static const struct db_stmt st_retire = {
    "keys_retire",
    "UPDATE tenant_key SET retired_at = now() WHERE tenant_id = $1 AND kind = 'data' "
    "AND version = $2::int AND retired_at IS NULL",
};

/* Borrows code; *out is arena-owned. */
int keys_tenants(struct arena *a, const char *code, PGresult **out)
{
	const char *p[1] = {code};
	return db_exec(a, &st_tenants, 1, p, out);
}

/* Borrows what. */
int keys_db_fail(const char *what, int rc)
{
	fprintf(stderr, "cartella keys: %s: database error %d (SQLSTATE %s)\n", what, rc,
	        db_last_sqlstate());
	return 1;
}

/* ------------------------------------------------------------ catalogue */

/* True when s is a plain lower-case SQL identifier (safe to quote as is). */
static bool keys_ident_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= KEYS_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* True when s ends with suffix. */
static bool keys_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* True when name is one of the comma-separated names in list. */
static bool keys_in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = end ? end + 1 : p + len;
	}
	return false;
}

/* Adds msg (arena-owned, NULL on OOM) to cat's warnings; returns 0 or -1. */
static int keys_warn(struct keys_catalogue *cat, size_t cap, char *msg)
{
	if (msg == NULL || cat->nwarnings >= cap)
		return -1;
	cat->warnings[cat->nwarnings++] = msg;
	return 0;
}

/* Builds col's statements (arena-owned; names numbered by i). Returns 0 or
 * -1 on OOM. */
static int keys_build(struct arena *a, struct keys_column *col, size_t i)
{
	const char *t = col->table, *c = col->column, *r = col->row_col;
	col->count.name = arena_printf(a, "keys_count_%zu", i);
	col->count.sql = arena_printf(
	    a,
	    "SELECT CASE WHEN octet_length(\"%s\") >= %d AND get_byte(\"%s\", 0) = %d "
	    "THEN ('x' || encode(substring(\"%s\" from 2 for 4), 'hex'))::bit(32)::int::text "
	    "ELSE 'malformed' END, count(*) FROM \"%s\" "
	    "WHERE tenant_id = $1 AND \"%s\" IS NOT NULL GROUP BY 1",
	    c, CRYPT_OVERHEAD, c, CRYPT_FORMAT_V1, c, t, c);
	col->scan.name = arena_printf(a, "keys_scan_%zu", i);
	col->scan.sql =
	    arena_printf(a,
	                 "SELECT \"%s\"::text, \"%s\" FROM \"%s\" WHERE tenant_id = $1 "
	                 "AND \"%s\" IS NOT NULL AND substring(\"%s\" from 1 for 5) <> "
	                 "$2::bytea AND \"%s\" > $3::uuid ORDER BY \"%s\" LIMIT $4::int",
	                 r, c, t, c, c, r, r);
	col->write.name = arena_printf(a, "keys_write_%zu", i);
	/* One statement per batch: $2 the rows, $3 the new values, $4 the
	 * values read (compare-and-swap: a value changed meanwhile is left). */
	col->write.sql =
	    arena_printf(a,
	                 "UPDATE \"%s\" AS x SET \"%s\" = v.n FROM unnest($2::uuid[], "
	                 "$3::bytea[], $4::bytea[]) AS v (r, n, o) WHERE x.tenant_id = $1 "
	                 "AND x.\"%s\" = v.r AND x.\"%s\" = v.o",
	                 t, c, r, c);
	return col->count.name && col->count.sql && col->scan.name && col->scan.sql &&
	               col->write.name && col->write.sql
	           ? 0
	           : -1;
}

/* Classifies the bytea column (table, column) of a table that has a uuid
 * tenant_id (has_tenant) and the uuid columns in uuids: into cat->cols when
 * encrypted, a warning when unknown or not addressable. Returns 0 or -1. */
static int keys_classify(struct arena *a, struct keys_catalogue *cat, size_t cap, const char *table,
                         const char *column, bool has_tenant, const char *uuids)
{
	if (!keys_ident_ok(table) || !keys_ident_ok(column))
		return keys_warn(cat, cap,
		                 arena_printf(a,
		                              "bytea column \"%s\".\"%s\" has a name the key "
		                              "commands do not handle: not covered",
		                              table, column));
	struct keys_column *col = &cat->cols[cat->ncols];
	memset(col, 0, sizeof *col);
	util_strlcpy(col->table, table, sizeof col->table);
	util_strlcpy(col->column, column, sizeof col->column);
	bool found = false;
	for (size_t i = 0; i < sizeof keys_exceptions / sizeof keys_exceptions[0]; i++)
		if (strcmp(keys_exceptions[i].table, table) == 0 &&
		    strcmp(keys_exceptions[i].column, column) == 0) {
			util_strlcpy(col->ad_table, keys_exceptions[i].ad_table,
			             sizeof col->ad_table);
			util_strlcpy(col->ad_column, keys_exceptions[i].ad_column,
			             sizeof col->ad_column);
			util_strlcpy(col->row_col, keys_exceptions[i].row_col, sizeof col->row_col);
			found = true;
		}
	if (!found && keys_ends_with(column, "_enc")) {
		util_strlcpy(col->ad_table, table, sizeof col->ad_table);
		util_strlcpy(col->ad_column, column, strlen(column) - 3);
		util_strlcpy(col->row_col, "id", sizeof col->row_col);
		found = true;
	}
	if (!found) {
		if (keys_ends_with(column, "_bidx") || keys_ends_with(column, "_hash") ||
		    keys_ends_with(column, "_sha256") || strcmp(column, "hash") == 0 ||
		    (strcmp(table, "tenant_key") == 0 && strcmp(column, "wrapped") == 0))
			return 0; /* a digest or key material, not a value under a data key */
		return keys_warn(
		    cat, cap,
		    arena_printf(a,
		                 "bytea column %s.%s is neither an encrypted column "
		                 "(*_enc) nor a known digest (*_bidx, *_hash, *_sha256): if it "
		                 "holds encrypted values, the key commands do not "
		                 "cover it",
		                 table, column));
	}
	col->has_tenant = has_tenant;
	col->usable = has_tenant && keys_in_list(uuids, col->row_col);
	if (!col->usable &&
	    keys_warn(cat, cap,
	              arena_printf(a,
	                           "encrypted column %s.%s: its table lacks the uuid column%s%s%s "
	                           "the values' associated data binds: reencrypt cannot rewrite "
	                           "its values (and a version they use is never retired)",
	                           table, column, has_tenant ? "" : " tenant_id",
	                           has_tenant ? " " : " or ", col->row_col)) != 0)
		return -1;
	if (keys_build(a, col, cat->ncols) != 0)
		return -1;
	cat->ncols++;
	return 0;
}

/* Borrows a; fills cat with arena-owned data. */
int keys_discover(struct arena *a, struct keys_catalogue *cat)
{
	memset(cat, 0, sizeof *cat);
	PGresult *r = NULL;
	int rc = db_exec(a, &st_columns, 0, NULL, &r);
	if (rc != DB_OK)
		return rc;
	size_t n = (size_t)PQntuples(r);
	cat->cols = arena_alloc(a, (n + 1) * sizeof *cat->cols);
	cat->warnings = arena_alloc(a, (n + 1) * sizeof *cat->warnings);
	if (cat->cols == NULL || cat->warnings == NULL)
		return DB_ERROR;
	for (size_t i = 0; i < n; i++) {
		int row = (int)i;
		if (keys_classify(a, cat, n + 1, PQgetvalue(r, row, 0), PQgetvalue(r, row, 1),
		                  strcmp(PQgetvalue(r, row, 2), "t") == 0,
		                  PQgetvalue(r, row, 3)) != 0)
			return DB_ERROR;
	}
	return DB_OK;
}

/* ------------------------------------------------------------ counts */

/* Adds values of version to c (arena-owned array, kept sorted). Returns 0
 * or -1 on OOM. */
static int keys_count_add(struct arena *a, struct keys_counts *c, uint32_t version,
                          long long values)
{
	size_t i = 0;
	while (i < c->n && c->v[i].version < version)
		i++;
	if (i < c->n && c->v[i].version == version) {
		c->v[i].values += values;
		return 0;
	}
	struct keys_version_count *grown = arena_alloc(a, (c->n + 1) * sizeof *grown);
	if (grown == NULL)
		return -1;
	if (c->n > 0) {
		memcpy(grown, c->v, i * sizeof *grown);
		memcpy(grown + i + 1, c->v + i, (c->n - i) * sizeof *grown);
	}
	grown[i].version = version;
	grown[i].values = values;
	c->v = grown;
	c->n++;
	return 0;
}

/* Adds the counts of one column to out. Returns a db_rc. */
static int keys_count_column(struct arena *a, const struct keys_column *col, const char *tenant_id,
                             struct keys_counts *out)
{
	const char *p[1] = {tenant_id};
	PGresult *r = NULL;
	int rc = db_exec(a, &col->count, 1, p, &r);
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++) {
		long long v = 0, n = atoll(PQgetvalue(r, i, 1));
		if (!util_parse_int(PQgetvalue(r, i, 0), 0, INT32_MAX, &v))
			out->malformed += n;
		else if (keys_count_add(a, out, (uint32_t)v, n) != 0)
			rc = DB_ERROR;
	}
	return rc;
}

/* Borrows cat and tenant_id; out's array is arena-owned. */
int keys_count_values(struct arena *a, const struct keys_catalogue *cat, const char *tenant_id,
                      struct keys_counts *out)
{
	memset(out, 0, sizeof *out);
	int rc = DB_OK;
	for (size_t i = 0; rc == DB_OK && i < cat->ncols; i++)
		if (cat->cols[i].has_tenant)
			rc = keys_count_column(a, &cat->cols[i], tenant_id, out);
	return rc;
}

/* Borrows c. */
long long keys_count_of(const struct keys_counts *c, uint32_t version)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].version == version)
			return c->v[i].values;
	return 0;
}

/* ------------------------------------------------------------ re-encryption */

/* One tenant's run. */
struct keys_run {
	const char *tenant_id; /* borrowed */
	const char *code;      /* borrowed */
	int batch;
	long long rewritten, changed;
};

/* Reads the tenant's active data key version into *v (0: none), in the
 * current transaction. Returns a db_rc. */
static int keys_active(struct arena *a, const char *tenant_id, uint32_t *v)
{
	const char *p[1] = {tenant_id};
	PGresult *r = NULL;
	*v = 0;
	int rc = db_exec(a, &st_active, 1, p, &r);
	long long n = 0;
	if (rc == DB_OK && PQntuples(r) == 1 &&
	    util_parse_int(PQgetvalue(r, 0, 0), 1, INT32_MAX, &n))
		*v = (uint32_t)n;
	return rc;
}

/* Opens a transaction in the tenant's context. Returns a db_rc. */
static int keys_begin(struct arena *a, const char *tenant_id)
{
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(a, tenant_id, NULL);
	return rc;
}

/* Ends the current transaction: commits when rc is DB_OK, else rolls back.
 * Returns the final db_rc. */
static int keys_end(int rc)
{
	if (rc == DB_OK)
		return db_commit();
	db_rollback();
	return rc;
}

/* Re-encrypts value stored (of row) of col under the active version into
 * *enc (arena-owned hex bytea text). Returns a db_rc or CRYPT_INTEGRITY. */
static int keys_reencrypt_value(struct arena *a, const struct keys_run *run,
                                const struct keys_column *col, const char *row, const char *stored,
                                const char **enc)
{
	struct crypt_ctx ctx = {col->ad_table, col->ad_column, run->tenant_id, row};
	const char *plain = NULL;
	size_t len = 0;
	int rc = crypt_decrypt(a, &ctx, stored, &plain, &len);
	if (rc == CRYPT_INTEGRITY) {
		fprintf(stderr,
		        "cartella keys reencrypt: %s %s.%s row %s does not decrypt (integrity "
		        "failure, logged): stopping, nothing retired\n",
		        run->code, col->table, col->column, row);
		return rc;
	}
	if (rc == DB_OK)
		rc = crypt_encrypt(a, &ctx, plain, len, enc);
	return rc;
}

/* One batch of col after row `after` (updated to the last row read), in its
 * own transaction: re-encrypts up to run->batch values not under the active
 * version. *found is the number of values read. Returns a db_rc or
 * CRYPT_INTEGRITY. */
static int keys_batch(struct keys_run *run, const struct keys_column *col,
                      char after[UTIL_UUID_LEN + 1], int *found, long long *changed)
{
	struct arena *a = arena_new();
	*found = 0;
	if (a == NULL)
		return DB_ERROR;
	uint32_t active = 0;
	PGresult *r = NULL;
	char header[16], limit[16];
	int rc = keys_begin(a, run->tenant_id);
	if (rc == DB_OK)
		rc = keys_active(a, run->tenant_id, &active);
	if (rc == DB_OK && active == 0)
		rc = DB_ERROR; /* someone retired every version meanwhile */
	snprintf(header, sizeof header, "\\x%02x%08" PRIx32, CRYPT_FORMAT_V1, active);
	snprintf(limit, sizeof limit, "%d", run->batch);
	const char *p[4] = {run->tenant_id, header, after, limit};
	if (rc == DB_OK)
		rc = db_exec(a, &col->scan, 4, p, &r);
	int n = rc == DB_OK ? PQntuples(r) : 0;
	const char **rows = arena_alloc(a, ((size_t)n + 1) * sizeof *rows);
	const char **olds = arena_alloc(a, ((size_t)n + 1) * sizeof *olds);
	const char **news = arena_alloc(a, ((size_t)n + 1) * sizeof *news);
	if (rows == NULL || olds == NULL || news == NULL)
		rc = DB_ERROR;
	for (int i = 0; rc == DB_OK && i < n; i++) {
		rows[i] = PQgetvalue(r, i, 0);
		olds[i] = PQgetvalue(r, i, 1);
		rc = keys_reencrypt_value(a, run, col, rows[i], olds[i], &news[i]);
	}
	long long written = 0;
	if (rc == DB_OK && n > 0) {
		const char *w[4] = {run->tenant_id, db_array(a, rows, (size_t)n),
		                    db_array(a, news, (size_t)n), db_array(a, olds, (size_t)n)};
		PGresult *u = NULL;
		rc = w[1] && w[2] && w[3] ? db_exec(a, &col->write, 4, w, &u) : DB_ERROR;
		if (rc == DB_OK)
			written = atoll(PQcmdTuples(u));
		util_strlcpy(after, rows[n - 1], UTIL_UUID_LEN + 1);
		*found = n;
	}
	long long missed = (long long)*found - written;
	rc = keys_end(rc);
	if (rc == DB_OK) {
		run->rewritten += written;
		run->changed += missed;
		*changed += missed;
	}
	arena_free(a);
	return rc;
}

/* Values of col not under the tenant's active version, in a transaction of
 * its own. Returns a db_rc. */
static int keys_left(const struct keys_run *run, const struct keys_column *col, long long *left)
{
	struct arena *a = arena_new();
	if (a == NULL)
		return DB_ERROR;
	struct keys_counts c = {0};
	uint32_t active = 0;
	int rc = keys_begin(a, run->tenant_id);
	if (rc == DB_OK)
		rc = keys_active(a, run->tenant_id, &active);
	if (rc == DB_OK)
		rc = keys_count_column(a, col, run->tenant_id, &c);
	rc = keys_end(rc);
	*left = c.malformed;
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].version != active)
			*left += c.v[i].values;
	arena_free(a);
	return rc;
}

#define KEYS_MAX_PASSES 10

/* Re-encrypts every value of col not under the active version: passes of
 * batches from the first row, again while a pass found values changed
 * meanwhile. Prints progress. Returns a db_rc or CRYPT_INTEGRITY. */
static int keys_column_run(struct keys_run *run, const struct keys_column *col)
{
	long long left = 0;
	int rc = keys_left(run, col, &left);
	if (rc != DB_OK || left == 0)
		return rc;
	long long done = 0;
	for (int pass = 0; pass < KEYS_MAX_PASSES; pass++) {
		char after[UTIL_UUID_LEN + 1] = KEYS_NIL_UUID;
		long long changed = 0;
		int found = 0;
		do {
			rc = keys_batch(run, col, after, &found, &changed);
			if (rc != DB_OK)
				return rc;
			done += found;
			printf(
			    "%s %s.%s: %lld of %lld values re-encrypted (%lld changed meanwhile)\n",
			    run->code, col->table, col->column, done, left, changed);
			fflush(stdout);
		} while (found == run->batch);
		if (changed == 0)
			return DB_OK;
	}
	return DB_OK;
}

/* Retires every data key version but the active one that no value uses
 * any more; prints what it did and what remains. *remaining is the number of
 * values still under another version. Returns a db_rc. */
static int keys_retire(const struct keys_catalogue *cat, const struct keys_run *run,
                       long long *remaining)
{
	struct arena *a = arena_new();
	if (a == NULL)
		return DB_ERROR;
	struct keys_counts c = {0};
	uint32_t active = 0;
	char av[16];
	PGresult *r = NULL;
	*remaining = 0;
	int rc = keys_begin(a, run->tenant_id);
	if (rc == DB_OK)
		rc = keys_active(a, run->tenant_id, &active);
	if (rc == DB_OK)
		rc = keys_count_values(a, cat, run->tenant_id, &c);
	snprintf(av, sizeof av, "%" PRIu32, active);
	const char *p[2] = {run->tenant_id, av};
	if (rc == DB_OK)
		rc = db_exec(a, &st_unretired, 2, p, &r);
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++) {
		const char *q[2] = {run->tenant_id, PQgetvalue(r, i, 0)};
		long long n = keys_count_of(&c, (uint32_t)atoll(q[1]));
		if (n == 0) {
			rc = db_exec(a, &st_retire, 2, q, NULL);
			if (rc == DB_OK)
				printf("%s: data key v%s retired (no value uses it)\n", run->code,
				       q[1]);
		} else {
			printf("%s: data key v%s still encrypts %lld values\n", run->code, q[1], n);
		}
	}
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].version != active)
			*remaining += c.v[i].values;
	*remaining += c.malformed;
	rc = keys_end(rc);
	arena_free(a);
	return rc;
}

/* The exclusive barrier (see the top of this file), in a transaction of its
 * own. Returns a db_rc. */
static int keys_barrier(const char *tenant_id)
{
	struct arena *a = arena_new();
	if (a == NULL)
		return DB_ERROR;
	const char *p[1] = {tenant_id};
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_exec(a, &st_barrier, 1, p, NULL);
	rc = keys_end(rc);
	arena_free(a);
	return rc;
}

/* Re-encrypts one tenant. Returns 0 done, 1 failed or incomplete. */
static int keys_reencrypt_tenant(const struct keys_catalogue *cat, struct keys_run *run)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = keys_barrier(run->tenant_id);
	if (rc != DB_OK)
		return keys_db_fail("waiting for writers under the previous key version", rc);
	for (size_t i = 0; rc == DB_OK && i < cat->ncols; i++)
		if (cat->cols[i].usable)
			rc = keys_column_run(run, &cat->cols[i]);
	if (rc == CRYPT_INTEGRITY)
		return 1;
	if (rc != DB_OK)
		return keys_db_fail("re-encryption (run the command again to resume)", rc);
	long long remaining = 0;
	rc = keys_retire(cat, run, &remaining);
	if (rc != DB_OK)
		return keys_db_fail("retiring versions", rc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* The rate lets an operator size the run for a larger Comune. */
	printf("%s: %lld values re-encrypted in %.1f s (%.0f values/s), %lld left to the server's "
	       "own writes\n",
	       run->code, run->rewritten, secs, secs > 0 ? (double)run->rewritten / secs : 0.0,
	       run->changed);
	if (remaining > 0) {
		printf("%s: %lld values remain under another version or unreadable headers, in "
		       "columns reencrypt cannot rewrite (see cartella keys status)\n",
		       run->code, remaining);
		return 1;
	}
	return 0;
}

/* Borrows tenant. */
int keys_reencrypt(const char *tenant, int batch)
{
	struct arena *a = arena_new();
	if (a == NULL)
		return 1;
	struct keys_catalogue cat;
	PGresult *tr = NULL;
	int status = 0;
	int rc = keys_discover(a, &cat);
	if (rc == DB_OK)
		rc = keys_tenants(a, tenant, &tr);
	if (rc != DB_OK) {
		status = keys_db_fail("reading the catalogue and the tenants", rc);
		goto out;
	}
	if (PQntuples(tr) == 0) {
		fprintf(stderr, "cartella keys reencrypt: no tenant %s\n", tenant ? tenant : "");
		status = 1;
		goto out;
	}
	for (size_t i = 0; i < cat.nwarnings; i++)
		fprintf(stderr, "warning: %s\n", cat.warnings[i]);
	for (int i = 0; i < PQntuples(tr); i++) {
		struct keys_run run = {PQgetvalue(tr, i, 0), PQgetvalue(tr, i, 1), batch, 0, 0};
		if (keys_reencrypt_tenant(&cat, &run) != 0)
			status = 1;
	}
out:
	arena_free(a);
	return status;
}
