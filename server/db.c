#include "server/db.h"
#include "server/alloc.h"
#include "server/arena.h"
#include "server/log.h"
#include "server/util.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_PREPARED_SLOTS 1024 /* open-addressing set of prepared statements */

struct db_thread {
	PGconn *conn;
	bool in_tx;
	char sqlstate[6];
	const struct db_stmt *prepared[DB_PREPARED_SLOTS];
};

static const char *db_url;
static int db_statement_timeout_ms = 5000;
static pthread_key_t db_key;
static pthread_once_t db_key_once = PTHREAD_ONCE_INIT;
static atomic_int db_open;
static atomic_int db_busy;

/* Thread exit: closes the thread's connection (owned by the thread). */
static void db_thread_free(void *p)
{
	struct db_thread *t = p;
	if (t == NULL)
		return;
	if (t->conn != NULL) {
		PQfinish(t->conn);
		atomic_fetch_sub(&db_open, 1);
	}
	if (t->in_tx)
		atomic_fetch_sub(&db_busy, 1);
	free(t);
}

static void db_key_init(void)
{
	pthread_key_create(&db_key, db_thread_free);
}

/* Borrows url for the process lifetime. */
void db_configure(const char *url, int statement_timeout_ms)
{
	db_url = url;
	db_statement_timeout_ms = statement_timeout_ms;
	pthread_once(&db_key_once, db_key_init);
}

/* Returns the calling thread's state (owned by the thread) or NULL on OOM. */
static struct db_thread *db_thread(void)
{
	pthread_once(&db_key_once, db_key_init);
	struct db_thread *t = pthread_getspecific(db_key);
	if (t == NULL) {
		t = alloc_calloc(1, sizeof *t);
		if (t == NULL)
			return NULL;
		if (pthread_setspecific(db_key, t) != 0) {
			free(t);
			return NULL;
		}
	}
	return t;
}

static void db_forget_prepared(struct db_thread *t)
{
	memset(t->prepared, 0, sizeof t->prepared);
}

/* Applies the session settings every connection needs. */
static int db_session_setup(PGconn *c)
{
	char sql[256];
	snprintf(sql, sizeof sql,
	         "SET statement_timeout = %d; SET idle_in_transaction_session_timeout = %d; "
	         "SET application_name = 'cartella'; SET timezone = 'UTC'",
	         db_statement_timeout_ms, db_statement_timeout_ms * 2);
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok ? 0 : -1;
}

/* True when c, idle between transactions, was closed by the server: a
 * PostgreSQL that shuts down or restarts, or pg_terminate_backend, sends a
 * FATAL message and closes the socket, which is then readable. This program
 * never LISTENs, so an idle connection has nothing else to read; a false
 * alarm costs one reconnection. Borrows c. */
static bool db_idle_conn_closed(PGconn *c)
{
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		return false;
	struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
	if (p.fd < 0)
		return true;
	return poll(&p, 1, 0) != 0; /* readable, hung up, or poll failed */
}

/* Closes t's connection (and ends its transaction count, if any). */
static void db_drop(struct db_thread *t)
{
	if (t->conn != NULL) {
		PQfinish(t->conn);
		t->conn = NULL;
		atomic_fetch_sub(&db_open, 1);
	}
	if (t->in_tx) {
		t->in_tx = false;
		atomic_fetch_sub(&db_busy, 1);
	}
	db_forget_prepared(t);
}

/* Checkout: the thread's connection, found broken and replaced only between
 * transactions. Inside a transaction a broken connection is not replaced:
 * what follows would run outside the transaction that was begun. */
PGconn *db_conn(void)
{
	struct db_thread *t = db_thread();
	if (t == NULL || db_url == NULL)
		return NULL;
	if (t->conn != NULL && PQstatus(t->conn) == CONNECTION_OK &&
	    (t->in_tx || !db_idle_conn_closed(t->conn)))
		return t->conn;
	if (t->conn != NULL && t->in_tx)
		return NULL;
	if (t->conn != NULL)
		log_event(LOGL_INFO, "database connection lost; reconnecting",
		          json_pack("{s:s}", "component", "db"));
	db_drop(t);
	PGconn *c = PQconnectdb(db_url);
	if (c == NULL)
		return NULL;
	if (PQstatus(c) != CONNECTION_OK || db_session_setup(c) != 0) {
		log_event(LOGL_WARN, "database connection failed",
		          json_pack("{s:s}", "component", "db"));
		PQfinish(c);
		return NULL;
	}
	t->conn = c;
	atomic_fetch_add(&db_open, 1);
	return c;
}

void db_disconnect(void)
{
	struct db_thread *t = pthread_getspecific(db_key);
	if (t != NULL)
		db_drop(t);
}

/* Maps a SQLSTATE to a db_rc. */
static int db_classify(const char *state)
{
	if (state == NULL || state[0] == '\0')
		return DB_UNAVAILABLE; /* no state: the connection broke */
	if (strcmp(state, "23505") == 0 || strcmp(state, "23P01") == 0)
		return DB_UNIQUE; /* unique or exclusion constraint: a duplicate */
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return DB_RETRY;
	if (strcmp(state, "23503") == 0)
		return DB_FOREIGN;
	if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 ||
	    strncmp(state, "22", 2) == 0)
		return DB_CHECK;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
	    strncmp(state, "53", 2) == 0)
		return DB_UNAVAILABLE;
	return DB_ERROR;
}

/* Records and logs a failed result (which stays owned by the caller). Only
 * the SQLSTATE and statement name are logged: messages may carry values. */
static int db_fail(struct db_thread *t, PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	util_strlcpy(t->sqlstate, state ? state : "", sizeof t->sqlstate);
	int rc = db_classify(state);
	if (t->conn != NULL && PQstatus(t->conn) != CONNECTION_OK)
		rc = DB_UNAVAILABLE;
	if (rc == DB_ERROR || rc == DB_UNAVAILABLE)
		log_event(rc == DB_ERROR ? LOGL_ERROR : LOGL_WARN, "database error",
		          json_pack("{s:s, s:s, s:s}", "component", "db", "statement", what,
		                    "sqlstate", t->sqlstate));
	return rc;
}

/* Slot of st in the prepared set, or of the empty slot where it would go. */
static size_t db_slot(struct db_thread *t, const struct db_stmt *st)
{
	size_t h = ((uintptr_t)st >> 4) % DB_PREPARED_SLOTS;
	while (t->prepared[h] != NULL && t->prepared[h] != st)
		h = (h + 1) % DB_PREPARED_SLOTS;
	return h;
}

/* Prepares st on t's connection unless done already. */
static int db_prepare(struct db_thread *t, const struct db_stmt *st)
{
	size_t slot = db_slot(t, st);
	if (t->prepared[slot] == st)
		return DB_OK;
	PGresult *r = PQprepare(t->conn, st->name, st->sql, 0, NULL);
	int rc = DB_OK;
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = db_fail(t, r, st->name);
	else
		t->prepared[slot] = st;
	PQclear(r);
	return rc;
}

/* The calling thread's state with its last SQLSTATE cleared and its
 * connection up, into *t (owned by the thread). Returns a db_rc. */
static int db_ready(struct db_thread **t)
{
	*t = db_thread();
	if (*t == NULL)
		return DB_ERROR;
	(*t)->sqlstate[0] = '\0';
	return db_conn() == NULL ? DB_UNAVAILABLE : DB_OK;
}

/* Borrows st and params; *out (if given) is owned by arena a. */
int db_execv(struct arena *a, const struct db_stmt *st, int n, const char *const *params,
             const int *lengths, const int *formats, int result_format, PGresult **out)
{
	if (out)
		*out = NULL;
	struct db_thread *t = NULL;
	int rc = db_ready(&t);
	if (rc != DB_OK)
		return rc;
	rc = db_prepare(t, st);
	if (rc != DB_OK)
		return rc;
	PGresult *r = PQexecPrepared(t->conn, st->name, n, params, lengths, formats, result_format);
	ExecStatusType s = PQresultStatus(r);
	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
		rc = db_fail(t, r, st->name);
		PQclear(r);
		return rc;
	}
	if (out == NULL) {
		PQclear(r);
		return DB_OK;
	}
	if (arena_defer(a, (void (*)(void *))PQclear, r) != 0)
		return DB_ERROR;
	*out = r;
	return DB_OK;
}

/* Borrows st and params; *out (if given) is owned by arena a. */
int db_exec(struct arena *a, const struct db_stmt *st, int n, const char *const *params,
            PGresult **out)
{
	return db_execv(a, st, n, params, NULL, NULL, 0, out);
}

/* Runs a parameterless utility statement (BEGIN/COMMIT/ROLLBACK). */
static int db_simple(struct db_thread *t, const char *sql, const char *expect)
{
	PGresult *r = PQexec(t->conn, sql);
	int rc = DB_OK;
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = db_fail(t, r, sql);
	else if (expect != NULL && strcmp(PQcmdStatus(r), expect) != 0)
		rc = DB_RETRY; /* COMMIT answered ROLLBACK: the transaction had failed */
	PQclear(r);
	return rc;
}

/* Borrows sql. */
int db_run(const char *sql)
{
	struct db_thread *t = NULL;
	int rc = db_ready(&t);
	return rc == DB_OK ? db_simple(t, sql, NULL) : rc;
}

#define DB_COPY_CHUNK (1 << 20)

/* Borrows sql and data. */
int db_copy_in(const char *sql, const char *data, size_t len)
{
	struct db_thread *t = NULL;
	int ready = db_ready(&t);
	if (ready != DB_OK)
		return ready;
	PGresult *r = PQexec(t->conn, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		int rc = db_fail(t, r, "copy");
		PQclear(r);
		return rc;
	}
	PQclear(r);
	bool sent = true;
	for (size_t off = 0; sent && off < len; off += DB_COPY_CHUNK) {
		size_t n = len - off < DB_COPY_CHUNK ? len - off : DB_COPY_CHUNK;
		sent = PQputCopyData(t->conn, data + off, (int)n) == 1;
	}
	int rc = DB_OK;
	if (PQputCopyEnd(t->conn, sent ? NULL : "the loader stopped sending") != 1)
		rc = DB_UNAVAILABLE;
	while ((r = PQgetResult(t->conn)) != NULL) {
		if (rc == DB_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = db_fail(t, r, "copy");
		PQclear(r);
	}
	if (rc == DB_OK && !sent)
		rc = DB_UNAVAILABLE;
	return rc;
}

/* BEGIN runs nothing of the request, so when it finds the connection broken
 * (the server went away after the checkout looked) the connection is
 * replaced and BEGIN tried once more. No statement after BEGIN is ever
 * retried here: it may have run. */
int db_begin(void)
{
	struct db_thread *t = db_thread();
	if (t == NULL)
		return DB_ERROR;
	int rc = DB_UNAVAILABLE;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (db_conn() == NULL)
			return DB_UNAVAILABLE;
		rc = db_simple(t, "BEGIN ISOLATION LEVEL READ COMMITTED", NULL);
		if (rc != DB_UNAVAILABLE || PQstatus(t->conn) == CONNECTION_OK || t->in_tx)
			break;
		db_drop(t);
	}
	if (rc == DB_OK && !t->in_tx) {
		t->in_tx = true;
		atomic_fetch_add(&db_busy, 1);
	}
	return rc;
}

/* Marks the thread's transaction as ended. */
static void db_tx_done(struct db_thread *t)
{
	if (t->in_tx) {
		t->in_tx = false;
		atomic_fetch_sub(&db_busy, 1);
	}
}

int db_commit(void)
{
	struct db_thread *t = db_thread();
	if (t == NULL)
		return DB_UNAVAILABLE;
	if (t->conn == NULL) {
		db_tx_done(t);
		return DB_UNAVAILABLE;
	}
	int rc = db_simple(t, "COMMIT", "COMMIT");
	db_tx_done(t);
	return rc;
}

void db_rollback(void)
{
	struct db_thread *t = db_thread();
	if (t == NULL)
		return;
	if (t->conn != NULL && PQtransactionStatus(t->conn) != PQTRANS_IDLE)
		(void)db_simple(t, "ROLLBACK", NULL);
	db_tx_done(t);
}

bool db_in_tx(void)
{
	struct db_thread *t = db_thread();
	return t != NULL && t->in_tx;
}

static const struct db_stmt st_set_context = {
    "db_set_context",
    "SELECT set_config('app.tenant', coalesce($1, ''), true), "
    "set_config('app.user', coalesce($2, ''), true)",
};

/* Borrows the ids. */
int db_set_context(struct arena *a, const char *tenant_id, const char *user_id)
{
	const char *p[2] = {tenant_id, user_id};
	return db_exec(a, &st_set_context, 2, p, NULL);
}

const char *db_last_sqlstate(void)
{
	struct db_thread *t = db_thread();
	return t ? t->sqlstate : "";
}

void db_pool_counts(int *open, int *busy)
{
	*open = atomic_load(&db_open);
	*busy = atomic_load(&db_busy);
}

int db_check_app_role(char *err, size_t errn)
{
	PGconn *c = db_conn();
	if (c == NULL) {
		snprintf(err, errn, "cannot connect to the database (DATABASE_URL)");
		return -1;
	}
	PGresult *r = PQexec(c, "SELECT r.rolsuper, r.rolbypassrls, "
	                        "(SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid "
	                        " AND c.relnamespace = 'public'::regnamespace) "
	                        "FROM pg_roles r WHERE r.rolname = current_user");
	int rc = -1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		snprintf(err, errn, "cannot read the database role");
	} else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0 || strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
		snprintf(err, errn,
		         "DATABASE_URL connects as a superuser or BYPASSRLS role; row-level "
		         "security would not apply. Use the application role (cartella_app)");
	} else if (strcmp(PQgetvalue(r, 0, 2), "0") != 0) {
		snprintf(err, errn,
		         "DATABASE_URL connects as the owner of the tables; use the "
		         "application role (cartella_app), not the migration owner");
	} else {
		rc = 0;
	}
	PQclear(r);
	return rc;
}

int db_ping(void)
{
	struct db_thread *t = db_thread();
	if (t == NULL)
		return DB_ERROR;
	if (db_conn() == NULL)
		return DB_UNAVAILABLE;
	PGresult *r = PQexec(t->conn, "SELECT 1");
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? DB_OK : db_fail(t, r, "ping");
	PQclear(r);
	if (rc != DB_OK && PQstatus(t->conn) != CONNECTION_OK) {
		/* Drop the dead connection now so the next call reconnects. */
		db_disconnect();
	}
	return rc;
}
