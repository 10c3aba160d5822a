/* /api/v1/providers: the bodies that deliver services for a tenant
 * (cooperatives, third-sector bodies, public and private bodies), optionally
 * as a regional unit of offer (CUDES code). Tenant-owned: another tenant's
 * provider does not exist for the caller (404). */
#include "api/api.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROVIDER_COLUMNS                                                                           \
	"id, name, tax_code, kind, cudes_code, version, "                                          \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "               \
	"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
enum { PV_ID, PV_NAME, PV_TAX, PV_KIND, PV_CUDES, PV_VERSION, PV_CREATED, PV_UPDATED };

static const struct db_stmt st_list = {
    "providers_list",
    "SELECT " PROVIDER_COLUMNS " FROM provider WHERE tenant_id = $1 "
    "AND ($2::text IS NULL OR (name, id) > ($2, $3::uuid)) "
    "AND ($4::text IS NULL OR tax_code = $4) AND ($5::text IS NULL OR kind = $5) "
    "ORDER BY name, id LIMIT $6",
};

static const struct db_stmt st_one = {
    "providers_one",
    "SELECT " PROVIDER_COLUMNS " FROM provider WHERE tenant_id = $1 AND id = $2",
};

static const struct db_stmt st_tax = {
    "providers_tax_code",
    "SELECT id FROM provider WHERE tenant_id = $1 AND tax_code = $2 "
    "AND ($3::uuid IS NULL OR id <> $3)",
};

static const struct db_stmt st_insert = {
    "providers_insert",
    "INSERT INTO provider (tenant_id, name, tax_code, kind, cudes_code, created_by, "
    "updated_by) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
};

static const struct db_stmt st_update = {
    "providers_update",
    "UPDATE provider SET name = $3, tax_code = $4, kind = $5, cudes_code = $6, "
    "updated_by = $7, updated_at = now(), version = version + 1 "
    "WHERE tenant_id = $1 AND id = $2 AND version = $8 RETURNING version",
};

static const char *const provider_kinds[] = {"third_sector", "public", "private", "cooperative",
                                             NULL};

/* The provider as the API shows it (new reference). */
static json_t *provider_json(PGresult *r, int i)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:s}", "id", PQgetvalue(r, i, PV_ID),
	                 "name", PQgetvalue(r, i, PV_NAME), "tax_code", PQgetvalue(r, i, PV_TAX),
	                 "kind", PQgetvalue(r, i, PV_KIND), "cudes_code",
	                 PQgetisnull(r, i, PV_CUDES) ? json_null()
	                                             : json_string(PQgetvalue(r, i, PV_CUDES)),
	                 "version", (json_int_t)atoll(PQgetvalue(r, i, PV_VERSION)), "created_at",
	                 PQgetvalue(r, i, PV_CREATED), "updated_at", PQgetvalue(r, i, PV_UPDATED));
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* A digit or its omocodia letter (LMNPQRSTUV). */
static bool is_omocode(char c)
{
	return is_digit(c) || (c != '\0' && strchr("LMNPQRSTUV", c) != NULL);
}

/* Upper-cases s into an arena copy and checks its syntax: a partita IVA (11
 * digits) or a codice fiscale (16 characters). Syntax only: check characters
 * are not verified (a provider's code comes from its own documents). */
static const char *tax_code_normalise(struct arena *a, const char *s, bool *ok)
{
	char *t = arena_strdup(a, s);
	*ok = false;
	if (t == NULL)
		return NULL;
	size_t n = strlen(t);
	for (size_t i = 0; i < n; i++)
		if (t[i] >= 'a' && t[i] <= 'z')
			t[i] = (char)(t[i] - 'a' + 'A');
	if (n == 11) {
		*ok = true;
		for (size_t i = 0; i < n; i++)
			*ok = *ok && is_digit(t[i]);
	} else if (n == 16) {
		/* AAAAAA 99 A 99 A 999 A, digits possibly in omocodia letters */
		static const char shape[] = "LLLLLLOOLOOLOOOL";
		*ok = true;
		for (size_t i = 0; i < n; i++)
			*ok = *ok && (shape[i] == 'L' ? is_upper(t[i]) : is_omocode(t[i]));
	}
	return t;
}

/* True when s is 6-12 digits (a CUDES code). */
static bool cudes_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 6 || n > 12)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* GET /api/v1/providers[?tax_code=&kind=&cursor=&limit=] (ordered by name) */
int api_provider_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	const char *tax = http_query(req, "tax_code"), *kind = http_query(req, "kind");
	if (kind != NULL && !jsonx_in(kind, provider_kinds))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "kind: third_sector, public, private o cooperative");
	if (tax != NULL) {
		bool ok;
		tax = tax_code_normalise(req->arena, tax, &ok);
		if (!ok)
			return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
			                          "tax_code: partita IVA (11 cifre) o codice "
			                          "fiscale (16 caratteri)");
	}
	bool bad;
	char *after = (char *)api_cursor_decode(req, UTIL_UUID_LEN + 1 + 800, &bad);
	const char *after_id = NULL;
	if (after != NULL) {
		if (strlen(after) < UTIL_UUID_LEN + 1 || after[UTIL_UUID_LEN] != '|') {
			bad = true;
		} else {
			after[UTIL_UUID_LEN] = '\0';
			after_id = after;
			after += UTIL_UUID_LEN + 1;
			bad = !util_is_uuid(after_id);
		}
	}
	if (bad)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[6] = {req->principal.tenant_id, after, after_id, tax, kind, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 6, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++)
		json_array_append_new(items, provider_json(r, i));
	json_t *next = NULL;
	if (rows > limit) {
		const char *last =
		    arena_printf(req->arena, "%s|%s", PQgetvalue(r, limit - 1, PV_ID),
		                 PQgetvalue(r, limit - 1, PV_NAME));
		if (last == NULL || (next = api_cursor_encode(req->arena, last)) == NULL) {
			json_decref(items);
			return -1;
		}
	}
	return http_reply_json(
	    req, 200,
	    json_pack("{s:o, s:o}", "items", items, "next_cursor", next ? next : json_null()));
}

/* Reads the provider {id} of the caller's tenant into *out (arena-owned).
 * Returns 0, 1 after replying (404 or an error), or HTTP_RETRY. */
static int provider_load(struct http_req *req, PGresult **out)
{
	const char *id = http_param(req, 0);
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_one, 2, p, out);
}

/* Replies with the provider {id} and its ETag. */
static int provider_reply(struct http_req *req, int status)
{
	PGresult *r;
	int rc = provider_load(req, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	http_set_etag(req, atoll(PQgetvalue(r, 0, PV_VERSION)));
	return http_reply_json(req, status, provider_json(r, 0));
}

/* GET /api/v1/providers/{id} */
int api_provider_read(struct http_req *req)
{
	return provider_reply(req, 200);
}

/* A provider's writable fields (borrowed strings; NULL = absent or null). */
struct provider_in {
	const char *name, *tax_code, *kind, *cudes_code;
	bool cudes_given;
};

/* Reads and checks the body; returns the number of errors appended. */
static size_t provider_read_body(struct http_req *req, bool create, struct provider_in *in,
                                 json_t *errors)
{
	const char *tax = NULL;
	bool cudes_present = false;
	unsigned req_flag = create ? JX_REQUIRED : 0;
	const struct jsonx_field spec[] = {
	    {"name", JX_STRING, req_flag, 1, 200, &in->name, NULL},
	    {"tax_code", JX_STRING, req_flag, 1, 16, &tax, NULL},
	    {"kind", JX_STRING, req_flag, 1, 16, &in->kind, NULL},
	    {"cudes_code", JX_STRING, JX_NULLABLE, 1, 12, &in->cudes_code, &cudes_present},
	};
	size_t before = json_array_size(errors);
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (tax != NULL) {
		bool ok;
		in->tax_code = tax_code_normalise(req->arena, tax, &ok);
		if (!ok)
			jsonx_error(errors, "tax_code", "pattern",
			            "partita IVA (11 cifre) o codice fiscale (16 caratteri)");
	}
	if (in->kind != NULL && !jsonx_in(in->kind, provider_kinds))
		jsonx_error(errors, "kind", "enum",
		            "valori ammessi: third_sector, public, private, cooperative");
	in->cudes_given = cudes_present || json_is_null(json_object_get(req->json, "cudes_code"));
	if (in->cudes_code != NULL && !cudes_ok(in->cudes_code))
		jsonx_error(errors, "cudes_code", "pattern", "da 6 a 12 cifre");
	return json_array_size(errors) - before;
}

/* Replies 409 naming the tenant's provider that already has tax_code (other
 * than except_id); returns 1 then, 0 when the code is free (or *rc fails). */
static int provider_tax_taken(struct http_req *req, const char *tax_code, const char *except_id,
                              int *rc)
{
	const char *p[3] = {req->principal.tenant_id, tax_code, except_id};
	PGresult *r;
	*rc = db_exec(req->arena, &st_tax, 3, p, &r);
	if (*rc != DB_OK || PQntuples(r) == 0)
		return 0;
	const char *id = PQgetvalue(r, 0, 0);
	http_add_header(req, "Location", arena_printf(req->arena, "/api/v1/providers/%s", id));
	http_reply_problem(req, PROBLEM_CONFLICT,
	                   arena_printf(req->arena,
	                                "partita IVA o codice fiscale già registrato: fornitore %s",
	                                id));
	return 1;
}

/* POST /api/v1/providers */
int api_provider_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct provider_in in = {0};
	json_t *errors = jsonx_errors_new();
	if (provider_read_body(req, true, &in, errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	int rc;
	if (provider_tax_taken(req, in.tax_code, NULL, &rc))
		return 0;
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[6] = {req->principal.tenant_id,
	                    in.name,
	                    in.tax_code,
	                    in.kind,
	                    in.cudes_code,
	                    req->principal.user_id[0] ? req->principal.user_id : NULL};
	PGresult *r;
	rc = db_exec(req->arena, &st_insert, 6, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	req->params[0] = arena_strdup(req->arena, PQgetvalue(r, 0, 0));
	char *loc = arena_printf(req->arena, "/api/v1/providers/%s", PQgetvalue(r, 0, 0));
	if (req->params[0] == NULL || loc == NULL)
		return -1;
	http_add_header(req, "Location", loc);
	return provider_reply(req, 201);
}

/* PATCH /api/v1/providers/{id} */
int api_provider_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct provider_in in = {0};
	json_t *errors = jsonx_errors_new();
	provider_read_body(req, false, &in, errors);
	if (json_object_size(req->json) == 0)
		jsonx_error(errors, "", "min_properties", "indicare almeno un campo da modificare");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	PGresult *cur;
	int lrc = provider_load(req, &cur);
	if (lrc != 0)
		return lrc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (http_check_if_match(req, atoll(PQgetvalue(cur, 0, PV_VERSION))))
		return 0;
	const char *id = PQgetvalue(cur, 0, PV_ID);
	int rc = DB_OK;
	if (in.tax_code != NULL && provider_tax_taken(req, in.tax_code, id, &rc))
		return 0;
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	const char *cudes =
	    in.cudes_given ? in.cudes_code
	                   : (PQgetisnull(cur, 0, PV_CUDES) ? NULL : PQgetvalue(cur, 0, PV_CUDES));
	const char *p[8] = {req->principal.tenant_id,
	                    id,
	                    in.name ? in.name : PQgetvalue(cur, 0, PV_NAME),
	                    in.tax_code ? in.tax_code : PQgetvalue(cur, 0, PV_TAX),
	                    in.kind ? in.kind : PQgetvalue(cur, 0, PV_KIND),
	                    cudes,
	                    req->principal.user_id[0] ? req->principal.user_id : NULL,
	                    PQgetvalue(cur, 0, PV_VERSION)};
	PGresult *r;
	rc = db_exec(req->arena, &st_update, 8, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_PRECONDITION_FAILED,
		                          "Rileggere la risorsa e ripetere la modifica");
	return provider_reply(req, 200);
}
