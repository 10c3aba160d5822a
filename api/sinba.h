/* SINBA flows to INPS (DESIGN §7.3, reference/inps-waas/SINBA.xsd): one
 * flow per minor in charge and prestazione, from the latest sinba
 * assessment of the minor's case and the intervention; the minor appears
 * only as IDBeneficiario, a keyed hash of the person id under a tenant
 * subkey. Flows live in flow_record (flow_type SINBA) beside the PS ones,
 * and sinba_state (schema/021_sinba.sql) keeps what was last seen of each
 * intervention. docs/reporting.md says where every field comes from. */
#ifndef CARTELLA_SINBA_H
#define CARTELLA_SINBA_H

#include <jansson.h>
#include <stddef.h>

#include "api/waas.h"

struct http_req;
struct xw;

/* Appends to flow_record the SINBA flows the tenant's interventions of ids
 * (a uuid[] literal: a page of the change queue; borrowed) need now (a new
 * flow for each record in scope never sent or whose content changed) and
 * records in sinba_state what was seen, in the request's transaction (the
 * caller holds the tenant's flow lock). Returns a db_rc or CRYPT_INTEGRITY. */
int sinba_sync(struct http_req *req, const char *belfiore, const char *ids);

/* Renders a SINBA Flusso named name for ente with the n snapshots snaps
 * (borrowed) into w: consecutive snapshots of the same IDBeneficiario share
 * one SINBA element, their prestazioni listed together (a WaaS flow has
 * exactly one; a batch file many). */
void sinba_render(struct xw *w, const struct waas_ente *ente, const char *name,
                  json_t *const *snaps, size_t n);

/* The data-quality pass of the SINBA flow over the caller's tenant's
 * interventions running or delivered between from and to (YYYY-MM-DD):
 * every refusal of the records in SINBA's scope (a minor in charge without
 * a sinba assessment included), through the same snapshot and checks the
 * flow uses, and the flows INPS holds that SINBA cannot withdraw. Returns a
 * db_rc, CRYPT_INTEGRITY or fn's. */
int sinba_quality(struct http_req *req, const char *from, const char *to, waas_finding_fn fn,
                  void *ctx);

#endif
