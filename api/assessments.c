/* /api/v1/cases/{id}/assessments: structured assessments of a case. Each
 * one is a new version of its kind (none is edited). The coded answers are
 * stored in clear for the flows; the free text is ciphertext and is left out
 * for a caller whose only content role is administrative (DESIGN §1).
 *   sina:  the attributes and lists of the SINA element of
 *          PS_PSA_SINA201812.xsd, as snake_case keys;
 *   sinba: the assessment attributes of the SINBA element of SINBA.xsd (what
 *          the export derives from the person or the interventions, such as
 *          IDBeneficiario, AnnoNascita or Prestazioni, is not asked); the
 *          person must be a minor on assessed_on;
 *   generic: a small object of strings and numbers.
 * Each code is checked against its code list (schema/codes/sina-*, sinba-*,
 * extracted from the XSD enumerations). */
#include "api/api.h"
#include "api/case_common.h"
#include "api/validate.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FREE_TEXT_MAX_CHARS 20000
#define GENERIC_MAX_KEYS    100
#define GENERIC_MAX_CHARS   200

enum answer_type {
	ANS_CODE,    /* one code of list */
	ANS_CODES,   /* an array of distinct codes of list */
	ANS_MONTH,   /* "YYYY-MM" (the XSD's MM/AAAA), not after assessed_on */
	ANS_COUNTRY, /* ISO 3166-1 numeric */
	ANS_REGION,  /* ISTAT region code 01-20 */
	ANS_COUNT9,  /* integer 1-9 */
};

struct answer_spec {
	const char *key;
	enum answer_type type;
	const char *list;
	bool required; /* use="required" in the XSD */
};

/* SINAType: attributes, then NecessitaInterventiSociali and InvaliditaCivile. */
static const struct answer_spec sina_spec[] = {
    {"mobilita", ANS_CODE, "sina-mobilita", true},
    {"attivita_vita_quotidiana", ANS_CODE, "sina-attivita-vita-quotidiana", true},
    {"disturbi_area_cognitiva", ANS_CODE, "sina-disturbi-area-cognitiva", false},
    {"disturbi_comportamentali", ANS_CODE, "sina-disturbi-comportamentali", true},
    {"necessita_cure_sanitarie", ANS_CODE, "sina-necessita-cure-sanitarie", false},
    {"area_reddituale", ANS_CODE, "sina-area-reddituale", true},
    {"area_supporto", ANS_CODE, "sina-area-supporto", true},
    {"fonte_derivazione_valutazione", ANS_CODE, "sina-fonte-derivazione-valutazione", true},
    {"strumento_valutazione", ANS_CODE, "sina-strumento-valutazione", true},
    {"fonte_derivazione_invalidita", ANS_CODE, "sina-fonte-derivazione-invalidita", false},
    {"necessita_interventi_sociali", ANS_CODES, "inps-prestazioni", false},
    {"invalidita_civile", ANS_CODES, "sina-invalidita-civile", false},
};

/* SinbaType: the assessment's attributes and the Famiglia list. */
static const struct answer_spec sinba_spec[] = {
    {"minore_straniero_non_accompagnato", ANS_CODE, "siuss-si-no", true},
    {"condizione_minore", ANS_CODE, "sinba-condizione-minore", true},
    {"luogo_vita", ANS_CODE, "sinba-luogo-vita", true},
    {"scuola_frequentata", ANS_CODE, "sinba-scuola-frequentata", true},
    {"condizione_lavoro", ANS_CODE, "sinba-condizione-lavoro", true},
    {"disabilita", ANS_CODE, "siuss-si-no", true},
    {"tipo_disabilita", ANS_CODE, "sinba-tipo-disabilita", false},
    {"invalidita_civile", ANS_CODE, "sinba-invalidita-civile", false},
    {"cittadinanza_padre", ANS_COUNTRY, NULL, false},
    {"cittadinanza_madre", ANS_COUNTRY, NULL, false},
    {"regione_residenza_padre", ANS_REGION, NULL, false},
    {"regione_residenza_madre", ANS_REGION, NULL, false},
    {"titolo_studio_padre", ANS_CODE, "sinba-titolo-studio", false},
    {"titolo_studio_madre", ANS_CODE, "sinba-titolo-studio", false},
    {"occupazione_padre", ANS_CODE, "sinba-occupazione", false},
    {"occupazione_madre", ANS_CODE, "sinba-occupazione", false},
    {"data_prima_segnalazione", ANS_MONTH, NULL, true},
    {"fonte_segnalazione", ANS_CODE, "sinba-fonte-segnalazione", true},
    {"valutazione_minore", ANS_CODE, "sinba-valutazione-minore", true},
    {"valutazione_famiglia_minore", ANS_CODE, "sinba-valutazione-famiglia-minore", true},
    {"segnalazione_autorita_giudiziaria", ANS_CODE, "siuss-si-no", true},
    {"data_segnalazione", ANS_MONTH, NULL, false},
    {"provvedimento_giudiziario", ANS_CODE, "siuss-si-no", true},
    {"data_provvedimento_giudiziario", ANS_MONTH, NULL, false},
    {"autorita_provvedimento", ANS_CODE, "sinba-autorita-provvedimento", false},
    {"potesta_tutela", ANS_CODE, "sinba-potesta-tutela", false},
    {"tipo_provvedimento_giudiziario", ANS_CODE, "sinba-tipo-provvedimento-giudiziario", false},
    {"forma_intervento_affido", ANS_CODE, "sinba-forma-intervento-affido", false},
    {"tipo_intervento_affido", ANS_CODE, "sinba-tipo-intervento-affido", false},
    {"durata_affido", ANS_CODE, "sinba-durata-affido", false},
    {"carattere_affido", ANS_CODE, "sinba-carattere-affido", false},
    {"esito_affido", ANS_CODE, "sinba-esito-affido", false},
    {"carattere_inserimento_residenziale", ANS_CODE, "sinba-carattere-inserimento-residenziale",
     false},
    {"forma_inserimento_residenziale", ANS_CODE, "sinba-forma-inserimento-residenziale", false},
    {"tipo_inserimento_residenziale", ANS_CODE, "sinba-tipo-inserimento-residenziale", false},
    {"esito_inserimento_struttura", ANS_CODE, "sinba-esito-inserimento-struttura", false},
    {"motivazione_chiusura_carico", ANS_CODE, "sinba-motivazione-chiusura-carico", false},
    {"situazione_chiusura_carico", ANS_CODE, "sinba-situazione-chiusura-carico", false},
    {"collaborazioni_interventi", ANS_CODE, "sinba-collaborazioni-interventi", false},
    {"numero_componenti_isee", ANS_COUNT9, NULL, false},
    {"fascia_isee", ANS_CODE, "sinba-fascia-isee", false},
    {"composizione_famiglia", ANS_CODES, "sinba-composizione-famiglia", true},
};

/* Checks a code-shaped string: 1-32 characters, no spaces or controls. */
static bool answer_code_shape(json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]))
			return false;
	return true;
}

/* Checks one coded answer v of spec s; codes are queued in pending. */
static void answer_check(const struct answer_spec *s, json_t *v, const char *field,
                         const char *assessed_on, json_t *pending, json_t *errors)
{
	const char *str = json_string_value(v), *rule, *m;
	char item[160];
	switch (s->type) {
	case ANS_CODE:
		if (!answer_code_shape(v))
			jsonx_error(errors, field, "type", "deve essere un codice (stringa)");
		else
			api_codes_add(pending, field, s->list, str);
		return;
	case ANS_CODES: {
		if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 50) {
			jsonx_error(errors, field, "type", "deve essere un array di 1-50 codici");
			return;
		}
		size_t i, j;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			snprintf(item, sizeof item, "%s[%zu]", field, i);
			if (!answer_code_shape(e)) {
				jsonx_error(errors, item, "type",
				            "deve essere un codice (stringa)");
				continue;
			}
			for (j = 0; j < i; j++)
				if (json_equal(json_array_get(v, j), e))
					break;
			if (j < i)
				jsonx_error(errors, item, "unique", "codice ripetuto");
			else
				api_codes_add(pending, item, s->list, json_string_value(e));
		}
		return;
	}
	case ANS_MONTH: {
		int32_t days;
		char date[16];
		if (str == NULL || strlen(str) != 7) {
			jsonx_error(errors, field, "format", "mese nella forma AAAA-MM");
			return;
		}
		snprintf(date, sizeof date, "%s-01", str);
		if (validate_date(date, &days, &rule) != NULL || str[0] < '1' || str[0] > '2' ||
		    (str[0] == '1' && str[1] != '9') || (str[0] == '2' && str[1] != '0'))
			jsonx_error(errors, field, "format",
			            "mese nella forma AAAA-MM (1900-2099)");
		else if (assessed_on != NULL && strncmp(str, assessed_on, 7) > 0)
			jsonx_error(errors, field, "range",
			            "è successivo alla data della valutazione");
		return;
	}
	case ANS_COUNTRY:
		if (str == NULL)
			jsonx_error(errors, field, "type", "deve essere una stringa");
		else if ((m = validate_iso_country(str, &rule)) != NULL)
			jsonx_error(errors, field, rule, m);
		return;
	case ANS_REGION:
		if (str == NULL || strlen(str) != 2 || !isdigit((unsigned char)str[0]) ||
		    !isdigit((unsigned char)str[1]) || atoi(str) < 1 || atoi(str) > 20)
			jsonx_error(errors, field, "format",
			            "codice ISTAT della regione, da 01 a 20");
		return;
	case ANS_COUNT9:
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 9)
			jsonx_error(errors, field, "range", "intero da 1 a 9");
		return;
	}
}

/* Checks the answers of a sina or sinba assessment against spec: unknown
 * keys, required ones, shapes; codes are queued in pending. */
static void answers_check_coded(json_t *answers, const struct answer_spec *spec, size_t n,
                                const char *assessed_on, json_t *pending, json_t *errors)
{
	char field[128];
	const char *key;
	json_t *v;
	json_object_foreach(answers, key, v)
	{
		size_t i = 0;
		while (i < n && strcmp(spec[i].key, key) != 0)
			i++;
		if (i == n) {
			snprintf(field, sizeof field, "answers.%.100s", key);
			jsonx_error(errors, field, "unknown",
			            "domanda non prevista per questo tipo");
		}
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(field, sizeof field, "answers.%s", spec[i].key);
		v = json_object_get(answers, spec[i].key);
		if (v == NULL || json_is_null(v)) {
			if (spec[i].required)
				jsonx_error(errors, field, "required", "risposta obbligatoria");
			continue;
		}
		answer_check(&spec[i], v, field, assessed_on, pending, errors);
	}
}

/* Checks generic answers: at most GENERIC_MAX_KEYS snake_case keys, each a
 * number or a short string (free text belongs in free_text, encrypted). */
static void answers_check_generic(json_t *answers, json_t *errors)
{
	char field[128];
	const char *key;
	json_t *v;
	if (json_object_size(answers) > GENERIC_MAX_KEYS)
		jsonx_error(errors, "answers", "max_properties", "al massimo 100 risposte");
	json_object_foreach(answers, key, v)
	{
		snprintf(field, sizeof field, "answers.%.100s", key);
		size_t n = strlen(key);
		bool ok = n >= 1 && n <= 64 && islower((unsigned char)key[0]);
		for (size_t i = 0; ok && i < n; i++)
			ok = islower((unsigned char)key[i]) || isdigit((unsigned char)key[i]) ||
			     key[i] == '_';
		if (!ok)
			jsonx_error(errors, field, "format",
			            "chiave in snake_case (minuscole, cifre, _), al massimo 64");
		else if (json_is_string(v)) {
			if (json_string_length(v) > GENERIC_MAX_CHARS)
				jsonx_error(errors, field, "max_length",
				            "al massimo 200 caratteri (il testo libero va in "
				            "free_text)");
		} else if (!json_is_number(v))
			jsonx_error(errors, field, "type", "deve essere una stringa o un numero");
	}
}

static const struct db_stmt st_person_birth = {
    "assessments_person_birth",
    "SELECT birth_date_enc, birth_year FROM person WHERE tenant_id = $1 AND id = $2",
};

/* The age in whole years on date on (both "YYYY-MM-DD"). */
static int age_on(const char *birth, const char *on)
{
	int age = atoi(on) - atoi(birth);
	if (strcmp(on + 5, birth + 5) < 0)
		age--;
	return age;
}

/* Checks the case's person against assessed_on: born by then, and for sinba
 * a minor then (from the birth date, or from the birth year when only that
 * is known: a person 19 or more years after their birth year is an adult). */
static int assessment_check_person(struct http_req *req, const char *person_id, const char *kind,
                                   const char *assessed_on, json_t *errors)
{
	const char *p[2] = {req->principal.tenant_id, person_id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_person_birth, 2, p, &r);
	if (rc != DB_OK || PQntuples(r) != 1)
		return rc != DB_OK ? rc : DB_ERROR;
	const char *birth;
	rc = api_case_decrypt(req, "person", "birth_date", person_id, r, 0, 0, &birth);
	if (rc != DB_OK)
		return rc;
	int year = PQgetisnull(r, 0, 1) ? 0 : atoi(PQgetvalue(r, 0, 1));
	if (birth != NULL && strcmp(assessed_on, birth) < 0)
		jsonx_error(errors, "assessed_on", "range", "precede la nascita della persona");
	if (strcmp(kind, "sinba") != 0)
		return DB_OK;
	char msg[160];
	if (birth != NULL && age_on(birth, assessed_on) >= 18) {
		snprintf(
		    msg, sizeof msg,
		    "SINBA riguarda i minori: la persona ha %d anni alla data della valutazione",
		    age_on(birth, assessed_on));
		jsonx_error(errors, "kind", "minor", msg);
	} else if (birth == NULL && year != 0 && atoi(assessed_on) - year > 18) {
		jsonx_error(errors, "kind", "minor",
		            "SINBA riguarda i minori: la persona è maggiorenne alla data della "
		            "valutazione");
	} else if (birth == NULL && year == 0) {
		jsonx_error(errors, "kind", "minor",
		            "SINBA riguarda i minori: registrare prima la data di nascita della "
		            "persona");
	}
	return DB_OK;
}

/* clang-format off */
#define ASSESSMENT_COLUMNS \
	"s.id, s.case_id, s.kind, s.version, " API_DATE("s.assessed_on") ", s.answers::text, " \
	"s.free_text_enc, " API_TS("s.created_at") ", s.created_by, u.username, " \
	"(SELECT count(*) FROM assessment_annotation n WHERE n.tenant_id = s.tenant_id " \
	"AND n.assessment_id = s.id)"
/* clang-format on */
enum {
	S_ID,
	S_CASE,
	S_KIND,
	S_VERSION,
	S_ASSESSED,
	S_ANSWERS,
	S_FREE,
	S_CREATED,
	S_BY,
	S_USERNAME,
	S_ANNOTATIONS
};

/* True when the caller may read assessment free text: a content role other
 * than administrative (the field-level projection of DESIGN §5.2). */
static bool assessment_sees_free_text(struct http_req *req)
{
	return policy_has_role(req->principal.roles, ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER);
}

/* The wire representation of row i, projected for the caller; NULL with *rc. */
static json_t *assessment_json(struct http_req *req, PGresult *r, int i, int *rc)
{
	json_t *answers = json_loads(PQgetvalue(r, i, S_ANSWERS), 0, NULL);
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:I, s:s, s:o, s:s, s:{s:o, s:o}, s:I}", "id", PQgetvalue(r, i, S_ID),
	    "case_id", PQgetvalue(r, i, S_CASE), "kind", PQgetvalue(r, i, S_KIND), "version",
	    (json_int_t)atoll(PQgetvalue(r, i, S_VERSION)), "assessed_on",
	    PQgetvalue(r, i, S_ASSESSED), "answers", answers ? answers : json_object(),
	    "created_at", PQgetvalue(r, i, S_CREATED), "created_by", "id", api_case_opt(r, i, S_BY),
	    "username", api_case_opt(r, i, S_USERNAME), "annotation_count",
	    (json_int_t)atoll(PQgetvalue(r, i, S_ANNOTATIONS)));
	*rc = o ? DB_OK : DB_ERROR;
	if (o == NULL || !assessment_sees_free_text(req))
		return o;
	const char *text;
	*rc = api_case_decrypt(req, "assessment", "free_text", PQgetvalue(r, i, S_ID), r, i, S_FREE,
	                       &text);
	if (*rc != DB_OK) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "free_text", text ? json_string(text) : json_null());
	return o;
}

static const struct db_stmt st_list = {
    "assessments_list",
    "SELECT " ASSESSMENT_COLUMNS " FROM assessment s LEFT JOIN app_user u ON u.id = "
    "s.created_by WHERE s.tenant_id = $1 AND s.case_id = $2 AND ($3::text IS NULL OR "
    "s.kind = $3) AND ($4::uuid IS NULL OR (s.assessed_on, s.id) < (SELECT k.assessed_on, "
    "k.id FROM assessment k WHERE k.tenant_id = $1 AND k.case_id = $2 AND k.id = $4)) "
    "ORDER BY s.assessed_on DESC, s.id DESC LIMIT $5",
};

static const char *const kinds[] = {"generic", "sina", "sinba", NULL};

/* GET /api/v1/cases/{id}/assessments?kind=&cursor=&limit= (newest first) */
int api_case_assessment_list(struct http_req *req)
{
	int limit;
	const char *cursor, *kind = http_query(req, "kind");
	if (http_page_limit(req, 50, &limit) || api_case_cursor(req, &cursor))
		return 0;
	if (kind != NULL && !jsonx_in(kind, kinds))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "kind: uno tra generic, sina, sinba");
	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[5] = {req->principal.tenant_id, c.id, kind, cursor, slimit};
	PGresult *r;
	if ((rc = db_exec(req->arena, &st_list, 5, p, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	return api_case_reply_page(req, r, limit, S_ID, NULL, assessment_json);
}

static const struct db_stmt st_one = {
    "assessments_one",
    "SELECT " ASSESSMENT_COLUMNS " FROM assessment s LEFT JOIN app_user u ON u.id = "
    "s.created_by WHERE s.tenant_id = $1 AND s.case_id = $2 AND s.id = $3",
};

/* Replies with assessment aid of case case_id. */
static int assessment_reply(struct http_req *req, const char *case_id, const char *aid, int status)
{
	if (!util_is_uuid(aid))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	const char *p[3] = {req->principal.tenant_id, case_id, aid};
	PGresult *r;
	int rc = db_exec(req->arena, &st_one, 3, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	json_t *o = assessment_json(req, r, 0, &rc);
	if (o == NULL)
		return api_case_fail(req, rc);
	rc = api_assessment_annotations_attach(req, aid, assessment_sees_free_text(req), o);
	if (rc != DB_OK) {
		json_decref(o);
		return api_case_fail(req, rc);
	}
	return http_reply_json(req, status, o);
}

/* GET /api/v1/cases/{id}/assessments/{assessment_id} */
int api_case_assessment_read(struct http_req *req)
{
	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	return assessment_reply(req, c.id, http_param(req, 1), 200);
}

static const struct db_stmt st_insert = {
    "assessments_insert",
    "INSERT INTO assessment (tenant_id, id, case_id, kind, version, assessed_on, answers, "
    "free_text_enc, created_by) SELECT $1, $2, $3, $4, coalesce(max(version), 0) + 1, $5, "
    "$6::jsonb, $7, $8 FROM assessment WHERE tenant_id = $1 AND case_id = $3 AND kind = $4",
};

/* POST /api/v1/cases/{id}/assessments: {kind, assessed_on, answers,
 * free_text}. The case must be open. */
int api_case_assessment_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *kind = NULL, *assessed_on = NULL, *free_text = NULL;
	json_t *answers = NULL;
	const struct jsonx_field spec[] = {
	    {"kind", JX_STRING, JX_REQUIRED, 1, 16, &kind, NULL},
	    {"assessed_on", JX_STRING, JX_REQUIRED, 1, 10, &assessed_on, NULL},
	    {"answers", JX_OBJECT, JX_REQUIRED, 0, 0, &answers, NULL},
	    {"free_text", JX_STRING, JX_NULLABLE, 1, FREE_TEXT_MAX_CHARS, &free_text, NULL},
	};
	json_t *errors = jsonx_errors_new(), *pending = json_array();
	if (api_case_keep(req, errors) != 0 || api_case_keep(req, pending) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	int32_t days;
	if (assessed_on != NULL && !api_case_date(errors, "assessed_on", assessed_on, true, &days))
		assessed_on = NULL;
	if (kind != NULL && !jsonx_in(kind, kinds)) {
		jsonx_error(errors, "kind", "enum", "uno tra generic, sina, sinba");
		kind = NULL;
	}
	if (kind != NULL && answers != NULL) {
		if (strcmp(kind, "sina") == 0)
			answers_check_coded(answers, sina_spec,
			                    sizeof sina_spec / sizeof sina_spec[0], assessed_on,
			                    pending, errors);
		else if (strcmp(kind, "sinba") == 0)
			answers_check_coded(answers, sinba_spec,
			                    sizeof sinba_spec / sizeof sinba_spec[0], assessed_on,
			                    pending, errors);
		else
			answers_check_generic(answers, errors);
	}
	int rc = api_codes_verify(req, pending, errors);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	struct api_case_ref c;
	if ((rc = api_case_find(req, http_param(req, 0), &c)) != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	if (strcmp(c.status, "closed") == 0)
		return api_case_closed_conflict(req);
	if ((rc = assessment_check_person(req, c.person_id, kind, assessed_on, errors)) != DB_OK)
		return api_case_fail(req, rc);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	/* Unanswered optional questions (null) are not stored. */
	json_t *stored = json_object();
	if (api_case_keep(req, stored) != 0)
		return -1;
	const char *key;
	json_t *v;
	json_object_foreach(answers, key, v)
	{
		if (!json_is_null(v))
			json_object_set(stored, key, v);
	}
	char *text = json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL || arena_defer(req->arena, free, text) != 0)
		return -1;
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *enc;
	if ((rc = api_case_encrypt(req, "assessment", "free_text", id, free_text, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[8] = {req->principal.tenant_id, id, c.id, kind, assessed_on, text, enc,
	                    req->principal.user_id};
	rc = db_exec(req->arena, &st_insert, 8, p, NULL);
	if (rc == DB_UNIQUE)
		return HTTP_RETRY; /* a concurrent assessment took the version */
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/cases/%s/assessments/%s", c.id, id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return assessment_reply(req, c.id, id, 201);
}
