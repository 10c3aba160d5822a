/* The INPS WaaS e-service (reference/inps-waas/api-comuni.yaml, v2.0.1):
 * GET /waas/v1/flussi hands INPS the tenant's flows after a timestamp,
 * POST /waas/v1/esiti stores the outcomes INPS notifies; and the staff's
 * batch file for manual upload, GET /api/v1/reports/siuss-batch. The tenant
 * is the caller's: INPS reaches each Ente through that Ente's own e-service
 * (the PDND voucher names it), never by a parameter. Bodies and problems
 * follow the INPS contract, whose Problem has no other members. */
#include "api/api.h"
#include "api/sinba.h"
#include "api/waas.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAAS_LIMIT_DEFAULT 10
#define WAAS_LIMIT_MAX     100
#define WAAS_XML_MAX       (7u * 1024u * 1024u) /* base64 stays under the 10 MB of the contract */
#define WAAS_BATCH_MAX     (256u * 1024u * 1024u)

/* Answers a failed db_rc or CRYPT_INTEGRITY. Returns the handler's value. */
static int waas_fail(struct http_req *req, int rc)
{
	if (rc == CRYPT_INTEGRITY)
		return http_reply_problem(req, PROBLEM_INTERNAL, NULL);
	return http_reply_db_error(req, rc);
}

/* Replies 404 for a tenant that cannot send flows. */
static int waas_not_configured(struct http_req *req)
{
	return http_reply_problem(req, PROBLEM_NOT_FOUND,
	                          "Ente non configurato per i flussi SIUSS (codice Belfiore o "
	                          "codice fiscale dell'operatore mancante)");
}

/* Loads the caller's tenant as a flow sender into *e. Returns 0; 1 after
 * replying (404 when it cannot send flows, or a database error);
 * HTTP_RETRY. */
static int waas_ente_or_reply(struct http_req *req, struct waas_ente *e)
{
	bool ok;
	int rc = waas_ente_load(req, e, &ok);
	if (rc != DB_OK) {
		rc = waas_fail(req, rc);
		return rc == HTTP_RETRY ? HTTP_RETRY : 1;
	}
	if (!ok) {
		waas_not_configured(req);
		return 1;
	}
	return 0;
}

/* Parses ?since= (milliseconds, required, digits only; values past int64
 * are "the future") into *out. Returns 0, or replies 400 and returns 1. */
static int waas_since(struct http_req *req, long long *out)
{
	const char *s = http_query(req, "since");
	size_t n = s ? strlen(s) : 0;
	bool digits = n > 0 && n <= 21;
	for (size_t i = 0; digits && i < n; i++)
		digits = s[i] >= '0' && s[i] <= '9';
	if (!digits) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   "since obbligatorio: timestamp in millisecondi (intero >= 0)");
		return 1;
	}
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	*out = (errno == ERANGE || v > (unsigned long long)INT64_MAX) ? INT64_MAX : (long long)v;
	return 0;
}

static const struct db_stmt st_flows = {
    "waas_flows",
    "SELECT f.id, f.flow_id, f.ts_flusso, f.operation, f.payload_enc, f.person_id, f.flow_type "
    "FROM flow_record f JOIN person p ON p.tenant_id = f.tenant_id AND p.id = f.person_id "
    "WHERE f.tenant_id = $1 AND f.ts_flusso > $2::bigint AND NOT p.restricted "
    "ORDER BY f.ts_flusso LIMIT $3::int",
};

/* The entry of flow row i of r for ente: renders the XML from the snapshot
 * (new reference in *out). Returns a db_rc or CRYPT_INTEGRITY. */
static int waas_entry(struct http_req *req, const struct waas_ente *ente, PGresult *r, int i,
                      json_t **out)
{
	json_t *snap;
	int rc = waas_snapshot_load(req, PQgetvalue(r, i, 0), PQgetvalue(r, i, 4), &snap);
	if (rc != DB_OK)
		return rc;
	struct waas_item item = {snap, PQgetvalue(r, i, 3)[0]};
	bool sinba = strcmp(PQgetvalue(r, i, 6), "SINBA") == 0;
	struct xw *w = xw_new(req->arena, WAAS_XML_MAX);
	if (w == NULL)
		return DB_ERROR;
	if (sinba)
		sinba_render(w, ente, PQgetvalue(r, i, 1), &snap, 1);
	else
		waas_ps_render(w, ente, PQgetvalue(r, i, 1), &item, 1);
	if (w->failed)
		return DB_ERROR;
	size_t b64len = sodium_base64_ENCODED_LEN(w->len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = arena_alloc(req->arena, b64len);
	if (b64 == NULL)
		return DB_ERROR;
	sodium_bin2base64(b64, b64len, (const unsigned char *)w->buf, w->len,
	                  sodium_base64_VARIANT_ORIGINAL);
	char ts[32];
	waas_ms_rfc3339(strtoll(PQgetvalue(r, i, 2), NULL, 10), ts);
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "codice_ente", ente->belfiore,
	                 "denominazione_ente", ente->name, "id_flusso", PQgetvalue(r, i, 1), "tipo",
	                 sinba ? "SINBA" : "PS_PSA_SINA", "ts_flusso", ts, "flusso", b64);
	if (*out == NULL)
		return DB_ERROR;
	return http_audit_object(req, "person", PQgetvalue(r, i, 5)) == 0 ? DB_OK : DB_ERROR;
}

/* GET /waas/v1/flussi?since=&limit= */
int api_waas_flows(struct http_req *req)
{
	long long since, limit = WAAS_LIMIT_DEFAULT;
	const char *ls = http_query(req, "limit");
	if (ls != NULL && !util_parse_int(ls, 1, WAAS_LIMIT_MAX, &limit))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "limit deve essere un intero tra 1 e 100");
	if (waas_since(req, &since))
		return 0;
	struct waas_ente ente;
	int rc = waas_ente_or_reply(req, &ente);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	rc = waas_sync(req, &ente);
	if (rc != DB_OK)
		return waas_fail(req, rc);
	char sinces[24], limits[8];
	snprintf(sinces, sizeof sinces, "%lld", since);
	snprintf(limits, sizeof limits, "%lld", limit);
	const char *p[3] = {req->principal.tenant_id, sinces, limits};
	PGresult *r;
	rc = db_exec(req->arena, &st_flows, 3, p, &r);
	if (rc != DB_OK)
		return waas_fail(req, rc);
	json_t *list = json_array();
	json_t *body = json_pack("{s:o}", "elenco_flussi", list);
	if (body == NULL)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *entry = NULL;
		rc = waas_entry(req, &ente, r, i, &entry);
		if (rc != DB_OK) {
			json_decref(body);
			return waas_fail(req, rc);
		}
		json_array_append_new(list, entry);
	}
	return http_reply_json(req, 200, body);
}

/* ------------------------------------------------------------- esiti */

/* One outcome as INPS sends it (strings borrowed from the body). */
struct waas_esito {
	const char *v[7];
};
static const char *const esito_fields[7] = {
    "id_flusso",
    "tipo",
    "ts_flusso",
    "ts_acquisizione",
    "codice_esito",
    "descrizione_esito",
    "id_acquisizione_siuss",
};
#define ESITO_REQUIRED 5 /* the first five are required */

/* Reads item i of elenco_esiti into *e. Members the contract does not name
 * are ignored (INPS's own examples carry codice_ente and others). Returns
 * NULL or the problem detail (arena-owned). */
static const char *waas_esito_read(struct http_req *req, json_t *item, size_t i,
                                   struct waas_esito *e)
{
	static const char *const codes[] = {"OK", "DATI_NON_TROVATI", "RICHIESTA_INVALIDA",
	                                    "ERRORE_GENERICO", NULL};
	if (!json_is_object(item))
		return arena_printf(req->arena, "elenco_esiti[%zu]: deve essere un oggetto", i);
	for (size_t k = 0; k < 7; k++) {
		json_t *v = json_object_get(item, esito_fields[k]);
		e->v[k] = json_string_value(v);
		if ((v == NULL || json_is_null(v)) && k >= ESITO_REQUIRED)
			continue;
		if (e->v[k] == NULL || e->v[k][0] == '\0' || strlen(e->v[k]) > 4096)
			return arena_printf(req->arena,
			                    "elenco_esiti[%zu].%s: stringa obbligatoria (1-4096)",
			                    i, esito_fields[k]);
	}
	if (strlen(e->v[0]) > 200 || strlen(e->v[1]) > 32 || strlen(e->v[2]) > 64 ||
	    strlen(e->v[3]) > 64 || (e->v[6] && strlen(e->v[6]) > 200))
		return arena_printf(req->arena, "elenco_esiti[%zu]: valore troppo lungo", i);
	if (!jsonx_in(e->v[4], codes))
		return arena_printf(req->arena,
		                    "elenco_esiti[%zu].codice_esito: OK, DATI_NON_TROVATI, "
		                    "RICHIESTA_INVALIDA o ERRORE_GENERICO",
		                    i);
	return NULL;
}

static const struct db_stmt st_outcome = {
    "waas_outcome",
    "INSERT INTO flow_outcome (tenant_id, flow_record_id, flow_id, flow_type, ts_flusso, "
    "ts_acquisizione, codice_esito, descrizione_esito, id_acquisizione_siuss) "
    "SELECT $1, (SELECT id FROM flow_record WHERE tenant_id = $1 AND flow_id = $2), "
    "$2, $3, $4, $5, $6, $7, $8 RETURNING flow_record_id",
};

static const struct db_stmt st_outcome_set = {
    "waas_outcome_set",
    "UPDATE flow_record SET outcome = $3, outcome_detail = $4, outcome_siuss_id = $5, "
    "outcome_at = clock_timestamp() WHERE tenant_id = $1 AND id = $2",
};

/* Stores outcome e; an unknown flow id is stored as unknown and logged.
 * Returns a db_rc. */
static int waas_esito_store(struct http_req *req, const struct waas_esito *e)
{
	const char *p[8] = {req->principal.tenant_id,
	                    e->v[0],
	                    e->v[1],
	                    e->v[2],
	                    e->v[3],
	                    e->v[4],
	                    e->v[5],
	                    e->v[6]};
	PGresult *r;
	int rc = db_exec(req->arena, &st_outcome, 8, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQgetisnull(r, 0, 0)) {
		log_event(LOGL_WARN, "esito for an unknown flow",
		          json_pack("{s:s, s:s, s:s}", "id_flusso", e->v[0], "codice_esito",
		                    e->v[4], "request_id", req->request_id));
		return DB_OK;
	}
	const char *fid = PQgetvalue(r, 0, 0);
	const char *q[5] = {req->principal.tenant_id, fid, e->v[4], e->v[5], e->v[6]};
	rc = db_exec(req->arena, &st_outcome_set, 5, q, NULL);
	if (rc == DB_OK && http_audit_object(req, "flow_record", fid) != 0)
		rc = DB_ERROR;
	return rc;
}

/* POST /waas/v1/esiti */
int api_waas_outcomes(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	json_t *list = NULL;
	json_t *errors = jsonx_errors_new();
	const struct jsonx_field spec[] = {
	    {"elenco_esiti", JX_ARRAY, 0, 0, WAAS_LIMIT_MAX, &list, NULL},
	};
	size_t bad = jsonx_read(req->json, "", spec, 1, errors);
	const char *detail = NULL;
	if (bad > 0) {
		json_t *first = json_array_get(errors, 0);
		detail = arena_printf(req->arena, "%s: %s",
		                      json_string_value(json_object_get(first, "field")),
		                      json_string_value(json_object_get(first, "message")));
	}
	json_decref(errors);
	size_t n = json_array_size(list);
	struct waas_esito *es = arena_alloc(req->arena, sizeof *es * (n ? n : 1));
	if (es == NULL)
		return -1;
	for (size_t i = 0; detail == NULL && i < n; i++)
		detail = waas_esito_read(req, json_array_get(list, i), i, &es[i]);
	if (detail != NULL)
		return http_reply_problem(req, PROBLEM_VALIDATION, detail);
	for (size_t i = 0; i < n; i++) {
		int rc = waas_esito_store(req, &es[i]);
		if (rc != DB_OK)
			return waas_fail(req, rc);
	}
	return http_reply_empty(req, 204);
}

/* ------------------------------------------------------------- batch */

/* True when s is a valid YYYY-MM-DD date. */
static bool waas_date(const char *s)
{
	struct tm tm = {0};
	if (s == NULL || strlen(s) != 10)
		return false;
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return false;
	struct tm check = tm;
	check.tm_isdst = -1;
	return timegm(&check) != (time_t)-1 && check.tm_mday == tm.tm_mday;
}

/* GET /api/v1/reports/siuss-batch?from=&to=: one PS/PSA file with every
 * beneficiary and intervention delivered in the period, for manual upload. */
int api_siuss_batch_params(struct http_req *req)
{
	const char *from = http_query(req, "from"), *to = http_query(req, "to");
	if (!waas_date(from) || !waas_date(to) || strcmp(from, to) > 0) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   "from e to obbligatori: date AAAA-MM-GG con from <= to");
		return 1;
	}
	return 0;
}

int api_siuss_batch(struct http_req *req)
{
	if (api_siuss_batch_params(req))
		return 0;
	const char *from = http_query(req, "from"), *to = http_query(req, "to");
	struct waas_ente ente;
	int rc = waas_ente_or_reply(req, &ente);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	struct waas_item *items;
	size_t n, refused;
	rc = waas_batch_items(req, from, to, &items, &n, &refused);
	if (rc != DB_OK)
		return waas_fail(req, rc);
	/* The daily progressive of a batch is the second of the day it was made
	 * (Europe/Rome is not needed: it only has to differ between batches). */
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char day[12];
	strftime(day, sizeof day, "%Y%m%d", &tm);
	char *name = arena_printf(req->arena, "%s.PS.%s.%07d", ente.belfiore, day,
	                          tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
	struct xw *w = name ? xw_new(req->arena, WAAS_BATCH_MAX) : NULL;
	if (w == NULL)
		return -1;
	waas_ps_render(w, &ente, name, items, n);
	if (w->failed)
		return http_reply_problem(req, PROBLEM_PAYLOAD_TOO_LARGE, "file oltre 256 MB");
	if (n == 0)
		return http_reply_problem(req, PROBLEM_NOT_FOUND,
		                          "nessuna prestazione da trasmettere nel periodo");
	char hdr[128];
	snprintf(hdr, sizeof hdr, "%zu", refused);
	if (http_add_header(req, "X-Siuss-Refused", hdr) != 0)
		return -1;
	snprintf(hdr, sizeof hdr, "attachment; filename=\"%s.xml\"", name);
	if (http_add_header(req, "Content-Disposition", hdr) != 0)
		return -1;
	return http_reply_text(req, 200, "application/xml", w->buf, w->len);
}
