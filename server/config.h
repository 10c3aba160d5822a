/* Process configuration: defaults, then a KEY=VALUE file named by
 * CARTELLA_CONFIG, then the environment (which wins). Secrets (database
 * passwords, key files) only ever come from the environment or files. */
#ifndef CARTELLA_CONFIG_H
#define CARTELLA_CONFIG_H

#include <stdbool.h>

struct config {
	char database_url[1024];       /* DATABASE_URL: application role */
	char owner_database_url[1024]; /* CARTELLA_OWNER_DATABASE_URL: migrations */
	char bind[64];                 /* CARTELLA_BIND */
	char kek_file[512];            /* CARTELLA_KEK_FILE */
	char kek_previous_file[512];   /* CARTELLA_KEK_PREVIOUS_FILE: during a KEK swap */
	char pdnd_config[512];         /* CARTELLA_PDND_CONFIG: PDND e-services (optional) */
	int port;                      /* PORT */
	int threads;                   /* CARTELLA_THREADS */
	int conn_timeout;              /* CARTELLA_CONN_TIMEOUT, seconds */
	long max_body;                 /* CARTELLA_MAX_BODY, bytes */
	int max_connections;           /* CARTELLA_MAX_CONNECTIONS */
	int per_ip_connections;        /* CARTELLA_PER_IP_CONNECTIONS */
	int conn_memory;               /* CARTELLA_CONN_MEMORY, bytes per connection */
	int statement_timeout_ms;      /* CARTELLA_STATEMENT_TIMEOUT_MS */
	int session_idle;              /* CARTELLA_SESSION_IDLE, seconds */
	int session_absolute;          /* CARTELLA_SESSION_ABSOLUTE, seconds */
	int login_max_failures;        /* CARTELLA_LOGIN_MAX_FAILURES per account */
	int login_window;              /* CARTELLA_LOGIN_WINDOW, seconds */
	int totp_required;  /* CARTELLA_TOTP_REQUIRED: 1 (default) or 0, development only */
	int json_max_depth; /* CARTELLA_JSON_MAX_DEPTH */
	int page_max;       /* CARTELLA_PAGE_MAX */
	int flow_sync_page; /* CARTELLA_FLOW_SYNC_PAGE: queued interventions a SIUSS sync takes */
	int rate_search;    /* CARTELLA_RATE_SEARCH: searches a minute per principal, 0 off */
	int rate_export;    /* CARTELLA_RATE_EXPORT: reports/exports a minute per principal */
	int log_level;      /* CARTELLA_LOG_LEVEL: debug|info|warn|error */
	int job_workers;    /* CARTELLA_JOB_WORKERS: job worker threads (0: none) */
	int job_ttl;        /* CARTELLA_JOB_TTL, seconds a job's result is kept */
	int job_lease; /* CARTELLA_JOB_LEASE, seconds before a silent running job is requeued */
	long job_result_max; /* CARTELLA_JOB_RESULT_MAX, bytes */
};

/* The process-wide configuration (filled by config_load; read-only after). */
extern struct config config;

/* Fills config. Returns 0, or -1 after printing what is wrong on stderr. */
int config_load(void);

#endif
