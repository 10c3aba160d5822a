/* /api/v1/catalogue: the code lists (reference data every role reads), and
 * /api/v1/services: the local service catalogue. An Ambito's services are
 * shared with its Comuni (row-level security lets a Comune read its own rows
 * and its Ambito's); each tenant's admin writes only its own rows. Also the
 * helpers other resources share: opaque cursors and code-list lookups. */
#include "api/api.h"
#include "api/validate.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Borrows req; the result is arena-owned. */
const char *api_cursor_decode(struct http_req *req, size_t max, bool *bad)
{
	const char *c = http_query(req, "cursor");
	*bad = false;
	if (c == NULL)
		return NULL;
	size_t cap = strlen(c) + 1;
	unsigned char *out = arena_alloc(req->arena, cap);
	size_t len = 0;
	if (out == NULL ||
	    sodium_base642bin(out, cap, c, strlen(c), NULL, &len, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    len == 0 || len > max || memchr(out, '\0', len) != NULL) {
		*bad = true;
		return NULL;
	}
	out[len] = '\0';
	return (const char *)out;
}

/* Borrows s; returns a new JSON string (the encoded cursor) or NULL. */
json_t *api_cursor_encode(struct arena *a, const char *s)
{
	size_t len = strlen(s);
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *enc = arena_alloc(a, cap);
	if (enc == NULL)
		return NULL;
	util_b64url_encode((const unsigned char *)s, len, enc, cap);
	return json_string(enc);
}

static const struct db_stmt st_code_state = {
    "code_state",
    "SELECT valid_to IS NULL FROM code WHERE list = $1 AND code = $2",
};

/* Borrows everything. */
int api_code_check(struct http_req *req, json_t *errors, const char *field, const char *list,
                   const char *code)
{
	const char *p[2] = {list, code};
	PGresult *r;
	int rc = db_exec(req->arena, &st_code_state, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	const char *msg = NULL;
	if (PQntuples(r) == 0)
		msg = arena_printf(req->arena, "codice sconosciuto nella lista %s", list);
	else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		msg = arena_printf(req->arena, "codice non più in vigore nella lista %s", list);
	if (msg != NULL)
		jsonx_error(errors, field, "unknown", msg);
	return DB_OK;
}

/* A nullable text column as JSON (new reference). */
static json_t *column_json(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

/* ---------------------------------------------------------------- code lists */

static const struct db_stmt st_lists = {
    "catalogue_lists",
    "SELECT l.name, l.version, "
    "(SELECT count(*) FROM code c WHERE c.list = l.name AND c.valid_to IS NULL) "
    "FROM code_list l ORDER BY l.name",
};

/* GET /api/v1/catalogue: every list with its version and its codes in force. */
int api_catalogue_index(struct http_req *req)
{
	PGresult *r;
	int rc = db_exec(req->arena, &st_lists, 0, NULL, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(items,
		                      json_pack("{s:s, s:I, s:I}", "name", PQgetvalue(r, i, 0),
		                                "version", (json_int_t)atoll(PQgetvalue(r, i, 1)),
		                                "count", (json_int_t)atoll(PQgetvalue(r, i, 2))));
	return http_reply_json(req, 200, json_pack("{s:o, s:n}", "items", items, "next_cursor"));
}

static const struct db_stmt st_list_head = {
    "catalogue_list_head",
    "SELECT version FROM code_list WHERE name = $1",
};

static const struct db_stmt st_list_codes = {
    "catalogue_list_codes",
    "SELECT code, label_it, to_char(valid_from, 'YYYY-MM-DD'), to_char(valid_to, 'YYYY-MM-DD'), "
    "attrs::text FROM code WHERE list = $1 AND ($2::date IS NULL OR "
    "((valid_from IS NULL OR valid_from <= $2::date) AND "
    "(valid_to IS NULL OR valid_to >= $2::date))) ORDER BY position, code",
};

/* GET /api/v1/catalogue/{list}[?valid_on=YYYY-MM-DD]: the list's codes, closed
 * ones included (old records point at them) unless valid_on filters. */
int api_catalogue_read(struct http_req *req)
{
	const char *name = http_param(req, 0);
	const char *valid_on = http_query(req, "valid_on");
	if (valid_on != NULL && validate_date(valid_on, NULL, NULL) != NULL)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "valid_on deve essere una data esistente AAAA-MM-GG");
	if (name == NULL || strlen(name) > 64)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	PGresult *head, *r;
	const char *p[2] = {name, valid_on};
	int rc = db_exec(req->arena, &st_list_head, 1, p, &head);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(head) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, "lista di codici sconosciuta");
	rc = db_exec(req->arena, &st_list_codes, 2, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *attrs = json_loads(PQgetvalue(r, i, 4), 0, NULL);
		json_array_append_new(
		    items,
		    json_pack("{s:s, s:s, s:o, s:o, s:o}", "code", PQgetvalue(r, i, 0), "label_it",
		              PQgetvalue(r, i, 1), "valid_from", column_json(r, i, 2), "valid_to",
		              column_json(r, i, 3), "attrs", attrs ? attrs : json_object()));
	}
	return http_reply_json(req, 200,
	                       json_pack("{s:s, s:I, s:o}", "name", name, "version",
	                                 (json_int_t)atoll(PQgetvalue(head, 0, 0)), "items",
	                                 items));
}

/* ---------------------------------------------------------------- services */

#define SERVICE_COLUMNS                                                                            \
	"id, tenant_id, code, name, inps_code, isee_linked, export_only_if_in_charge, "            \
	"never_export, istat_area, regional_area, nature, active, version, "                       \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "               \
	"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
enum {
	SC_ID,
	SC_TENANT,
	SC_CODE,
	SC_NAME,
	SC_INPS,
	SC_ISEE,
	SC_IN_CHARGE,
	SC_NEVER,
	SC_ISTAT,
	SC_REGIONAL,
	SC_NATURE,
	SC_ACTIVE,
	SC_VERSION,
	SC_CREATED,
	SC_UPDATED
};

/* Rows the caller's tenant may read: its own and its Ambito's (the same
 * rule as the row-level security policy, stated again in the query). */
#define SERVICE_VISIBLE                                                                            \
	"(tenant_id = $1 OR tenant_id = (SELECT t.parent_id FROM tenant t WHERE t.id = $1))"

static const struct db_stmt st_svc_list = {
    "services_list",
    "SELECT " SERVICE_COLUMNS " FROM service_catalogue WHERE " SERVICE_VISIBLE
    " AND ($2::text IS NULL OR (code, id) > ($2, $3::uuid)) "
    " AND ($4::boolean IS NULL OR active = $4) ORDER BY code, id LIMIT $5",
};

static const struct db_stmt st_svc_one = {
    "services_one",
    "SELECT " SERVICE_COLUMNS " FROM service_catalogue WHERE " SERVICE_VISIBLE " AND id = $2",
};

static const struct db_stmt st_svc_code = {
    "services_code",
    "SELECT id FROM service_catalogue WHERE tenant_id = $1 AND code = $2 "
    "AND ($3::uuid IS NULL OR id <> $3)",
};

static const struct db_stmt st_svc_insert = {
    "services_insert",
    "INSERT INTO service_catalogue (tenant_id, code, name, inps_code, isee_linked, "
    "export_only_if_in_charge, never_export, istat_area, regional_area, nature, active, "
    "created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) "
    "RETURNING id",
};

static const struct db_stmt st_svc_update = {
    "services_update",
    "UPDATE service_catalogue SET code = $3, name = $4, inps_code = $5, isee_linked = $6, "
    "export_only_if_in_charge = $7, never_export = $8, istat_area = $9, regional_area = $10, "
    "nature = $11, active = $12, updated_by = $13, updated_at = now(), version = version + 1 "
    "WHERE tenant_id = $1 AND id = $2 AND version = $14 RETURNING version",
};

/* The service as the API shows it, from a row of SERVICE_COLUMNS. */
static json_t *service_json(PGresult *r, int i)
{
#define B(c) (strcmp(PQgetvalue(r, i, (c)), "t") == 0)
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:s, s:s, s:s, s:b, s:I, s:s, "
	    "s:s}",
	    "id", PQgetvalue(r, i, SC_ID), "tenant_id", PQgetvalue(r, i, SC_TENANT), "code",
	    PQgetvalue(r, i, SC_CODE), "name", PQgetvalue(r, i, SC_NAME), "inps_code",
	    column_json(r, i, SC_INPS), "isee_linked", B(SC_ISEE), "export_only_if_in_charge",
	    B(SC_IN_CHARGE), "never_export", B(SC_NEVER), "istat_area", PQgetvalue(r, i, SC_ISTAT),
	    "regional_area", PQgetvalue(r, i, SC_REGIONAL), "nature", PQgetvalue(r, i, SC_NATURE),
	    "active", B(SC_ACTIVE), "version", (json_int_t)atoll(PQgetvalue(r, i, SC_VERSION)),
	    "created_at", PQgetvalue(r, i, SC_CREATED), "updated_at", PQgetvalue(r, i, SC_UPDATED));
#undef B
}

/* GET /api/v1/services[?active=true|false&cursor=&limit=] */
int api_service_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	const char *active = http_query(req, "active");
	if (active != NULL && strcmp(active, "true") != 0 && strcmp(active, "false") != 0)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "active deve essere true o false");
	bool bad;
	char *after = (char *)api_cursor_decode(req, 32 + 1 + UTIL_UUID_LEN, &bad);
	const char *after_id = NULL;
	if (after != NULL) {
		size_t n = strlen(after);
		if (n < UTIL_UUID_LEN + 2 || after[n - UTIL_UUID_LEN - 1] != '|' ||
		    !util_is_uuid(after + n - UTIL_UUID_LEN))
			bad = true;
		else {
			after[n - UTIL_UUID_LEN - 1] = '\0';
			after_id = after + n - UTIL_UUID_LEN;
		}
	}
	if (bad)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[5] = {req->principal.tenant_id, after, after_id, active, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_svc_list, 5, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++)
		json_array_append_new(items, service_json(r, i));
	json_t *next = NULL;
	if (rows > limit) {
		const char *last =
		    arena_printf(req->arena, "%s|%s", PQgetvalue(r, limit - 1, SC_CODE),
		                 PQgetvalue(r, limit - 1, SC_ID));
		if (last == NULL || (next = api_cursor_encode(req->arena, last)) == NULL) {
			json_decref(items);
			return -1;
		}
	}
	return http_reply_json(
	    req, 200,
	    json_pack("{s:o, s:o}", "items", items, "next_cursor", next ? next : json_null()));
}

/* Reads the service {id} (params[0]) as the caller's tenant sees it into
 * *out (arena-owned). Returns 0, or 1 after replying 404 / an error, or
 * HTTP_RETRY. */
static int service_load(struct http_req *req, PGresult **out)
{
	const char *id = http_param(req, 0);
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_svc_one, 2, p, out);
}

/* Replies with the service {id} and its ETag. */
static int service_reply(struct http_req *req, int status)
{
	PGresult *r;
	int rc = service_load(req, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	http_set_etag(req, atoll(PQgetvalue(r, 0, SC_VERSION)));
	return http_reply_json(req, status, service_json(r, 0));
}

/* GET /api/v1/services/{id} */
int api_service_read(struct http_req *req)
{
	return service_reply(req, 200);
}

/* A service's writable fields; strings are borrowed (JSON, arena or row). */
struct service_in {
	const char *code, *name, *inps_code, *istat_area, *regional_area, *nature;
	int isee_linked, export_only_if_in_charge, never_export, active; /* 0/1, -1 absent */
	bool code_given, inps_given, istat_given, regional_given;
};

static const char *const service_natures[] = {"periodic", "one_off", "both", NULL};

/* Reads the body into *in (fields absent stay as they are) and checks each
 * given field on its own. Returns the number of errors appended. */
static size_t service_read_body(struct http_req *req, bool create, struct service_in *in,
                                json_t *errors)
{
	const char *code = NULL, *name = NULL, *inps = NULL, *istat = NULL, *regional = NULL,
	           *nature = NULL;
	bool inps_present = false;
	unsigned req_flag = create ? JX_REQUIRED : 0;
	const struct jsonx_field spec[] = {
	    {"code", JX_STRING, req_flag, 1, 32, &code, NULL},
	    {"name", JX_STRING, req_flag, 1, 200, &name, NULL},
	    {"inps_code", JX_STRING, JX_NULLABLE, 1, 32, &inps, &inps_present},
	    {"isee_linked", JX_BOOL, 0, 0, 0, &in->isee_linked, NULL},
	    {"export_only_if_in_charge", JX_BOOL, 0, 0, 0, &in->export_only_if_in_charge, NULL},
	    {"never_export", JX_BOOL, 0, 0, 0, &in->never_export, NULL},
	    {"istat_area", JX_STRING, req_flag, 1, 32, &istat, NULL},
	    {"regional_area", JX_STRING, req_flag, 1, 32, &regional, NULL},
	    {"nature", JX_STRING, req_flag, 1, 16, &nature, NULL},
	    {"active", JX_BOOL, 0, 0, 0, &in->active, NULL},
	};
	size_t before = json_array_size(errors);
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (code != NULL) {
		char *up = arena_strdup(req->arena, code);
		bool ok = up != NULL;
		for (size_t i = 0; ok && up[i]; i++) {
			char c = up[i];
			if (c >= 'a' && c <= 'z')
				up[i] = c = (char)(c - 'a' + 'A');
			ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     (i > 0 && (c == '.' || c == '_' || c == '-'));
		}
		if (!ok)
			jsonx_error(
			    errors, "code", "pattern",
			    "1-32 caratteri: lettere, cifre, punto, trattino, trattino basso; "
			    "inizia con lettera o cifra");
		in->code = up;
		in->code_given = true;
	}
	if (name != NULL)
		in->name = name;
	if (inps_present || json_is_null(json_object_get(req->json, "inps_code"))) {
		in->inps_code = inps; /* NULL when null */
		in->inps_given = true;
	}
	if (istat != NULL) {
		in->istat_area = istat;
		in->istat_given = true;
	}
	if (regional != NULL) {
		in->regional_area = regional;
		in->regional_given = true;
	}
	if (nature != NULL) {
		if (!jsonx_in(nature, service_natures))
			jsonx_error(errors, "nature", "enum",
			            "valori ammessi: periodic, one_off, both");
		in->nature = nature;
	}
	return json_array_size(errors) - before;
}

/* Checks the service as it would be stored: codes known and in force, the
 * export flags consistent. Returns DB_OK (errors appended) or a db_rc. */
static int service_check(struct http_req *req, const struct service_in *in, json_t *errors)
{
	int rc = DB_OK;
	if (in->inps_given && in->inps_code != NULL)
		rc = api_code_check(req, errors, "inps_code", "inps-prestazioni", in->inps_code);
	if (rc == DB_OK && in->istat_given)
		rc = api_code_check(req, errors, "istat_area", "istat-user-areas", in->istat_area);
	if (rc == DB_OK && in->regional_given)
		rc = api_code_check(req, errors, "regional_area", "regional-spending-areas",
		                    in->regional_area);
	if (rc != DB_OK)
		return rc;
	if (in->inps_code == NULL && in->never_export != 1)
		jsonx_error(errors, "inps_code", "required",
		            "obbligatorio, salvo per i servizi mai esportati (never_export)");
	if (in->never_export == 1 && in->export_only_if_in_charge == 1)
		jsonx_error(errors, "export_only_if_in_charge", "conflict",
		            "incompatibile con never_export: un servizio mai esportato non ha "
		            "condizioni di esportazione");
	return DB_OK;
}

/* Replies 409 naming the service of the tenant that already has in->code
 * (other than except_id); returns 1 then, 0 when the code is free. */
static int service_code_taken(struct http_req *req, const char *code, const char *except_id,
                              int *rc)
{
	const char *p[3] = {req->principal.tenant_id, code, except_id};
	PGresult *r;
	*rc = db_exec(req->arena, &st_svc_code, 3, p, &r);
	if (*rc != DB_OK || PQntuples(r) == 0)
		return 0;
	char *detail =
	    arena_printf(req->arena, "codice già usato dal servizio %s", PQgetvalue(r, 0, 0));
	http_add_header(req, "Location",
	                arena_printf(req->arena, "/api/v1/services/%s", PQgetvalue(r, 0, 0)));
	http_reply_problem(req, PROBLEM_CONFLICT, detail);
	return 1;
}

static const char *bool_text(int v)
{
	return v == 1 ? "true" : "false";
}

/* POST /api/v1/services */
int api_service_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct service_in in = {
	    .isee_linked = -1, .export_only_if_in_charge = -1, .never_export = -1, .active = -1};
	json_t *errors = jsonx_errors_new();
	service_read_body(req, true, &in, errors);
	in.inps_given = true; /* absent means null on create */
	int rc = service_check(req, &in, errors);
	if (rc != DB_OK) {
		json_decref(errors);
		return http_reply_db_error(req, rc);
	}
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	if (service_code_taken(req, in.code, NULL, &rc))
		return 0;
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[12] = {req->principal.tenant_id,
	                     in.code,
	                     in.name,
	                     in.inps_code,
	                     bool_text(in.isee_linked),
	                     bool_text(in.export_only_if_in_charge),
	                     bool_text(in.never_export),
	                     in.istat_area,
	                     in.regional_area,
	                     in.nature,
	                     in.active == 0 ? "false" : "true",
	                     req->principal.user_id[0] ? req->principal.user_id : NULL};
	PGresult *r;
	rc = db_exec(req->arena, &st_svc_insert, 12, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	req->params[0] = arena_strdup(req->arena, PQgetvalue(r, 0, 0));
	char *loc = arena_printf(req->arena, "/api/v1/services/%s", PQgetvalue(r, 0, 0));
	if (req->params[0] == NULL || loc == NULL)
		return -1;
	http_add_header(req, "Location", loc);
	return service_reply(req, 201);
}

/* PATCH /api/v1/services/{id}: only the caller's tenant's own services. */
int api_service_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct service_in in = {
	    .isee_linked = -1, .export_only_if_in_charge = -1, .never_export = -1, .active = -1};
	json_t *errors = jsonx_errors_new();
	service_read_body(req, false, &in, errors);
	if (json_object_size(req->json) == 0)
		jsonx_error(errors, "", "min_properties", "indicare almeno un campo da modificare");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);

	PGresult *cur;
	int lrc = service_load(req, &cur);
	if (lrc != 0) {
		json_decref(errors);
		return lrc == HTTP_RETRY ? HTTP_RETRY : 0;
	}
	if (strcmp(PQgetvalue(cur, 0, SC_TENANT), req->principal.tenant_id) != 0) {
		json_decref(errors);
		return http_reply_problem(req, PROBLEM_FORBIDDEN,
		                          "il servizio appartiene all'Ambito: lo modifica un "
		                          "amministratore dell'Ambito");
	}
	/* Merge: what the body does not give stays as stored. */
#define KEEP_S(f, col)                                                                             \
	if (in.f == NULL && !PQgetisnull(cur, 0, col))                                             \
	in.f = PQgetvalue(cur, 0, col)
#define KEEP_B(f, col)                                                                             \
	if (in.f < 0)                                                                              \
	in.f = strcmp(PQgetvalue(cur, 0, col), "t") == 0
	KEEP_S(code, SC_CODE);
	KEEP_S(name, SC_NAME);
	if (!in.inps_given)
		KEEP_S(inps_code, SC_INPS);
	KEEP_S(istat_area, SC_ISTAT);
	KEEP_S(regional_area, SC_REGIONAL);
	KEEP_S(nature, SC_NATURE);
	KEEP_B(isee_linked, SC_ISEE);
	KEEP_B(export_only_if_in_charge, SC_IN_CHARGE);
	KEEP_B(never_export, SC_NEVER);
	KEEP_B(active, SC_ACTIVE);
#undef KEEP_S
#undef KEEP_B
	int rc = service_check(req, &in, errors);
	if (rc != DB_OK) {
		json_decref(errors);
		return http_reply_db_error(req, rc);
	}
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	if (http_check_if_match(req, atoll(PQgetvalue(cur, 0, SC_VERSION))))
		return 0;
	const char *id = PQgetvalue(cur, 0, SC_ID);
	if (in.code_given && service_code_taken(req, in.code, id, &rc))
		return 0;
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[14] = {req->principal.tenant_id,
	                     id,
	                     in.code,
	                     in.name,
	                     in.inps_code,
	                     bool_text(in.isee_linked),
	                     bool_text(in.export_only_if_in_charge),
	                     bool_text(in.never_export),
	                     in.istat_area,
	                     in.regional_area,
	                     in.nature,
	                     bool_text(in.active),
	                     req->principal.user_id[0] ? req->principal.user_id : NULL,
	                     PQgetvalue(cur, 0, SC_VERSION)};
	PGresult *r;
	rc = db_exec(req->arena, &st_svc_update, 14, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_PRECONDITION_FAILED,
		                          "Rileggere la risorsa e ripetere la modifica");
	return service_reply(req, 200);
}
