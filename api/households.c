/* /api/v1/households: the nucleo familiare and its members over time. A
 * household's label and address name people, so they are ciphertext; a
 * membership is a closed period [valid_from, valid_to] of one person in one
 * household with a relation code (relation to the head, anagrafe list
 * household-relations) and the head flag. A person belongs to at most one
 * household at a time and a household has at most one head at a time: the
 * handlers check both and answer 409 naming the conflicting row; exclusion
 * constraints in schema/007_households.sql keep them true under races. */
#include "api/api.h"
#include "api/validate.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* ---------------------------------------------------------------- shared */

/* Current UTC date as days since 1970-01-01. */
static int32_t hh_today(void)
{
	return (int32_t)(time(NULL) / 86400);
}

/* Replies for a failed db_rc or a value that does not decrypt. */
static int hh_fail(struct http_req *req, int rc)
{
	if (rc == CRYPT_INTEGRITY)
		return http_reply_problem(req, PROBLEM_INTERNAL, NULL);
	return http_reply_db_error(req, rc);
}

/* -------------------------------------------------------------- household */

#define HH_COLUMNS                                                                                 \
	"h.id, h.version, h.label_enc, h.address_enc, " TS("h.created_at") ", " TS(                \
	    "h.updated_at") ", "                                                                   \
	                    "(SELECT count(*) FROM household_member m WHERE m.tenant_id = "        \
	                    "h.tenant_id "                                                         \
	                    "AND m.household_id = h.id AND m.valid_from <= current_date "          \
	                    "AND (m.valid_to IS NULL OR m.valid_to >= current_date))"
enum { HC_ID, HC_VERSION, HC_LABEL, HC_ADDRESS, HC_CREATED, HC_UPDATED, HC_COUNT };

/* A household body (strings borrowed from the JSON; address as JSON text). */
struct household_in {
	const char *label, *address;
	bool label_given, address_given;
};

/* Reads a household body; partial (PATCH) requires at least one property. */
static void hh_parse(struct http_req *req, bool partial, struct household_in *in, json_t *errors)
{
	memset(in, 0, sizeof *in);
	json_t *address = NULL;
	const struct jsonx_field spec[] = {
	    {"label", JX_STRING, JX_NULLABLE, 1, 200, &in->label, NULL},
	    {"address", JX_OBJECT, JX_NULLABLE, 0, 0, &address, NULL},
	};
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	/* null clears a property: given, with no value. */
	in->label_given = json_object_get(req->json, "label") != NULL;
	in->address_given = json_object_get(req->json, "address") != NULL;
	if (in->label && strspn(in->label, " \t\r\n") == strlen(in->label))
		jsonx_error(errors, "label", "format", "non può essere vuoto");
	if (address)
		in->address = api_address_parse(req, address, errors);
	if (partial && !in->label_given && !in->address_given)
		jsonx_error(errors, "", "min_properties", "indicare label o address");
}

/* Encrypts value (NULL stays NULL) for column of household id. */
static int hh_enc(struct http_req *req, const char *column, const char *id, const char *value,
                  const char **out)
{
	*out = NULL;
	if (value == NULL)
		return DB_OK;
	struct crypt_ctx ctx = {"household", column, req->principal.tenant_id, id};
	return crypt_encrypt(req->arena, &ctx, value, strlen(value), out);
}

/* Decrypts column c of row (NULL when SQL NULL). Returns a db_rc or
 * CRYPT_INTEGRITY. */
static int hh_dec(struct http_req *req, PGresult *r, int row, int c, const char **out)
{
	*out = NULL;
	if (PQgetisnull(r, row, c))
		return DB_OK;
	struct crypt_ctx ctx = {"household", c == HC_LABEL ? "label" : "address",
	                        req->principal.tenant_id, PQgetvalue(r, row, HC_ID)};
	size_t len;
	return crypt_decrypt(req->arena, &ctx, PQgetvalue(r, row, c), out, &len);
}

/* The wire form of a household row (decrypted), without members and ISEE.
 * Returns a new reference, or NULL with *rc set. */
static json_t *hh_json(struct http_req *req, PGresult *r, int row, int *rc)
{
	const char *label, *address;
	*rc = hh_dec(req, r, row, HC_LABEL, &label);
	if (*rc == DB_OK)
		*rc = hh_dec(req, r, row, HC_ADDRESS, &address);
	if (*rc != DB_OK)
		return NULL;
	json_t *addr = address ? json_loads(address, 0, NULL) : json_null();
	json_t *o =
	    json_pack("{s:s, s:s?, s:o, s:I, s:I, s:s, s:s}", "id", PQgetvalue(r, row, HC_ID),
	              "label", label, "address", addr ? addr : json_null(), "current_member_count",
	              (json_int_t)atoll(PQgetvalue(r, row, HC_COUNT)), "version",
	              (json_int_t)atoll(PQgetvalue(r, row, HC_VERSION)), "created_at",
	              PQgetvalue(r, row, HC_CREATED), "updated_at", PQgetvalue(r, row, HC_UPDATED));
	*rc = o ? DB_OK : DB_ERROR;
	return o;
}

static const struct db_stmt st_hh_one = {
    "households_one",
    "SELECT " HH_COLUMNS " FROM household h WHERE h.tenant_id = $1 AND h.id = $2",
};

/* Loads household id of the caller's tenant into *r. Returns 0; or replies
 * (404 when absent) and returns 1, or HTTP_RETRY. */
static int hh_load(struct http_req *req, const char *id, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_hh_one, 2, p, r);
}

/* ---------------------------------------------------------------- members */

#define MEMBER_COLUMNS                                                                             \
	"id, household_id, person_id, relation, head, valid_from::text, valid_to::text, "          \
	"version, (valid_from <= current_date AND (valid_to IS NULL OR valid_to >= "               \
	"current_date)), " TS("created_at") ", " TS("updated_at")
enum {
	MC_ID,
	MC_HOUSEHOLD,
	MC_PERSON,
	MC_RELATION,
	MC_HEAD,
	MC_FROM,
	MC_TO,
	MC_VERSION,
	MC_CURRENT,
	MC_CREATED,
	MC_UPDATED
};

/* The wire form of a membership row (new reference, or NULL). */
static json_t *member_json(PGresult *r, int row)
{
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:b, s:s, s:s?, s:b, s:I, s:s, s:s}", "id",
	    PQgetvalue(r, row, MC_ID), "household_id", PQgetvalue(r, row, MC_HOUSEHOLD),
	    "person_id", PQgetvalue(r, row, MC_PERSON), "relation", PQgetvalue(r, row, MC_RELATION),
	    "head", strcmp(PQgetvalue(r, row, MC_HEAD), "t") == 0, "valid_from",
	    PQgetvalue(r, row, MC_FROM), "valid_to",
	    PQgetisnull(r, row, MC_TO) ? NULL : PQgetvalue(r, row, MC_TO), "current",
	    strcmp(PQgetvalue(r, row, MC_CURRENT), "t") == 0, "version",
	    (json_int_t)atoll(PQgetvalue(r, row, MC_VERSION)), "created_at",
	    PQgetvalue(r, row, MC_CREATED), "updated_at", PQgetvalue(r, row, MC_UPDATED));
}

static const struct db_stmt st_members_all = {
    "households_members_all",
    "SELECT " MEMBER_COLUMNS " FROM household_member WHERE tenant_id = $1 "
    "AND household_id = $2 ORDER BY valid_from, id LIMIT 500",
};

/* The household representation of row 0 of r with its members (current and
 * past) and its latest ISEE. Sets ETag and replies with status. */
static int hh_reply_full(struct http_req *req, PGresult *r, int status)
{
	int rc;
	json_t *o = hh_json(req, r, 0, &rc);
	if (o == NULL)
		return hh_fail(req, rc);
	const char *id = PQgetvalue(r, 0, HC_ID);
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *mr;
	rc = db_exec(req->arena, &st_members_all, 2, p, &mr);
	json_t *isee = NULL;
	if (rc == DB_OK)
		rc = api_isee_latest(req, id, &isee);
	if (rc != DB_OK) {
		json_decref(o);
		return hh_fail(req, rc);
	}
	json_t *members = json_array();
	for (int i = 0; i < PQntuples(mr); i++)
		json_array_append_new(members, member_json(mr, i));
	json_object_set_new(o, "members", members);
	json_object_set_new(o, "latest_isee", isee ? isee : json_null());
	http_set_etag(req, atoll(PQgetvalue(r, 0, HC_VERSION)));
	return http_reply_json(req, status, o);
}

/* ------------------------------------------------------- household routes */

static const struct db_stmt st_hh_insert = {
    "households_insert",
    "INSERT INTO household (tenant_id, id, label_enc, address_enc, created_by, updated_by) "
    "VALUES ($1, $2, $3, $4, $5, $5)",
};

/* POST /api/v1/households */
int api_household_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct household_in in;
	json_t *errors = jsonx_errors_new();
	hh_parse(req, false, &in, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *label_enc, *address_enc;
	int rc = hh_enc(req, "label", id, in.label, &label_enc);
	if (rc == DB_OK)
		rc = hh_enc(req, "address", id, in.address, &address_enc);
	if (rc != DB_OK)
		return hh_fail(req, rc);
	const char *p[5] = {req->principal.tenant_id, id, label_enc, address_enc,
	                    req->principal.user_id};
	rc = db_exec(req->arena, &st_hh_insert, 5, p, NULL);
	if (rc != DB_OK)
		return hh_fail(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/households/%s", id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	PGresult *r;
	rc = hh_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return hh_reply_full(req, r, 201);
}

/* GET /api/v1/households/{id} */
int api_household_read(struct http_req *req)
{
	PGresult *r;
	int rc = hh_load(req, http_param(req, 0), &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return hh_reply_full(req, r, 200);
}

static const struct db_stmt st_hh_list = {
    "households_list",
    "SELECT " HH_COLUMNS " FROM household h WHERE h.tenant_id = $1 "
    "AND ($2::uuid IS NULL OR h.id > $2) "
    "AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM household_member m "
    "WHERE m.tenant_id = h.tenant_id AND m.household_id = h.id AND m.person_id = $3)) "
    "ORDER BY h.id LIMIT $4",
};

/* GET /api/v1/households?person_id=&cursor=&limit= */
int api_household_list(struct http_req *req)
{
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	const char *cursor = http_query(req, "cursor"), *person = http_query(req, "person_id");
	if (cursor && !util_is_uuid(cursor))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	if (person) {
		if (!util_is_uuid(person))
			return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
			                          "person_id deve essere un UUID");
		bool found;
		int rc = api_person_lookup(req, person, &found, NULL);
		if (rc != DB_OK)
			return hh_fail(req, rc);
		if (!found)
			return api_reply_not_found_field(req, "person_id");
	}
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[4] = {req->principal.tenant_id, cursor, person, slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_hh_list, 4, p, &r);
	if (rc != DB_OK)
		return hh_fail(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++) {
		json_t *o = hh_json(req, r, i, &rc);
		if (o == NULL) {
			json_decref(items);
			return hh_fail(req, rc);
		}
		json_array_append_new(items, o);
		if (http_audit_object(req, "household", PQgetvalue(r, i, HC_ID)) != 0) {
			json_decref(items);
			return -1;
		}
	}
	json_t *next = rows > limit ? json_string(PQgetvalue(r, limit - 1, HC_ID)) : json_null();
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}

static const struct db_stmt st_hh_update = {
    "households_update",
    "UPDATE household SET label_enc = $3, address_enc = $4, updated_by = $5, "
    "updated_at = now(), version = version + 1 "
    "WHERE tenant_id = $1 AND id = $2 AND version = $6",
};

/* PATCH /api/v1/households/{id}: label and address (null clears). */
int api_household_update(struct http_req *req)
{
	const char *id = http_param(req, 0);
	PGresult *r;
	int rc = hh_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (api_require_body(req))
		return 0;
	struct household_in in;
	json_t *errors = jsonx_errors_new();
	hh_parse(req, true, &in, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	const char *version = PQgetvalue(r, 0, HC_VERSION);
	if (http_check_if_match(req, atoll(version)))
		return 0;

	/* Keep what the body does not mention (the stored ciphertext as is). */
	const char *label_enc = PQgetisnull(r, 0, HC_LABEL) ? NULL : PQgetvalue(r, 0, HC_LABEL);
	const char *address_enc =
	    PQgetisnull(r, 0, HC_ADDRESS) ? NULL : PQgetvalue(r, 0, HC_ADDRESS);
	rc = DB_OK;
	if (in.label_given)
		rc = hh_enc(req, "label", id, in.label, &label_enc);
	if (rc == DB_OK && in.address_given)
		rc = hh_enc(req, "address", id, in.address, &address_enc);
	if (rc != DB_OK)
		return hh_fail(req, rc);
	const char *p[6] = {req->principal.tenant_id, id,     label_enc, address_enc,
	                    req->principal.user_id,   version};
	PGresult *ur;
	rc = db_exec(req->arena, &st_hh_update, 6, p, &ur);
	if (rc != DB_OK)
		return hh_fail(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY; /* changed under us: the retry answers 412 */
	rc = hh_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return hh_reply_full(req, r, 200);
}

/* ---------------------------------------------------------- member routes */

/* A membership as requested (strings borrowed from the JSON or the row). */
struct member_in {
	const char *person_id, *relation, *valid_from, *valid_to;
	int head; /* -1 = not given */
	bool relation_given, from_given, to_given;
};

/* Reads a membership body (partial: PATCH) and checks each field alone;
 * the relation code is looked up in the code list. Returns a db_rc. */
static int member_parse(struct http_req *req, bool partial, struct member_in *in, json_t *errors)
{
	memset(in, 0, sizeof *in);
	in->head = -1;
	unsigned reqd = partial ? 0 : JX_REQUIRED;
	bool head_given = false;
	int head = 0;
	const struct jsonx_field create_spec[] = {
	    {"person_id", JX_STRING, JX_REQUIRED, 1, 64, &in->person_id, NULL},
	    {"relation", JX_STRING, reqd, 1, 32, &in->relation, &in->relation_given},
	    {"head", JX_BOOL, 0, 0, 0, &head, &head_given},
	    {"valid_from", JX_STRING, reqd, 1, 32, &in->valid_from, &in->from_given},
	    {"valid_to", JX_STRING, JX_NULLABLE, 1, 32, &in->valid_to, NULL},
	};
	/* person_id is fixed once the membership exists: the spec of PATCH
	 * leaves it out, so it is refused as unknown. */
	jsonx_read(req->json, "", partial ? create_spec + 1 : create_spec, partial ? 4 : 5, errors);
	in->to_given = json_object_get(req->json, "valid_to") != NULL;
	if (head_given && json_is_boolean(json_object_get(req->json, "head")))
		in->head = head;
	if (partial && !in->relation_given && !head_given && !in->from_given && !in->to_given)
		jsonx_error(errors, "", "min_properties",
		            "indicare almeno uno tra relation, head, valid_from, valid_to");
	if (in->person_id && !util_is_uuid(in->person_id))
		jsonx_error(errors, "person_id", "format", "deve essere un UUID");
	const char *rule, *m;
	if (in->valid_from && (m = validate_date(in->valid_from, NULL, &rule)) != NULL) {
		jsonx_error(errors, "valid_from", rule, m);
		in->valid_from = NULL;
	}
	if (in->valid_to && (m = validate_date(in->valid_to, NULL, &rule)) != NULL) {
		jsonx_error(errors, "valid_to", rule, m);
		in->valid_to = NULL;
	}
	if (in->relation == NULL)
		return DB_OK;
	size_t before = json_array_size(errors);
	int rc = api_code_check(req, errors, "relation", "household-relations", in->relation);
	if (json_array_size(errors) != before)
		in->relation = NULL;
	return rc;
}

/* Checks the merged membership: dates ordered, valid_from not before the
 * person's birth (when birth_date is known) nor more than a year ahead, head
 * iff relation 1 (the intestatario). Adds to errors. */
static void member_check(const struct member_in *in, bool head, const char *birth_date,
                         json_t *errors)
{
	int32_t from = 0, to = 0, birth = 0;
	bool have_from = in->valid_from && validate_date(in->valid_from, &from, NULL) == NULL;
	if (have_from && in->valid_to && validate_date(in->valid_to, &to, NULL) == NULL &&
	    to < from)
		jsonx_error(errors, "valid_to", "order", "non può precedere valid_from");
	if (have_from && birth_date && validate_date(birth_date, &birth, NULL) == NULL &&
	    from < birth)
		jsonx_error(errors, "valid_from", "before_birth",
		            "precede la data di nascita della persona");
	if (have_from && from > hh_today() + 366)
		jsonx_error(errors, "valid_from", "range", "oltre un anno nel futuro");
	if (in->relation && head != (strcmp(in->relation, "1") == 0))
		jsonx_error(errors, "head", "mismatch",
		            head ? "l'intestatario ha relation \"1\""
		                 : "relation \"1\" (intestatario) richiede head true");
}

static const struct db_stmt st_member_overlap = {
    "households_member_overlap",
    "SELECT id, household_id FROM household_member WHERE tenant_id = $1 AND person_id = $2 "
    "AND ($3::uuid IS NULL OR id <> $3) "
    "AND daterange(valid_from, valid_to, '[]') && daterange($4::date, $5::date, '[]') "
    "ORDER BY valid_from LIMIT 1",
};

static const struct db_stmt st_head_overlap = {
    "households_head_overlap",
    "SELECT id, person_id FROM household_member WHERE tenant_id = $1 AND household_id = $2 "
    "AND head AND ($3::uuid IS NULL OR id <> $3) "
    "AND daterange(valid_from, valid_to, '[]') && daterange($4::date, $5::date, '[]') "
    "ORDER BY valid_from LIMIT 1",
};

/* Checks that person_id is in no other household (nor twice in this one)
 * and, when head, that the household has no other head over the period.
 * Replies 409 naming the conflicting row and returns 1; returns 0 when
 * clear; returns HTTP_RETRY or 1 after replying a database failure. */
static int member_conflicts(struct http_req *req, const char *household_id, const char *member_id,
                            const char *person_id, bool head, const char *from, const char *to)
{
	const char *p[5] = {req->principal.tenant_id, person_id, member_id, from, to};
	PGresult *r;
	int rc = db_exec(req->arena, &st_member_overlap, 5, p, &r);
	if (rc == DB_OK && PQntuples(r) > 0) {
		const char *other = PQgetvalue(r, 0, 1);
		bool same = strcmp(other, household_id) == 0;
		char *loc = arena_printf(req->arena, "/api/v1/households/%s", other);
		http_reply_problem_with(
		    req, PROBLEM_CONFLICT,
		    same ? "La persona è già membro di questo nucleo in un periodo che si "
		           "sovrappone"
		         : "La persona fa parte di un altro nucleo in un periodo che si "
		           "sovrappone",
		    json_pack("{s:s, s:s, s:s?}", "existing_household_id", other,
		              "existing_member_id", PQgetvalue(r, 0, 0), "existing", loc));
		return 1;
	}
	if (rc == DB_OK && head) {
		p[1] = household_id;
		rc = db_exec(req->arena, &st_head_overlap, 5, p, &r);
		if (rc == DB_OK && PQntuples(r) > 0) {
			http_reply_problem_with(
			    req, PROBLEM_CONFLICT,
			    "Il nucleo ha già un intestatario in un periodo che si sovrappone",
			    json_pack("{s:s, s:s}", "existing_member_id", PQgetvalue(r, 0, 0),
			              "existing_person_id", PQgetvalue(r, 0, 1)));
			return 1;
		}
	}
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	return 0;
}

static const struct db_stmt st_member_one = {
    "households_member_one",
    "SELECT " MEMBER_COLUMNS " FROM household_member WHERE tenant_id = $1 "
    "AND household_id = $2 AND id = $3",
};

/* Loads membership member_id of household_id into *r. Returns 0; or replies
 * (404 when absent) and returns 1, or HTTP_RETRY. */
static int member_load(struct http_req *req, const char *household_id, const char *member_id,
                       PGresult **r)
{
	const char *p[3] = {req->principal.tenant_id, household_id, member_id};
	return api_load_row(req, &st_member_one, 3, p, r);
}

/* Replies with membership member_id (ETag = its version). */
static int member_reply(struct http_req *req, const char *household_id, const char *member_id,
                        int status)
{
	PGresult *r;
	int rc = member_load(req, household_id, member_id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	http_set_etag(req, atoll(PQgetvalue(r, 0, MC_VERSION)));
	return http_reply_json(req, status, member_json(r, 0));
}

static const struct db_stmt st_member_insert = {
    "households_member_insert",
    "INSERT INTO household_member (tenant_id, id, household_id, person_id, relation, head, "
    "valid_from, valid_to, created_by, updated_by) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
};

/* POST /api/v1/households/{id}/members */
int api_household_member_create(struct http_req *req)
{
	const char *hid = http_param(req, 0);
	bool found;
	int rc = api_household_lookup(req, hid, &found);
	if (rc != DB_OK)
		return hh_fail(req, rc);
	if (!found)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	if (api_require_body(req))
		return 0;
	struct member_in in;
	json_t *errors = jsonx_errors_new();
	rc = member_parse(req, false, &in, errors);
	if (rc != DB_OK) {
		json_decref(errors);
		return hh_fail(req, rc);
	}
	bool head = in.head >= 0 ? in.head == 1 : (in.relation && strcmp(in.relation, "1") == 0);
	member_check(&in, head, NULL, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);

	const char *birth;
	rc = api_person_lookup(req, in.person_id, &found, &birth);
	if (rc != DB_OK) {
		json_decref(errors);
		return hh_fail(req, rc);
	}
	if (!found) {
		json_decref(errors);
		return api_reply_not_found_field(req, "person_id");
	}
	member_check(&in, head, birth, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	rc = member_conflicts(req, hid, NULL, in.person_id, head, in.valid_from, in.valid_to);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *p[9] = {req->principal.tenant_id,
	                    id,
	                    hid,
	                    in.person_id,
	                    in.relation,
	                    head ? "true" : "false",
	                    in.valid_from,
	                    in.valid_to,
	                    req->principal.user_id};
	rc = db_exec(req->arena, &st_member_insert, 9, p, NULL);
	if (rc == DB_UNIQUE)
		return HTTP_RETRY; /* a concurrent overlapping period: the retry answers 409 */
	if (rc != DB_OK)
		return hh_fail(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/households/%s/members/%s", hid, id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return member_reply(req, hid, id, 201);
}

/* GET /api/v1/households/{id}/members/{member_id} */
int api_household_member_read(struct http_req *req)
{
	return member_reply(req, http_param(req, 0), http_param(req, 1), 200);
}

static const struct db_stmt st_members_list = {
    "households_members_list",
    "SELECT " MEMBER_COLUMNS " FROM household_member WHERE tenant_id = $1 "
    "AND household_id = $2 "
    "AND ($3::date IS NULL OR (valid_from, id) > ($3::date, $4::uuid)) "
    "AND ($5::date IS NULL OR daterange(valid_from, valid_to, '[]') @> $5::date) "
    "ORDER BY valid_from, id LIMIT $6",
};

/* GET /api/v1/households/{id}/members?on=&cursor=&limit= */
int api_household_member_list(struct http_req *req)
{
	const char *hid = http_param(req, 0);
	bool found;
	int rc = api_household_lookup(req, hid, &found);
	if (rc != DB_OK)
		return hh_fail(req, rc);
	if (!found)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	int limit;
	if (http_page_limit(req, 100, &limit))
		return 0;
	const char *cdate, *cid, *on = http_query(req, "on");
	if (api_cursor_date_id(req, http_query(req, "cursor"), &cdate, &cid))
		return 0;
	int32_t days;
	if (on && validate_date(on, &days, NULL) != NULL)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "on deve essere una data AAAA-MM-GG");
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[6] = {req->principal.tenant_id, hid, cdate, cid, on, slimit};
	PGresult *r;
	rc = db_exec(req->arena, &st_members_list, 6, p, &r);
	if (rc != DB_OK)
		return hh_fail(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++)
		json_array_append_new(items, member_json(r, i));
	json_t *next = json_null();
	if (rows > limit)
		next = json_sprintf("%s_%s", PQgetvalue(r, limit - 1, MC_FROM),
		                    PQgetvalue(r, limit - 1, MC_ID));
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}

static const struct db_stmt st_member_update = {
    "households_member_update",
    "UPDATE household_member SET relation = $4, head = $5, valid_from = $6, valid_to = $7, "
    "updated_by = $8, updated_at = now(), version = version + 1 "
    "WHERE tenant_id = $1 AND household_id = $2 AND id = $3 AND version = $9",
};

/* PATCH /api/v1/households/{id}/members/{member_id}: close the membership
 * (valid_to), reopen it (valid_to null), or correct relation, head or
 * valid_from. */
int api_household_member_update(struct http_req *req)
{
	const char *hid = http_param(req, 0), *mid = http_param(req, 1);
	PGresult *r;
	int rc = member_load(req, hid, mid, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (api_require_body(req))
		return 0;
	struct member_in in;
	json_t *errors = jsonx_errors_new();
	rc = member_parse(req, true, &in, errors);
	if (rc != DB_OK) {
		json_decref(errors);
		return hh_fail(req, rc);
	}
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	const char *version = PQgetvalue(r, 0, MC_VERSION);
	if (http_check_if_match(req, atoll(version))) {
		json_decref(errors);
		return 0;
	}
	/* Merge with the stored row. A new relation without head sets head
	 * from it; head alone must agree with the stored relation. */
	in.person_id = PQgetvalue(r, 0, MC_PERSON);
	if (!in.relation_given)
		in.relation = PQgetvalue(r, 0, MC_RELATION);
	if (!in.from_given)
		in.valid_from = PQgetvalue(r, 0, MC_FROM);
	if (!in.to_given)
		in.valid_to = PQgetisnull(r, 0, MC_TO) ? NULL : PQgetvalue(r, 0, MC_TO);
	bool head = in.head >= 0        ? in.head == 1
	            : in.relation_given ? strcmp(in.relation, "1") == 0
	                                : strcmp(PQgetvalue(r, 0, MC_HEAD), "t") == 0;
	const char *birth = NULL;
	bool found;
	if (in.from_given) {
		rc = api_person_lookup(req, in.person_id, &found, &birth);
		if (rc != DB_OK) {
			json_decref(errors);
			return hh_fail(req, rc);
		}
	}
	member_check(&in, head, birth, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	rc = member_conflicts(req, hid, mid, in.person_id, head, in.valid_from, in.valid_to);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *p[9] = {req->principal.tenant_id,
	                    hid,
	                    mid,
	                    in.relation,
	                    head ? "true" : "false",
	                    in.valid_from,
	                    in.valid_to,
	                    req->principal.user_id,
	                    version};
	PGresult *ur;
	rc = db_exec(req->arena, &st_member_update, 9, p, &ur);
	if (rc == DB_UNIQUE)
		return HTTP_RETRY;
	if (rc != DB_OK)
		return hh_fail(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY; /* changed under us: the retry answers 412 */
	return member_reply(req, hid, mid, 200);
}
