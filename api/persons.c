/* /api/v1/persons: the people a Comune's social service knows. Identifying
 * fields are encrypted before they reach PostgreSQL; exact searches go
 * through blind indexes and every candidate is decrypted and compared. */
#include "api/api.h"
#include "api/persons_row.h"
#include "api/validate.h"
#include "auth/crypt.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"
#include "server/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const person_enc_column[PC__COUNT] = {
    "fiscal_code", "surname", "given_name", "birth_date", "birth_place", "address", "contacts",
};

/* A person as given in a request body (strings borrowed from the JSON). */
struct person_in {
	const char *value[PC__COUNT]; /* plaintext per encrypted column; NULL = absent/null */
	bool given[PC__COUNT];        /* property present in the body (null included) */
	const char *sex, *citizenship, *residence, *reason;
	bool sex_given, citizenship_given, residence_given;
	int sealed;          /* -1 absent, else 0/1 */
	const char *cf_kind; /* "personal" | "numeric" | "temporary" */
	char cf_norm[24];
	int birth_year;
};

/* The normalised name (validate_name_normalise), arena-owned. */
char *person_name_normalise(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	char *out = arena_alloc(a, n + 1);
	if (out != NULL)
		validate_name_normalise(s, out, n + 1);
	return out;
}

/* Compact JSON text of v (arena-owned), or NULL. */
static const char *json_text(struct arena *a, json_t *v)
{
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (t == NULL || arena_defer(a, free, t) != 0)
		return NULL;
	return t;
}

/* Validates the contacts array; returns its JSON text or NULL (errors added). */
static const char *contacts_parse(struct http_req *req, json_t *v, json_t *errors)
{
	static const char *const kinds[] = {"phone", "mobile", "email", "pec", "other", NULL};
	size_t before = json_array_size(errors), i;
	json_t *c;
	char prefix[48];
	json_array_foreach(v, i, c)
	{
		const char *kind = NULL, *value = NULL;
		const struct jsonx_field spec[] = {
		    {"kind", JX_STRING, JX_REQUIRED, 1, 16, &kind, NULL},
		    {"value", JX_STRING, JX_REQUIRED, 1, 200, &value, NULL},
		};
		snprintf(prefix, sizeof prefix, "contacts[%zu].", i);
		jsonx_read(c, prefix, spec, 2, errors);
		if (kind && !jsonx_in(kind, kinds)) {
			snprintf(prefix, sizeof prefix, "contacts[%zu].kind", i);
			jsonx_error(errors, prefix, "enum",
			            "uno tra phone, mobile, email, pec, other");
		}
	}
	return json_array_size(errors) == before ? json_text(req->arena, v) : NULL;
}

/* Current UTC date as days since 1970-01-01. */
static int32_t today_days(void)
{
	return (int32_t)(time(NULL) / 86400);
}

/* Reads a person body. partial: PATCH (nothing required, reason required).
 * Checks every field and their agreement with the fiscal code. */
static void person_parse(struct http_req *req, bool partial, struct person_in *in, json_t *errors)
{
	memset(in, 0, sizeof *in);
	const char *cf = NULL, *surname = NULL, *given = NULL, *bdate = NULL, *bplace = NULL;
	json_t *address = NULL, *contacts = NULL;
	bool g_cf = false, g_sur = false, g_given = false, g_bd = false, g_bp = false,
	     g_addr = false, g_cont = false;
	unsigned req_flag = partial ? 0 : JX_REQUIRED;
	const struct jsonx_field spec[] = {
	    {"fiscal_code", JX_STRING, JX_NULLABLE, 11, 24, &cf, &g_cf}, /* spaces allowed */
	    {"surname", JX_STRING, req_flag, 1, 100, &surname, &g_sur},
	    {"given_name", JX_STRING, req_flag, 1, 100, &given, &g_given},
	    {"sex", JX_STRING, req_flag, 1, 1, &in->sex, &in->sex_given},
	    {"birth_date", JX_STRING, JX_NULLABLE, 10, 10, &bdate, &g_bd},
	    {"birth_place", JX_STRING, JX_NULLABLE, 4, 4, &bplace, &g_bp},
	    {"citizenship", JX_STRING, JX_NULLABLE, 3, 3, &in->citizenship, &in->citizenship_given},
	    {"residence", JX_STRING, JX_NULLABLE, 6, 6, &in->residence, &in->residence_given},
	    {"address", JX_OBJECT, JX_NULLABLE, 0, 0, &address, &g_addr},
	    {"contacts", JX_ARRAY, JX_NULLABLE, 0, 10, &contacts, &g_cont},
	    {"reason", JX_STRING, partial ? JX_REQUIRED : 0, 3, 500, &in->reason, NULL},
	    {"sealed", JX_BOOL, 0, 0, 0, &in->sealed, NULL},
	};
	in->sealed = -1;
	if (jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors) > 0 &&
	    !json_is_object(req->json))
		return;
	if (!partial && in->reason != NULL)
		jsonx_error(errors, "reason", "unknown",
		            "il motivo si indica solo nelle rettifiche (PATCH)");
	/* "null" clears a nullable property; the spec reports it as absent. */
	g_cf |= json_object_get(req->json, "fiscal_code") != NULL;
	g_bd |= json_object_get(req->json, "birth_date") != NULL;
	g_bp |= json_object_get(req->json, "birth_place") != NULL;
	g_addr |= json_object_get(req->json, "address") != NULL;
	g_cont |= json_object_get(req->json, "contacts") != NULL;
	in->citizenship_given |= json_object_get(req->json, "citizenship") != NULL;
	in->residence_given |= json_object_get(req->json, "residence") != NULL;

	const char *rule, *m;
	enum validate_cf_kind kind = CF_PERSONAL;
	struct validate_cf_info info;
	bool have_info = false;
	if (cf) {
		if (!validate_cf_normalise(cf, in->cf_norm, sizeof in->cf_norm)) {
			jsonx_error(errors, "fiscal_code", "format", "codice fiscale troppo lungo");
		} else if ((m = validate_fiscal_code(in->cf_norm, &kind, &info, &rule)) != NULL) {
			jsonx_error(errors, "fiscal_code", rule, m);
		} else {
			in->value[PC_FISCAL] = in->cf_norm;
			in->cf_kind = kind == CF_PERSONAL  ? "personal"
			              : kind == CF_NUMERIC ? "numeric"
			                                   : "temporary";
			have_info = kind == CF_PERSONAL;
		}
	}
	if (in->sex && strcmp(in->sex, "M") != 0 && strcmp(in->sex, "F") != 0)
		jsonx_error(errors, "sex", "enum", "M oppure F");
	int32_t bdays = 0;
	if (bdate) {
		if ((m = validate_date(bdate, &bdays, &rule)) != NULL)
			jsonx_error(errors, "birth_date", rule, m);
		else if (bdays > today_days())
			jsonx_error(errors, "birth_date", "range",
			            "la data di nascita è nel futuro");
		else
			in->birth_year = atoi(bdate);
	}
	if (bplace && (m = validate_belfiore(bplace, &rule)) != NULL)
		jsonx_error(errors, "birth_place", rule, m);
	if (in->citizenship && (m = validate_iso_country(in->citizenship, &rule)) != NULL)
		jsonx_error(errors, "citizenship", rule, m);
	if (in->residence && (m = validate_istat_comune(in->residence, &rule)) != NULL)
		jsonx_error(errors, "residence", rule, m);
	if (surname && person_name_normalise(req->arena, surname)[0] == '\0')
		jsonx_error(errors, "surname", "format", "deve contenere almeno una lettera");
	if (given && person_name_normalise(req->arena, given)[0] == '\0')
		jsonx_error(errors, "given_name", "format", "deve contenere almeno una lettera");
	/* A personal fiscal code encodes sex, birth date and place: they must agree. */
	if (have_info) {
		if (in->sex && in->sex[0] != info.sex)
			jsonx_error(errors, "sex", "mismatch",
			            "non concorda con il codice fiscale");
		if (bdate && strlen(bdate) == 10) {
			int y = atoi(bdate), mo = atoi(bdate + 5), d = atoi(bdate + 8);
			if (y % 100 != info.birth_year2 || mo != info.birth_month ||
			    d != info.birth_day)
				jsonx_error(errors, "birth_date", "mismatch",
				            "non concorda con il codice fiscale");
		}
		if (bplace && strcmp(bplace, info.birth_place) != 0)
			jsonx_error(errors, "birth_place", "mismatch",
			            "non concorda con il codice fiscale");
	}
	in->value[PC_SURNAME] = surname;
	in->value[PC_GIVEN] = given;
	in->value[PC_BIRTH_DATE] = bdate;
	in->value[PC_BIRTH_PLACE] = bplace;
	if (address)
		in->value[PC_ADDRESS] = api_address_parse(req, address, errors);
	if (contacts)
		in->value[PC_CONTACTS] = contacts_parse(req, contacts, errors);
	in->given[PC_FISCAL] = g_cf;
	in->given[PC_SURNAME] = g_sur;
	in->given[PC_GIVEN] = g_given;
	in->given[PC_BIRTH_DATE] = g_bd;
	in->given[PC_BIRTH_PLACE] = g_bp;
	in->given[PC_ADDRESS] = g_addr;
	in->given[PC_CONTACTS] = g_cont;
	if (partial) {
		bool any = in->sex_given || in->citizenship_given || in->residence_given ||
		           in->sealed >= 0;
		for (int i = 0; i < PC__COUNT; i++)
			any |= in->given[i];
		if (!any)
			jsonx_error(errors, "", "min_properties",
			            "indicare almeno un campo da rettificare");
	}
}

/* Replies 500 for a value that does not decrypt (logged by crypt). */
int person_integrity(struct http_req *req)
{
	return http_reply_problem(req, PROBLEM_INTERNAL, NULL);
}

/* Decrypts column c of row into *out (NULL when SQL NULL). Returns a db_rc
 * or CRYPT_INTEGRITY. */
static int person_dec(struct http_req *req, PGresult *r, int row, int c, const char *tenant,
                      const char **out)
{
	*out = NULL;
	if (PQgetisnull(r, row, PERSON_COL_ENC0 + c))
		return DB_OK;
	struct crypt_ctx ctx = {"person", person_enc_column[c], tenant,
	                        PQgetvalue(r, row, PERSON_COL_ID)};
	size_t len;
	return crypt_decrypt(req->arena, &ctx, PQgetvalue(r, row, PERSON_COL_ENC0 + c), out, &len);
}

/* The wire representation of row (decrypted). *rc receives the failure. */
json_t *person_json(struct http_req *req, PGresult *r, int row, int *rc)
{
	const char *tenant = req->principal.tenant_id;
	const char *v[PC__COUNT];
	for (int c = 0; c < PC__COUNT; c++) {
		*rc = person_dec(req, r, row, c, tenant, &v[c]);
		if (*rc != DB_OK)
			return NULL;
	}
	json_t *address = v[PC_ADDRESS] ? json_loads(v[PC_ADDRESS], 0, NULL) : json_null();
	json_t *contacts = v[PC_CONTACTS] ? json_loads(v[PC_CONTACTS], 0, NULL) : json_array();
#define OPT(col) (PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col)))
#define OPTS(s)  ((s) ? json_string(s) : json_null())
	json_t *o = json_pack(
	    "{s:s, s:o, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:I, s:s, "
	    "s:s}",
	    "id", PQgetvalue(r, row, PERSON_COL_ID), "fiscal_code", OPTS(v[PC_FISCAL]),
	    "fiscal_code_kind", OPT(PERSON_COL_KIND), "surname", v[PC_SURNAME] ? v[PC_SURNAME] : "",
	    "given_name", v[PC_GIVEN] ? v[PC_GIVEN] : "", "sex", PQgetvalue(r, row, PERSON_COL_SEX),
	    "birth_date", OPTS(v[PC_BIRTH_DATE]), "birth_place", OPTS(v[PC_BIRTH_PLACE]),
	    "citizenship", OPT(PERSON_COL_CITIZENSHIP), "residence", OPT(PERSON_COL_RESIDENCE),
	    "address", address ? address : json_null(), "contacts",
	    contacts ? contacts : json_array(), "sealed",
	    strcmp(PQgetvalue(r, row, PERSON_COL_SEALED), "t") == 0, "restricted",
	    strcmp(PQgetvalue(r, row, PERSON_COL_RESTRICTED), "t") == 0, "version",
	    (json_int_t)atoll(PQgetvalue(r, row, PERSON_COL_VERSION)), "created_at",
	    PQgetvalue(r, row, PERSON_COL_CREATED), "updated_at",
	    PQgetvalue(r, row, PERSON_COL_UPDATED));
#undef OPT
#undef OPTS
	*rc = o ? DB_OK : DB_ERROR;
	return o;
}

/* Blind indexes of a person's names and fiscal code (arena-owned). */
struct person_bidx {
	const char *fiscal, *surname, *name;
};

/* Computes the name index over "SURNAME|GIVEN NAME" (normalised). */
int person_name_index(struct http_req *req, const char *surname, const char *given,
                      const char **out)
{
	char *s = person_name_normalise(req->arena, surname),
	     *g = person_name_normalise(req->arena, given);
	char *both = (s && g) ? arena_printf(req->arena, "%s|%s", s, g) : NULL;
	if (both == NULL)
		return DB_ERROR;
	return crypt_blind_index(req->arena, req->principal.tenant_id, "person.name", both, out);
}

int person_surname_index(struct http_req *req, const char *surname, const char **out)
{
	char *s = person_name_normalise(req->arena, surname);
	if (s == NULL)
		return DB_ERROR;
	return crypt_blind_index(req->arena, req->principal.tenant_id, "person.surname", s, out);
}

int person_fiscal_index(struct http_req *req, const char *cf, const char **out)
{
	return crypt_blind_index(req->arena, req->principal.tenant_id, "person.fiscal_code", cf,
	                         out);
}

static const struct db_stmt st_by_fiscal = {
    "persons_by_fiscal",
    "SELECT " PERSON_COLUMNS " FROM person WHERE tenant_id = $1 AND fiscal_code_bidx = $2",
};

/* Finds the person holding fiscal code cf (normalised), decrypting to be
 * sure; writes its id into id_out ("" when none). Returns a db_rc. */
static int person_find_fiscal(struct http_req *req, const char *cf, char id_out[37])
{
	id_out[0] = '\0';
	const char *idx;
	int rc = person_fiscal_index(req, cf, &idx);
	if (rc != DB_OK)
		return rc;
	const char *p[2] = {req->principal.tenant_id, idx};
	PGresult *r;
	rc = db_exec(req->arena, &st_by_fiscal, 2, p, &r);
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++) {
		const char *plain;
		rc = person_dec(req, r, i, PC_FISCAL, req->principal.tenant_id, &plain);
		if (rc == DB_OK && plain && strcmp(plain, cf) == 0)
			util_strlcpy(id_out, PQgetvalue(r, i, PERSON_COL_ID), 37);
	}
	return rc;
}

/* Replies 409 naming the person who already holds the fiscal code. */
static int person_conflict(struct http_req *req, const char *existing)
{
	char *loc = arena_printf(req->arena, "/api/v1/persons/%s", existing);
	return http_reply_problem_with(
	    req, PROBLEM_CONFLICT, "Esiste già una persona con questo codice fiscale",
	    json_pack("{s:s, s:s?}", "existing_id", existing, "existing", loc));
}

/* Encrypts in's value for column c and row id into *out (NULL stays NULL). */
static int person_enc(struct http_req *req, const struct person_in *in, int c, const char *id,
                      const char **out)
{
	*out = NULL;
	if (in->value[c] == NULL)
		return DB_OK;
	struct crypt_ctx ctx = {"person", person_enc_column[c], req->principal.tenant_id, id};
	return crypt_encrypt(req->arena, &ctx, in->value[c], strlen(in->value[c]), out);
}

static const struct db_stmt st_insert = {
    "persons_insert",
    "INSERT INTO person (tenant_id, id, fiscal_code_enc, surname_enc, given_name_enc, "
    "birth_date_enc, birth_place_enc, address_enc, contacts_enc, fiscal_code_kind, "
    "fiscal_code_bidx, surname_bidx, name_bidx, sex, birth_year, citizenship, "
    "residence_istat, created_by, updated_by, sealed) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
    "$18, $18, $19)",
};

static const struct db_stmt st_one = {
    "persons_one",
    "SELECT " PERSON_COLUMNS " FROM person WHERE tenant_id = $1 AND id = $2",
};

/* Loads person id of the caller's tenant. Replies 404 and returns 1 when
 * absent; returns a negative db_rc / HTTP_RETRY on failure (replied). */
static int person_load(struct http_req *req, const char *id, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_one, 2, p, r);
}

/* Replies with person id (ETag set). */
static int person_reply(struct http_req *req, const char *id, int status)
{
	PGresult *r;
	int rc = person_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	json_t *o = person_json(req, r, 0, &rc);
	if (o == NULL)
		return rc == CRYPT_INTEGRITY ? person_integrity(req) : http_reply_db_error(req, rc);
	http_set_etag(req, atoll(PQgetvalue(r, 0, PERSON_COL_VERSION)));
	return http_reply_json(req, status, o);
}

/* Only a service manager may seal a person or lift the seal (a sealed
 * person is hidden from everyone else who does not see one of their sealed
 * cases, so anybody else sealing would hide the person from themselves).
 * Returns 0 when the change from current (0/1) to want (-1 = no change) is
 * allowed, 1 after replying 403 naming the property. */
static int person_may_seal(struct http_req *req, int current, int want)
{
	if (want < 0 || want == current ||
	    policy_has_role(req->principal.roles, ROLE_SERVICE_MANAGER))
		return 0;
	api_reply_forbidden_field(req, "sealed", "solo il responsabile del servizio",
	                          "Solo il responsabile del servizio può rendere riservata una "
	                          "persona o toglierne la riserva");
	return 1;
}

/* POST /api/v1/persons */
int api_person_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct person_in in;
	json_t *errors = jsonx_errors_new();
	person_parse(req, false, &in, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);
	if (person_may_seal(req, 0, in.sealed))
		return 0;

	int rc = DB_OK;
	char existing[37];
	if (in.value[PC_FISCAL]) {
		rc = person_find_fiscal(req, in.cf_norm, existing);
		if (rc == DB_OK && existing[0])
			return person_conflict(req, existing);
	}
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *enc[PC__COUNT];
	for (int c = 0; rc == DB_OK && c < PC__COUNT; c++)
		rc = person_enc(req, &in, c, id, &enc[c]);
	struct person_bidx bx = {NULL, NULL, NULL};
	if (rc == DB_OK && in.value[PC_FISCAL])
		rc = person_fiscal_index(req, in.cf_norm, &bx.fiscal);
	if (rc == DB_OK)
		rc = person_surname_index(req, in.value[PC_SURNAME], &bx.surname);
	if (rc == DB_OK)
		rc = person_name_index(req, in.value[PC_SURNAME], in.value[PC_GIVEN], &bx.name);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char year[8];
	snprintf(year, sizeof year, "%d", in.birth_year);
	const char *p[19] = {req->principal.tenant_id,
	                     id,
	                     enc[PC_FISCAL],
	                     enc[PC_SURNAME],
	                     enc[PC_GIVEN],
	                     enc[PC_BIRTH_DATE],
	                     enc[PC_BIRTH_PLACE],
	                     enc[PC_ADDRESS],
	                     enc[PC_CONTACTS],
	                     in.cf_kind,
	                     bx.fiscal,
	                     bx.surname,
	                     bx.name,
	                     in.sex,
	                     in.birth_year ? year : NULL,
	                     in.citizenship,
	                     in.residence,
	                     req->principal.user_id,
	                     in.sealed == 1 ? "true" : "false"};
	rc = db_exec(req->arena, &st_insert, 19, p, NULL);
	if (rc == DB_UNIQUE) /* created concurrently, or sealed and hidden from the caller */
		return http_reply_problem(req, PROBLEM_CONFLICT,
		                          "Esiste già una persona con questo codice fiscale");
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/persons/%s", id);
	if (loc == NULL)
		return -1;
	http_add_header(req, "Location", loc);
	return person_reply(req, id, 201);
}

/* GET /api/v1/persons/{id} */
int api_person_read(struct http_req *req)
{
	return person_reply(req, http_param(req, 0), 200);
}

static const struct db_stmt st_update = {
    "persons_update",
    "UPDATE person SET fiscal_code_enc = $3, surname_enc = $4, given_name_enc = $5, "
    "birth_date_enc = $6, birth_place_enc = $7, address_enc = $8, contacts_enc = $9, "
    "fiscal_code_kind = $10, fiscal_code_bidx = $11, surname_bidx = $12, name_bidx = $13, "
    "sex = $14, birth_year = $15, citizenship = $16, residence_istat = $17, "
    "updated_by = $18, updated_at = now(), version = version + 1, sealed = $20 "
    "WHERE tenant_id = $1 AND id = $2 AND version = $19",
};

static const struct db_stmt st_version = {
    "persons_version_insert",
    "INSERT INTO person_version (tenant_id, id, person_id, version, previous_enc, reason_enc, "
    "changed_fields, changed_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
};

/* Stores the representation being replaced, with why and by whom. */
static int person_keep_version(struct http_req *req, const char *id, json_t *previous,
                               const char *version, const char *reason, const char *fields)
{
	char vid[UTIL_UUID_LEN + 1];
	util_uuid_v4(vid);
	const char *text = json_text(req->arena, previous);
	if (text == NULL)
		return DB_ERROR;
	const char *prev_enc, *reason_enc;
	struct crypt_ctx c1 = {"person_version", "previous", req->principal.tenant_id, vid};
	struct crypt_ctx c2 = {"person_version", "reason", req->principal.tenant_id, vid};
	int rc = crypt_encrypt(req->arena, &c1, text, strlen(text), &prev_enc);
	if (rc == DB_OK)
		rc = crypt_encrypt(req->arena, &c2, reason, strlen(reason), &reason_enc);
	if (rc != DB_OK)
		return rc;
	const char *p[8] = {
	    req->principal.tenant_id, vid, id, version, prev_enc, reason_enc, fields,
	    req->principal.user_id};
	return db_exec(req->arena, &st_version, 8, p, NULL);
}

/* PATCH /api/v1/persons/{id}: rectification; keeps the previous values. */
int api_person_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct person_in in;
	json_t *errors = jsonx_errors_new();
	person_parse(req, true, &in, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	const char *id = http_param(req, 0);
	PGresult *r;
	int rc = person_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *version = PQgetvalue(r, 0, PERSON_COL_VERSION);
	if (http_check_if_match(req, atoll(version)))
		return 0;
	int was_sealed = strcmp(PQgetvalue(r, 0, PERSON_COL_SEALED), "t") == 0;
	if (person_may_seal(req, was_sealed, in.sealed))
		return 0;
	json_t *cur = person_json(req, r, 0, &rc);
	if (cur == NULL)
		return rc == CRYPT_INTEGRITY ? person_integrity(req) : http_reply_db_error(req, rc);
	json_t *prev = json_deep_copy(cur);
	if (arena_defer(req->arena, (void (*)(void *))json_decref, prev) != 0 ||
	    arena_defer(req->arena, (void (*)(void *))json_decref, cur) != 0)
		return -1;

	/* Merge: the new value where given, else the current plaintext. */
	for (int c = 0; c < PC__COUNT; c++) {
		if (in.given[c])
			continue;
		json_t *v = json_object_get(cur, person_enc_column[c]);
		if (json_is_string(v))
			in.value[c] = json_string_value(v);
		else if (json_is_object(v) || (json_is_array(v) && json_array_size(v) > 0))
			in.value[c] = json_text(req->arena, v);
	}
	if (!in.given[PC_FISCAL] && in.value[PC_FISCAL]) {
		util_strlcpy(in.cf_norm, in.value[PC_FISCAL], sizeof in.cf_norm);
		in.cf_kind = json_string_value(json_object_get(cur, "fiscal_code_kind"));
	}
	if (!in.sex_given)
		in.sex = json_string_value(json_object_get(cur, "sex"));
	if (!in.citizenship_given)
		in.citizenship = json_string_value(json_object_get(cur, "citizenship"));
	if (!in.residence_given)
		in.residence = json_string_value(json_object_get(cur, "residence"));
	if (!in.given[PC_BIRTH_DATE] && in.value[PC_BIRTH_DATE])
		in.birth_year = atoi(in.value[PC_BIRTH_DATE]);
	if (in.value[PC_SURNAME] == NULL || in.value[PC_GIVEN] == NULL || in.sex == NULL) {
		errors = jsonx_errors_new();
		jsonx_error(errors, in.sex ? "surname" : "sex", "required",
		            "non può essere cancellato");
		return http_reply_validation(req, errors);
	}
	/* The merged record must still agree with its fiscal code. */
	json_t *merged = json_object();
	if (arena_defer(req->arena, (void (*)(void *))json_decref, merged) != 0)
		return -1;
	for (int c = 0; c < PC__COUNT; c++)
		if (in.value[c] && c != PC_ADDRESS && c != PC_CONTACTS)
			json_object_set_new(merged, person_enc_column[c], json_string(in.value[c]));
	json_object_set_new(merged, "sex", json_string(in.sex));
	json_t *saved = req->json;
	req->json = merged;
	struct person_in check;
	errors = jsonx_errors_new();
	person_parse(req, false, &check, errors);
	req->json = saved;
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	char existing[37] = "";
	if (in.given[PC_FISCAL] && in.value[PC_FISCAL]) {
		rc = person_find_fiscal(req, in.cf_norm, existing);
		if (rc != DB_OK)
			return http_reply_db_error(req, rc);
		if (existing[0] && strcmp(existing, id) != 0)
			return person_conflict(req, existing);
	}
	/* Which properties change, for the history. */
	char fields[256] = "{";
	size_t used = 1;
	const char *names[] = {"fiscal_code", "surname",     "given_name",  "sex",
	                       "birth_date",  "birth_place", "citizenship", "residence",
	                       "address",     "contacts",    "sealed"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (json_object_get(req->json, names[i]) == NULL)
			continue;
		int w = snprintf(fields + used, sizeof fields - used, "%s%s", used > 1 ? "," : "",
		                 names[i]);
		if (w > 0 && (size_t)w < sizeof fields - used)
			used += (size_t)w;
	}
	util_strlcpy(fields + used, "}", sizeof fields - used);

	const char *enc[PC__COUNT];
	for (int c = 0; rc == DB_OK && c < PC__COUNT; c++)
		rc = person_enc(req, &in, c, id, &enc[c]);
	struct person_bidx bx = {NULL, NULL, NULL};
	if (rc == DB_OK && in.value[PC_FISCAL])
		rc = person_fiscal_index(req, in.cf_norm, &bx.fiscal);
	if (rc == DB_OK)
		rc = person_surname_index(req, in.value[PC_SURNAME], &bx.surname);
	if (rc == DB_OK)
		rc = person_name_index(req, in.value[PC_SURNAME], in.value[PC_GIVEN], &bx.name);
	if (rc == DB_OK)
		rc = person_keep_version(req, id, prev, version, in.reason, fields);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char year[8];
	snprintf(year, sizeof year, "%d", in.birth_year);
	const char *p[20] = {req->principal.tenant_id,
	                     id,
	                     enc[PC_FISCAL],
	                     enc[PC_SURNAME],
	                     enc[PC_GIVEN],
	                     enc[PC_BIRTH_DATE],
	                     enc[PC_BIRTH_PLACE],
	                     enc[PC_ADDRESS],
	                     enc[PC_CONTACTS],
	                     in.value[PC_FISCAL] ? in.cf_kind : NULL,
	                     bx.fiscal,
	                     bx.surname,
	                     bx.name,
	                     in.sex,
	                     in.value[PC_BIRTH_DATE] ? year : NULL,
	                     in.citizenship,
	                     in.residence,
	                     req->principal.user_id,
	                     version,
	                     (in.sealed < 0 ? was_sealed : in.sealed) ? "true" : "false"};
	PGresult *ur;
	rc = db_exec(req->arena, &st_update, 20, p, &ur);
	if (rc == DB_UNIQUE)
		return HTTP_RETRY;
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY; /* changed under us: the retry answers 412 */
	return person_reply(req, id, 200);
}

/* Borrows id; *out is a new reference, NULL when there is no such person. */
int api_person_export(struct http_req *req, const char *id, json_t **out)
{
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	*out = NULL;
	int rc = db_exec(req->arena, &st_one, 2, p, &r);
	if (rc != DB_OK || PQntuples(r) != 1)
		return rc;
	*out = person_json(req, r, 0, &rc);
	return rc;
}
