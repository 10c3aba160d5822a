#include "auth/user_cli.h"
#include "auth/password.h"
#include "auth/crypt.h"
#include "auth/keys.h"
#include "auth/policy.h"
#include "auth/totp_store.h"
#include "auth/users.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

struct user_args {
	const char *tenant;
	const char *role;
	const char *username;
	const char *password_file;
};

static void user_usage(FILE *f)
{
	fprintf(f,
	        "usage: cartella user add --tenant CODE --role ROLE --username NAME "
	        "[--password-file FILE]\n"
	        "       cartella user passwd --username NAME [--password-file FILE]\n"
	        "       cartella user disable|enable --username NAME\n"
	        "       cartella user list [--tenant CODE]\n"
	        "       cartella user totp-reset NAME --tenant CODE\n"
	        "       cartella user totp-enrol NAME\n"
	        "totp-reset forgets the second factor (the account's home tenant CODE) and\n"
	        "revokes its sessions; totp-enrol activates a new one at once and prints\n"
	        "\"secret BASE32\" and ten \"recovery CODE\" lines, once (for accounts an\n"
	        "operator sets up, like the demo users).\n"
	        "The password is read from FILE or from the first line of standard input.\n"
	        "Roles: social_worker administrative service_manager planning_office dpo admin\n");
}

/* Parses --name value pairs; returns 0 or -1. */
static int user_parse(int argc, char **argv, struct user_args *a)
{
	memset(a, 0, sizeof *a);
	int i = 1;
	if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
		a->username = argv[1]; /* cartella user totp-reset NAME ... */
		i = 2;
	}
	for (; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "cartella user: %s needs a value\n", argv[i]);
			return -1;
		}
		const char *v = argv[i + 1];
		if (strcmp(argv[i], "--tenant") == 0)
			a->tenant = v;
		else if (strcmp(argv[i], "--role") == 0)
			a->role = v;
		else if (strcmp(argv[i], "--username") == 0)
			a->username = v;
		else if (strcmp(argv[i], "--password-file") == 0)
			a->password_file = v;
		else {
			fprintf(stderr, "cartella user: unknown option %s\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* Reads the first line of the password file or stdin into buf. */
static int user_read_password(const char *file, char *buf, size_t n)
{
	FILE *f = file ? fopen(file, "r") : stdin;
	if (f == NULL) {
		fprintf(stderr, "cartella user: cannot open %s: %s\n", file, strerror(errno));
		return -1;
	}
	int rc = -1;
	if (fgets(buf, (int)n, f) == NULL) {
		fprintf(stderr, "cartella user: no password given (file or standard input)\n");
	} else {
		buf[strcspn(buf, "\r\n")] = '\0';
		const char *why = password_policy_error(buf);
		if (why)
			fprintf(stderr, "cartella user: %s\n", why);
		else
			rc = 0;
	}
	if (file)
		fclose(f);
	return rc;
}

/* Reports a database failure and returns 1. */
static int user_db_fail(const char *what, int rc)
{
	fprintf(stderr, "cartella user: %s failed (%s)\n", what,
	        rc == DB_UNAVAILABLE ? "database unreachable" : db_last_sqlstate());
	return 1;
}

static int user_add(struct arena *ar, const struct user_args *a)
{
	if (!a->tenant || !a->role || !a->username) {
		user_usage(stderr);
		return 2;
	}
	if (policy_role_bit(a->role) == 0) {
		fprintf(stderr, "cartella user: unknown role %s\n", a->role);
		return 1;
	}
	struct users_tenant t;
	int rc = users_tenant_by_code(ar, a->tenant, &t);
	if (rc == USERS_NOT_FOUND) {
		fprintf(stderr, "cartella user: unknown tenant %s\n", a->tenant);
		return 1;
	}
	if (rc != DB_OK || (rc = db_set_context(ar, t.id, NULL)) != DB_OK)
		return user_db_fail("tenant lookup", rc);
	struct users_account u;
	rc = users_by_username(ar, a->username, &u);
	if (rc < 0)
		return user_db_fail("lookup", rc);
	if (rc == USERS_NOT_FOUND) {
		char pw[PASSWORD_MAX_BYTES + 2], hash[PASSWORD_HASH_MAX];
		if (user_read_password(a->password_file, pw, sizeof pw) != 0)
			return 1;
		int hrc = password_hash(pw, hash);
		sodium_memzero(pw, sizeof pw);
		if (hrc != 0)
			return 1;
		rc = users_create(ar, a->username, hash, t.id, u.id);
		if (rc == DB_CHECK) {
			fprintf(stderr,
			        "cartella user: invalid username (3-64 of a-z 0-9 . _ -)\n");
			return 1;
		}
		if (rc != DB_OK)
			return user_db_fail("create", rc);
		printf("created %s\n", a->username);
	}
	rc = users_grant(ar, t.id, u.id, a->role, NULL);
	if (rc == DB_OK)
		rc = users_touch(ar, u.id);
	if (rc != DB_OK)
		return user_db_fail("grant", rc);
	printf("%s has role %s in %s\n", a->username, a->role, t.code);
	return 0;
}

/* Looks up --username into u, printing why not. Returns 0, 1 or 2 (usage). */
static int user_lookup(struct arena *ar, const struct user_args *a, struct users_account *u)
{
	if (!a->username) {
		user_usage(stderr);
		return 2;
	}
	int rc = users_by_username(ar, a->username, u);
	if (rc == USERS_NOT_FOUND) {
		fprintf(stderr, "cartella user: no such user %s\n", a->username);
		return 1;
	}
	return rc == DB_OK ? 0 : user_db_fail("lookup", rc);
}

/* passwd, disable, enable: change the account, then revoke its sessions. */
static int user_change(struct arena *ar, const char *cmd, const struct user_args *a)
{
	struct users_account u;
	int rc = user_lookup(ar, a, &u);
	if (rc != 0)
		return rc;
	if (strcmp(cmd, "passwd") == 0) {
		char pw[PASSWORD_MAX_BYTES + 2], hash[PASSWORD_HASH_MAX];
		if (user_read_password(a->password_file, pw, sizeof pw) != 0)
			return 1;
		int hrc = password_hash(pw, hash);
		sodium_memzero(pw, sizeof pw);
		if (hrc != 0)
			return 1;
		rc = users_set_password(ar, u.id, hash);
	} else {
		rc = users_set_disabled(ar, u.id, strcmp(cmd, "disable") == 0);
	}
	if (rc == DB_OK)
		rc = users_touch(ar, u.id);
	if (rc == DB_OK)
		rc = users_revoke_sessions(ar, u.id);
	if (rc != DB_OK)
		return user_db_fail(cmd, rc);
	printf("%s: %s done, sessions revoked\n", a->username, cmd);
	return 0;
}

/* totp-reset NAME --tenant CODE: CODE must be the account's home tenant
 * (like the admin API, which only the home tenant's admin may use). */
static int user_totp_reset(struct arena *ar, const struct user_args *a)
{
	struct users_account u;
	struct users_tenant t;
	if (!a->tenant) {
		user_usage(stderr);
		return 2;
	}
	int st = user_lookup(ar, a, &u);
	if (st != 0)
		return st;
	int rc = users_tenant_by_code(ar, a->tenant, &t);
	if (rc == USERS_NOT_FOUND || (rc == DB_OK && strcmp(t.id, u.home_tenant_id) != 0)) {
		fprintf(stderr, "cartella user: %s is not the home tenant of %s\n", a->tenant,
		        a->username);
		return 1;
	}
	if (rc == DB_OK)
		rc = db_set_context(ar, t.id, NULL);
	if (rc == DB_OK)
		rc = totp_store_reset(ar, t.id, u.id);
	if (rc == DB_OK)
		rc = users_touch(ar, u.id);
	if (rc == DB_OK)
		rc = users_revoke_sessions(ar, u.id);
	if (rc != DB_OK)
		return user_db_fail("totp-reset", rc);
	printf("%s: second factor reset, sessions revoked\n", a->username);
	return 0;
}

/* totp-enrol NAME: a new active TOTP secret and recovery codes, printed
 * once (the secret in base32). */
static int user_totp_enrol(struct arena *ar, const struct user_args *a)
{
	struct users_account u;
	unsigned char secret[TOTP_SECRET_LEN];
	char b32[TOTP_BASE32_LEN + 1], err[512];
	char codes[TOTP_RECOVERY_COUNT][TOTP_RECOVERY_SHOWN];
	int st = user_lookup(ar, a, &u);
	if (st != 0)
		return st;
	if (keys_open(err, sizeof err) != 0) {
		fprintf(stderr, "cartella user: %s\n", err);
		return 1;
	}
	int rc = db_set_context(ar, u.home_tenant_id, u.id);
	if (rc == DB_OK)
		rc = totp_store_begin(ar, u.home_tenant_id, u.id, secret);
	if (rc == DB_OK)
		rc = totp_store_activate(ar, u.home_tenant_id, u.id);
	if (rc == DB_OK)
		rc = totp_store_recovery_new(ar, u.home_tenant_id, u.id, codes);
	if (rc == DB_OK && totp_base32(secret, sizeof secret, b32, sizeof b32) != 0)
		rc = DB_ERROR;
	sodium_memzero(secret, sizeof secret);
	int status = 0;
	if (rc == TOTP_CONFLICT) {
		fprintf(stderr,
		        "cartella user: %s already has a second factor (totp-reset first)\n",
		        a->username);
		status = 1;
	} else if (rc != DB_OK) {
		status = user_db_fail("totp-enrol", rc);
	} else {
		printf("secret %s\n", b32);
		for (int i = 0; i < TOTP_RECOVERY_COUNT; i++)
			printf("recovery %s\n", codes[i]);
	}
	sodium_memzero(b32, sizeof b32);
	sodium_memzero(codes, sizeof codes);
	return status;
}

static const struct db_stmt st_tenants = {
    "user_cli_tenants",
    "SELECT id, code FROM tenant WHERE $1::text IS NULL OR code = $1 ORDER BY code",
};

static const struct db_stmt st_list = {
    "user_cli_list",
    "SELECT u.username, r.role, u.disabled FROM user_role r "
    "JOIN app_user u ON u.id = r.user_id WHERE r.tenant_id = $1 ORDER BY u.username, r.role",
};

static int user_list(struct arena *ar, const struct user_args *a)
{
	const char *p[1] = {a->tenant};
	PGresult *tr;
	int rc = db_exec(ar, &st_tenants, 1, p, &tr);
	if (rc != DB_OK)
		return user_db_fail("list", rc);
	if (a->tenant && PQntuples(tr) == 0) {
		fprintf(stderr, "cartella user: unknown tenant %s\n", a->tenant);
		return 1;
	}
	for (int i = 0; i < PQntuples(tr); i++) {
		const char *tid = PQgetvalue(tr, i, 0);
		PGresult *r;
		rc = db_set_context(ar, tid, NULL);
		if (rc == DB_OK)
			rc = db_exec(ar, &st_list, 1, &tid, &r);
		if (rc != DB_OK)
			return user_db_fail("list", rc);
		for (int j = 0; j < PQntuples(r); j++)
			printf("%s\t%s\t%s\t%s\n", PQgetvalue(r, j, 0), PQgetvalue(tr, i, 1),
			       PQgetvalue(r, j, 1),
			       strcmp(PQgetvalue(r, j, 2), "t") == 0 ? "disabled" : "active");
	}
	return 0;
}

int user_cli(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "help") == 0) {
		user_usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	struct user_args a;
	if (user_parse(argc, argv, &a) != 0) {
		user_usage(stderr);
		return 2;
	}
	if (config.database_url[0] == '\0') {
		fprintf(stderr, "cartella user: DATABASE_URL is not set\n");
		return 1;
	}
	db_configure(config.database_url, config.statement_timeout_ms);
	struct arena *ar = arena_new();
	if (ar == NULL)
		return 1;
	int rc = db_begin();
	if (rc != DB_OK) {
		arena_free(ar);
		db_disconnect();
		return user_db_fail("connect", rc);
	}
	const char *cmd = argv[0];
	int status;
	if (strcmp(cmd, "add") == 0)
		status = user_add(ar, &a);
	else if (strcmp(cmd, "passwd") == 0 || strcmp(cmd, "disable") == 0 ||
	         strcmp(cmd, "enable") == 0)
		status = user_change(ar, cmd, &a);
	else if (strcmp(cmd, "list") == 0)
		status = user_list(ar, &a);
	else if (strcmp(cmd, "totp-reset") == 0)
		status = user_totp_reset(ar, &a);
	else if (strcmp(cmd, "totp-enrol") == 0)
		status = user_totp_enrol(ar, &a);
	else {
		fprintf(stderr, "cartella user: unknown subcommand %s\n", cmd);
		user_usage(stderr);
		status = 2;
	}
	if (status == 0 && (rc = db_commit()) != DB_OK)
		status = user_db_fail("commit", rc);
	else if (status != 0)
		db_rollback();
	arena_free(ar);
	db_disconnect();
	return status;
}
