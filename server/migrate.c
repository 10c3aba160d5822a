#include "server/migrate.h"
#include "server/embedded.h"

#include <jansson.h>
#include <stdbool.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK_KEY "7305813294413"

int migrate_latest(void)
{
	return embedded_migrations_count == 0
	           ? 0
	           : embedded_migrations[embedded_migrations_count - 1].version;
}

/* The embedded migration numbered version, or NULL (numbers may have gaps). */
static const struct embedded_migration *migrate_find(int version)
{
	for (size_t i = 0; i < embedded_migrations_count; i++)
		if (embedded_migrations[i].version == version)
			return &embedded_migrations[i];
	return NULL;
}

/* True when version is among the n versions of r (column 0). Borrows r. */
static bool migrate_applied(PGresult *r, int version)
{
	for (int i = 0; i < PQntuples(r); i++)
		if (atoi(PQgetvalue(r, i, 0)) == version)
			return true;
	return false;
}

/* Writes the SHA-256 of sql as hex into out[65]. */
static void migrate_checksum(const char *sql, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)sql, strlen(sql));
	sodium_bin2hex(out, 65, h, sizeof h);
}

/* Runs sql (no parameters); prints the server's message on failure. */
static int migrate_exec(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType s = PQresultStatus(r);
	int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "cartella migrate: %s failed: %s", what, PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

/* Applies one migration in its own transaction. */
static int migrate_apply(PGconn *c, const struct embedded_migration *m)
{
	char label[128];
	snprintf(label, sizeof label, "migration %03d_%s", m->version, m->name);
	if (migrate_exec(c, "BEGIN", label) != 0)
		return -1;
	if (migrate_exec(c, m->sql, label) != 0) {
		migrate_exec(c, "ROLLBACK", label);
		return -1;
	}
	char sum[65], version[16];
	migrate_checksum(m->sql, sum);
	snprintf(version, sizeof version, "%d", m->version);
	const char *p[3] = {version, m->name, sum};
	PGresult *r = PQexecParams(c,
	                           "INSERT INTO schema_migration (version, name, checksum) "
	                           "VALUES ($1, $2, $3)",
	                           3, NULL, p, NULL, NULL, 0);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "cartella migrate: recording %s failed: %s", label,
		        PQerrorMessage(c));
	PQclear(r);
	if (!ok || migrate_exec(c, "COMMIT", label) != 0) {
		migrate_exec(c, "ROLLBACK", label);
		return -1;
	}
	printf("applied %03d_%s\n", m->version, m->name);
	return 0;
}

/* ------------------------------------------------------------ code lists */

/* A growable field buffer for the CSV reader (malloc'd, owned by the caller). */
struct csv_buf {
	char *s;
	size_t len, cap;
};

static int csv_put(struct csv_buf *b, char c)
{
	if (b->len + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;
		char *s = realloc(b->s, cap);
		if (s == NULL)
			return -1;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

/* Reads one RFC 4180 record at *pp (fields separated by commas, optionally
 * in double quotes with "" for a quote; LF or CRLF ends it), appending each
 * field to fields as a JSON string. Returns 1, 0 at the end of the text, or
 * -1 when a quote is unbalanced, a field is not UTF-8, or memory runs out. */
static int csv_record(const char **pp, int *line, json_t *fields, struct csv_buf *b)
{
	const char *p = *pp;
	if (*p == '\0')
		return 0;
	for (;;) {
		b->len = 0;
		if (*p == '"') {
			for (p++;; p++) {
				if (*p == '\0')
					return -1;
				if (*p == '"' && p[1] != '"')
					break;
				if (*p == '"')
					p++;
				else if (*p == '\n')
					(*line)++;
				if (csv_put(b, *p) != 0)
					return -1;
			}
			p++;
			if (*p != ',' && *p != '\r' && *p != '\n' && *p != '\0')
				return -1;
		} else {
			for (; *p != ',' && *p != '\r' && *p != '\n' && *p != '\0'; p++)
				if (csv_put(b, *p) != 0)
					return -1;
		}
		json_t *f = json_stringn(b->len ? b->s : "", b->len);
		if (f == NULL || json_array_append_new(fields, f) != 0)
			return -1;
		if (*p != ',')
			break;
		p++;
	}
	if (*p == '\r')
		p++;
	if (*p == '\n') {
		p++;
		(*line)++;
	}
	*pp = p;
	return 1;
}

/* True when code is 1-32 characters of [A-Za-z0-9._-]. */
static int code_syntax_ok(const char *code)
{
	size_t n = strlen(code);
	if (n < 1 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = code[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Parses a list's CSV (header code,label_it[,extra...]) into a new JSON array
 * of {code, label_it, attrs, position}; extra columns with a value go into
 * attrs. Blank lines are skipped. Returns NULL after printing the reason. */
static json_t *codes_from_csv(const struct embedded_code_list *l)
{
	struct csv_buf b = {0};
	json_t *head = json_array(), *rows = json_array(), *seen = json_object();
	json_t *fields = NULL;
	const char *p = l->csv, *why = NULL;
	int line = 1, at = 1, rc;
	if (head == NULL || rows == NULL || seen == NULL) {
		why = "out of memory";
		goto fail;
	}
	rc = csv_record(&p, &line, head, &b);
	if (rc != 1 || json_array_size(head) < 2 ||
	    strcmp(json_string_value(json_array_get(head, 0)), "code") != 0 ||
	    strcmp(json_string_value(json_array_get(head, 1)), "label_it") != 0) {
		why = "the header must begin with code,label_it";
		goto fail;
	}
	for (size_t i = 2; i < json_array_size(head); i++)
		if (json_string_length(json_array_get(head, i)) == 0) {
			why = "empty column name in the header";
			goto fail;
		}
	for (int pos = 1;;) {
		at = line;
		fields = json_array();
		if (fields == NULL) {
			why = "out of memory";
			goto fail;
		}
		rc = csv_record(&p, &line, fields, &b);
		if (rc == 0)
			break;
		if (rc < 0) {
			why = "unbalanced quote or text not in UTF-8";
			goto fail;
		}
		if (json_array_size(fields) == 1 &&
		    json_string_length(json_array_get(fields, 0)) == 0) {
			json_decref(fields);
			fields = NULL;
			continue;
		}
		if (json_array_size(fields) != json_array_size(head)) {
			why = "the number of fields differs from the header's";
			goto fail;
		}
		const char *code = json_string_value(json_array_get(fields, 0));
		const char *label = json_string_value(json_array_get(fields, 1));
		if (!code_syntax_ok(code)) {
			why = "a code is 1-32 characters: letters, digits, '.', '_', '-'";
			goto fail;
		}
		if (label[0] == '\0') {
			why = "empty label_it";
			goto fail;
		}
		if (json_object_get(seen, code) != NULL) {
			why = "duplicate code";
			goto fail;
		}
		json_t *attrs = json_object();
		for (size_t i = 2; attrs != NULL && i < json_array_size(head); i++)
			if (json_string_length(json_array_get(fields, i)) > 0)
				json_object_set(attrs, json_string_value(json_array_get(head, i)),
				                json_array_get(fields, i));
		json_t *row = attrs == NULL
		                  ? NULL
		                  : json_pack("{s:s, s:s, s:o, s:i}", "code", code, "label_it",
		                              label, "attrs", attrs, "position", pos++);
		if (row == NULL || json_object_set_new(seen, code, json_true()) != 0 ||
		    json_array_append_new(rows, row) != 0) {
			why = "out of memory";
			goto fail;
		}
		json_decref(fields);
		fields = NULL;
	}
	json_decref(fields);
	json_decref(head);
	json_decref(seen);
	free(b.s);
	return rows;
fail:
	fprintf(stderr, "cartella migrate: schema/codes/%s.csv, line %d: %s\n", l->name, at, why);
	json_decref(fields);
	json_decref(head);
	json_decref(rows);
	json_decref(seen);
	free(b.s);
	return NULL;
}

/* Runs sql with text parameters; *out (caller clears) gets the result.
 * Prints the server's message on failure. */
static int migrate_query(PGconn *c, const char *sql, int n, const char *const *params,
                         const char *what, PGresult **out)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		fprintf(stderr, "cartella migrate: %s failed: %s", what, PQerrorMessage(c));
		PQclear(r);
		*out = NULL;
		return -1;
	}
	*out = r;
	return 0;
}

/* Brings one list up to date with its CSV (inside the caller's transaction).
 * *changed is set when the list's checksum differed. */
static int codes_sync_one(PGconn *c, const struct embedded_code_list *l, int *changed)
{
	static const char *const sql_head =
	    "SELECT version, checksum FROM code_list WHERE name = $1 FOR UPDATE";
	static const char *const sql_new =
	    "INSERT INTO code_list (name, version, checksum) VALUES ($1, 1, $2) "
	    "RETURNING version";
	static const char *const sql_bump =
	    "UPDATE code_list SET version = version + 1, checksum = $2, loaded_at = now() "
	    "WHERE name = $1 RETURNING version";
	/* New codes get valid_from NULL on a list's first load (in force before
	 * Cartella knew the list), today's date later; a code that comes back is
	 * reopened. */
	static const char *const sql_upsert =
	    "WITH src AS ("
	    "  SELECT r->>'code' AS code, r->>'label_it' AS label_it, r->'attrs' AS attrs,"
	    "         (r->>'position')::integer AS position"
	    "    FROM jsonb_array_elements($2::jsonb) r),"
	    " up AS ("
	    "  INSERT INTO code AS k (list, code, label_it, attrs, position, valid_from)"
	    "  SELECT $1, code, label_it, attrs, position,"
	    "         CASE WHEN $3::boolean THEN NULL ELSE current_date END FROM src"
	    "  ON CONFLICT (list, code) DO UPDATE"
	    "     SET label_it = EXCLUDED.label_it, attrs = EXCLUDED.attrs,"
	    "         position = EXCLUDED.position, valid_to = NULL"
	    "   WHERE (k.label_it, k.attrs, k.position, k.valid_to) IS DISTINCT FROM"
	    "         (EXCLUDED.label_it, EXCLUDED.attrs, EXCLUDED.position, NULL::date)"
	    "  RETURNING (xmax = 0) AS inserted)"
	    "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";
	static const char *const sql_close =
	    "UPDATE code SET valid_to = greatest(current_date, coalesce(valid_from, current_date)) "
	    "WHERE list = $1 AND valid_to IS NULL AND code NOT IN "
	    "(SELECT r->>'code' FROM jsonb_array_elements($2::jsonb) r)";
	int rc = -1;
	char *text = NULL;
	PGresult *r = NULL;
	json_t *rows = codes_from_csv(l);
	if (rows == NULL)
		goto out;
	char sum[65];
	migrate_checksum(l->csv, sum);
	const char *ph[1] = {l->name};
	if (migrate_query(c, sql_head, 1, ph, l->name, &r) != 0)
		goto out;
	int first = PQntuples(r) == 0;
	if (!first && strcmp(PQgetvalue(r, 0, 1), sum) == 0) {
		rc = 0; /* unchanged */
		goto out;
	}
	PQclear(r);
	const char *pv[2] = {l->name, sum};
	if (migrate_query(c, first ? sql_new : sql_bump, 2, pv, l->name, &r) != 0)
		goto out;
	char version[16];
	snprintf(version, sizeof version, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	text = json_dumps(rows, JSON_COMPACT);
	if (text == NULL) {
		fprintf(stderr, "cartella migrate: out of memory\n");
		r = NULL;
		goto out;
	}
	const char *pu[3] = {l->name, text, first ? "true" : "false"};
	if (migrate_query(c, sql_upsert, 3, pu, l->name, &r) != 0)
		goto out;
	char added[24], updated[24];
	snprintf(added, sizeof added, "%s", PQgetvalue(r, 0, 0));
	snprintf(updated, sizeof updated, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	const char *pc[2] = {l->name, text};
	if (migrate_query(c, sql_close, 2, pc, l->name, &r) != 0)
		goto out;
	printf("code list %s: version %s (%s new, %s changed, %s closed)\n", l->name, version,
	       added, updated, PQcmdTuples(r));
	*changed = 1;
	rc = 0;
out:
	PQclear(r);
	free(text);
	json_decref(rows);
	return rc;
}

/* Syncs every embedded code list in one transaction: a list whose CSV
 * changed gets a new version, new codes, updated labels, and its vanished
 * codes closed (never deleted). Returns 0 or -1. */
static int codes_sync(PGconn *c)
{
	int changed = 0;
	if (migrate_exec(c, "BEGIN", "code lists") != 0)
		return -1;
	for (size_t i = 0; i < embedded_code_lists_count; i++)
		if (codes_sync_one(c, &embedded_code_lists[i], &changed) != 0) {
			migrate_exec(c, "ROLLBACK", "code lists");
			return -1;
		}
	if (migrate_exec(c, "COMMIT", "code lists") != 0) {
		migrate_exec(c, "ROLLBACK", "code lists");
		return -1;
	}
	if (!changed)
		printf("code lists are up to date (%zu lists)\n", embedded_code_lists_count);
	return 0;
}

/* Borrows url. */
int migrate_run(const char *url)
{
	int rc = 1;
	PGresult *r = NULL;
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "cartella migrate: cannot connect: %s", PQerrorMessage(c));
		goto out;
	}
	if (migrate_exec(c, "SET client_min_messages = warning", "setup") != 0 ||
	    migrate_exec(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "lock") != 0 ||
	    migrate_exec(c,
	                 "CREATE TABLE IF NOT EXISTS schema_migration ("
	                 " version integer PRIMARY KEY,"
	                 " name text NOT NULL,"
	                 " checksum text NOT NULL,"
	                 " applied_at timestamptz NOT NULL DEFAULT now())",
	                 "schema_migration") != 0)
		goto out;
	r = PQexec(c, "SELECT version, checksum FROM schema_migration ORDER BY version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "cartella migrate: cannot read schema_migration: %s",
		        PQerrorMessage(c));
		goto out;
	}
	int latest = migrate_latest(), applied_max = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		int v = atoi(PQgetvalue(r, i, 0));
		if (v > applied_max)
			applied_max = v;
		const struct embedded_migration *known = migrate_find(v);
		if (known == NULL && v <= latest) {
			fprintf(stderr,
			        "cartella migrate: the database has migration %03d, which this "
			        "binary does not know; refusing to continue\n",
			        v);
			goto out;
		}
		if (known == NULL)
			continue;
		char sum[65];
		migrate_checksum(known->sql, sum);
		if (strcmp(sum, PQgetvalue(r, i, 1)) != 0) {
			fprintf(stderr,
			        "cartella migrate: migration %03d was changed after it was "
			        "applied; refusing to continue\n",
			        v);
			goto out;
		}
	}
	if (applied_max > latest) {
		fprintf(stderr,
		        "cartella migrate: the database is at schema %d, newer than this "
		        "binary (%d); upgrade cartella instead\n",
		        applied_max, latest);
		rc = 2;
		goto out;
	}
	int applied = 0;
	for (size_t i = 0; i < embedded_migrations_count; i++) {
		const struct embedded_migration *m = &embedded_migrations[i];
		if (migrate_applied(r, m->version))
			continue;
		if (migrate_apply(c, m) != 0)
			goto out;
		applied++;
	}
	if (applied == 0)
		printf("schema is up to date (version %d)\n", latest);
	if (codes_sync(c) != 0)
		goto out;
	rc = 0;
out:
	PQclear(r);
	if (PQstatus(c) == CONNECTION_OK)
		migrate_exec(c, "SELECT pg_advisory_unlock_all()", "unlock");
	PQfinish(c);
	return rc;
}
