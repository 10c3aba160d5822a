/* Database access: one libpq connection per server thread (created on first
 * use, closed when the thread ends), statements prepared lazily per
 * connection, one transaction per request, errors classified so handlers
 * never look at SQLSTATEs. Handlers use only this interface. */
#ifndef CARTELLA_DB_H
#define CARTELLA_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct arena;

/* A statement: declared once (static storage), prepared on each connection
 * the first time it runs there. name must be unique in the program. */
struct db_stmt {
	const char *name;
	const char *sql;
};

enum db_rc {
	DB_OK = 0,
	DB_UNIQUE = -1,      /* 23505 unique_violation, 23P01 exclusion_violation */
	DB_RETRY = -2,       /* 40001/40P01: run the transaction again */
	DB_UNAVAILABLE = -3, /* connection lost, server shutting down, timeout */
	DB_FOREIGN = -4,     /* 23503 foreign_key_violation */
	DB_CHECK = -5,       /* 23514/23502/22xxx: data refused by a constraint */
	DB_ERROR = -6,       /* anything else: a defect */
};

/* Sets the connection string and per-connection settings used by every
 * thread (borrowed for the life of the process). */
void db_configure(const char *url, int statement_timeout_ms);

/* Returns the calling thread's connection (owned by the thread), connecting
 * or reconnecting when needed; NULL when the database is unreachable. */
PGconn *db_conn(void);

/* Runs st with n text parameters (NULL entries are SQL NULL). On DB_OK and a
 * non-NULL out, *out is the result, owned by arena a. */
int db_exec(struct arena *a, const struct db_stmt *st, int n, const char *const *params,
            PGresult **out);

/* As db_exec with per-parameter lengths and formats (1 = binary) and the
 * result format (0 text, 1 binary). lengths/formats may be NULL. */
int db_execv(struct arena *a, const struct db_stmt *st, int n, const char *const *params,
             const int *lengths, const int *formats, int result_format, PGresult **out);

/* The PostgreSQL array literal of the n strings v (each quoted, backslashes
 * and quotes escaped; a NULL entry is SQL NULL), for a text parameter such as
 * $2::uuid[] or $3::bytea[]; arena-owned, NULL on OOM. */
char *db_array(struct arena *a, const char *const *v, size_t n);

/* Runs one parameterless statement text (a utility statement such as
 * CREATE TEMP TABLE or SET LOCAL) on the thread's connection. Returns a db_rc. */
int db_run(const char *sql);

/* Runs sql, a COPY ... FROM STDIN statement, feeding it len bytes of data
 * (borrowed; COPY text or binary format as sql says). Returns a db_rc. */
int db_copy_in(const char *sql, const char *data, size_t len);

/* Queues st with n text parameters (copied into arena a, which must live
 * until the commit) to run just before COMMIT, in the same round trip: for a
 * statement whose result nobody reads (the audit insert). A statement run
 * in between sends it first, so the order of statements never changes. If
 * it fails, db_commit fails and db_commit_failed_deferred says so. */
int db_defer(struct arena *a, const struct db_stmt *st, int n, const char *const *params);

/* Transaction control on the thread's connection. db_begin checks the
 * connection out and opens the transaction; BEGIN is sent with the first
 * statement, in one round trip (libpq pipeline mode). db_commit sends the
 * deferred statement, if any, and COMMIT in one round trip; after it the
 * transaction is over whatever it returns (rolled back when it failed). */
int db_begin(void);
int db_commit(void);
void db_rollback(void);
bool db_in_tx(void);

/* True when the last db_commit failed on the deferred statement (db_defer),
 * not on COMMIT itself. */
bool db_commit_failed_deferred(void);

/* Sets app.tenant and app.user for the current transaction (NULL clears). */
int db_set_context(struct arena *a, const char *tenant_id, const char *user_id);

/* SQLSTATE of the last failed call on this thread ("" if none). */
const char *db_last_sqlstate(void);

/* Connections open and connections inside a transaction, process-wide. */
void db_pool_counts(int *open, int *busy);

/* Checks that the connected role is neither superuser nor BYPASSRLS and owns
 * no table; returns 0, or -1 with the reason in err. */
int db_check_app_role(char *err, size_t errn);

/* Runs SELECT 1; returns DB_OK or an error code. */
int db_ping(void);

/* Closes the calling thread's connection, if any. */
void db_disconnect(void);

#endif
