/* Answers several resources share: whether an id of a body or a filter
 * names a person or a household of the caller's tenant, the 404 that names
 * such a field, and the keyset cursor "YYYY-MM-DD_<uuid>" of the lists
 * ordered by date. */
#include "api/api.h"
#include "api/validate.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <string.h>

/* Replies 404 naming field (an id of a body or filter unknown in the tenant);
 * returns the handler's 0. */
int api_reply_not_found_field(struct http_req *req, const char *field)
{
	char *detail =
	    arena_printf(req->arena, "%s: nessuna risorsa con questo id nell'ente", field);
	return http_reply_problem_with(req, PROBLEM_NOT_FOUND, detail,
	                               json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "field", field,
	                                         "rule", "not_found", "message",
	                                         "nessuna risorsa con questo id nell'ente"));
}

/* Splits a keyset cursor "YYYY-MM-DD_<uuid>" (borrowed); the date is an
 * arena copy, the id points into cursor. Returns 0 or 1 after replying 400. */
int api_cursor_date_id(struct http_req *req, const char *cursor, const char **date, const char **id)
{
	*date = NULL;
	*id = NULL;
	if (cursor == NULL)
		return 0;
	int32_t days;
	if (strlen(cursor) != 10 + 1 + UTIL_UUID_LEN || cursor[10] != '_' ||
	    !util_is_uuid(cursor + 11)) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
		return 1;
	}
	char *d = arena_strndup(req->arena, cursor, 10);
	if (d == NULL || validate_date(d, &days, NULL) != NULL) {
		http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
		return 1;
	}
	*date = d;
	*id = cursor + 11;
	return 0;
}

static const struct db_stmt st_person_birth = {
    "lookup_person_birth",
    "SELECT id, birth_date_enc FROM person WHERE tenant_id = $1 AND id = $2",
};

/* Whether person id exists in the tenant; *birth_date (arena-owned) is the
 * decrypted birth date when asked for. Returns a db_rc or CRYPT_INTEGRITY. */
int api_person_lookup(struct http_req *req, const char *id, bool *found, const char **birth_date)
{
	*found = false;
	if (birth_date)
		*birth_date = NULL;
	if (!util_is_uuid(id))
		return DB_OK;
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_person_birth, 2, p, &r);
	if (rc != DB_OK || PQntuples(r) != 1)
		return rc;
	*found = true;
	if (birth_date == NULL || PQgetisnull(r, 0, 1))
		return DB_OK;
	struct crypt_ctx ctx = {"person", "birth_date", req->principal.tenant_id,
	                        PQgetvalue(r, 0, 0)};
	size_t len;
	return crypt_decrypt(req->arena, &ctx, PQgetvalue(r, 0, 1), birth_date, &len);
}

static const struct db_stmt st_hh_exists = {
    "lookup_household_exists",
    "SELECT 1 FROM household WHERE tenant_id = $1 AND id = $2",
};

/* Whether household id exists in the tenant. Returns a db_rc. */
int api_household_lookup(struct http_req *req, const char *id, bool *found)
{
	*found = false;
	if (!util_is_uuid(id))
		return DB_OK;
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_hh_exists, 2, p, &r);
	if (rc == DB_OK)
		*found = PQntuples(r) == 1;
	return rc;
}
