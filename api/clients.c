/* /api/v1/clients: the tenant's integration clients (admin). A client holds
 * scopes (auth/policy.c) and authenticates with HTTP Basic (auth/client.c);
 * its secret appears in the answer that creates or rotates it, and never
 * again. */
#include "api/api.h"
#include "auth/client.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_NAME_MAX 100
#define TS(col)         "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define CLIENT_SELECT                                                                              \
	"SELECT id, name, scopes, enabled, version, " TS("created_at") ", created_by, " TS(        \
	    "secret_rotated_at") ", " TS("last_used_at") ", lower(name) FROM api_client "          \
	                                                 "WHERE tenant_id = $1 "

static const struct db_stmt st_list = {
    "clients_list",
    CLIENT_SELECT "AND ($2::text IS NULL OR lower(name) > $2) ORDER BY lower(name) LIMIT $3",
};

static const struct db_stmt st_one = {
    "clients_one",
    CLIENT_SELECT "AND id = $2",
};

static const struct db_stmt st_insert = {
    "clients_insert",
    "INSERT INTO api_client (tenant_id, id, name, scopes, secret_hash, created_by, updated_by) "
    "VALUES ($1, $2, $3, $4::text[], decode($5, 'hex'), $6, $6)",
};

static const struct db_stmt st_update = {
    "clients_update",
    "UPDATE api_client SET name = coalesce($3, name), scopes = coalesce($4::text[], scopes), "
    "enabled = coalesce($5::boolean, enabled), "
    "secret_hash = coalesce(decode($6, 'hex'), secret_hash), "
    "secret_rotated_at = CASE WHEN $6 IS NULL THEN secret_rotated_at ELSE now() END, "
    "version = version + 1, updated_at = now(), updated_by = $7 "
    "WHERE tenant_id = $1 AND id = $2",
};

/* The scopes of a text[] value as a JSON array, in the policy's order. */
static json_t *client_scopes_json(uint32_t scopes)
{
	json_t *a = json_array();
	for (unsigned i = 0; a != NULL && policy_scopes[i].name != NULL; i++)
		if (scopes & policy_scopes[i].bit)
			json_array_append_new(a, json_string(policy_scopes[i].name));
	return a;
}

/* The client as the API shows it, from row of a CLIENT_SELECT result. */
static json_t *client_json(PGresult *r, int row)
{
#define COL_OR_NULL(c) (PQgetisnull(r, row, (c)) ? NULL : PQgetvalue(r, row, (c)))
	return json_pack("{s:s, s:s, s:o, s:b, s:s, s:s?, s:s, s:s?, s:I}", "id",
	                 PQgetvalue(r, row, 0), "name", PQgetvalue(r, row, 1), "scopes",
	                 client_scopes_json(policy_scopes_from_array(PQgetvalue(r, row, 2))),
	                 "enabled", strcmp(PQgetvalue(r, row, 3), "t") == 0, "created_at",
	                 PQgetvalue(r, row, 5), "created_by", COL_OR_NULL(6), "secret_rotated_at",
	                 PQgetvalue(r, row, 7), "last_used_at", COL_OR_NULL(8), "version",
	                 (json_int_t)atoll(PQgetvalue(r, row, 4)));
#undef COL_OR_NULL
}

/* GET /api/v1/clients */
int api_client_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	bool bad;
	const char *after = api_cursor_decode(req, 4 * CLIENT_NAME_MAX, &bad);
	if (bad)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[3] = {req->principal.tenant_id, after, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_list, 3, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; items != NULL && i < rows && i < limit; i++)
		json_array_append_new(items, client_json(r, i));
	json_t *next =
	    rows > limit ? api_cursor_encode(req->arena, PQgetvalue(r, limit - 1, 9)) : json_null();
	if (items == NULL || next == NULL) {
		json_decref(items);
		json_decref(next);
		return -1;
	}
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}

/* Reads the client {id} of the caller's tenant into *out (arena-owned);
 * replies 404 and returns 1 when there is none, HTTP_RETRY to retry. */
static int client_load(struct http_req *req, PGresult **out)
{
	const char *p[2] = {req->principal.tenant_id, http_param(req, 0)};
	return api_load_row(req, &st_one, 2, p, out);
}

/* Replies with the client {id} and its ETag; with secret (borrowed, may be
 * NULL) added when it was just made. */
static int client_reply(struct http_req *req, int status, const char *secret)
{
	PGresult *r;
	int rc = client_load(req, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	json_t *body = client_json(r, 0);
	if (body == NULL)
		return -1;
	if (secret != NULL && json_object_set_new(body, "secret", json_string(secret)) != 0) {
		json_decref(body);
		return -1;
	}
	http_set_etag(req, atoll(PQgetvalue(r, 0, 4)));
	return http_reply_json(req, status, body);
}

/* GET /api/v1/clients/{id} */
int api_client_read(struct http_req *req)
{
	return client_reply(req, 200, NULL);
}

/* Validates a "scopes" array (borrowed); appends errors. Returns the
 * scopes as a PostgreSQL text[] literal (arena-owned), or NULL on OOM. */
static const char *client_scopes_parse(struct http_req *req, json_t *arr, json_t *errors)
{
	uint32_t bits =
	    api_names_to_bits(arr, "scopes", policy_scope_bit,
	                      "scope sconosciuto: siuss, persons.read, "
	                      "interventions.read, interventions.write o catalogue.read",
	                      errors);
	char *lit = arena_strdup(req->arena, "{");
	for (unsigned s = 0; lit != NULL && policy_scopes[s].name != NULL; s++)
		if (bits & policy_scopes[s].bit)
			lit = arena_printf(req->arena, "%s%s%s", lit, lit[1] ? "," : "",
			                   policy_scopes[s].name);
	return lit ? arena_printf(req->arena, "%s}", lit) : NULL;
}

/* Answers a create or update that ended with db_rc rc: 409 on a taken
 * name, the db error, or the client with secret (borrowed, may be NULL). */
static int client_written(struct http_req *req, int rc, int status, const char *secret)
{
	if (rc == DB_UNIQUE)
		return http_reply_problem(req, PROBLEM_CONFLICT,
		                          "name: esiste già un client con questo nome");
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return client_reply(req, status, secret);
}

/* Sets {id} to id (copied) and Location; returns 0 or -1 (OOM). */
static int client_locate(struct http_req *req, const char *id)
{
	req->params[0] = arena_strdup(req->arena, id);
	char *loc = arena_printf(req->arena, "/api/v1/clients/%s", id);
	if (req->params[0] == NULL || loc == NULL)
		return -1;
	return http_add_header(req, "Location", loc);
}

/* POST /api/v1/clients {name, scopes}: answers 201 with the secret. */
int api_client_create(struct http_req *req)
{
	const char *name = NULL, *scopes_lit = NULL;
	json_t *scopes_arr = NULL;
	const struct jsonx_field spec[] = {
	    {"name", JX_STRING, JX_REQUIRED, 1, CLIENT_NAME_MAX, &name, NULL},
	    {"scopes", JX_ARRAY, JX_REQUIRED, 1, 8, &scopes_arr, NULL},
	};
	if (api_require_body(req))
		return 0;
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (scopes_arr)
		scopes_lit = client_scopes_parse(req, scopes_arr, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	if (scopes_lit == NULL)
		return -1;

	char id[UTIL_UUID_LEN + 1], secret[CLIENT_SECRET_LEN + 1], hash[CLIENT_HASH_HEX];
	util_uuid_v4(id);
	int rc = client_secret_new(req->arena, req->principal.tenant_id, id, secret, hash);
	const char *p[6] = {req->principal.tenant_id,
	                    id,
	                    name,
	                    scopes_lit,
	                    hash,
	                    req->principal.user_id[0] ? req->principal.user_id : NULL};
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_insert, 6, p, NULL);
	if (rc == DB_OK && client_locate(req, id) != 0)
		rc = -1;
	else
		rc = client_written(req, rc, 201, secret);
	sodium_memzero(secret, sizeof secret);
	return rc;
}

/* PATCH /api/v1/clients/{id} {name?, scopes?, enabled?, rotate_secret?}
 * with If-Match. A rotation answers the new secret; the old one stops
 * working at once. */
int api_client_update(struct http_req *req)
{
	const char *name = NULL, *scopes_lit = NULL;
	json_t *scopes_arr = NULL;
	int enabled = -1, rotate = -1;
	const struct jsonx_field spec[] = {
	    {"name", JX_STRING, 0, 1, CLIENT_NAME_MAX, &name, NULL},
	    {"scopes", JX_ARRAY, 0, 1, 8, &scopes_arr, NULL},
	    {"enabled", JX_BOOL, 0, 0, 0, &enabled, NULL},
	    {"rotate_secret", JX_BOOL, 0, 0, 0, &rotate, NULL},
	};
	if (api_require_body(req))
		return 0;
	json_t *errors = jsonx_errors_new();
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (scopes_arr)
		scopes_lit = client_scopes_parse(req, scopes_arr, errors);
	if (rotate == 0)
		jsonx_error(errors, "rotate_secret", "enum",
		            "rotate_secret: solo true (per non ruotare, ometterlo)");
	if (json_object_size(req->json) == 0)
		jsonx_error(errors, "", "min_properties",
		            "indicare almeno uno tra name, scopes, enabled, rotate_secret");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	if (scopes_arr && scopes_lit == NULL)
		return -1;

	PGresult *r;
	int rc = client_load(req, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (http_check_if_match(req, atoll(PQgetvalue(r, 0, 4))))
		return 0;
	const char *id = PQgetvalue(r, 0, 0);
	char secret[CLIENT_SECRET_LEN + 1] = "", hash[CLIENT_HASH_HEX] = "";
	rc = DB_OK;
	if (rotate == 1)
		rc = client_secret_new(req->arena, req->principal.tenant_id, id, secret, hash);
	const char *en = enabled < 0 ? NULL : enabled ? "true" : "false";
	const char *p[7] = {req->principal.tenant_id,
	                    id,
	                    name,
	                    scopes_lit,
	                    en,
	                    rotate == 1 ? hash : NULL,
	                    req->principal.user_id[0] ? req->principal.user_id : NULL};
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_update, 7, p, NULL);
	rc = client_written(req, rc, 200, rotate == 1 ? secret : NULL);
	sodium_memzero(secret, sizeof secret);
	return rc;
}
