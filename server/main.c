/* The composition root: parses the subcommand, loads the configuration and
 * wires server/ (plumbing), auth/ (trust) and api/ (resources) together.
 * It is the only file of server/ that knows auth/ and api/ exist. */
#include "api/api.h"
#include "api/demo.h"
#include "api/demo_scale.h"
#include "api/idempotency.h"
#include "api/jobs.h"
#include "auth/audit.h"
#include "auth/audit_seal.h"
#include "auth/authn.h"
#include "auth/crypt.h"
#include "auth/keys.h"
#include "auth/password.h"
#include "auth/pdnd.h"
#include "auth/policy.h"
#include "auth/session.h"
#include "auth/user_cli.h"
#include "build_config.h"
#include "server/alloc.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/http.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/migrate.h"
#include "server/ratelimit.h"
#include "server/router.h"
#include "server/util.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: cartella COMMAND\n"
	           "  serve       serve the API (PORT, CARTELLA_BIND, DATABASE_URL, "
	           "CARTELLA_KEK_FILE)\n"
	           "  migrate     bring the database schema up to date "
	           "(CARTELLA_OWNER_DATABASE_URL)\n"
	           "  user ...    manage staff accounts (cartella user help)\n"
	           "  audit verify [--tenant CODE]\n"
	           "              check the seal of the audit trail (exit 1 if broken)\n"
	           "  export siuss --tenant CODE --from DATE --to DATE [--out FILE]\n"
	           "              write the SIUSS PS/PSA batch file of a period (manual upload)\n"
	           "  keys ...    key status and rotation (cartella keys help)\n"
	           "  demo [--persons N [--seed S] [--append]]\n"
	           "              load the small demo through the API handlers, or N\n"
	           "              synthetic persons in bulk (docs/performance.md)\n"
	           "  routes      list the routes: method, pattern, policy action, roles, scopes\n"
	           "  version     print the version and schema version\n"
	           "Configuration: environment variables, or a KEY=VALUE file named by "
	           "CARTELLA_CONFIG.\nSee docs/operations.md.\n");
}

static const struct http_hooks hooks = {
    .authenticate = authn_authenticate,
    .authorize = policy_authorize,
    .before_handler = idempotency_before,
    .after_handler = idempotency_after,
    .audit = audit_record,
};

/* What serve and demo share: the database as the application role, the
 * keyring (every tenant key checked), the route table checked against the
 * policy. Returns 0, or -1 after
 * logging why the process must not go on. */
static int setup_core(void)
{
	char err[512];
	if (config.database_url[0] == '\0') {
		log_fmt(LOGL_ERROR, "DATABASE_URL is not set");
		return -1;
	}
	if (config.pdnd_config[0] != '\0' && pdnd_load(config.pdnd_config, err, sizeof err) != 0)
		goto refuse;
	db_configure(config.database_url, config.statement_timeout_ms);
	if (db_check_app_role(err, sizeof err) != 0)
		goto refuse;
	/* Every tenant key must unwrap before anything is served. */
	if (keys_open(err, sizeof err) != 0)
		goto refuse;
	size_t nroutes = 0;
	const struct route *routes = api_routes(&nroutes);
	if (router_init(routes, nroutes, policy_route_check, err, sizeof err) != 0)
		goto refuse;
	http_set_hooks(&hooks);
	return metrics_init(nroutes);
refuse:
	log_event(LOGL_ERROR, "refusing to start", json_pack("{s:s}", "reason", err));
	return -1;
}

/* Serves until SIGTERM or SIGINT; returns the exit status. */
static int cmd_serve(void)
{
	int rc = 1;
	/* Block the stop signals before any thread starts, so only sigwait
	 * below sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (setup_core() != 0)
		goto out;
	db_disconnect(); /* the pool threads open their own */
	ratelimit_configure(config.rate_search, config.rate_export);
	if (http_start(&hooks) != 0)
		goto out;
	if (audit_seal_start(2000) != 0) {
		http_stop(0);
		goto out;
	}
	if (jobs_start() != 0) {
		audit_seal_stop();
		http_stop(0);
		goto out;
	}
	if (!config.totp_required)
		log_event(LOGL_WARN,
		          "CARTELLA_TOTP_REQUIRED=0: roles that read personal data may log in "
		          "without a second factor (development only)",
		          NULL);
	log_event(LOGL_INFO, "listening",
	          json_pack("{s:s, s:i, s:i, s:s}", "bind", config.bind, "port", config.port,
	                    "threads", config.threads, "version", CARTELLA_VERSION));
	int sig = 0;
	sigwait(&stop, &sig);
	log_event(LOGL_INFO, "stopping",
	          json_pack("{s:i, s:i}", "signal", sig, "in_flight", http_inflight()));
	audit_seal_stop();
	http_stop(30);
	jobs_stop();
	log_event(LOGL_INFO, "stopped", NULL);
	rc = 0;
out:
	metrics_free();
	pdnd_free();
	crypt_shutdown();
	return rc;
}

/* cartella demo [--persons N [--seed S] [--append]]: the small demo Ambito
 * through the API handlers, or regional-scale data in bulk; returns the exit
 * status (2: bad arguments, nothing touched). */
static int cmd_demo(int argc, char **argv)
{
	struct demo_opts o;
	int rc = demo_parse_args(argc, argv, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2; /* help, or bad arguments: nothing touched */
	rc = setup_core() == 0 ? demo_load(&o) : 1;
	db_disconnect();
	metrics_free();
	pdnd_free();
	crypt_shutdown();
	return rc;
}

static const struct db_stmt st_verify_tenants = {
    "main_verify_tenants",
    "SELECT id::text, code FROM tenant WHERE $1::text IS NULL OR code = $1 ORDER BY code",
};

/* Verifies one tenant's chain in a transaction that is rolled back, and
 * prints the verdict. Borrows everything. Returns 0 ok, 1 broken, 2 error. */
static int audit_verify_one(struct arena *a, const char *tenant_id, const char *code)
{
	struct audit_verify_result res;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(a, tenant_id, NULL);
	if (rc == DB_OK)
		rc = audit_verify_tenant(a, tenant_id, &res);
	db_rollback();
	if (rc != DB_OK) {
		fprintf(stderr, "cartella audit verify: %s: database error %d (%s)\n", code, rc,
		        db_last_sqlstate());
		return 2;
	}
	if (res.ok) {
		printf("%s\tok\tsealed %lld\tunsealed %lld\n", code, res.sealed, res.unsealed);
		return 0;
	}
	printf("%s\tBROKEN\tfirst broken seq %lld\tevent id %lld\tsealed %lld\tunsealed %lld\n",
	       code, res.broken_seq, res.broken_event_id, res.sealed, res.unsealed);
	return 1;
}

/* cartella audit verify [--tenant CODE]: recomputes each tenant's audit
 * chain. Returns the exit status: 0 all good, 1 a chain is broken, 2 usage
 * or error. */
static int cmd_audit(int argc, char **argv)
{
	const char *code = NULL;
	if (argc < 1 || strcmp(argv[0], "verify") != 0 ||
	    !(argc == 1 || (argc == 3 && strcmp(argv[1], "--tenant") == 0))) {
		fprintf(stderr, "usage: cartella audit verify [--tenant CODE]\n");
		return 2;
	}
	if (argc == 3)
		code = argv[2];
	char err[512];
	if (config.database_url[0] == '\0') {
		fprintf(stderr, "cartella audit verify: DATABASE_URL is not set\n");
		return 2;
	}
	db_configure(config.database_url, config.statement_timeout_ms);
	if (keys_open(err, sizeof err) != 0) {
		fprintf(stderr, "cartella audit verify: %s\n", err);
		db_disconnect();
		crypt_shutdown();
		return 2;
	}
	int status = 2;
	struct arena *a = arena_new();
	PGresult *r = NULL;
	const char *p[1] = {code};
	if (a != NULL && db_exec(a, &st_verify_tenants, 1, p, &r) == DB_OK) {
		int n = PQntuples(r);
		status = 0;
		if (n == 0) {
			fprintf(stderr, "cartella audit verify: no tenant %s\n", code ? code : "");
			status = 2;
		}
		for (int i = 0; i < n; i++) {
			int s = audit_verify_one(a, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
			if (s > status)
				status = s;
		}
	} else {
		fprintf(stderr, "cartella audit verify: cannot read the tenants\n");
	}
	arena_free(a);
	db_disconnect();
	crypt_shutdown();
	return status;
}

static const struct db_stmt st_export_tenant = {
    "main_export_tenant",
    "SELECT id::text FROM tenant WHERE code = $1",
};

/* Writes len bytes of data to path ("-" or NULL: standard output). Returns 0
 * or -1. */
static int export_write(const char *path, const char *data, size_t len)
{
	bool stdout_ = path == NULL || strcmp(path, "-") == 0;
	FILE *f = stdout_ ? stdout : fopen(path, "wb");
	if (f == NULL)
		return -1;
	int rc = fwrite(data, 1, len, f) == len ? 0 : -1;
	if (stdout_)
		return fflush(f) == 0 ? rc : -1;
	return fclose(f) == 0 ? rc : -1;
}

/* cartella export siuss --tenant CODE --from DATE --to DATE [--out FILE]:
 * runs GET /api/v1/reports/siuss-batch in process, as the tenant's
 * administrative office (the audit trail records the export), and writes the
 * file. Returns the exit status: 0 written, 1 refused or failed, 2 usage. */
static int cmd_export(int argc, char **argv)
{
	const char *tenant = NULL, *from = NULL, *to = NULL, *out = NULL;
	bool usage_ok = argc >= 1 && strcmp(argv[0], "siuss") == 0 && argc % 2 == 1;
	for (int i = 1; usage_ok && i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--tenant") == 0)
			tenant = argv[i + 1];
		else if (strcmp(argv[i], "--from") == 0)
			from = argv[i + 1];
		else if (strcmp(argv[i], "--to") == 0)
			to = argv[i + 1];
		else if (strcmp(argv[i], "--out") == 0)
			out = argv[i + 1];
		else
			usage_ok = false;
	}
	if (!usage_ok || tenant == NULL || from == NULL || to == NULL) {
		fprintf(stderr, "usage: cartella export siuss --tenant CODE --from YYYY-MM-DD "
		                "--to YYYY-MM-DD [--out FILE]\n");
		return 2;
	}
	if (setup_core() != 0)
		return 1;
	int status = 1;
	struct arena *a = arena_new();
	PGresult *r = NULL;
	const char *p[1] = {tenant};
	struct http_req *req = NULL;
	if (a == NULL || db_exec(a, &st_export_tenant, 1, p, &r) != DB_OK || PQntuples(r) != 1) {
		fprintf(stderr, "cartella export: no tenant %s\n", tenant);
		goto out;
	}
	struct http_principal who = {.authenticated = true, .roles = ROLE_ADMINISTRATIVE};
	util_strlcpy(who.tenant_id, PQgetvalue(r, 0, 0), sizeof who.tenant_id);
	util_strlcpy(who.tenant_code, tenant, sizeof who.tenant_code);
	util_strlcpy(who.username, "cartella-export", sizeof who.username);
	char *path = arena_printf(a, "/api/v1/reports/siuss-batch?from=%s&to=%s", from, to);
	if (path == NULL || http_call_local(a, "GET", path, NULL, NULL, &who, &req) != 0 ||
	    req == NULL) {
		fprintf(stderr, "cartella export: the export failed\n");
		goto out;
	}
	if (req->status != 200) {
		fprintf(stderr, "cartella export: %d %.*s\n", req->status, (int)req->resp_len,
		        req->resp_body ? req->resp_body : "");
		goto out;
	}
	if (export_write(out, req->resp_body, req->resp_len) != 0) {
		fprintf(stderr, "cartella export: cannot write %s\n", out ? out : "stdout");
		goto out;
	}
	const char *refused = NULL;
	for (int h = 0; h < req->nheaders; h++)
		if (strcmp(req->headers[h].name, "X-Siuss-Refused") == 0)
			refused = req->headers[h].value;
	fprintf(stderr,
	        "cartella export: %zu bytes written; %s intervention(s) refused for data "
	        "quality (see GET /api/v1/interventions/{id}: siuss.refusal)\n",
	        req->resp_len, refused ? refused : "0");
	status = 0;
out:
	arena_free(a);
	db_disconnect();
	metrics_free();
	crypt_shutdown();
	return status;
}

/* Prints the route table with each route's action, allowed roles and
 * allowed client scopes ("-" when none), one route per line
 * (tab-separated); used by the contract test and the docs. */
static int cmd_routes(void)
{
	size_t n = 0;
	const struct route *routes = api_routes(&n);
	for (size_t i = 0; i < n; i++) {
		const struct policy_action *a = policy_find(routes[i].action);
		printf("%s\t%s\t%s\t", routes[i].method, routes[i].pattern, routes[i].action);
		if (a == NULL)
			printf("(missing)");
		else if (a->flags & POLICY_PUBLIC)
			printf("public");
		else
			for (unsigned b = 0, first = 1; b < POLICY_ROLE_COUNT; b++)
				if (a->roles & (1u << b)) {
					printf("%s%s", first ? "" : ",", policy_role_names[b]);
					first = 0;
				}
		printf("\t");
		unsigned first = 1;
		for (unsigned s = 0; a != NULL && policy_scopes[s].name != NULL; s++)
			if (a->scopes & policy_scopes[s].bit) {
				printf("%s%s", first ? "" : ",", policy_scopes[s].name);
				first = 0;
			}
		printf("%s\n", first ? "-" : "");
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0) {
		printf("cartella %s (schema %d)\n", CARTELLA_VERSION, migrate_latest());
		return 0;
	}
	if (strcmp(cmd, "routes") == 0)
		return cmd_routes();
	if (config_load() != 0)
		return 2;
	alloc_install_json();
	if (password_init() != 0) {
		fprintf(stderr, "cartella: cannot initialise libsodium\n");
		return 1;
	}
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve();
	if (strcmp(cmd, "migrate") == 0) {
		if (config.owner_database_url[0] == '\0') {
			fprintf(stderr, "cartella migrate: set CARTELLA_OWNER_DATABASE_URL\n");
			return 1;
		}
		return migrate_run(config.owner_database_url);
	}
	if (strcmp(cmd, "user") == 0)
		return user_cli(argc - 2, argv + 2);
	if (strcmp(cmd, "audit") == 0)
		return cmd_audit(argc - 2, argv + 2);
	if (strcmp(cmd, "export") == 0)
		return cmd_export(argc - 2, argv + 2);
	if (strcmp(cmd, "demo") == 0)
		return cmd_demo(argc - 2, argv + 2);
	if (strcmp(cmd, "keys") == 0)
		return keys_cli(argc - 2, argv + 2);
	fprintf(stderr, "cartella: unknown command %s\n", cmd);
	usage(stderr);
	return 2;
}
