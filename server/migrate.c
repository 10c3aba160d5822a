#include "server/migrate.h"
#include "server/embedded.h"

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
		if (v > latest)
			continue;
		char sum[65];
		migrate_checksum(embedded_migrations[v - 1].sql, sum);
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
		if (m->version <= applied_max)
			continue;
		if (migrate_apply(c, m) != 0)
			goto out;
		applied++;
	}
	if (applied == 0)
		printf("schema is up to date (version %d)\n", latest);
	rc = 0;
out:
	PQclear(r);
	if (PQstatus(c) == CONNECTION_OK)
		migrate_exec(c, "SELECT pg_advisory_unlock_all()", "unlock");
	PQfinish(c);
	return rc;
}
