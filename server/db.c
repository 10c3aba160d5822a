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
	bool begin_pending;             /* db_begin sent nothing yet: BEGIN goes with the
	                                   transaction's first statement */
	bool deferred_failed;           /* the last db_commit failed on the deferred statement */
	const struct db_stmt *deferred; /* db_defer's statement, sent with COMMIT */
	int deferred_n;
	const char **deferred_params; /* copies owned by the deferring arena */
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

/* Closes t's connection, keeping its transaction count. */
static void db_close_conn(struct db_thread *t)
{
	if (t->conn != NULL) {
		PQfinish(t->conn);
		t->conn = NULL;
		atomic_fetch_sub(&db_open, 1);
	}
	db_forget_prepared(t);
}

/* Closes t's connection (and ends its transaction count, if any). */
static void db_drop(struct db_thread *t)
{
	db_close_conn(t);
	if (t->in_tx) {
		t->in_tx = false;
		atomic_fetch_sub(&db_busy, 1);
	}
	t->begin_pending = false;
	t->deferred = NULL;
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
	if (t->in_tx)
		return NULL; /* broken or closed inside a transaction: never replaced here */
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

/* ----------------------------------------------------------------- pipeline
 *
 * A request's transaction used to cost a round trip to PostgreSQL for BEGIN,
 * one per statement and one for COMMIT; on a machine where PostgreSQL and
 * the server share the cores, each round trip is two wake-ups, and the
 * transaction holds one of the pool's connections meanwhile. Two round trips
 * are saved without changing what runs: BEGIN is sent in one pipeline with
 * the transaction's first statement (db_begin only checks the connection
 * out), and a statement whose result nobody reads (the audit insert,
 * db_defer) is sent in one pipeline with COMMIT. */

static const char db_begin_sql[] = "BEGIN ISOLATION LEVEL READ COMMITTED";

/* One statement of a pipeline: a prepared statement with its parameters, or
 * a parameterless statement text (sql). Borrowed from the caller. */
struct db_item {
	const struct db_stmt *st;
	const char *sql;
	int n;
	const char *const *params;
	const int *lengths;
	const int *formats;
	int result_format;
	const char *expect; /* the command tag it must answer (COMMIT), or NULL */
	PGresult *result;   /* set on success; owned by the caller */
};

/* Reads the results of the count items sent, up to the pipeline's sync
 * point. Records the first failure (its rc, *failed = its index). */
static int db_pipeline_read(struct db_thread *t, struct db_item *items, int count, int *failed)
{
	int rc = DB_OK;
	for (int i = 0;;) {
		PGresult *r = PQgetResult(t->conn);
		if (r == NULL) {
			/* The end of item i's results; a broken connection ends all. */
			if (PQstatus(t->conn) == CONNECTION_OK && ++i <= count)
				continue;
			if (rc == DB_OK) {
				rc = db_fail(t, NULL, "pipeline");
				*failed = i < count ? i : count - 1;
			}
			return rc;
		}
		ExecStatusType s = PQresultStatus(r);
		if (s == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			return rc;
		}
		if (i < count && s != PGRES_PIPELINE_ABORTED) {
			struct db_item *it = &items[i];
			const char *name = it->st != NULL ? it->st->name : it->sql;
			if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
				if (rc == DB_OK) {
					rc = db_fail(t, r, name);
					*failed = i;
				}
			} else if (it->expect != NULL && strcmp(PQcmdStatus(r), it->expect) != 0) {
				if (rc == DB_OK) {
					rc = DB_RETRY; /* COMMIT answered ROLLBACK */
					*failed = i;
				}
			} else if (it->result == NULL) {
				it->result = r;
				r = NULL;
			}
		}
		PQclear(r);
	}
}

/* Sends the count items in one pipeline (one round trip) and reads every
 * result. Statements are prepared first, once per connection. After a
 * failure PostgreSQL skips the rest, and a transaction begun in the
 * pipeline is left failed for the caller to roll back. Returns DB_OK with
 * each item's result in items[i].result (owned by the caller), or the rc of
 * the first failing item, its index in *failed, and no results. */
static int db_pipeline(struct db_thread *t, struct db_item *items, int count, int *failed)
{
	*failed = -1;
	int rc = DB_OK;
	for (int i = 0; i < count; i++) {
		items[i].result = NULL;
		if (rc == DB_OK && items[i].st != NULL &&
		    (rc = db_prepare(t, items[i].st)) != DB_OK)
			*failed = i;
	}
	if (rc != DB_OK)
		return rc;
	PGconn *c = t->conn;
	int sent = PQenterPipelineMode(c);
	for (int i = 0; sent && i < count; i++) {
		const struct db_item *it = &items[i];
		sent = it->st != NULL
		           ? PQsendQueryPrepared(c, it->st->name, it->n, it->params, it->lengths,
		                                 it->formats, it->result_format)
		           : PQsendQueryParams(c, it->sql, 0, NULL, NULL, NULL, NULL, 0);
	}
	if (sent)
		sent = PQpipelineSync(c);
	if (sent) {
		rc = db_pipeline_read(t, items, count, failed);
	} else {
		rc = db_fail(t, NULL, "pipeline");
		*failed = 0;
	}
	if (PQpipelineStatus(c) != PQ_PIPELINE_OFF && PQexitPipelineMode(c) != 1) {
		/* Results still pending on a broken exchange: the connection's
		 * state is unknown, so it is not used again. */
		if (rc == DB_OK) {
			rc = DB_UNAVAILABLE;
			*failed = count - 1;
		}
		db_close_conn(t);
	}
	if (rc != DB_OK)
		for (int i = 0; i < count; i++) {
			PQclear(items[i].result);
			items[i].result = NULL;
		}
	return rc;
}

/* Replaces t's connection inside a transaction that has run nothing yet. */
static int db_reconnect_in_tx(struct db_thread *t)
{
	bool in_tx = t->in_tx;
	db_drop(t);
	if (db_conn() == NULL)
		return DB_UNAVAILABLE;
	if (in_tx) {
		t->in_tx = true;
		atomic_fetch_add(&db_busy, 1);
	}
	return DB_OK;
}

/* Sends the pending BEGIN, with first (when not NULL) in the same round
 * trip. Nothing of the transaction has run before, so when the connection
 * turns out broken (PostgreSQL restarted after the checkout looked) it is
 * replaced and both are sent once more: whatever reached the old
 * connection was rolled back with it. On success *r (when first is given)
 * is first's result, owned by the caller. */
static int db_send_begin(struct db_thread *t, const struct db_item *first, PGresult **r)
{
	int rc = DB_UNAVAILABLE;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct db_item items[2] = {{.sql = db_begin_sql}};
		if (first != NULL)
			items[1] = *first;
		int failed;
		rc = t->conn != NULL ? db_pipeline(t, items, first != NULL ? 2 : 1, &failed)
		                     : DB_UNAVAILABLE;
		if (rc == DB_OK) {
			PQclear(items[0].result);
			if (r != NULL)
				*r = items[1].result;
			break;
		}
		if ((t->conn != NULL && PQstatus(t->conn) == CONNECTION_OK) || attempt > 0 ||
		    db_reconnect_in_tx(t) != DB_OK)
			break;
	}
	t->begin_pending = false;
	return rc;
}

/* Runs st on t's connection now; *r is its result (caller-owned). */
static int db_exec_now(struct db_thread *t, const struct db_item *it, PGresult **r)
{
	*r = NULL;
	if (t->begin_pending)
		return db_send_begin(t, it, r);
	int rc = db_prepare(t, it->st);
	if (rc != DB_OK)
		return rc;
	PGresult *res = PQexecPrepared(t->conn, it->st->name, it->n, it->params, it->lengths,
	                               it->formats, it->result_format);
	ExecStatusType s = PQresultStatus(res);
	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
		rc = db_fail(t, res, it->st->name);
		PQclear(res);
		return rc;
	}
	*r = res;
	return DB_OK;
}

/* Sends what is pending (the deferred statement, BEGIN) so that a statement
 * run next runs after it, in order. */
static int db_flush(struct db_thread *t)
{
	if (t->deferred != NULL) {
		struct db_item it = {
		    .st = t->deferred, .n = t->deferred_n, .params = t->deferred_params};
		t->deferred = NULL;
		PGresult *r = NULL;
		int rc = db_exec_now(t, &it, &r);
		PQclear(r);
		if (rc != DB_OK)
			return rc;
	}
	return t->begin_pending ? db_send_begin(t, NULL, NULL) : DB_OK;
}

/* Borrows st and params; *out (if given) is owned by arena a. */
int db_execv(struct arena *a, const struct db_stmt *st, int n, const char *const *params,
             const int *lengths, const int *formats, int result_format, PGresult **out)
{
	if (out)
		*out = NULL;
	struct db_thread *t = NULL;
	int rc = db_ready(&t);
	if (rc == DB_OK && t->deferred != NULL)
		rc = db_flush(t);
	if (rc != DB_OK)
		return rc;
	const struct db_item it = {.st = st,
	                           .n = n,
	                           .params = params,
	                           .lengths = lengths,
	                           .formats = formats,
	                           .result_format = result_format};
	PGresult *r = NULL;
	rc = db_exec_now(t, &it, &r);
	if (rc != DB_OK)
		return rc;
	alloc_count(PQresultMemorySize(r));
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

/* Borrows st; copies params into a, which must live until the commit. */
int db_defer(struct arena *a, const struct db_stmt *st, int n, const char *const *params)
{
	struct db_thread *t = NULL;
	int rc = db_ready(&t);
	if (rc == DB_OK && t->deferred != NULL)
		rc = db_flush(t); /* one statement waits at a time; the older goes first */
	if (rc != DB_OK)
		return rc;
	const char **copy = arena_alloc(a, (size_t)(n > 0 ? n : 1) * sizeof *copy);
	if (copy == NULL)
		return DB_ERROR;
	for (int i = 0; i < n; i++) {
		copy[i] = params[i] != NULL ? arena_strdup(a, params[i]) : NULL;
		if (params[i] != NULL && copy[i] == NULL)
			return DB_ERROR;
	}
	t->deferred = st;
	t->deferred_n = n;
	t->deferred_params = copy;
	return DB_OK;
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

/* Borrows v; the literal is owned by arena a. */
char *db_array(struct arena *a, const char *const *v, size_t n)
{
	size_t cap = 3;
	for (size_t i = 0; i < n; i++)
		cap += v[i] ? 2 * strlen(v[i]) + 3 : 5;
	char *out = arena_alloc(a, cap);
	if (out == NULL)
		return NULL;
	size_t k = 0;
	out[k++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			out[k++] = ',';
		if (v[i] == NULL) {
			memcpy(out + k, "NULL", 4);
			k += 4;
			continue;
		}
		out[k++] = '"';
		for (const char *c = v[i]; *c; c++) {
			if (*c == '\\' || *c == '"')
				out[k++] = '\\';
			out[k++] = *c;
		}
		out[k++] = '"';
	}
	out[k++] = '}';
	out[k] = '\0';
	return out;
}

/* Borrows sql. */
int db_run(const char *sql)
{
	struct db_thread *t = NULL;
	int rc = db_ready(&t);
	if (rc == DB_OK)
		rc = db_flush(t);
	return rc == DB_OK ? db_simple(t, sql, NULL) : rc;
}

#define DB_COPY_CHUNK (1 << 20)

/* Borrows sql and data. */
int db_copy_in(const char *sql, const char *data, size_t len)
{
	struct db_thread *t = NULL;
	int ready = db_ready(&t);
	if (ready == DB_OK)
		ready = db_flush(t);
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

/* Checks the connection out (replacing one PostgreSQL closed while it was
 * idle) and opens the transaction; BEGIN itself travels with the first
 * statement (db_send_begin). */
int db_begin(void)
{
	struct db_thread *t = db_thread();
	if (t == NULL)
		return DB_ERROR;
	if (db_conn() == NULL)
		return DB_UNAVAILABLE;
	t->sqlstate[0] = '\0';
	t->deferred = NULL;
	t->begin_pending = true;
	if (!t->in_tx) {
		t->in_tx = true;
		atomic_fetch_add(&db_busy, 1);
	}
	return DB_OK;
}

/* Marks the thread's transaction as ended. */
static void db_tx_done(struct db_thread *t)
{
	t->begin_pending = false;
	t->deferred = NULL;
	if (t->in_tx) {
		t->in_tx = false;
		atomic_fetch_sub(&db_busy, 1);
	}
}

/* Sends the deferred statement (if any) and COMMIT in one round trip; a
 * transaction that never sent anything has nothing to commit. */
int db_commit(void)
{
	struct db_thread *t = db_thread();
	if (t == NULL)
		return DB_UNAVAILABLE;
	t->deferred_failed = false;
	if (t->conn == NULL) {
		db_tx_done(t);
		return DB_UNAVAILABLE;
	}
	if (t->begin_pending && t->deferred == NULL) {
		db_tx_done(t);
		return DB_OK;
	}
	struct db_item items[3];
	int k = 0, deferred_at = -1, failed = -1;
	if (t->begin_pending)
		items[k++] = (struct db_item){.sql = db_begin_sql};
	if (t->deferred != NULL) {
		deferred_at = k;
		items[k++] = (struct db_item){
		    .st = t->deferred, .n = t->deferred_n, .params = t->deferred_params};
	}
	items[k++] = (struct db_item){.sql = "COMMIT", .expect = "COMMIT"};
	int rc = db_pipeline(t, items, k, &failed);
	for (int i = 0; i < k; i++)
		PQclear(items[i].result);
	if (rc != DB_OK) {
		t->deferred_failed = deferred_at >= 0 && failed == deferred_at;
		if (t->conn != NULL && PQstatus(t->conn) == CONNECTION_OK &&
		    PQtransactionStatus(t->conn) != PQTRANS_IDLE)
			(void)db_simple(t, "ROLLBACK", NULL);
	}
	db_tx_done(t);
	return rc;
}

bool db_commit_failed_deferred(void)
{
	struct db_thread *t = db_thread();
	return t != NULL && t->deferred_failed;
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
