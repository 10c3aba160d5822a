/* GET /api/v1/persons/{id}/history: a person's rectifications (GDPR art.
 * 16), newest first, each with the values it replaced, why and by whom. The
 * previous values and the reason are stored encrypted (persons.c writes
 * them). */
#include "api/api.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <stdlib.h>
#include <string.h>

static const struct db_stmt st_history = {
    "persons_history",
    "SELECT v.id, v.version, v.previous_enc, v.reason_enc, v.changed_fields, "
    "to_char(v.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "v.changed_by, u.username FROM person_version v LEFT JOIN app_user u ON u.id = v.changed_by "
    "WHERE v.tenant_id = $1 AND v.person_id = $2 ORDER BY v.version DESC",
};

/* Borrows id; *items is a new reference (NULL on failure). */
int api_person_history_items(struct http_req *req, const char *id, json_t **items)
{
	PGresult *r;
	const char *p[2] = {req->principal.tenant_id, id};
	*items = NULL;
	int rc = db_exec(req->arena, &st_history, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	json_t *list = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		struct crypt_ctx c1 = {"person_version", "previous", req->principal.tenant_id,
		                       PQgetvalue(r, i, 0)};
		struct crypt_ctx c2 = {"person_version", "reason", req->principal.tenant_id,
		                       PQgetvalue(r, i, 0)};
		const char *prev, *reason;
		size_t len;
		rc = crypt_decrypt(req->arena, &c1, PQgetvalue(r, i, 2), &prev, &len);
		if (rc == DB_OK)
			rc = crypt_decrypt(req->arena, &c2, PQgetvalue(r, i, 3), &reason, &len);
		if (rc != DB_OK) {
			json_decref(list);
			return rc;
		}
		json_t *fields = json_array();
		char *names = arena_strdup(req->arena, PQgetvalue(r, i, 4));
		for (char *tok = names ? strtok(names, "{},") : NULL; tok;
		     tok = strtok(NULL, "{},"))
			json_array_append_new(fields, json_string(tok));
		json_t *previous = json_loads(prev, 0, NULL);
		json_array_append_new(
		    list, json_pack("{s:I, s:s, s:o, s:s, s:o, s:o}", "version",
		                    (json_int_t)atoll(PQgetvalue(r, i, 1)), "changed_at",
		                    PQgetvalue(r, i, 5), "changed_by",
		                    json_pack("{s:s?, s:s?}", "id",
		                              PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6),
		                              "username",
		                              PQgetisnull(r, i, 7) ? NULL : PQgetvalue(r, i, 7)),
		                    "reason", reason, "changed_fields", fields, "previous",
		                    previous ? previous : json_null()));
	}
	*items = list;
	return DB_OK;
}

/* GET /api/v1/persons/{id}/history */
int api_person_history(struct http_req *req)
{
	const char *id = http_param(req, 0);
	bool found;
	int rc = api_person_lookup(req, id, &found, NULL);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (!found)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	json_t *items;
	if ((rc = api_person_history_items(req, id, &items)) != DB_OK)
		return rc == CRYPT_INTEGRITY ? http_reply_problem(req, PROBLEM_INTERNAL, NULL)
		                             : http_reply_db_error(req, rc);
	return http_reply_json(req, 200, json_pack("{s:o, s:n}", "items", items, "next_cursor"));
}
