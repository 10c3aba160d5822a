/* SIUSS flows to INPS (DESIGN §7.2): the sync step that turns interventions
 * into flow_record rows (schema/016_flows.sql), the snapshots the XML is
 * rendered from (api/waas_xml.c), and what the handlers of
 * api/waas_routes.c share. */
#ifndef CARTELLA_WAAS_H
#define CARTELLA_WAAS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/waas_xml.h"

struct http_req;

/* Appends to flow_record the flows the tenant's interventions need now (new
 * I flows, C flows for withdrawn or changed ones) as ente (borrowed, loaded
 * by waas_ente_load for the caller's tenant), serialised per tenant by an
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

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into out. */
void waas_ms_rfc3339(long long ms, char out[32]);

#endif
