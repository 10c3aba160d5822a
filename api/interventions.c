/* /api/v1/interventions: the erogazioni, one service of the local catalogue
 * to one beneficiary, periodic or one-off, with the funding split by channel
 * and the fields the SIUSS PS/PSA flow needs (schema/009_interventions.sql
 * documents each of them). Money is cents in the database and a decimal
 * string with two places on the wire. The cost the funding must add up to is
 * the total amount of a one-off intervention and the monthly amount of a
 * periodic one. Interventions are never deleted: PATCH status "cancelled". */
#include "api/api.h"
#include "api/intervention_rules.h"
#include "api/validate.h"
#include "api/waas.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- output */

#define IV_COLUMNS                                                                                 \
	"i.id, i.version, i.case_id, i.beneficiary_id, i.service_id, s.code, s.name, "             \
	"s.inps_code, i.nature, to_char(i.start_date, 'YYYY-MM-DD'), "                             \
	"to_char(i.end_date, 'YYYY-MM-DD'), to_char(i.delivery_date, 'YYYY-MM-DD'), "              \
	"i.monthly_amount_cents, i.total_amount_cents, i.hours_per_month, i.means_test, "          \
	"i.dsu_protocol, i.share_tenant_cents, i.share_user_cents, i.share_health_cents, "         \
	"i.management, i.provider_id, i.in_charge, i.user_area, i.application_protocol, "          \
	"i.status, "                                                                               \
	"to_char(i.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "             \
	"to_char(i.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "             \
	"(SELECT string_agg(f.channel || ':' || f.amount_cents, ',' "                              \
	"        ORDER BY c.position, f.channel) "                                                 \
	"   FROM intervention_funding f "                                                          \
	"   LEFT JOIN code c ON c.list = f.channel_list AND c.code = f.channel "                   \
	"  WHERE f.tenant_id = i.tenant_id AND f.intervention_id = i.id), "                        \
	"to_char(coalesce(i.start_date, i.delivery_date), 'YYYY-MM-DD'), i.service_tenant_id "     \
	"FROM intervention i "                                                                     \
	"LEFT JOIN service_catalogue s ON s.tenant_id = i.service_tenant_id "                      \
	"AND s.id = i.service_id "
enum {
	C_ID,
	C_VERSION,
	C_CASE,
	C_BENEFICIARY,
	C_SERVICE,
	C_SVC_CODE,
	C_SVC_NAME,
	C_SVC_INPS,
	C_NATURE,
	C_START,
	C_END,
	C_DELIVERY,
	C_MONTHLY,
	C_TOTAL,
	C_HOURS,
	C_MEANS,
	C_DSU,
	C_SHARE0,
	C_MANAGEMENT = C_SHARE0 + SH__COUNT,
	C_PROVIDER,
	C_IN_CHARGE,
	C_USER_AREA,
	C_PROTOCOL,
	C_STATUS,
	C_CREATED,
	C_UPDATED,
	C_FUNDING,
	C_SORT_DATE,
	C_SVC_TENANT
};

/* A nullable text column as JSON (new reference). */
static json_t *iv_opt(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

/* A nullable cents column as a decimal string (new reference). */
static json_t *iv_cents(PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return json_null();
	char buf[24];
	validate_format_cents(strtoll(PQgetvalue(r, row, col), NULL, 10), buf, sizeof buf);
	return json_string(buf);
}

/* The funding split "channel:cents,..." as [{channel, amount}] (new reference). */
static json_t *iv_funding_json(struct http_req *req, PGresult *r, int row)
{
	json_t *arr = json_array();
	if (arr == NULL || PQgetisnull(r, row, C_FUNDING))
		return arr;
	char *list = arena_strdup(req->arena, PQgetvalue(r, row, C_FUNDING));
	char *save = NULL;
	for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		char amount[24];
		validate_format_cents(strtoll(colon + 1, NULL, 10), amount, sizeof amount);
		json_array_append_new(arr,
		                      json_pack("{s:s, s:s}", "channel", tok, "amount", amount));
	}
	return arr;
}

/* The wire representation of row (new reference, NULL on OOM). */
static json_t *iv_json(struct http_req *req, PGresult *r, int row)
{
	json_t *service =
	    json_pack("{s:s, s:o, s:o, s:o}", "id", PQgetvalue(r, row, C_SERVICE), "code",
	              iv_opt(r, row, C_SVC_CODE), "name", iv_opt(r, row, C_SVC_NAME), "inps_code",
	              iv_opt(r, row, C_SVC_INPS));
	json_t *shares = json_object();
	for (int s = 0; shares != NULL && s < SH__COUNT; s++)
		json_object_set_new(shares, iv_share_name[s], iv_cents(r, row, C_SHARE0 + s));
	json_t *user_area = PQgetisnull(r, row, C_USER_AREA)
	                        ? json_null()
	                        : json_integer(atoll(PQgetvalue(r, row, C_USER_AREA)));
	return json_pack(
	    "{s:s, s:o, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, "
	    "s:s, s:o, s:b, s:o, s:o, s:s, s:I, s:s, s:s}",
	    "id", PQgetvalue(r, row, C_ID), "case_id", iv_opt(r, row, C_CASE), "beneficiary_id",
	    PQgetvalue(r, row, C_BENEFICIARY), "service", service, "nature",
	    PQgetvalue(r, row, C_NATURE), "start_date", iv_opt(r, row, C_START), "end_date",
	    iv_opt(r, row, C_END), "delivery_date", iv_opt(r, row, C_DELIVERY), "monthly_amount",
	    iv_cents(r, row, C_MONTHLY), "total_amount", iv_cents(r, row, C_TOTAL),
	    "hours_per_month", iv_opt(r, row, C_HOURS), "means_test",
	    (json_int_t)atoll(PQgetvalue(r, row, C_MEANS)), "dsu", iv_opt(r, row, C_DSU), "shares",
	    shares, "funding", iv_funding_json(req, r, row), "management",
	    PQgetvalue(r, row, C_MANAGEMENT), "provider_id", iv_opt(r, row, C_PROVIDER),
	    "in_charge", strcmp(PQgetvalue(r, row, C_IN_CHARGE), "t") == 0, "user_area", user_area,
	    "application_protocol", iv_opt(r, row, C_PROTOCOL), "status",
	    PQgetvalue(r, row, C_STATUS), "version",
	    (json_int_t)atoll(PQgetvalue(r, row, C_VERSION)), "created_at",
	    PQgetvalue(r, row, C_CREATED), "updated_at", PQgetvalue(r, row, C_UPDATED));
}

static const struct db_stmt st_one = {
    "interventions_one",
    "SELECT " IV_COLUMNS "WHERE i.tenant_id = $1 AND i.id = $2",
};

/* Loads intervention id of the caller's tenant into *r. Returns 0 when found;
 * 1 after replying (404, or a database error); HTTP_RETRY. */
static int iv_load(struct http_req *req, const char *id, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_one, 2, p, r);
}

/* Replies with intervention id and its ETag. Returns the handler's value. */
static int iv_reply(struct http_req *req, const char *id, int status)
{
	PGresult *r;
	int rc = iv_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	json_t *o = iv_json(req, r, 0);
	if (o == NULL)
		return -1;
	json_t *flows;
	const char *refusal;
	rc = waas_intervention_flows(req, id, &flows, &refusal);
	if (rc != DB_OK) {
		json_decref(o);
		return http_reply_db_error(req, rc);
	}
	json_object_set_new(o, "siuss",
	                    json_pack("{s:o, s:o}", "flows", flows, "refusal",
	                              refusal ? json_string(refusal) : json_null()));
	http_set_etag(req, atoll(PQgetvalue(r, 0, C_VERSION)));
	return http_reply_json(req, status, o);
}

/* ---------------------------------------------------------------- input */

/* Replies 404 naming field (an id that is not the caller's tenant's).
 * Returns 1 (replied), for the callers' tri-state returns. */
static int iv_not_found(struct http_req *req, const char *field)
{
	api_reply_not_found_field(req, field);
	return 1;
}

static const struct db_stmt st_case = {
    "interventions_case",
    "SELECT person_id, area FROM social_case WHERE tenant_id = $1 AND id = $2",
};
static const struct db_stmt st_provider = {
    "interventions_provider",
    "SELECT 1 FROM provider WHERE tenant_id = $1 AND id = $2",
};

/* A service visible to the tenant: its own, or its Ambito's; by id or by
 * code (the tenant's own row first). */
static const struct db_stmt st_service = {
    "interventions_service",
    "SELECT s.tenant_id, s.id, s.active, s.nature FROM service_catalogue s "
    "WHERE (s.tenant_id = $1 OR s.tenant_id = (SELECT t.parent_id FROM tenant t "
    "WHERE t.id = $1)) AND (($2::uuid IS NOT NULL AND s.id = $2::uuid) OR "
    "($2::uuid IS NULL AND s.code = $3)) ORDER BY s.tenant_id = $1 DESC LIMIT 1",
};

/* Runs st with (tenant, id) into *r. Returns a db_rc. */
static int iv_lookup(struct http_req *req, const struct db_stmt *st, const char *id, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, id};
	return db_exec(req->arena, st, 2, p, r);
}

/* Checks the beneficiary's birth date (plaintext, may be NULL) against the
 * intervention's first date: nobody receives anything before being born. */
static void iv_check_birth(const struct iv_rec *in, const char *birth, json_t *errors)
{
	int32_t born = 0;
	if (birth == NULL || validate_date(birth, &born, NULL) != NULL)
		return;
	if (in->has_start && born > in->start_days)
		jsonx_error(errors, "start_date", "before_birth",
		            "la data precede la nascita del beneficiario");
	if (!in->has_start && in->has_delivery && born > in->delivery_days)
		jsonx_error(errors, "delivery_date", "before_birth",
		            "la data precede la nascita del beneficiario");
}

/* Checks what needs the database: the ids of the body belong to the caller's
 * tenant (else replies 404 naming the field and returns 1), the service is
 * visible and active (its id/tenant go into in), the case is the
 * beneficiary's, the codes are in force, the beneficiary was born by the
 * intervention's date. Errors go to errors. Returns 0, 1 (replied), or a
 * negative db_rc / CRYPT_INTEGRITY. On an update (cur_svc_tenant: the
 * stored service's tenant) the service was chosen already: an inactive one
 * does not block changes, nor one no longer visible (a Comune that left its
 * Ambito keeps its interventions on the Ambito's services). */
static int iv_check_refs(struct http_req *req, struct iv_rec *in, const char *cur_svc_tenant,
                         json_t *errors)
{
	bool update = cur_svc_tenant != NULL;
	PGresult *r;
	int rc;
	if (in->beneficiary_id != NULL && util_is_uuid(in->beneficiary_id)) {
		bool found;
		const char *birth;
		rc = api_person_lookup(req, in->beneficiary_id, &found, &birth);
		if (rc != DB_OK)
			return rc;
		if (!found)
			return iv_not_found(req, "beneficiary_id");
		iv_check_birth(in, birth, errors);
	}
	if (in->case_id != NULL && util_is_uuid(in->case_id)) {
		if ((rc = iv_lookup(req, &st_case, in->case_id, &r)) != DB_OK)
			return rc;
		if (PQntuples(r) != 1)
			return iv_not_found(req, "case_id");
		if (in->beneficiary_id != NULL &&
		    strcmp(PQgetvalue(r, 0, 0), in->beneficiary_id) != 0)
			jsonx_error(errors, "case_id", "mismatch",
			            "la cartella non è del beneficiario (beneficiary_id)");
		/* In charge without an area: the case's area of presa in carico. */
		if (in->in_charge == 1 && in->user_area == 0 && !PQgetisnull(r, 0, 1))
			in->user_area = atoll(PQgetvalue(r, 0, 1));
	}
	if (in->provider_id != NULL && util_is_uuid(in->provider_id)) {
		if ((rc = iv_lookup(req, &st_provider, in->provider_id, &r)) != DB_OK)
			return rc;
		if (PQntuples(r) != 1)
			return iv_not_found(req, "provider_id");
	}
	if (in->service != NULL && (util_is_uuid(in->service) || iv_code_syntax(in->service))) {
		bool by_id = util_is_uuid(in->service);
		const char *p[3] = {req->principal.tenant_id, by_id ? in->service : NULL,
		                    in->service};
		if ((rc = db_exec(req->arena, &st_service, 3, p, &r)) != DB_OK)
			return rc;
		if (PQntuples(r) != 1 && update && by_id) {
			util_strlcpy(in->service_tenant, cur_svc_tenant, sizeof in->service_tenant);
			util_strlcpy(in->service_id, in->service, sizeof in->service_id);
		} else if (PQntuples(r) != 1) {
			if (by_id)
				return iv_not_found(req, "service");
			jsonx_error(errors, "service", "unknown",
			            "nessun servizio con questo codice nel catalogo dell'ente o "
			            "dell'Ambito");
		} else {
			util_strlcpy(in->service_tenant, PQgetvalue(r, 0, 0),
			             sizeof in->service_tenant);
			util_strlcpy(in->service_id, PQgetvalue(r, 0, 1), sizeof in->service_id);
			const char *svc_nature = PQgetvalue(r, 0, 3);
			if (!update && strcmp(PQgetvalue(r, 0, 2), "t") != 0)
				jsonx_error(errors, "service", "unknown",
				            "servizio non più attivo nel catalogo");
			if (in->nature != NULL && strcmp(svc_nature, "both") != 0 &&
			    strcmp(svc_nature, in->nature) != 0)
				jsonx_error(errors, "nature", "mismatch",
				            strcmp(svc_nature, "periodic") == 0
				                ? "il servizio si eroga solo come periodico"
				                : "il servizio si eroga solo una tantum");
		}
	}
	for (size_t k = 0; k < in->nparts; k++) {
		char field[48];
		snprintf(field, sizeof field, "funding[%zu].channel", in->part[k].index);
		rc = api_code_check(req, errors, field, "funding-channels", in->part[k].channel);
		if (rc != DB_OK)
			return rc;
	}
	if (in->user_area > 0) {
		char code[24];
		snprintf(code, sizeof code, "%lld", in->user_area);
		if ((rc = api_code_check(req, errors, "user_area", "siuss-user-areas", code)) !=
		    DB_OK)
			return rc;
	}
	if (in->in_charge == 1 && in->user_area == 0)
		jsonx_error(errors, "user_area", "required",
		            "obbligatoria per un intervento in presa in carico (in_charge)");
	return 0;
}

/* Text parameters of in for the INSERT/UPDATE statements: $3..$23 of both,
 * case_id to application_protocol (arena-owned). */
struct iv_params {
	const char *v[21];
};

static const char *iv_cents_text(struct http_req *req, bool has, int64_t cents)
{
	return has ? arena_printf(req->arena, "%lld", (long long)cents) : NULL;
}

/* Fills the 21 column values of in, from case_id to application_protocol. */
static void iv_params_fill(struct http_req *req, const struct iv_rec *in, struct iv_params *p)
{
	bool periodic = strcmp(in->nature, "periodic") == 0;
	const char *v[21] = {
	    in->case_id,
	    in->beneficiary_id,
	    in->service_tenant,
	    in->service_id,
	    in->nature,
	    periodic ? in->start_date : NULL,
	    periodic ? in->end_date : NULL,
	    periodic ? NULL : in->delivery_date,
	    iv_cents_text(req, periodic, in->monthly),
	    iv_cents_text(req, !periodic, in->total),
	    in->hours[0] ? in->hours : NULL,
	    arena_printf(req->arena, "%lld", in->means_test),
	    in->dsu,
	    iv_cents_text(req, in->has_share[SH_TENANT], in->share[SH_TENANT]),
	    iv_cents_text(req, in->has_share[SH_USER], in->share[SH_USER]),
	    iv_cents_text(req, in->has_share[SH_HEALTH], in->share[SH_HEALTH]),
	    in->management,
	    in->provider_id,
	    in->in_charge == 1 ? "true" : "false",
	    in->user_area > 0 ? arena_printf(req->arena, "%lld", in->user_area) : NULL,
	    in->application_protocol,
	};
	memcpy(p->v, v, sizeof v);
}

static const struct db_stmt st_insert = {
    "interventions_insert",
    "INSERT INTO intervention (tenant_id, id, case_id, beneficiary_id, service_tenant_id, "
    "service_id, nature, start_date, end_date, delivery_date, monthly_amount_cents, "
    "total_amount_cents, hours_per_month, means_test, dsu_protocol, share_tenant_cents, "
    "share_user_cents, share_health_cents, management, provider_id, in_charge, user_area, "
    "application_protocol, status, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, "
    "$7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, "
    "$25, $25)",
};

static const struct db_stmt st_update = {
    "interventions_update",
    "UPDATE intervention SET case_id = $3, end_date = $9, start_date = $8, "
    "delivery_date = $10, monthly_amount_cents = $11, total_amount_cents = $12, "
    "hours_per_month = $13, means_test = $14, dsu_protocol = $15, share_tenant_cents = $16, "
    "share_user_cents = $17, share_health_cents = $18, management = $19, provider_id = $20, "
    "in_charge = $21, user_area = $22, application_protocol = $23, status = $24, "
    "updated_by = $25, updated_at = now(), version = version + 1 "
    "WHERE tenant_id = $1 AND id = $2 AND version = $26 AND beneficiary_id = $4 "
    "AND service_tenant_id = $5 AND service_id = $6 AND nature = $7",
};

static const struct db_stmt st_funding_clear = {
    "interventions_funding_clear",
    "DELETE FROM intervention_funding WHERE tenant_id = $1 AND intervention_id = $2",
};

static const struct db_stmt st_funding_add = {
    "interventions_funding_add",
    "INSERT INTO intervention_funding (tenant_id, intervention_id, channel, amount_cents) "
    "VALUES ($1, $2, $3, $4)",
};

/* Writes the funding split of intervention id (replacing any). Returns a db_rc. */
static int iv_write_funding(struct http_req *req, const char *id, const struct iv_rec *in)
{
	const char *p[4] = {req->principal.tenant_id, id, NULL, NULL};
	int rc = db_exec(req->arena, &st_funding_clear, 2, p, NULL);
	for (size_t k = 0; rc == DB_OK && k < in->nparts; k++) {
		p[2] = in->part[k].channel;
		p[3] = arena_printf(req->arena, "%lld", (long long)in->part[k].cents);
		rc = p[3] ? db_exec(req->arena, &st_funding_add, 4, p, NULL) : DB_ERROR;
	}
	return rc;
}

/* Validates body as a whole intervention: a new one (cur_svc_tenant NULL),
 * or the merged result of a PATCH (cur_svc_tenant: the stored service's
 * tenant). Returns 0 when valid; 1 after replying (400 or 404); a negative
 * db_rc / CRYPT_INTEGRITY. */
static int iv_validate(struct http_req *req, json_t *body, const char *cur_svc_tenant,
                       struct iv_rec *in)
{
	json_t *errors = jsonx_errors_new();
	if (errors == NULL || arena_defer(req->arena, (void (*)(void *))json_decref, errors) != 0)
		return DB_ERROR;
	iv_parse(body, in, errors);
	if (!json_is_object(body)) {
		http_reply_validation(req, json_incref(errors));
		return 1;
	}
	int rc = iv_check_refs(req, in, cur_svc_tenant, errors);
	if (rc != 0)
		return rc;
	if (json_array_size(errors) > 0) {
		http_reply_validation(req, json_incref(errors));
		return 1;
	}
	return 0;
}

/* Answers a failed validation step: rc from iv_validate. */
static int iv_fail(struct http_req *req, int rc)
{
	if (rc == 1)
		return 0;
	if (rc == CRYPT_INTEGRITY)
		return http_reply_problem(req, PROBLEM_INTERNAL, NULL);
	return http_reply_db_error(req, rc);
}

/* POST /api/v1/interventions */
int api_intervention_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct iv_rec in;
	int rc = iv_validate(req, req->json, NULL, &in);
	if (rc != 0)
		return iv_fail(req, rc);
	if (strcmp(in.status, "cancelled") == 0) {
		json_t *errors = jsonx_errors_new();
		jsonx_error(errors, "status", "enum",
		            "un nuovo intervento è active, suspended o ended");
		return http_reply_validation(req, errors);
	}
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	struct iv_params ip;
	iv_params_fill(req, &in, &ip);
	const char *p[25];
	p[0] = req->principal.tenant_id;
	p[1] = id;
	memcpy(p + 2, ip.v, sizeof ip.v);
	p[23] = in.status;
	p[24] = req->principal.user_id[0] ? req->principal.user_id : NULL; /* NULL for a client */
	rc = db_exec(req->arena, &st_insert, 25, p, NULL);
	if (rc == DB_OK)
		rc = iv_write_funding(req, id, &in);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/interventions/%s", id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return iv_reply(req, id, 201);
}

/* GET /api/v1/interventions/{id} */
int api_intervention_read(struct http_req *req)
{
	return iv_reply(req, http_param(req, 0), 200);
}

/* The representation cur turned into a request body (new reference): the
 * writable properties only, service as its id. */
static json_t *iv_as_body(json_t *cur)
{
	static const char *const drop[] = {"id", "version", "created_at", "updated_at", NULL};
	json_t *b = json_deep_copy(cur);
	if (b == NULL)
		return NULL;
	for (size_t i = 0; drop[i]; i++)
		json_object_del(b, drop[i]);
	json_object_set(b, "service", json_object_get(json_object_get(cur, "service"), "id"));
	return b;
}

/* Applies patch to target as a JSON merge patch (RFC 7396): members replace,
 * objects merge member by member, arrays (funding) replace whole. null
 * stays null: the validation treats it as absent. */
static void iv_merge(json_t *target, json_t *patch)
{
	const char *key;
	json_t *value;
	json_object_foreach(patch, key, value)
	{
		json_t *old = json_object_get(target, key);
		if (json_is_object(value) && json_is_object(old))
			iv_merge(old, value);
		else
			json_object_set(target, key, value);
	}
}

/* Adds an error for each property of the erogazione's identity (beneficiary,
 * service, nature) that the body would change; r is the current row. */
static void iv_check_fixed(struct http_req *req, PGresult *r, json_t *current, json_t *errors)
{
	static const char *const fixed[] = {"beneficiary_id", "service", "nature", NULL};
	for (size_t i = 0; fixed[i]; i++) {
		json_t *given = json_object_get(req->json, fixed[i]);
		bool same = given == NULL || json_equal(given, json_object_get(current, fixed[i]));
		/* The service may be named by its code too. */
		if (!same && strcmp(fixed[i], "service") == 0 && json_is_string(given) &&
		    !PQgetisnull(r, 0, C_SVC_CODE))
			same = strcmp(json_string_value(given), PQgetvalue(r, 0, C_SVC_CODE)) == 0;
		if (!same)
			jsonx_error(errors, fixed[i], "immutable",
			            "non modificabile: annullare l'intervento (status cancelled) e "
			            "registrarne uno nuovo");
	}
}

/* PATCH /api/v1/interventions/{id}: amounts, dates, funding (the whole
 * split), status and the other writable fields; beneficiary, service and
 * nature are the identity of the erogazione and do not change. The merged
 * result is validated as a whole, like a new intervention. */
int api_intervention_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	/* Names and types first, against the body alone. */
	struct iv_rec patch;
	memset(&patch, 0, sizeof patch);
	json_t *shares = NULL, *funding = NULL;
	const char *hours = NULL, *monthly = NULL, *total = NULL;
	json_t *errors = jsonx_errors_new();
	iv_read_body(req->json, false, &patch, &shares, &funding, &hours, &monthly, &total, errors);
	if (json_object_size(req->json) == 0)
		jsonx_error(errors, "", "min_properties", "indicare almeno un campo da modificare");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	const char *id = http_param(req, 0);
	PGresult *r;
	int rc = iv_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *version = PQgetvalue(r, 0, C_VERSION);
	if (http_check_if_match(req, atoll(version)))
		return 0;
	json_t *cur = iv_json(req, r, 0);
	json_t *merged = cur ? iv_as_body(cur) : NULL;
	json_decref(cur);
	if (merged == NULL || arena_defer(req->arena, (void (*)(void *))json_decref, merged) != 0)
		return -1;
	errors = jsonx_errors_new();
	iv_check_fixed(req, r, merged, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	if (strcmp(PQgetvalue(r, 0, C_STATUS), "cancelled") == 0)
		return http_reply_problem(req, PROBLEM_CONFLICT,
		                          "L'intervento è annullato: non si può più modificare");

	iv_merge(merged, req->json);
	struct iv_rec in;
	rc = iv_validate(req, merged, PQgetvalue(r, 0, C_SVC_TENANT), &in);
	if (rc != 0)
		return iv_fail(req, rc);

	struct iv_params ip;
	iv_params_fill(req, &in, &ip);
	const char *p[26];
	p[0] = req->principal.tenant_id;
	p[1] = id;
	memcpy(p + 2, ip.v, sizeof ip.v);
	p[23] = in.status;
	p[24] = req->principal.user_id[0] ? req->principal.user_id : NULL; /* NULL for a client */
	p[25] = version;
	PGresult *ur;
	rc = db_exec(req->arena, &st_update, 26, p, &ur);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY; /* changed under us: the retry answers 412 */
	if (json_object_get(req->json, "funding") != NULL)
		rc = iv_write_funding(req, id, &in);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return iv_reply(req, id, 200);
}

/* ---------------------------------------------------------------- list */

/* The list with its optional filters. A list of one case's or one person's
 * interventions names that condition outright, in a statement of its own:
 * the generic plan PostgreSQL adopts for a prepared statement after a few
 * runs cannot tell that an optional filter is present, and would walk every
 * intervention of the tenant in date order. */
#define IV_LIST_FILTERS                                                                            \
	"AND ($2::date IS NULL OR (coalesce(i.start_date, i.delivery_date), i.id) < ($2, "         \
	"$3::uuid)) "                                                                              \
	"AND ($4::uuid IS NULL OR i.case_id = $4) "                                                \
	"AND ($5::uuid IS NULL OR i.beneficiary_id = $5) "                                         \
	"AND ($6::uuid IS NULL OR i.service_id = $6) "                                             \
	"AND ($7::text IS NULL OR i.status = $7) "                                                 \
	"AND ($8::date IS NULL OR coalesce(i.end_date, i.delivery_date, 'infinity') >= $8) "       \
	"AND ($9::date IS NULL OR coalesce(i.start_date, i.delivery_date) <= $9) "                 \
	"ORDER BY coalesce(i.start_date, i.delivery_date) DESC, i.id DESC LIMIT $10"
static const struct db_stmt st_list = {
    "interventions_list",
    "SELECT " IV_COLUMNS "WHERE i.tenant_id = $1 " IV_LIST_FILTERS,
};
static const struct db_stmt st_list_case = {
    "interventions_list_case",
    "SELECT " IV_COLUMNS "WHERE i.tenant_id = $1 AND i.case_id = $4 " IV_LIST_FILTERS,
};
static const struct db_stmt st_list_person = {
    "interventions_list_person",
    "SELECT " IV_COLUMNS "WHERE i.tenant_id = $1 AND i.beneficiary_id = $5 " IV_LIST_FILTERS,
};

static const struct db_stmt st_person_exists = {
    "interventions_person_exists",
    "SELECT 1 FROM person WHERE tenant_id = $1 AND id = $2",
};

static const struct db_stmt st_service_visible = {
    "interventions_service_visible",
    "SELECT 1 FROM service_catalogue s WHERE s.id = $2 AND (s.tenant_id = $1 OR "
    "s.tenant_id = (SELECT t.parent_id FROM tenant t WHERE t.id = $1))",
};

/* Checks an id filter: 400 when not a UUID, 404 naming it when the row is
 * not the tenant's. Returns 0 to go on, 1 after replying, HTTP_RETRY. */
static int iv_filter_id(struct http_req *req, const char *name, const struct db_stmt *st)
{
	const char *v = http_query(req, name);
	if (v == NULL)
		return 0;
	if (!util_is_uuid(v)) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                   arena_printf(req->arena, "%s deve essere un UUID", name));
		return 1;
	}
	PGresult *r;
	int rc = iv_lookup(req, st, v, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) == 0) {
		iv_not_found(req, name);
		return 1;
	}
	return 0;
}

/* GET /api/v1/interventions?case_id=&beneficiary_id=&service_id=&status=
 * &from=&to=&cursor=&limit= — most recent first (start or delivery date). */
int api_intervention_list(struct http_req *req)
{
	static const char *const statuses[] = {"active", "suspended", "ended", "cancelled", NULL};
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	bool bad;
	const char *cursor = api_cursor_decode(req, 64, &bad);
	const char *c_date = NULL, *c_id = NULL;
	if (cursor != NULL) {
		const char *bar = strchr(cursor, '|');
		c_date = bar ? arena_strndup(req->arena, cursor, (size_t)(bar - cursor)) : NULL;
		c_id = bar ? bar + 1 : NULL;
		bad = c_date == NULL || validate_date(c_date, NULL, NULL) != NULL ||
		      !util_is_uuid(c_id);
	}
	if (bad)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	const char *status = http_query(req, "status");
	if (status != NULL && !jsonx_in(status, statuses))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "status: uno tra active, suspended, ended, cancelled");
	const char *from = http_query(req, "from"), *to = http_query(req, "to");
	int32_t dfrom = 0, dto = 0;
	if (from != NULL && validate_date(from, &dfrom, NULL) != NULL)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "from: data AAAA-MM-GG");
	if (to != NULL && validate_date(to, &dto, NULL) != NULL)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "to: data AAAA-MM-GG");
	if (from != NULL && to != NULL && dto < dfrom)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "to precede from");
	int rc = iv_filter_id(req, "case_id", &st_case);
	if (rc == 0)
		rc = iv_filter_id(req, "beneficiary_id", &st_person_exists);
	if (rc == 0)
		rc = iv_filter_id(req, "service_id", &st_service_visible);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;

	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[10] = {req->principal.tenant_id,
	                     c_date,
	                     c_id,
	                     http_query(req, "case_id"),
	                     http_query(req, "beneficiary_id"),
	                     http_query(req, "service_id"),
	                     status,
	                     from,
	                     to,
	                     slimit};
	PGresult *r;
	const struct db_stmt *st = p[3] ? &st_list_case : p[4] ? &st_list_person : &st_list;
	rc = db_exec(req->arena, st, 10, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; items != NULL && i < rows && i < limit; i++) {
		if (http_audit_object(req, "intervention", PQgetvalue(r, i, C_ID)) != 0) {
			json_decref(items);
			return -1;
		}
		json_array_append_new(items, iv_json(req, r, i));
	}
	json_t *next = json_null();
	if (rows > limit) {
		char *last =
		    arena_printf(req->arena, "%s|%s", PQgetvalue(r, limit - 1, C_SORT_DATE),
		                 PQgetvalue(r, limit - 1, C_ID));
		json_decref(next);
		next = last ? api_cursor_encode(req->arena, last) : NULL;
	}
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}
