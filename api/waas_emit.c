/* Appending flows to flow_record (schema/016_flows.sql): one at a time
 * (waas_emit, the SINBA sync) or a sync page's PS flows and their
 * flow_state rows in one statement each (struct waas_page), with the next
 * ts_flusso of the tenant and the next daily progressive of the flow type.
 * The snapshot is encrypted here, bound to flow_record/payload/tenant/id (a
 * page's snapshots with one read of the tenant's active key). */
#include "api/waas.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/util.h"

#include <string.h>

/* The clock and the tenant's counters, shared by both statements: n the
 * time (ms and the day in Rome), s the last progressive of the day for flow
 * type $3, t the first ts_flusso free (after the tenant's latest). */
#define WE_COUNTERS                                                                                \
	"WITH n AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms, "         \
	"                  (clock_timestamp() AT TIME ZONE 'Europe/Rome')::date AS day), "         \
	"s AS (SELECT coalesce(max(day_seq), 0) AS seq FROM flow_record, n "                       \
	"       WHERE tenant_id = $1 AND flow_type = $3 AND flow_day = n.day), "                   \
	"t AS (SELECT greatest(n.ms, coalesce((SELECT max(ts_flusso) FROM flow_record "            \
	"                                        WHERE tenant_id = $1), 0) + 1) AS ts FROM n) "    \
	"INSERT INTO flow_record (tenant_id, id, flow_type, flow_id, flow_day, day_seq, "          \
	"                         ts_flusso, operation, intervention_id, intervention_version, "   \
	"                         person_id, payload_enc) "                                        \
	"SELECT $1, v.id, $3, $2 || '.' || $3 || '.' || to_char(n.day, 'YYYYMMDD') || '.' "        \
	"       || lpad((s.seq + v.k)::text, 7, '0'), n.day, s.seq + v.k, t.ts + v.k - 1, "        \
	"       v.op, v.iv, v.ivv, v.person, v.enc FROM n, s, t, "

static const struct db_stmt st_emit = {
    "waas_emit",
    WE_COUNTERS "(SELECT $4::uuid, $5::char(1), $6::uuid, $7::int, $8::uuid, $9::bytea, "
                "1::bigint) AS v (id, op, iv, ivv, person, enc, k)",
};

static const struct db_stmt st_emit_page = {
    "waas_emit_page",
    WE_COUNTERS "unnest($4::uuid[], $5::char(1)[], $6::uuid[], $7::int[], $8::uuid[], "
                "$9::bytea[]) WITH ORDINALITY AS v (id, op, iv, ivv, person, enc, k)",
};

static const struct db_stmt st_state_page = {
    "waas_state_page",
    "INSERT INTO flow_state (tenant_id, intervention_id, intervention_version, person_version, "
    "                        current_flow, refusal, sina_assessment_id) "
    "SELECT $1, v.* FROM unnest($2::uuid[], $3::int[], $4::int[], $5::uuid[], $6::text[], "
    "                           $7::uuid[]) AS v "
    "ON CONFLICT (tenant_id, intervention_id) DO UPDATE SET "
    "intervention_version = EXCLUDED.intervention_version, "
    "person_version = EXCLUDED.person_version, current_flow = EXCLUDED.current_flow, "
    "sina_assessment_id = EXCLUDED.sina_assessment_id, "
    "refusal = EXCLUDED.refusal, checked_at = clock_timestamp()",
};

/* A new flow id (*id, arena-owned) and the encryption context of its
 * payload in *ctx. Returns a db_rc. */
static int we_new(struct http_req *req, const char **id, struct crypt_ctx *ctx)
{
	char *fid = arena_alloc(req->arena, UTIL_UUID_LEN + 1);
	if (fid == NULL)
		return DB_ERROR;
	util_uuid_v4(fid);
	struct crypt_ctx c = {"flow_record", "payload", req->principal.tenant_id, fid};
	*ctx = c;
	*id = fid;
	return DB_OK;
}

int waas_emit(struct http_req *req, const struct waas_emit_of *of, const char *op,
              const char *plain, const char **id)
{
	const char *enc;
	struct crypt_ctx ctx;
	int rc = we_new(req, id, &ctx);
	if (rc == DB_OK)
		rc = crypt_encrypt(req->arena, &ctx, plain, strlen(plain), &enc);
	if (rc != DB_OK)
		return rc;
	const char *p[9] = {
	    req->principal.tenant_id, of->belfiore,  of->type, *id, op, of->intervention_id,
	    of->intervention_version, of->person_id, enc};
	return db_exec(req->arena, &st_emit, 9, p, NULL);
}

/* ------------------------------------------------------------- a page */

enum { WP_ID, WP_OP, WP_IV, WP_IVV, WP_PERSON, WP_ENC, WP__FLOW };
enum { WS_IV, WS_IVV, WS_PV, WS_CURRENT, WS_REFUSAL, WS_SINA, WS__STATE };

int waas_page_init(struct http_req *req, struct waas_page *pg, size_t rows)
{
	memset(pg, 0, sizeof *pg);
	size_t cap = rows > 0 ? rows : 1;
	pg->cap = cap;
	pg->flow = arena_alloc(req->arena, sizeof *pg->flow * WP__FLOW * 2 * cap);
	pg->state = arena_alloc(req->arena, sizeof *pg->state * WS__STATE * cap);
	pg->ctx = arena_alloc(req->arena, sizeof *pg->ctx * 2 * cap);
	pg->plain = arena_alloc(req->arena, sizeof *pg->plain * 2 * cap);
	pg->len = arena_alloc(req->arena, sizeof *pg->len * 2 * cap);
	return pg->flow && pg->state && pg->ctx && pg->plain && pg->len ? DB_OK : DB_ERROR;
}

int waas_page_flow(struct http_req *req, struct waas_page *pg, const struct waas_emit_of *of,
                   const char *op, const char *plain, const char **id)
{
	if (pg->nflow >= 2 * pg->cap)
		return DB_ERROR;
	int rc = we_new(req, id, &pg->ctx[pg->nflow]);
	if (rc != DB_OK)
		return rc;
	pg->plain[pg->nflow] = plain;
	pg->len[pg->nflow] = strlen(plain);
	const char **f = pg->flow + WP__FLOW * pg->nflow++;
	f[WP_ID] = *id;
	f[WP_OP] = op;
	f[WP_IV] = of->intervention_id;
	f[WP_IVV] = of->intervention_version;
	f[WP_PERSON] = of->person_id;
	f[WP_ENC] = NULL; /* at waas_page_flush, all with one read of the key */
	return DB_OK;
}

int waas_page_state(struct waas_page *pg, const struct waas_seen *seen)
{
	if (pg->nstate >= pg->cap)
		return DB_ERROR;
	const char **s = pg->state + WS__STATE * pg->nstate++;
	s[WS_IV] = seen->intervention_id;
	s[WS_IVV] = seen->intervention_version;
	s[WS_PV] = seen->person_version;
	s[WS_CURRENT] = seen->current_flow;
	s[WS_REFUSAL] = seen->refusal;
	s[WS_SINA] = seen->sina_assessment_id;
	return DB_OK;
}

/* The column c of the n rows of width w in m as an array literal
 * (arena-owned; NULL on OOM). */
static const char *we_column(struct http_req *req, const char **m, size_t n, int w, int c)
{
	const char **v = arena_alloc(req->arena, sizeof *v * (n > 0 ? n : 1));
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = m[(size_t)w * i + (size_t)c];
	return db_array(req->arena, v, n);
}

/* Fills p[first..first+w-1] with the w columns of the n rows of m. Returns
 * 0, or -1 on OOM. */
static int we_columns(struct http_req *req, const char **m, size_t n, int w, const char **p)
{
	for (int c = 0; c < w; c++)
		if ((p[c] = we_column(req, m, n, w, c)) == NULL)
			return -1;
	return 0;
}

int waas_page_flush(struct http_req *req, struct waas_page *pg, const char *belfiore)
{
	int rc = DB_OK;
	if (pg->nflow > 0) {
		const char **enc = arena_alloc(req->arena, sizeof *enc * pg->nflow);
		if (enc == NULL)
			return DB_ERROR;
		rc = crypt_encrypt_n(req->arena, pg->nflow, pg->ctx, pg->plain, pg->len, enc);
		for (size_t i = 0; rc == DB_OK && i < pg->nflow; i++)
			pg->flow[WP__FLOW * i + WP_ENC] = enc[i];
		if (rc != DB_OK)
			return rc;
		const char *p[3 + WP__FLOW] = {req->principal.tenant_id, belfiore, "PS"};
		if (we_columns(req, pg->flow, pg->nflow, WP__FLOW, p + 3) != 0)
			return DB_ERROR;
		rc = db_exec(req->arena, &st_emit_page, 3 + WP__FLOW, p, NULL);
	}
	if (rc == DB_OK && pg->nstate > 0) {
		const char *p[1 + WS__STATE] = {req->principal.tenant_id};
		if (we_columns(req, pg->state, pg->nstate, WS__STATE, p + 1) != 0)
			return DB_ERROR;
		rc = db_exec(req->arena, &st_state_page, 1 + WS__STATE, p, NULL);
	}
	pg->nflow = pg->nstate = 0;
	return rc;
}
