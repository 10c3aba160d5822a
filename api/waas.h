/* SIUSS flows to INPS (DESIGN §7.2): the sync step that turns interventions
 * into flow_record rows (schema/016_flows.sql), the snapshots the XML is
 * rendered from (api/waas_xml.c), and what the handlers of
 * api/waas_routes.c share. */
#ifndef CARTELLA_WAAS_H
#define CARTELLA_WAAS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/waas_xml.h"

struct http_req;
struct crypt_ctx;

/* Appends to flow_record the flows the tenant's interventions need now (new
 * I flows, C flows for withdrawn or changed ones; PS and SINBA) as ente
 * (borrowed, loaded by waas_ente_load for the caller's tenant), for one page
 * of the change queue (the oldest CARTELLA_FLOW_SYNC_PAGE entries, removed
 * once done; schema/030_flow_change.sql), serialised per tenant by an
 * advisory lock, in the request's transaction. Returns a db_rc or
 * CRYPT_INTEGRITY. */
int waas_sync(struct http_req *req, const struct waas_ente *ente);

/* Loads the caller's tenant as a flow sender into *e (arena-owned strings);
 * *ok is false when it has no Belfiore code or no operator fiscal code.
 * Returns a db_rc. */
int waas_ente_load(struct http_req *req, struct waas_ente *e, bool *ok);

/* The snapshots of the interventions of the caller's tenant delivered
 * between from and to (YYYY-MM-DD, inclusive) that the export rules let out,
 * ordered by beneficiary, in *items (arena-owned array of *n; snapshots owned
 * by the arena); *refused counts those refused for data quality. Returns a
 * db_rc or CRYPT_INTEGRITY. */
int waas_batch_items(struct http_req *req, const char *from, const char *to,
                     struct waas_item **items, size_t *n, size_t *refused);

/* The flows of intervention id for its representation: [{id_flusso,
 * operation, ts_flusso, outcome, outcome_detail, outcome_at}] and the
 * data-quality refusal, if any (*refusal arena-owned or NULL). *out is a new
 * reference. Returns a db_rc. */
int waas_intervention_flows(struct http_req *req, const char *id, json_t **out,
                            const char **refusal);

/* Decrypts the snapshot of flow_record row id (stored hex bytea text) into a
 * new JSON object (*snap, owned by the arena). Returns a db_rc or
 * CRYPT_INTEGRITY. */
int waas_snapshot_load(struct http_req *req, const char *id, const char *stored, json_t **snap);

/* Column c of row of r, or NULL when SQL NULL. */
const char *waas_col(PGresult *r, int row, int c);

/* True when boolean column c of row of r is true. */
bool waas_true(PGresult *r, int row, int c);

/* Whether the export rules let an intervention out at all (restriction
 * aside): not cancelled (status), a service not never_export with an INPS
 * code, and in charge when the service is exported only for persons in
 * charge or its code is one of A2.16-A2.29. */
bool waas_exportable(const char *status, bool never_export, bool only_in_charge, const char *code,
                     bool in_charge);

/* The money fields of an intervention the mis-reporting rules read (text
 * as PostgreSQL returns it; NULL for SQL NULL; cents). */
struct waas_money {
	const char *nature, *end, *status, *monthly, *total, *share_tenant, *share_user,
	    *share_health;
};

/* True when shares are given and add up to the monthly or one-off amount
 * (the only case in which a PS flow carries them). */
bool waas_shares_add_up(const struct waas_money *m);

/* Mis-reporting rule: shares given that do not add up to the cost (the PS
 * flow leaves them out). Appended to out. */
void waas_shares_checks(const struct waas_money *m, struct waas_issues *out);

/* Mis-reporting rule: a periodic intervention ended or suspended without
 * an end date (its months run to December, and into every later year, in
 * the PS flow and in the spending reports). Appended to out. */
void waas_period_checks(const struct waas_money *m, struct waas_issues *out);

/* The SINA section of a PS snapshot (api/waas_sina.c): when in_charge and
 * area is "2", snap gains "sina" from answers (the JSON text of the case's
 * latest sina assessment, NULL when none); a missing or incomplete
 * assessment is a misreport appended to issues (may be NULL). Borrows
 * everything. Returns 0, or -1 when out of memory. */
int waas_sina_snapshot(json_t *snap, const char *answers, bool in_charge, const char *area,
                       struct waas_issues *issues);

/* SQL: the interventions i running or delivered between $2 and $3 (dates). */
#define WAAS_PERIOD                                                                                \
	"AND coalesce(i.start_date, i.delivery_date) <= $3::date "                                 \
	"AND coalesce(i.end_date, i.delivery_date, 'infinity'::date) >= $2::date "

/* SQL for the data-quality passes, over intervention i and person p: what
 * the flows never see is not listed: restricted persons, sealed persons and
 * the interventions of sealed cases (the flows are read by an integration
 * client, which row-level security never shows a sealed row). */
#define WAAS_QUALITY_JOIN                                                                          \
	"LEFT JOIN social_case sc ON sc.tenant_id = i.tenant_id AND sc.id = i.case_id "
#define WAAS_QUALITY_WHERE                                                                         \
	"AND NOT p.restricted AND NOT p.sealed AND NOT coalesce(sc.sealed, false) "

/* Called for each finding of a data-quality pass: the record (type and id,
 * its person and case ids, NULL when none; borrowed) and the finding.
 * Returns a db_rc; anything but DB_OK stops the pass. */
typedef int (*waas_finding_fn)(void *ctx, const char *record_type, const char *record_id,
                               const char *person_id, const char *case_id,
                               const struct waas_issue *issue);

/* The data-quality pass of the PS/PSA flow over the caller's tenant's
 * interventions running or delivered between from and to (YYYY-MM-DD): for
 * each one the export rules let out, every refusal and mis-report, through
 * the same snapshot and checks the flow uses. Returns a db_rc, CRYPT_INTEGRITY
 * or fn's. */
int waas_ps_quality(struct http_req *req, const char *from, const char *to, waas_finding_fn fn,
                    void *ctx);

/* The ISTAT region code (2 digits) of municipality istat (6 digits), or
 * NULL when unknown. */
const char *waas_region(const char *istat);

/* What a new flow is about (borrowed strings). */
struct waas_emit_of {
	const char *type; /* "PS" or "SINBA" */
	const char *belfiore;
	const char *intervention_id, *intervention_version, *person_id;
};

/* Appends to flow_record one flow of of->type and operation op ("I"/"C")
 * whose snapshot is the JSON text plain (encrypted here), with the next
 * ts_flusso of the tenant and the next daily progressive of its type; *id
 * receives its id (arena-owned). Returns a db_rc. */
int waas_emit(struct http_req *req, const struct waas_emit_of *of, const char *op,
              const char *plain, const char **id);

/* What the sync saw of one intervention, for its flow_state row (borrowed
 * strings; current_flow, refusal and sina_assessment_id may be NULL). */
struct waas_seen {
	const char *intervention_id, *intervention_version, *person_version;
	const char *current_flow, *refusal, *sina_assessment_id;
};

/* The PS flows and flow_state rows of one sync page, written by
 * waas_page_flush in one statement each (api/waas_emit.c). The arrays are
 * arena-owned; the strings they point to are borrowed. */
struct waas_page {
	size_t cap, nflow, nstate;
	const char **flow, **state;
	struct crypt_ctx *ctx; /* per flow: its payload's encryption context */
	const char **plain;    /* per flow: its snapshot text */
	size_t *len;
};

/* Prepares pg for up to rows interventions (two flows each). Returns a
 * db_rc (DB_ERROR on OOM). */
int waas_page_init(struct http_req *req, struct waas_page *pg, size_t rows);

/* Adds to pg one PS flow of operation op ("I"/"C", borrowed) about of
 * (borrowed) with the snapshot text plain (borrowed; encrypted when pg is
 * flushed) under a new id (*id, arena-owned). Returns a db_rc. */
int waas_page_flow(struct http_req *req, struct waas_page *pg, const struct waas_emit_of *of,
                   const char *op, const char *plain, const char **id);

/* Adds to pg the flow_state row of seen (borrowed). Returns a db_rc. */
int waas_page_state(struct waas_page *pg, const struct waas_seen *seen);

/* Appends pg's flows, in the order added (consecutive ts_flusso and daily
 * progressives), then upserts its flow_state rows, and empties pg.
 * Returns a db_rc. */
int waas_page_flush(struct http_req *req, struct waas_page *pg, const char *belfiore);

/* snap as compact JSON text with sorted keys (arena-owned; NULL on OOM):
 * the stored form of a snapshot, and what two snapshots are compared by. */
const char *waas_snapshot_text(struct http_req *req, json_t *snap);

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into out. */
void waas_ms_rfc3339(long long ms, char out[32]);

#endif
