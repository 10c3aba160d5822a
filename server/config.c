#include "server/config.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config config;

enum config_kind { CFG_STR, CFG_INT, CFG_LONG, CFG_LEVEL };

struct config_key {
	const char *name;
	enum config_kind kind;
	void *target;
	size_t size; /* CFG_STR: buffer size */
	long long min, max;
};

#define STR(n, f)                                                                                  \
	{                                                                                          \
		n, CFG_STR, config.f, sizeof config.f, 0, 0                                        \
	}
#define INT(n, f, lo, hi)                                                                          \
	{                                                                                          \
		n, CFG_INT, &config.f, 0, lo, hi                                                   \
	}

static const struct config_key keys[] = {
    STR("DATABASE_URL", database_url),
    STR("CARTELLA_OWNER_DATABASE_URL", owner_database_url),
    STR("CARTELLA_BIND", bind),
    STR("CARTELLA_KEK_FILE", kek_file),
    STR("CARTELLA_KEK_PREVIOUS_FILE", kek_previous_file),
    STR("CARTELLA_PDND_CONFIG", pdnd_config),
    INT("PORT", port, 1, 65535),
    INT("CARTELLA_THREADS", threads, 1, 256),
    INT("CARTELLA_CONN_TIMEOUT", conn_timeout, 1, 3600),
    {"CARTELLA_MAX_BODY", CFG_LONG, &config.max_body, 0, 256, 64L * 1024 * 1024},
    INT("CARTELLA_MAX_CONNECTIONS", max_connections, 4, 100000),
    INT("CARTELLA_PER_IP_CONNECTIONS", per_ip_connections, 1, 100000),
    INT("CARTELLA_CONN_MEMORY", conn_memory, 16384, 4 * 1024 * 1024),
    INT("CARTELLA_STATEMENT_TIMEOUT_MS", statement_timeout_ms, 100, 3600000),
    INT("CARTELLA_SESSION_IDLE", session_idle, 1, 86400),
    INT("CARTELLA_SESSION_ABSOLUTE", session_absolute, 1, 7 * 86400),
    INT("CARTELLA_LOGIN_MAX_FAILURES", login_max_failures, 1, 1000),
    INT("CARTELLA_LOGIN_WINDOW", login_window, 1, 86400),
    INT("CARTELLA_TOTP_REQUIRED", totp_required, 0, 1),
    INT("CARTELLA_JSON_MAX_DEPTH", json_max_depth, 2, 256),
    INT("CARTELLA_PAGE_MAX", page_max, 1, 10000),
    INT("CARTELLA_FLOW_SYNC_PAGE", flow_sync_page, 1, 100000),
    INT("CARTELLA_RATE_SEARCH", rate_search, 0, 1000000),
    INT("CARTELLA_RATE_EXPORT", rate_export, 0, 1000000),
    INT("CARTELLA_JOB_WORKERS", job_workers, 0, 64),
    INT("CARTELLA_JOB_TTL", job_ttl, 1, 30 * 86400),
    INT("CARTELLA_JOB_LEASE", job_lease, 2, 3600),
    {"CARTELLA_JOB_RESULT_MAX", CFG_LONG, &config.job_result_max, 0, 1024, 256L * 1024 * 1024},
    {"CARTELLA_LOG_LEVEL", CFG_LEVEL, &config.log_level, 0, 0, 0},
};

static void config_defaults(void)
{
	memset(&config, 0, sizeof config);
	util_strlcpy(config.bind, "127.0.0.1", sizeof config.bind);
	config.port = 8080;
	config.threads = 2 * util_ncpu();
	config.conn_timeout = 30;
	config.max_body = 1024 * 1024;
	config.max_connections = 1000;
	config.per_ip_connections = 256;
	config.conn_memory = 128 * 1024;
	config.statement_timeout_ms = 5000;
	config.session_idle = 1800;
	config.session_absolute = 43200;
	config.login_max_failures = 5;
	config.login_window = 900;
	config.job_workers = 2;
	config.job_ttl = 86400;
	config.job_lease = 60;
	config.job_result_max = 64L * 1024 * 1024;
	config.totp_required = 1;
	config.json_max_depth = 32;
	config.page_max = 500;
	config.flow_sync_page = 1000;
	config.rate_search = 300;
	config.rate_export = 60;
	config.log_level = LOGL_INFO;
}

/* Borrows name and value; sets one key. Returns 0, -1 if invalid, 1 if the
 * name is not a configuration key. */
static int config_set(const char *name, const char *value)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct config_key *k = &keys[i];
		if (strcmp(k->name, name) != 0)
			continue;
		long long v = 0;
		switch (k->kind) {
		case CFG_STR:
			if (!util_strlcpy(k->target, value, k->size)) {
				fprintf(stderr, "cartella: %s is too long\n", name);
				return -1;
			}
			return 0;
		case CFG_LEVEL: {
			int level = log_level_parse(value);
			if (level < 0) {
				fprintf(stderr, "cartella: %s must be debug, info, warn or error\n",
				        name);
				return -1;
			}
			*(int *)k->target = level;
			return 0;
		}
		case CFG_INT:
		case CFG_LONG:
			if (!util_parse_int(value, k->min, k->max, &v)) {
				fprintf(stderr, "cartella: %s must be an integer in [%lld, %lld]\n",
				        name, k->min, k->max);
				return -1;
			}
			if (k->kind == CFG_INT)
				*(int *)k->target = (int)v;
			else
				*(long *)k->target = (long)v;
			return 0;
		}
	}
	return 1;
}

/* Reads KEY=VALUE lines from path; '#' starts a comment line. */
static int config_read_file(const char *path)
{
	int rc = -1;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "cartella: cannot open CARTELLA_CONFIG %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	char line[2048];
	int lineno = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		char *eq = strchr(p, '=');
		if (eq == NULL) {
			fprintf(stderr, "cartella: %s:%d: expected KEY=VALUE\n", path, lineno);
			goto out;
		}
		*eq = '\0';
		int r = config_set(p, eq + 1);
		if (r < 0)
			goto out;
		if (r > 0) {
			fprintf(stderr, "cartella: %s:%d: unknown key %s\n", path, lineno, p);
			goto out;
		}
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

int config_load(void)
{
	config_defaults();
	const char *file = getenv("CARTELLA_CONFIG");
	if (file != NULL && *file != '\0' && config_read_file(file) != 0)
		return -1;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = getenv(keys[i].name);
		if (v != NULL && *v != '\0' && config_set(keys[i].name, v) != 0)
			return -1;
	}
	if (config.owner_database_url[0] == '\0')
		util_strlcpy(config.owner_database_url, config.database_url,
		             sizeof config.owner_database_url);
	log_set_level((enum log_level)config.log_level);
	return 0;
}
