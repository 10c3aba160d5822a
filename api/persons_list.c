/* GET /api/v1/persons: the list of a Comune's persons, and the searches by
 * fiscal code and by name through the blind indexes (every candidate is
 * decrypted and compared before it is shown). */
#include "api/api.h"
#include "api/persons_row.h"
#include "api/validate.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/util.h"

#include <stdio.h>
#include <string.h>

/* The list with its optional filters ($2 cursor, $3 fiscal-code index, $4
 * and $5 name indexes, $6 limit). A search names its index condition
 * outright, in a statement of its own: the generic plan PostgreSQL adopts for
 * a prepared statement after a few runs cannot tell that an optional filter
 * is present, and would walk every person of the tenant in id order. */
#define PERSON_LIST_FILTERS                                                                        \
	"AND ($2::uuid IS NULL OR id > $2) "                                                       \
	"AND ($3::bytea IS NULL OR fiscal_code_bidx = $3) "                                        \
	"AND ($4::bytea[] IS NULL OR name_bidx = ANY ($4) OR surname_bidx = $5) "                  \
	"ORDER BY id LIMIT $6"
static const struct db_stmt st_list = {
    "persons_list",
    "SELECT " PERSON_COLUMNS " FROM person WHERE tenant_id = $1 " PERSON_LIST_FILTERS,
};
static const struct db_stmt st_list_cf = {
    "persons_list_cf",
    "SELECT " PERSON_COLUMNS
    " FROM person WHERE tenant_id = $1 AND fiscal_code_bidx = $3 " PERSON_LIST_FILTERS,
};
static const struct db_stmt st_list_names = {
    "persons_list_names",
    "SELECT " PERSON_COLUMNS " FROM person WHERE tenant_id = $1 "
    "AND (name_bidx = ANY ($4) OR surname_bidx = $5) " PERSON_LIST_FILTERS,
};

/* Builds the name-index candidates for q: every split of its words into
 * surname + given name, plus the surname index of the whole of q. */
static int search_indexes(struct http_req *req, const char *q, const char **arr,
                          const char **surname_idx)
{
	char *norm = person_name_normalise(req->arena, q);
	if (norm == NULL)
		return DB_ERROR;
	int rc = person_surname_index(req, norm, surname_idx);
	size_t cap = strlen(norm) * 70 + 8, used = 0;
	char *buf = arena_alloc(req->arena, cap);
	if (buf == NULL)
		return DB_ERROR;
	buf[used++] = '{';
	for (char *sp = strchr(norm, ' '); rc == DB_OK && sp != NULL; sp = strchr(sp + 1, ' ')) {
		char *sur = arena_strndup(req->arena, norm, (size_t)(sp - norm));
		const char *idx;
		rc = sur ? person_name_index(req, sur, sp + 1, &idx) : DB_ERROR;
		if (rc == DB_OK) {
			int w = snprintf(buf + used, cap - used, "%s\"\\%s\"", used > 1 ? "," : "",
			                 idx);
			if (w < 0 || (size_t)w >= cap - used)
				return DB_ERROR;
			used += (size_t)w;
		}
	}
	buf[used++] = '}';
	buf[used] = '\0';
	*arr = buf;
	return rc;
}

/* True when the decrypted person matches the query (normalised compare). */
static bool person_matches(struct http_req *req, json_t *o, const char *q)
{
	const char *s = json_string_value(json_object_get(o, "surname"));
	const char *g = json_string_value(json_object_get(o, "given_name"));
	char *nq = person_name_normalise(req->arena, q), *ns = person_name_normalise(req->arena, s);
	char *full = arena_printf(req->arena, "%s %s", s, g);
	char *nf = full ? person_name_normalise(req->arena, full) : NULL;
	return nq && ns && nf && (strcmp(nq, ns) == 0 || strcmp(nq, nf) == 0);
}

/* GET /api/v1/persons?fiscal_code=&q=&cursor=&limit= */
int api_person_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	const char *cursor = http_query(req, "cursor");
	if (cursor && !util_is_uuid(cursor))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	const char *cf = http_query(req, "fiscal_code"), *q = http_query(req, "q");
	char cf_norm[24] = "";
	const char *fidx = NULL, *names = NULL, *sidx = NULL;
	int rc = DB_OK;
	if (cf) {
		enum validate_cf_kind kind;
		const char *rule;
		if (!validate_cf_normalise(cf, cf_norm, sizeof cf_norm) ||
		    validate_fiscal_code(cf_norm, &kind, NULL, &rule) != NULL)
			return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
			                          "fiscal_code non è un codice fiscale valido");
		rc = person_fiscal_index(req, cf_norm, &fidx);
	}
	if (rc == DB_OK && q) {
		if (strlen(q) > 200 || person_name_normalise(req->arena, q)[0] == '\0')
			return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
			                          "q: cognome, oppure cognome e nome");
		rc = search_indexes(req, q, &names, &sidx);
	}
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[6] = {req->principal.tenant_id, cursor, fidx, names, sidx, slimit};
	PGresult *r;
	rc = db_exec(req->arena, fidx ? &st_list_cf : names ? &st_list_names : &st_list, 6, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++) {
		json_t *o = person_json(req, r, i, &rc);
		if (o == NULL) {
			json_decref(items);
			return rc == CRYPT_INTEGRITY ? person_integrity(req)
			                             : http_reply_db_error(req, rc);
		}
		/* Candidates from a blind index are confirmed on the plaintext. */
		const char *fc = json_string_value(json_object_get(o, "fiscal_code"));
		if ((cf && (fc == NULL || strcmp(fc, cf_norm) != 0)) ||
		    (q && !person_matches(req, o, q))) {
			json_decref(o);
			continue;
		}
		json_array_append_new(items, o);
		if (http_audit_object(req, "person", PQgetvalue(r, i, PERSON_COL_ID)) != 0) {
			json_decref(items);
			return -1;
		}
	}
	json_t *next =
	    rows > limit ? json_string(PQgetvalue(r, limit - 1, PERSON_COL_ID)) : json_null();
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}
