/* `cartella demo --persons N [--seed S] [--append]` (api/demo_scale.h): loads
 * N synthetic persons, spread over the Ambito's Comuni by population, with
 * their households, cases, assessments and about five interventions each, in
 * batches. A batch is one transaction of one Comune as the demo account,
 * with the tenant context set: the rows go by COPY into session-local
 * staging tables (COPY FROM refuses tables under row-level security), then
 * INSERT ... SELECT into the real tables, where row-level security, the
 * constraints, the foreign keys and the funding triggers check every row, and
 * one audit event says what the batch loaded. Then expenditures and
 * population rows for the years the interventions cover. */
#include "api/demo.h"
#include "api/demo_scale.h"
#include "auth/crypt.h"
#include "auth/crypt_bulk.h"
#include "server/arena.h"
#include "server/db.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEMO_PERSONS_MAX   10000000L
#define DEMO_SMALL_MAX     1000 /* persons in the Comuni the small demo may leave */
#define DEMO_BATCH_PERSONS 5000
#define DEMO_COMUNI_MAX    16
#define DEMO_JOBS_MAX      DEMO_COMUNI_MAX

/* Residents of the Ambito del Corsichese's Comuni (ISTAT, rounded), which
 * spread the persons; other Comuni weigh 10,000. */
static const struct {
	const char *code, *postal_code;
	unsigned residents;
} comune_facts[] = {
    {"015011", "20057", 9300},  {"015036", "20090", 27000}, {"015074", "20090", 23000},
    {"015093", "20094", 34500}, {"015097", "20047", 4200},  {"015220", "20090", 21500},
};

/* ------------------------------------------------------------ arguments */

/* Prints the usage to f. */
static void demo_usage(FILE *f)
{
	fprintf(f,
	        "usage: cartella demo [--persons N [--seed S] [--append] [--jobs J]]\n"
	        "Without --persons: loads demo households, persons, cases and interventions\n"
	        "into Corsico (015093) and Buccinasco (015036) through the API handlers;\n"
	        "Comuni that already have persons are left as they are.\n"
	        "With --persons N (1..%ld): loads N synthetic persons spread over the Comuni,\n"
	        "with households, cases, assessments, about 5 interventions per person and\n"
	        "their funding (2021-2025), expenditures and population, in bulk; the same\n"
	        "seed S (default 1) gives the same data. It refuses Comuni holding more than\n"
	        "%d persons unless --append. --jobs J (1..%d, default 1) loads J Comuni at\n"
	        "a time, each on its own connection; the data is the same for any J.\n"
	        "See docs/performance.md.\n",
	        DEMO_PERSONS_MAX, DEMO_SMALL_MAX, DEMO_JOBS_MAX);
}

/* Parses a whole decimal number in [min, max] into *out; false otherwise. */
static bool parse_whole(const char *s, long long min, long long max, long long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Borrows argv; writes *o. */
int demo_parse_args(int argc, char **argv, struct demo_opts *o)
{
	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->jobs = 1;
	o->interventions_per_person = 5.0;
	bool seed_given = false, jobs_given = false;
	long long v;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
			demo_usage(stdout);
			return 1;
		}
		if (strcmp(a, "--append") == 0) {
			o->append = true;
		} else if (strcmp(a, "--persons") == 0) {
			if (!parse_whole(next, 1, DEMO_PERSONS_MAX, &v)) {
				fprintf(
				    stderr,
				    "cartella demo: --persons needs a whole number from 1 to %ld "
				    "(got %s)\n",
				    DEMO_PERSONS_MAX, next ? next : "nothing");
				return 2;
			}
			o->persons = (long)v;
			i++;
		} else if (strcmp(a, "--seed") == 0) {
			if (!parse_whole(next, 0, 4294967295LL, &v)) {
				fprintf(stderr,
				        "cartella demo: --seed needs a whole number from 0 to "
				        "4294967295 "
				        "(got %s)\n",
				        next ? next : "nothing");
				return 2;
			}
			o->seed = (uint64_t)v;
			seed_given = true;
			i++;
		} else if (strcmp(a, "--jobs") == 0) {
			if (!parse_whole(next, 1, DEMO_JOBS_MAX, &v)) {
				fprintf(stderr,
				        "cartella demo: --jobs needs a whole number from 1 to %d "
				        "(got %s)\n",
				        DEMO_JOBS_MAX, next ? next : "nothing");
				return 2;
			}
			o->jobs = (int)v;
			jobs_given = true;
			i++;
		} else {
			fprintf(stderr, "cartella demo: unknown argument %s\n", a);
			demo_usage(stderr);
			return 2;
		}
	}
	if (o->persons == 0 && (seed_given || o->append || jobs_given)) {
		fprintf(stderr, "cartella demo: --seed, --append and --jobs go with --persons N\n");
		return 2;
	}
	return 0;
}

/* ------------------------------------------------------------ the run */

static const struct db_stmt st_comuni = {
    "demo_scale_comuni",
    "SELECT id::text, code, name FROM tenant WHERE kind = 'comune' AND valid_from <= current_date "
    "AND (valid_to IS NULL OR valid_to >= current_date) ORDER BY code",
};

static const struct db_stmt st_person_count = {
    "demo_scale_person_count",
    "SELECT count(*) FROM person WHERE tenant_id = $1",
};

static const struct db_stmt st_taken_codes = {
    "demo_scale_taken_codes",
    "SELECT fiscal_code_bidx FROM person WHERE tenant_id = $1 AND fiscal_code_bidx IS NOT NULL",
};

static const struct db_stmt st_provider = {
    "demo_scale_provider",
    "SELECT id::text FROM provider WHERE tenant_id = $1 ORDER BY created_at, id LIMIT 1",
};

static const struct db_stmt st_services = {
    "demo_scale_services",
    "SELECT tenant_id::text, id::text, code, regional_area, nature, isee_linked "
    "FROM service_catalogue WHERE active ORDER BY code",
};

static const struct db_stmt st_audit = {
    "demo_scale_audit",
    "INSERT INTO audit_event (tenant_id, user_id, roles, action, object_type, outcome, "
    "request_id, purpose) VALUES ($1, $2, '{social_worker,administrative,service_manager}', "
    "'demo.bulk_load', 'batch', 201, $3, $4)",
};

static const struct db_stmt st_expenditure = {
    "demo_scale_expenditure",
    "INSERT INTO expenditure (tenant_id, year, regional_area, channel, management, kind, "
    "amount_cents, description, created_by, updated_by) "
    "VALUES ($1, $2::integer, $3, $4, $5, $6, $7::bigint, $8, $9, $9)",
};

static const struct db_stmt st_population = {
    "demo_scale_population",
    "INSERT INTO population (tenant_id, year, sex, age_from, age_to, residents, loaded_by) "
    "VALUES ($1, $2::integer, $3, $4::integer, nullif($5, '')::integer, $6::integer, $7) "
    "ON CONFLICT DO NOTHING",
};

/* Everything one run holds. The Comuni, the catalogue, the demo account and
 * the codes already taken are read before the jobs start and only read by
 * them; mu guards the rest. */
struct demo_run {
	struct arena *a;
	const struct demo_opts *opts;
	char user_id[UTIL_UUID_LEN + 1]; /* the demo account */
	struct demo_comune comune[DEMO_COMUNI_MAX];
	size_t ncomuni;
	struct demo_service *services;
	size_t nservices;
	struct demo_set bidx_taken;
	pthread_mutex_t mu;
	size_t next; /* the next Comune a job takes, in order[] */
	size_t order[DEMO_COMUNI_MAX];
	bool stop; /* a job failed: the others stop after their batch */
	long persons_done, total[DT__COUNT];
	struct timespec start;
};

/* One job: a thread (or the main thread with --jobs 1) with its own
 * connection, loading one Comune after another. */
struct demo_job {
	struct demo_run *r;
	struct arena *a;
	struct demo_gen g;
	bool staged; /* the staging tables exist on the job's connection */
	int status;  /* the exit status of the job */
	pthread_t thread;
};

/* Seconds since the run started. */
static double run_elapsed(const struct demo_run *r)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - r->start.tv_sec) +
	       (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
}

/* Reports a database failure of step; returns 1 (the exit status). */
static int run_fail(const char *step, const char *comune, int rc)
{
	fprintf(stderr, "cartella demo: %s%s%s failed (database error %d, SQLSTATE %s)\n", step,
	        comune ? " of " : "", comune ? comune : "", rc, db_last_sqlstate());
	return 1;
}

/* Reads the Comuni, counts their persons (in a transaction rolled back) and
 * applies the refusal rule. Returns 0 to go on, else the exit status. */
static int run_comuni(struct demo_run *r, const struct demo_opts *o)
{
	PGresult *res = NULL;
	int rc = db_exec(r->a, &st_comuni, 0, NULL, &res);
	if (rc != DB_OK)
		return run_fail("reading the Comuni", NULL, rc);
	long existing = 0;
	for (int i = 0; i < PQntuples(res) && r->ncomuni < DEMO_COMUNI_MAX; i++) {
		struct demo_comune *c = &r->comune[r->ncomuni++];
		memset(c, 0, sizeof *c);
		util_strlcpy(c->id, PQgetvalue(res, i, 0), sizeof c->id);
		util_strlcpy(c->code, PQgetvalue(res, i, 1), sizeof c->code);
		util_strlcpy(c->name, PQgetvalue(res, i, 2), sizeof c->name);
		c->weight = 10000;
		c->postal_code = "20100";
		for (size_t k = 0; k < sizeof comune_facts / sizeof comune_facts[0]; k++)
			if (strcmp(comune_facts[k].code, c->code) == 0) {
				c->weight = comune_facts[k].residents;
				c->postal_code = comune_facts[k].postal_code;
			}
		PGresult *n = NULL;
		const char *p[1] = {c->id};
		rc = db_begin();
		if (rc == DB_OK)
			rc = db_set_context(r->a, c->id, NULL);
		if (rc == DB_OK)
			rc = db_exec(r->a, &st_person_count, 1, p, &n);
		db_rollback();
		if (rc != DB_OK)
			return run_fail("counting the persons", c->name, rc);
		existing += atol(PQgetvalue(n, 0, 0));
	}
	if (r->ncomuni == 0) {
		fprintf(stderr,
		        "cartella demo: the database has no Comune (run cartella migrate)\n");
		return 1;
	}
	if (existing > DEMO_SMALL_MAX && !o->append) {
		fprintf(
		    stderr,
		    "cartella demo: the Comuni already hold %ld persons, more than the small demo "
		    "(%d); nothing loaded. Add --append (with another --seed) to load more.\n",
		    existing, DEMO_SMALL_MAX);
		return 1;
	}
	unsigned total = 0;
	for (size_t i = 0; i < r->ncomuni; i++)
		total += r->comune[i].weight;
	long left = o->persons;
	for (size_t i = 0; i < r->ncomuni; i++) {
		long share = i + 1 == r->ncomuni
		                 ? left
		                 : (long)((double)o->persons * r->comune[i].weight / total + 0.5);
		if (share > left)
			share = left;
		r->comune[i].persons_target = share;
		left -= share;
	}
	/* The jobs take the largest Comuni first, so that they end together. */
	for (size_t i = 0; i < r->ncomuni; i++) {
		size_t k = i;
		while (k > 0 &&
		       r->comune[r->order[k - 1]].persons_target < r->comune[i].persons_target) {
			r->order[k] = r->order[k - 1];
			k--;
		}
		r->order[k] = i;
	}
	if (demo_set_init(&r->bidx_taken, (size_t)existing) != 0) {
		fprintf(stderr, "cartella demo: out of memory\n");
		return 1;
	}
	return 0;
}

/* Prepares one Comune in its own transaction: the demo account and its
 * roles, the provider, the fiscal codes already taken. Returns a db_rc. */
static int run_prepare_comune(struct demo_run *r, struct demo_comune *c)
{
	const char *p[1] = {c->id};
	PGresult *res = NULL;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(r->a, c->id, NULL);
	if (rc == DB_OK)
		rc = demo_account(r->a, c->id, r->user_id);
	if (rc == DB_OK)
		rc = db_exec(r->a, &st_provider, 1, p, &res);
	if (rc == DB_OK && PQntuples(res) == 1)
		util_strlcpy(c->provider_id, PQgetvalue(res, 0, 0), sizeof c->provider_id);
	if (rc == DB_OK)
		rc = db_exec(r->a, &st_taken_codes, 1, p, &res);
	for (int i = 0; rc == DB_OK && i < PQntuples(res); i++) {
		const char *text = PQgetvalue(res, i, 0); /* "\\x" and 64 hex digits */
		unsigned char bidx[CRYPT_BLIND_LEN];
		size_t len = 0;
		if (strncmp(text, "\\x", 2) != 0 ||
		    sodium_hex2bin(bidx, sizeof bidx, text + 2, strlen(text + 2), NULL, &len,
		                   NULL) != 0 ||
		    len != sizeof bidx || demo_set_add(&r->bidx_taken, bidx) < 0)
			rc = DB_ERROR;
	}
	if (rc == DB_OK)
		rc = db_commit();
	else
		db_rollback();
	return rc;
}

/* Reads the catalogue the Comuni use (their own services and the Ambito's). */
static int run_services(struct demo_run *r)
{
	PGresult *res = NULL;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(r->a, r->comune[0].id, NULL);
	if (rc == DB_OK)
		rc = db_exec(r->a, &st_services, 0, NULL, &res);
	db_rollback();
	if (rc != DB_OK)
		return rc;
	int n = PQntuples(res);
	r->services = arena_alloc(r->a, (size_t)(n > 0 ? n : 1) * sizeof *r->services);
	if (r->services == NULL)
		return DB_ERROR;
	for (int i = 0; i < n; i++) {
		struct demo_service *s = &r->services[i];
		util_strlcpy(s->tenant_id, PQgetvalue(res, i, 0), sizeof s->tenant_id);
		util_strlcpy(s->id, PQgetvalue(res, i, 1), sizeof s->id);
		util_strlcpy(s->code, PQgetvalue(res, i, 2), sizeof s->code);
		util_strlcpy(s->regional_area, PQgetvalue(res, i, 3), sizeof s->regional_area);
		const char *nature = PQgetvalue(res, i, 4);
		s->nature = strcmp(nature, "periodic") == 0  ? 0
		            : strcmp(nature, "one_off") == 0 ? 1
		                                             : 2;
		s->isee_linked = strcmp(PQgetvalue(res, i, 5), "t") == 0;
	}
	r->nservices = (size_t)n;
	return n > 0 ? DB_OK : DB_ERROR;
}

/* Sends the buffered rows of every table: COPY into the staging table, then
 * INSERT ... SELECT into the real one. Returns a db_rc. */
static int job_flush(struct demo_job *j)
{
	int rc = DB_OK;
	for (int t = 0; rc == DB_OK && t < DT__COUNT; t++) {
		const struct demo_table_def *d = &demo_tables[t];
		if (!j->staged) {
			char *sql =
			    arena_printf(j->a,
			                 "CREATE TEMP TABLE IF NOT EXISTS demo_stage_%s "
			                 "ON COMMIT DELETE ROWS AS SELECT %s FROM %s WITH NO DATA",
			                 d->name, d->columns, d->name);
			rc = sql ? db_run(sql) : DB_ERROR;
		}
		if (rc != DB_OK || j->g.rows[t] == 0)
			continue;
		if (j->g.buf[t].oom)
			return DB_ERROR;
		char *copy =
		    arena_printf(j->a, "COPY demo_stage_%s (%s) FROM STDIN", d->name, d->columns);
		char *insert =
		    arena_printf(j->a, "INSERT INTO %s (%s) SELECT %s FROM demo_stage_%s", d->name,
		                 d->columns, d->columns, d->name);
		if (copy == NULL || insert == NULL)
			return DB_ERROR;
		rc = db_copy_in(copy, j->g.buf[t].p, j->g.buf[t].len);
		if (rc == DB_OK)
			rc = db_run(insert);
	}
	return rc;
}

/* Writes the audit event of Comune c's transaction: what it loaded, not one
 * row per row. */
static int job_audit(struct demo_job *j, struct demo_comune *c, const char *what)
{
	char request[64];
	snprintf(request, sizeof request, "demo-%llu-%s-%ld", (unsigned long long)j->r->opts->seed,
	         c->code, ++c->batches);
	const char *p[4] = {c->id, j->r->user_id, request, what};
	return what ? db_exec(j->a, &st_audit, 4, p, NULL) : DB_ERROR;
}

/* Adds the job's batch to the run's totals and prints the progress line on
 * stderr. Called with r->mu held. */
static void run_progress(struct demo_run *r, const struct demo_job *j, long persons)
{
	r->persons_done += persons;
	for (int t = 0; t < DT__COUNT; t++)
		r->total[t] += j->g.rows[t];
	double s = run_elapsed(r);
	long total = r->opts->persons, rows = 0;
	for (int t = 0; t < DT__COUNT; t++)
		rows += r->total[t];
	double rate = s > 0 ? (double)r->persons_done / s : 0;
	double eta = rate > 0 ? (double)(total - r->persons_done) / rate : 0;
	fprintf(stderr,
	        "cartella demo: %ld/%ld persons (%.1f%%), %ld interventions, %ld rows in %.0f s: "
	        "%.0f persons/s, %.0f rows/s, ETA %dm%02ds\n",
	        r->persons_done, total, 100.0 * (double)r->persons_done / (double)total,
	        r->total[DT_INTERVENTION], rows, s, rate, s > 0 ? (double)rows / s : 0,
	        (int)eta / 60, (int)eta % 60);
}

/* One batch of Comune c: up to DEMO_BATCH_PERSONS persons. Returns a db_rc. */
static int job_batch(struct demo_job *j, struct demo_comune *c)
{
	struct demo_run *r = j->r;
	struct crypt_bulk *bulk = NULL;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(j->a, c->id, r->user_id);
	if (rc == DB_OK)
		rc = db_run("SET LOCAL statement_timeout = 0");
	if (rc == DB_OK)
		rc = crypt_bulk_open(j->a, c->id, &bulk);
	if (rc != DB_OK) {
		db_rollback();
		return rc;
	}
	j->g.bulk = bulk;
	for (int t = 0; t < DT__COUNT; t++) {
		j->g.buf[t].len = 0;
		j->g.rows[t] = 0;
	}
	long persons = 0;
	while (persons < DEMO_BATCH_PERSONS && c->persons_done + persons < c->persons_target &&
	       !j->g.failed) {
		j->g.max_persons = (int)(c->persons_target - c->persons_done - persons);
		persons += demo_rows_household(&j->g);
	}
	char *what = arena_printf(
	    j->a,
	    "cartella demo --persons %ld --seed %llu: batch %ld, %s: %ld persons, %ld households, "
	    "%ld cases, %ld assessments, %ld interventions, %ld funding parts",
	    r->opts->persons, (unsigned long long)r->opts->seed, c->batches + 1, c->name,
	    j->g.rows[DT_PERSON], j->g.rows[DT_HOUSEHOLD], j->g.rows[DT_CASE],
	    j->g.rows[DT_ASSESSMENT], j->g.rows[DT_INTERVENTION], j->g.rows[DT_FUNDING]);
	rc = j->g.failed || what == NULL ? DB_ERROR : job_flush(j);
	if (rc == DB_OK)
		rc = job_audit(j, c, what);
	crypt_bulk_close(bulk);
	j->g.bulk = NULL;
	if (rc == DB_OK)
		rc = db_commit();
	else
		db_rollback();
	if (rc != DB_OK)
		return rc;
	j->staged = true;
	c->persons_done += persons;
	pthread_mutex_lock(&r->mu);
	run_progress(r, j, persons);
	pthread_mutex_unlock(&r->mu);
	return DB_OK;
}

/* Expenditures (staff, running costs, grants) and population by sex and age
 * band for each year of the data, with one audit event. Returns a db_rc. */
static int job_spending(struct demo_job *j, struct demo_comune *c)
{
	static const struct {
		const char *area, *channel, *management, *kind, *description;
		unsigned per_person; /* cents a year per person loaded */
	} lines[] = {
	    {"servizio_sociale_professionale", "comune", "single", "staff",
	     "Personale del servizio sociale professionale", 2500},
	    {"servizio_sociale_professionale", "fondo_sociale_regionale", "associated",
	     "running_costs", "Funzionamento dell'Ufficio di Piano", 600},
	    {"minori_famiglia", "fnps", "associated", "grants", "Contributi alle famiglie", 900},
	    {"immigrazione", "comune", "single", "other", "Mediazione culturale", 300},
	};
	static const struct {
		const char *from, *to;
		unsigned percent;
	} bands[] = {{"0", "17", 16}, {"18", "64", 62}, {"65", "", 22}};
	const char *user = j->r->user_id;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(j->a, c->id, user);
	long residents =
	    (long)c->weight > 6 * c->persons_done ? (long)c->weight : 6 * c->persons_done;
	for (int y = 2021; rc == DB_OK && y <= 2025; y++) {
		char year[8], amount[24], count[24];
		snprintf(year, sizeof year, "%d", y);
		for (size_t k = 0; rc == DB_OK && k < sizeof lines / sizeof lines[0]; k++) {
			long long cents = (long long)lines[k].per_person * (c->persons_done + 10) *
			                  (90 + demo_rng_below(&j->g.rng, 21)) / 100;
			snprintf(amount, sizeof amount, "%lld", cents);
			const char *p[9] = {c->id,
			                    year,
			                    lines[k].area,
			                    lines[k].channel,
			                    lines[k].management,
			                    lines[k].kind,
			                    amount,
			                    lines[k].description,
			                    user};
			rc = db_exec(j->a, &st_expenditure, 9, p, NULL);
		}
		for (size_t b = 0; rc == DB_OK && b < 3 * 2; b++) {
			long n = residents * (long)bands[b / 2].percent / 200 + (y - 2021) * 7;
			snprintf(count, sizeof count, "%ld", n);
			const char *p[7] = {
			    c->id, year, b % 2 ? "F" : "M", bands[b / 2].from, bands[b / 2].to,
			    count, user};
			rc = db_exec(j->a, &st_population, 7, p, NULL);
		}
	}
	if (rc == DB_OK)
		rc = job_audit(j, c,
		               arena_printf(j->a,
		                            "cartella demo --persons %ld --seed %llu: %s: "
		                            "expenditures and population 2021-2025",
		                            j->r->opts->persons,
		                            (unsigned long long)j->r->opts->seed, c->name));
	if (rc == DB_OK)
		rc = db_commit();
	else
		db_rollback();
	return rc;
}

/* Loads Comune number i (its batches, then its spending and population)
 * from its own generator: seeded by --seed and the Comune's code, with its
 * own part of the fiscal codes, so the data does not depend on the job or
 * on the other Comuni. Returns 0 or the exit status. */
static int job_comune(struct demo_job *j, size_t i)
{
	struct demo_run *r = j->r;
	struct demo_comune *c = &r->comune[i];
	demo_rng_seed(&j->g.rng, r->opts->seed ^ demo_hash(c->code, strlen(c->code)));
	j->g.comune = c;
	j->g.part = i;
	j->g.serial = 0;
	j->g.failed = false;
	if (demo_set_init(&j->g.cf_seen, (size_t)c->persons_target) != 0) {
		fprintf(stderr, "cartella demo: out of memory\n");
		return 1;
	}
	int status = 0, rc = DB_OK;
	while (status == 0 && c->persons_done < c->persons_target) {
		pthread_mutex_lock(&r->mu);
		bool stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			status = 1;
		else if ((rc = job_batch(j, c)) != DB_OK)
			status = run_fail(j->g.failed ? "making the rows" : "a batch", c->name, rc);
	}
	if (status == 0 && (rc = job_spending(j, c)) != DB_OK)
		status = run_fail("expenditures and population", c->name, rc);
	demo_set_free(&j->g.cf_seen);
	return status;
}

/* The body of a job: takes the next Comune until none is left or a job
 * failed; closes the job's connection at the end. Borrows arg (a job). */
static void *job_main(void *arg)
{
	struct demo_job *j = arg;
	struct demo_run *r = j->r;
	j->status = 0;
	while (j->status == 0) {
		pthread_mutex_lock(&r->mu);
		bool more = !r->stop && r->next < r->ncomuni;
		size_t i = more ? r->order[r->next++] : 0;
		pthread_mutex_unlock(&r->mu);
		if (!more)
			break;
		j->status = job_comune(j, i);
		if (j->status != 0) {
			pthread_mutex_lock(&r->mu);
			r->stop = true;
			pthread_mutex_unlock(&r->mu);
		}
	}
	return NULL;
}

/* Sets up job j of run r. Returns 0, or -1 when out of memory. */
static int job_init(struct demo_job *j, struct demo_run *r)
{
	memset(j, 0, sizeof *j);
	j->r = r;
	j->a = arena_new();
	j->g.opts = r->opts;
	util_strlcpy(j->g.user_id, r->user_id, sizeof j->g.user_id);
	j->g.services = r->services;
	j->g.nservices = r->nservices;
	j->g.bidx_taken = &r->bidx_taken;
	j->g.nparts = r->ncomuni;
	return j->a ? 0 : -1;
}

/* Owns j's memory (not j itself). */
static void job_free(struct demo_job *j)
{
	for (int t = 0; t < DT__COUNT; t++)
		demo_buf_free(&j->g.buf[t]);
	demo_set_free(&j->g.cf_seen);
	arena_free(j->a);
	j->a = NULL;
}

/* Runs the jobs: with one, in the calling thread on its connection; with
 * more, each in a thread of its own with its own connection. Returns the
 * exit status. */
static int run_jobs(struct demo_run *r, int njobs)
{
	struct demo_job *jobs = calloc((size_t)njobs, sizeof *jobs);
	if (jobs == NULL)
		return 1;
	int status = 0, started = 0;
	for (int k = 0; k < njobs && status == 0; k++)
		if (job_init(&jobs[k], r) != 0)
			status = 1;
	if (status == 0 && njobs == 1) {
		job_main(&jobs[0]);
		status = jobs[0].status;
	}
	for (int k = 0; status == 0 && njobs > 1 && k < njobs; k++) {
		if (pthread_create(&jobs[k].thread, NULL, job_main, &jobs[k]) != 0) {
			fprintf(stderr, "cartella demo: cannot start job %d\n", k + 1);
			pthread_mutex_lock(&r->mu);
			r->stop = true;
			pthread_mutex_unlock(&r->mu);
			status = 1;
			break;
		}
		started++;
	}
	for (int k = 0; k < started; k++) {
		pthread_join(jobs[k].thread, NULL);
		if (jobs[k].status != 0)
			status = jobs[k].status;
	}
	for (int k = 0; k < njobs; k++)
		job_free(&jobs[k]);
	free(jobs);
	return status;
}

/* Borrows o. */
int demo_scale_run(const struct demo_opts *o)
{
	struct demo_run *r = calloc(1, sizeof *r);
	if (r == NULL)
		return 1;
	int status = 1, rc;
	r->a = arena_new();
	r->opts = o;
	pthread_mutex_init(&r->mu, NULL);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	if (r->a == NULL)
		goto out;
	status = run_comuni(r, o);
	if (status != 0)
		goto out;
	status = 1;
	for (size_t i = 0; i < r->ncomuni; i++)
		if ((rc = run_prepare_comune(r, &r->comune[i])) != DB_OK) {
			status = run_fail("preparing", r->comune[i].name, rc);
			goto out;
		}
	if ((rc = run_services(r)) != DB_OK) {
		status = run_fail("reading the service catalogue", NULL, rc);
		goto out;
	}
	int njobs = o->jobs < (int)r->ncomuni ? o->jobs : (int)r->ncomuni;
	status = run_jobs(r, njobs > 0 ? njobs : 1);
	if (status != 0)
		goto out;
	long batches = 0;
	for (size_t i = 0; i < r->ncomuni; i++)
		batches += r->comune[i].batches;
	printf("demo data loaded: %ld persons, %ld households, %ld cases, %ld assessments, "
	       "%ld interventions, %ld funding parts in %ld batches, %.1f s (seed %llu, "
	       "%d job%s)\n",
	       r->total[DT_PERSON], r->total[DT_HOUSEHOLD], r->total[DT_CASE],
	       r->total[DT_ASSESSMENT], r->total[DT_INTERVENTION], r->total[DT_FUNDING], batches,
	       run_elapsed(r), (unsigned long long)o->seed, njobs, njobs == 1 ? "" : "s");
out:
	demo_set_free(&r->bidx_taken);
	pthread_mutex_destroy(&r->mu);
	arena_free(r->a);
	free(r);
	return status;
}
