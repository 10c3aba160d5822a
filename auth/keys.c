/* The key lifecycle: loading and checking the key-encryption keys (KEKs)
 * at start, and the `cartella keys` commands status, rotate-kek and
 * rotate-data-key (reencrypt is in auth/keys_reencrypt.c). DESIGN §5.4;
 * the procedures are in docs/operations.md ("Keys").
 *
 * The commands run as the owner role (CARTELLA_OWNER_DATABASE_URL): they
 * rewrite tenant_key rows and re-encrypt tables the application role may
 * only insert into. Row-level security applies to the owner too (FORCE), so
 * every tenant is visited in its own context. */
#include "auth/keys.h"
#include "auth/crypt.h"
#include "auth/crypt_internal.h"
#include "auth/keys_internal.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/log.h"
#include "server/util.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_BATCH_DEFAULT 500
#define KEYS_BATCH_MAX     10000

static const struct db_stmt st_rows = {
    "keys_rows",
    "SELECT kind, version::text, wrapped, kek_fingerprint, "
    "to_char(retired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "FROM tenant_key WHERE tenant_id = $1 ORDER BY kind, version",
};

static const struct db_stmt st_rows_locked = {
    "keys_rows_locked",
    "SELECT kind, version::text, wrapped, kek_fingerprint FROM tenant_key "
    "WHERE tenant_id = $1 ORDER BY kind, version FOR UPDATE",
};

static const struct db_stmt st_lock_keys = {
    "keys_lock_table",
    "LOCK TABLE tenant_key IN SHARE ROW EXCLUSIVE MODE",
};

static const struct db_stmt st_rewrap = {
    "keys_rewrap",
    "UPDATE tenant_key SET wrapped = $4::bytea, kek_fingerprint = $5 "
    "WHERE tenant_id = $1 AND kind = $2 AND version = $3::int",
};

static const struct db_stmt st_last_data = {
    "keys_last_data_version",
    "SELECT coalesce(max(version), 0) FROM tenant_key WHERE tenant_id = $1 AND kind = 'data'",
};

static const struct db_stmt st_insert_data = {
    "keys_insert_data",
    "INSERT INTO tenant_key (tenant_id, kind, version, wrapped, kek_fingerprint) "
    "VALUES ($1, 'data', $2::int, $3::bytea, $4)",
};

/* Row r of a tenant_key result (kind, version, wrapped, fingerprint):
 * unwraps it with the loaded KEK of its fingerprint into key (caller-owned,
 * CRYPT_KEY_LEN). Returns 0, or -1 with the problem in err. */
static int keys_unwrap_row(struct arena *a, PGresult *r, int i, const char *tenant_id,
                           const char *code, unsigned char *key, char *err, size_t errn)
{
	const char *kind = PQgetvalue(r, i, 0), *fp = PQgetvalue(r, i, 3);
	long long v = 0;
	unsigned char *wrapped = NULL;
	size_t wlen = 0;
	if (!util_parse_int(PQgetvalue(r, i, 1), 1, INT32_MAX, &v) ||
	    crypt_bytea_parse(a, PQgetvalue(r, i, 2), &wrapped, &wlen) != 0) {
		snprintf(err, errn, "tenant %s: the %s key v%s row is malformed", code, kind,
		         PQgetvalue(r, i, 1));
		return -1;
	}
	int rc = crypt_unwrap_loaded(fp, kind, tenant_id, (uint32_t)v, wrapped, wlen, key);
	if (rc == 0)
		return 0;
	char cur[CRYPT_FINGERPRINT_LEN + 1], prev[CRYPT_FINGERPRINT_LEN + 1];
	crypt_fingerprints(cur, prev);
	if (rc == CRYPT_KEK_UNKNOWN)
		snprintf(
		    err, errn,
		    "tenant %s: the %s key v%lld was wrapped by the key-encryption key %s, but "
		    "CARTELLA_KEK_FILE holds the key-encryption key %s%s%s: wrong or lost "
		    "key-encryption key (restore the right file from the KEK backup; during "
		    "a KEK swap, name the previous one in CARTELLA_KEK_PREVIOUS_FILE)",
		    code, kind, v, fp, cur, prev[0] ? " and CARTELLA_KEK_PREVIOUS_FILE " : "",
		    prev);
	else
		snprintf(err, errn,
		         "tenant %s: the %s key v%lld does not authenticate under the "
		         "key-encryption key %s that wrapped it: the key row was altered or the "
		         "KEK file is damaged",
		         code, kind, v, fp);
	return -1;
}

/* Borrows nothing; writes into err. */
int keys_check(char *err, size_t errn)
{
	struct arena *a = arena_new();
	if (a == NULL) {
		snprintf(err, errn, "out of memory checking the tenant keys");
		return -1;
	}
	bool own = !db_in_tx();
	int rc = own ? db_begin() : DB_OK, status = -1;
	long long rows = 0, under_prev = 0;
	char cur[CRYPT_FINGERPRINT_LEN + 1], prev[CRYPT_FINGERPRINT_LEN + 1];
	unsigned char key[CRYPT_KEY_LEN];
	crypt_fingerprints(cur, prev);
	PGresult *tr = NULL;
	if (rc == DB_OK)
		rc = keys_tenants(a, NULL, &tr);
	for (int t = 0; rc == DB_OK && t < PQntuples(tr); t++) {
		const char *tid = PQgetvalue(tr, t, 0), *code = PQgetvalue(tr, t, 1);
		PGresult *r = NULL;
		rc = db_set_context(a, tid, NULL);
		if (rc == DB_OK)
			rc = db_exec(a, &st_rows, 1, &tid, &r);
		for (int i = 0; rc == DB_OK && i < PQntuples(r); i++, rows++) {
			if (keys_unwrap_row(a, r, i, tid, code, key, err, errn) != 0)
				goto out;
			if (prev[0] != '\0' && strcmp(PQgetvalue(r, i, 3), prev) == 0)
				under_prev++;
		}
	}
	if (rc != DB_OK) {
		snprintf(err, errn, "cannot read the tenant keys: database error %d (SQLSTATE %s)",
		         rc, db_last_sqlstate());
		goto out;
	}
	status = 0;
	log_event(LOGL_INFO, "tenant keys checked: every one unwraps",
	          json_pack("{s:s, s:I, s:I}", "component", "keys", "keys", (json_int_t)rows,
	                    "under_previous_kek", (json_int_t)under_prev));
	if (prev[0] != '\0' && under_prev == 0)
		log_event(LOGL_WARN,
		          "CARTELLA_KEK_PREVIOUS_FILE wraps no tenant key any more: remove it "
		          "(and keep the file in the KEK backup only as long as backups need it)",
		          json_pack("{s:s, s:s}", "component", "keys", "kek_fingerprint", prev));
out:
	sodium_memzero(key, sizeof key);
	if (own)
		db_rollback();
	else if (db_set_context(a, NULL, NULL) != DB_OK)
		status = -1;
	arena_free(a);
	return status;
}

/* Loads the KEK files of the configuration. Returns 0, or -1 with the
 * reason in err. */
static int keys_load(char *err, size_t errn)
{
	if (crypt_init(config.kek_file, err, errn) != 0)
		return -1;
	if (config.kek_previous_file[0] != '\0' &&
	    crypt_init_previous(config.kek_previous_file, err, errn) != 0)
		return -1;
	return 0;
}

/* Borrows nothing; writes into err. */
int keys_open(char *err, size_t errn)
{
	return keys_load(err, errn) == 0 ? keys_check(err, errn) : -1;
}

/* ------------------------------------------------------------ status */

/* Which loaded KEK has fingerprint fp. */
static const char *keys_kek_label(const char *fp)
{
	char cur[CRYPT_FINGERPRINT_LEN + 1], prev[CRYPT_FINGERPRINT_LEN + 1];
	crypt_fingerprints(cur, prev);
	if (strcmp(fp, cur) == 0)
		return "current";
	if (prev[0] != '\0' && strcmp(fp, prev) == 0)
		return "previous";
	return "UNKNOWN";
}

/* Prints one tenant's key rows (kind, version, state, KEK, values) and the
 * problems found; *bad counts the rows that do not unwrap. Returns a db_rc. */
static int keys_status_tenant(struct arena *a, const struct keys_catalogue *cat, const char *tid,
                              const char *code, int *bad)
{
	PGresult *r = NULL;
	struct keys_counts c;
	int rc = db_set_context(a, tid, NULL);
	if (rc == DB_OK)
		rc = db_exec(a, &st_rows, 1, &tid, &r);
	if (rc == DB_OK)
		rc = keys_count_values(a, cat, tid, &c);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) == 0)
		printf("%s\tno keys yet (the first encrypted write creates them)\n", code);
	long long active = 0, v = 0;
	for (int i = 0; i < PQntuples(r); i++)
		if (strcmp(PQgetvalue(r, i, 0), "data") == 0 && PQgetisnull(r, i, 4))
			active = atoll(PQgetvalue(r, i, 1));
	long long keyed = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *kind = PQgetvalue(r, i, 0), *fp = PQgetvalue(r, i, 3);
		bool data = strcmp(kind, "data") == 0;
		v = atoll(PQgetvalue(r, i, 1));
		const char *state = !data                   ? "-"
		                    : !PQgetisnull(r, i, 4) ? "retired"
		                    : v == active           ? "active"
		                                            : "old";
		unsigned char key[CRYPT_KEY_LEN];
		char err[KEYS_MSG_MAX];
		bool ok = keys_unwrap_row(a, r, i, tid, code, key, err, sizeof err) == 0;
		sodium_memzero(key, sizeof key);
		printf("%s\t%s\tv%lld\t%s\tkek %s %s%s", code, kind, v, state, fp,
		       keys_kek_label(fp), ok ? "" : " DOES-NOT-UNWRAP");
		if (data) {
			long long n = keys_count_of(&c, (uint32_t)v);
			keyed += n;
			printf("\tvalues %lld", n);
			if (!PQgetisnull(r, i, 4))
				printf("\tretired_at %s", PQgetvalue(r, i, 4));
			if (!PQgetisnull(r, i, 4) && n > 0)
				printf("\nwarning: %s data key v%lld is retired but still encrypts "
				       "%lld "
				       "values (run cartella keys reencrypt)",
				       code, v, n);
			if (PQgetisnull(r, i, 4) && v != active && n > 0)
				printf("\nnote: %s data key v%lld is not the active one: cartella "
				       "keys "
				       "reencrypt moves its %lld values and retires it",
				       code, v, n);
		}
		printf("\n");
		if (!ok) {
			printf("error: %s\n", err);
			(*bad)++;
		}
	}
	long long total = c.malformed;
	for (size_t i = 0; i < c.n; i++)
		total += c.v[i].values;
	if (total - c.malformed != keyed)
		printf("warning: %s has %lld values under a key version with no key row\n", code,
		       total - c.malformed - keyed);
	if (c.malformed > 0)
		printf("warning: %s has %lld encrypted values whose header cannot be read\n", code,
		       c.malformed);
	return DB_OK;
}

/* cartella keys status: prints the KEKs, every tenant's keys and the
 * catalogue's warnings; exit 1 when a key row does not unwrap. */
static int keys_status(void)
{
	char err[KEYS_MSG_MAX], cur[CRYPT_FINGERPRINT_LEN + 1], prev[CRYPT_FINGERPRINT_LEN + 1];
	if (keys_load(err, sizeof err) != 0) {
		fprintf(stderr, "cartella keys status: %s\n", err);
		return 1;
	}
	crypt_fingerprints(cur, prev);
	printf("kek\tcurrent\t%s\tCARTELLA_KEK_FILE\n", cur);
	if (prev[0] != '\0')
		printf("kek\tprevious\t%s\tCARTELLA_KEK_PREVIOUS_FILE\n", prev);
	struct arena *a = arena_new();
	if (a == NULL)
		return 1;
	struct keys_catalogue cat;
	PGresult *tr = NULL;
	int bad = 0, status = 1;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = keys_discover(a, &cat);
	if (rc == DB_OK)
		rc = keys_tenants(a, NULL, &tr);
	for (int t = 0; rc == DB_OK && t < PQntuples(tr); t++)
		rc = keys_status_tenant(a, &cat, PQgetvalue(tr, t, 0), PQgetvalue(tr, t, 1), &bad);
	db_rollback();
	if (rc != DB_OK) {
		keys_db_fail("status", rc);
		goto out;
	}
	size_t usable = 0;
	for (size_t i = 0; i < cat.ncols; i++)
		usable += cat.cols[i].usable;
	printf("columns\t%zu encrypted\t%zu re-encryptable\n", cat.ncols, usable);
	for (size_t i = 0; i < cat.nwarnings; i++)
		printf("warning: %s\n", cat.warnings[i]);
	status = bad > 0 ? 1 : 0;
out:
	arena_free(a);
	return status;
}

/* ------------------------------------------------------------ rotations */

/* Rewraps tenant tid's key rows (locked) under new_kek (fingerprint
 * new_fp); counts into *done and *already. Returns 0, or -1 with the
 * problem in err (then the caller rolls back). */
static int keys_rewrap_tenant(struct arena *a, const char *tid, const char *code,
                              const unsigned char *new_kek, const char *new_fp, int *done,
                              int *already, char *err, size_t errn)
{
	PGresult *r = NULL;
	unsigned char key[CRYPT_KEY_LEN], wrapped[CRYPT_WRAPPED_LEN];
	int status = -1;
	int rc = db_set_context(a, tid, NULL);
	if (rc == DB_OK)
		rc = db_exec(a, &st_rows_locked, 1, &tid, &r);
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++) {
		const char *kind = PQgetvalue(r, i, 0), *ver = PQgetvalue(r, i, 1);
		uint32_t v = (uint32_t)atoll(ver);
		bool same = strcmp(PQgetvalue(r, i, 3), new_fp) == 0;
		if (same) {
			/* Already under the new KEK: it must unwrap there. */
			unsigned char *w = NULL;
			size_t wl = 0;
			if (crypt_bytea_parse(a, PQgetvalue(r, i, 2), &w, &wl) != 0 ||
			    crypt_unwrap(new_kek, kind, tid, v, w, wl, key) != 0) {
				snprintf(
				    err, errn,
				    "tenant %s: the %s key v%s does not authenticate under the new "
				    "key-encryption key %s that wrapped it",
				    code, kind, ver, new_fp);
				goto out;
			}
			(*already)++;
			continue;
		}
		if (keys_unwrap_row(a, r, i, tid, code, key, err, errn) != 0)
			goto out;
		const char *text = NULL;
		if (crypt_wrap(new_kek, kind, tid, v, key, wrapped) != 0 ||
		    (text = crypt_bytea_text(a, wrapped, sizeof wrapped)) == NULL) {
			snprintf(err, errn, "cannot wrap a key under the new key-encryption key");
			goto out;
		}
		const char *p[5] = {tid, kind, ver, text, new_fp};
		rc = db_exec(a, &st_rewrap, 5, p, NULL);
		if (rc == DB_OK)
			(*done)++;
	}
	if (rc != DB_OK) {
		snprintf(err, errn, "database error %d (SQLSTATE %s)", rc, db_last_sqlstate());
		goto out;
	}
	status = 0;
out:
	sodium_memzero(key, sizeof key);
	return status;
}

/* cartella keys rotate-kek --new-kek-file PATH: rewraps every tenant key
 * under the new KEK in one transaction (no value is rewritten). */
static int keys_rotate_kek(const char *path)
{
	char err[KEYS_MSG_MAX], new_fp[CRYPT_FINGERPRINT_LEN + 1];
	unsigned char *new_kek = crypt_kek_load(path, new_fp, err, sizeof err);
	if (new_kek == NULL) {
		fprintf(
		    stderr,
		    "cartella keys rotate-kek: the new key-encryption key: %s; nothing changed\n",
		    err);
		return 1;
	}
	struct arena *a = arena_new();
	PGresult *tr = NULL;
	int done = 0, already = 0, status = 1;
	int rc = a == NULL ? DB_ERROR : db_begin();
	/* No key row may be created while the rows are rewrapped. */
	if (rc == DB_OK)
		rc = db_exec(a, &st_lock_keys, 0, NULL, NULL);
	if (rc == DB_OK)
		rc = keys_tenants(a, NULL, &tr);
	if (rc != DB_OK) {
		snprintf(err, sizeof err, "database error %d (SQLSTATE %s)", rc,
		         db_last_sqlstate());
		goto out;
	}
	for (int t = 0; t < PQntuples(tr); t++)
		if (keys_rewrap_tenant(a, PQgetvalue(tr, t, 0), PQgetvalue(tr, t, 1), new_kek,
		                       new_fp, &done, &already, err, sizeof err) != 0)
			goto out;
	rc = db_commit();
	if (rc != DB_OK) {
		snprintf(err, sizeof err, "commit: database error %d", rc);
		goto out;
	}
	printf("rewrapped %d tenant keys under the key-encryption key %s (%d already were)\n", done,
	       new_fp, already);
	printf("next: make %s the CARTELLA_KEK_FILE of every server and command, and restart "
	       "(docs/operations.md, \"Keys\")\n",
	       path);
	status = 0;
out:
	if (status != 0) {
		db_rollback();
		fprintf(stderr, "cartella keys rotate-kek: %s; nothing changed\n", err);
	}
	sodium_free(new_kek);
	arena_free(a);
	return status;
}

/* Inserts tenant tid's next data key version, in a transaction of its own.
 * Returns a db_rc; *version is the new version. */
static int keys_new_data_key(struct arena *a, const char *tid, long long *version)
{
	unsigned char key[CRYPT_KEY_LEN], wrapped[CRYPT_WRAPPED_LEN];
	char fp[CRYPT_FINGERPRINT_LEN + 1], vtext[24];
	PGresult *r = NULL;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(a, tid, NULL);
	if (rc == DB_OK)
		rc = db_exec(a, &st_last_data, 1, &tid, &r);
	if (rc == DB_OK) {
		*version = atoll(PQgetvalue(r, 0, 0)) + 1;
		snprintf(vtext, sizeof vtext, "%lld", *version);
		crypto_aead_xchacha20poly1305_ietf_keygen(key);
		const char *text = NULL;
		if (crypt_wrap_current("data", tid, (uint32_t)*version, key, wrapped, fp) != 0 ||
		    (text = crypt_bytea_text(a, wrapped, sizeof wrapped)) == NULL)
			rc = DB_ERROR;
		const char *p[4] = {tid, vtext, text, fp};
		if (rc == DB_OK)
			rc = db_exec(a, &st_insert_data, 4, p, NULL);
	}
	sodium_memzero(key, sizeof key);
	if (rc == DB_OK)
		return db_commit();
	db_rollback();
	return rc;
}

/* cartella keys rotate-data-key --tenant CODE|all: a new data key version
 * per tenant, used by every new write from its commit on. */
static int keys_rotate_data_key(const char *tenant)
{
	struct arena *a = arena_new();
	PGresult *tr = NULL;
	int status = 1;
	int rc = a == NULL ? DB_ERROR : keys_tenants(a, tenant, &tr);
	if (rc != DB_OK) {
		status = keys_db_fail("rotate-data-key", rc);
		goto out;
	}
	if (PQntuples(tr) == 0) {
		fprintf(stderr, "cartella keys rotate-data-key: no tenant %s\n", tenant);
		goto out;
	}
	status = 0;
	for (int t = 0; t < PQntuples(tr); t++) {
		long long v = 0;
		const char *code = PQgetvalue(tr, t, 1);
		rc = keys_new_data_key(a, PQgetvalue(tr, t, 0), &v);
		if (rc == DB_UNIQUE) /* the server created version 1 meanwhile */
			rc = keys_new_data_key(a, PQgetvalue(tr, t, 0), &v);
		if (rc != DB_OK) {
			status = keys_db_fail(code, rc);
			continue;
		}
		printf(
		    "%s: data key v%lld active for new writes; cartella keys reencrypt moves the "
		    "values of older versions\n",
		    code, v);
	}
out:
	arena_free(a);
	return status;
}

/* ------------------------------------------------------------ command line */

static void keys_usage(FILE *f)
{
	fprintf(f,
	        "usage: cartella keys status\n"
	        "       cartella keys rotate-kek --new-kek-file FILE\n"
	        "       cartella keys rotate-data-key --tenant CODE|all\n"
	        "       cartella keys reencrypt [--tenant CODE|all] [--batch N]\n"
	        "The commands run as the owner role (CARTELLA_OWNER_DATABASE_URL) with the\n"
	        "key-encryption key of CARTELLA_KEK_FILE (and CARTELLA_KEK_PREVIOUS_FILE during\n"
	        "a KEK swap). See docs/operations.md, \"Keys\".\n");
}

struct keys_args {
	const char *tenant, *new_kek, *batch;
};

/* Parses --name value pairs after the subcommand; returns 0 or -1. */
static int keys_parse(int argc, char **argv, struct keys_args *k)
{
	memset(k, 0, sizeof *k);
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "cartella keys: %s needs a value\n", argv[i]);
			return -1;
		}
		if (strcmp(argv[i], "--tenant") == 0)
			k->tenant = argv[i + 1];
		else if (strcmp(argv[i], "--new-kek-file") == 0)
			k->new_kek = argv[i + 1];
		else if (strcmp(argv[i], "--batch") == 0)
			k->batch = argv[i + 1];
		else {
			fprintf(stderr, "cartella keys: unknown option %s\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* Runs the parsed subcommand cmd on the configured database. */
static int keys_run_cmd(const char *cmd, const struct keys_args *k)
{
	if (strcmp(cmd, "status") == 0)
		return keys_status();
	char err[KEYS_MSG_MAX];
	/* rotate-kek checks every row itself: a repeated rotation finds rows
	 * already wrapped by the new KEK, which only it knows. */
	bool rotate_kek = strcmp(cmd, "rotate-kek") == 0;
	if ((rotate_kek ? keys_load(err, sizeof err) : keys_open(err, sizeof err)) != 0) {
		fprintf(stderr, "cartella keys %s: refusing: %s\n", cmd, err);
		return 1;
	}
	if (rotate_kek)
		return keys_rotate_kek(k->new_kek);
	if (strcmp(cmd, "rotate-data-key") == 0)
		return keys_rotate_data_key(k->tenant);
	long long batch = KEYS_BATCH_DEFAULT;
	if (k->batch != NULL && !util_parse_int(k->batch, 1, KEYS_BATCH_MAX, &batch)) {
		fprintf(stderr, "cartella keys reencrypt: --batch must be 1..%d\n", KEYS_BATCH_MAX);
		return 2;
	}
	return keys_reencrypt(k->tenant, (int)batch);
}

/* Borrows argv. */
int keys_cli(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "help") == 0) {
		keys_usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	struct keys_args k;
	const char *cmd = argv[0];
	bool known = strcmp(cmd, "status") == 0 || strcmp(cmd, "rotate-kek") == 0 ||
	             strcmp(cmd, "rotate-data-key") == 0 || strcmp(cmd, "reencrypt") == 0;
	if (!known || keys_parse(argc, argv, &k) != 0 ||
	    (strcmp(cmd, "rotate-kek") == 0 && k.new_kek == NULL) ||
	    (strcmp(cmd, "rotate-data-key") == 0 && k.tenant == NULL)) {
		if (!known)
			fprintf(stderr, "cartella keys: unknown subcommand %s\n", cmd);
		keys_usage(stderr);
		return 2;
	}
	if (config.owner_database_url[0] == '\0') {
		fprintf(stderr, "cartella keys: set CARTELLA_OWNER_DATABASE_URL (the key commands "
		                "run as the owner role)\n");
		return 2;
	}
	db_configure(config.owner_database_url, config.statement_timeout_ms);
	int status = keys_run_cmd(cmd, &k);
	db_disconnect();
	crypt_shutdown();
	return status;
}
