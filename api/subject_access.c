/* Right of access (GDPR art. 15; DESIGN §5.3; docs/security.md, "Subject
 * access"): POST /api/v1/persons/{id}/subject-access queues a job that
 * gathers, in one transaction as the requester (DPO or service manager),
 * everything the Comune holds about the person: personal data, households
 * (other members' personal data redacted), cases, assessments and their
 * annotations, plans,
 * interventions, diary notes (notes in other members' cases redacted),
 * front-office contacts, ISEE, documents, the rectification history and who
 * accessed the file and when (from audit_event). Notes and assessments the
 * service manager withheld (Codice privacy art. 2-undecies) and sealed cases
 * are listed as withheld with the reason, never silently dropped. The result
 * is JSON or an HTML page with Italian headings (subject_access_html.c).
 * Every object read leaves an audit event, as a GET would. */
#include "api/api.h"
#include "api/case_common.h"
#include "api/jobs.h"
#include "api/subject_access.h"
#include "auth/audit.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"
#include "server/log.h"
#include "server/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The subject's households, and the cases the export covers: the subject's
 * own and those of the subject's households (other members' cases), never
 * a sealed one ($1 tenant, $2 person). */
#define SA_HOUSEHOLDS                                                                              \
	"(SELECT m.household_id FROM household_member m WHERE m.tenant_id = $1 "                   \
	"AND m.person_id = $2)"
#define SA_CASES                                                                                   \
	"social_case c WHERE c.tenant_id = $1 AND NOT c.sealed AND (c.person_id = $2 OR "          \
	"c.household_id IN " SA_HOUSEHOLDS ")"

/* Every section statement returns: id, the item as JSON, the ciphertext of
 * its free text (NULL when none or not to be read), the withholding basis,
 * and whether it is about other persons (redacted). */
static const struct db_stmt st_households = {
    "sa_households",
    "SELECT m.household_id::text, jsonb_build_object('household_id', m.household_id, "
    "'relation', m.relation, 'head', m.head, 'valid_from', m.valid_from, 'valid_to', "
    "m.valid_to, 'other_members', (SELECT coalesce(jsonb_agg(jsonb_build_object('relation', "
    "o.relation, 'head', o.head, 'valid_from', o.valid_from, 'valid_to', o.valid_to, "
    "'personal_data', 'redacted') ORDER BY o.valid_from, o.id), '[]') FROM household_member o "
    "WHERE o.tenant_id = $1 AND o.household_id = m.household_id AND o.person_id <> $2))::text, "
    "h.address_enc, NULL, false FROM household_member m JOIN household h ON h.tenant_id = "
    "m.tenant_id AND h.id = m.household_id WHERE m.tenant_id = $1 AND m.person_id = $2 "
    "ORDER BY m.valid_from, m.id",
};

static const struct db_stmt st_isee = {
    "sa_isee",
    "SELECT i.id::text, jsonb_build_object('id', i.id, 'household_id', i.household_id, "
    "'dsu_protocol', i.dsu_protocol, 'year', i.year, 'signed_on', i.signed_on, "
    "'indicator_type', i.indicator_type, 'value_cents', i.value_cents, 'valid_from', "
    "i.valid_from, 'valid_to', i.valid_to)::text, NULL, NULL, false FROM isee i "
    "WHERE i.tenant_id = $1 AND (i.person_id = $2 OR i.household_id IN " SA_HOUSEHOLDS ") "
    "ORDER BY i.signed_on, i.id",
};

static const struct db_stmt st_cases = {
    "sa_cases",
    "SELECT c.id::text, CASE WHEN c.person_id = $2 THEN jsonb_build_object('id', c.id, "
    "'household_id', c.household_id, 'area', c.area, 'status', c.status, 'opened_on', "
    "c.opened_on, 'closed_on', c.closed_on, 'closure_reason', c.closure_reason, 'subject', "
    "'self') ELSE jsonb_build_object('id', c.id, 'household_id', c.household_id, 'subject', "
    "'household_member') END::text, NULL, NULL, c.person_id <> $2 "
    "FROM " SA_CASES " ORDER BY c.opened_on, c.id",
};

static const struct db_stmt st_notes = {
    "sa_notes",
    "SELECT n.id::text, jsonb_build_object('id', n.id, 'case_id', n.case_id, 'written_on', "
    "n.written_on, 'confidentiality', n.confidentiality)::text, CASE WHEN c.person_id = $2 "
    "AND n.withheld_basis IS NULL THEN n.body_enc END, n.withheld_basis, c.person_id <> $2 "
    "FROM case_note n, " SA_CASES " AND c.id = n.case_id AND n.tenant_id = $1 "
    "ORDER BY n.written_on, n.id",
};

static const struct db_stmt st_assessments = {
    "sa_assessments",
    "SELECT a.id::text, (jsonb_build_object('id', a.id, 'case_id', a.case_id, 'kind', a.kind, "
    "'version', a.version, 'assessed_on', a.assessed_on) || CASE WHEN a.withheld_basis IS "
    "NULL THEN jsonb_build_object('answers', a.answers) ELSE '{}' END)::text, CASE WHEN "
    "a.withheld_basis IS NULL THEN a.free_text_enc END, a.withheld_basis, false "
    "FROM assessment a, " SA_CASES " AND c.person_id = $2 AND c.id = a.case_id "
    "AND a.tenant_id = $1 ORDER BY a.assessed_on, a.id",
};

/* Annotations follow their assessment: withheld with it. */
static const struct db_stmt st_annotations = {
    "sa_annotations",
    "SELECT n.id::text, jsonb_build_object('id', n.id, 'assessment_id', n.assessment_id, "
    "'source', n.source, 'created_at', n.created_at)::text, CASE WHEN a.withheld_basis IS "
    "NULL THEN n.body_enc END, a.withheld_basis, false FROM assessment_annotation n JOIN "
    "assessment a ON a.tenant_id = n.tenant_id AND a.id = n.assessment_id, " SA_CASES
    " AND c.person_id = $2 AND c.id = n.case_id AND n.tenant_id = $1 "
    "ORDER BY n.created_at, n.id",
};

static const struct db_stmt st_plans = {
    "sa_plans",
    "SELECT p.id::text, jsonb_build_object('id', p.id, 'case_id', p.case_id, 'kind', p.kind, "
    "'goal_count', p.goal_count, 'start_on', p.start_on, 'end_on', p.end_on, 'outcome', "
    "p.outcome, 'follow_up_on', p.follow_up_on, 'follow_up_outcome', "
    "p.follow_up_outcome)::text, p.goals_enc, NULL, false FROM care_plan p, " SA_CASES
    " AND c.person_id = $2 AND c.id = p.case_id AND p.tenant_id = $1 ORDER BY p.start_on, p.id",
};

static const struct db_stmt st_interventions = {
    "sa_interventions",
    "SELECT i.id::text, jsonb_build_object('id', i.id, 'case_id', i.case_id, 'service', "
    "s.code, 'service_name', s.name, 'nature', i.nature, 'start_date', i.start_date, "
    "'end_date', i.end_date, 'delivery_date', i.delivery_date, 'monthly_amount_cents', "
    "i.monthly_amount_cents, 'total_amount_cents', i.total_amount_cents, 'hours_per_month', "
    "i.hours_per_month, 'share_user_cents', i.share_user_cents, 'dsu_protocol', "
    "i.dsu_protocol, 'status', i.status)::text, NULL, NULL, false FROM intervention i "
    "JOIN service_catalogue s ON s.tenant_id = i.service_tenant_id AND s.id = i.service_id "
    "WHERE i.tenant_id = $1 AND i.beneficiary_id = $2 AND (i.case_id IS NULL OR i.case_id IN "
    "(SELECT c.id FROM " SA_CASES ")) ORDER BY coalesce(i.start_date, i.delivery_date), i.id",
};

static const struct db_stmt st_contacts = {
    "sa_contacts",
    "SELECT k.id::text, jsonb_build_object('id', k.id, 'contact_on', k.contact_on, "
    "'channel', k.channel, 'area', k.area, 'outcome', k.outcome, 'case_id', k.case_id)::text, "
    "k.request_enc, NULL, false FROM access_contact k WHERE k.tenant_id = $1 AND "
    "k.person_id = $2 AND (k.case_id IS NULL OR k.case_id IN (SELECT c.id FROM " SA_CASES
    ")) ORDER BY k.contact_on, k.id",
};

static const struct db_stmt st_sealed = {
    "sa_sealed",
    "SELECT app.person_sealed_cases($2)::text WHERE $1::uuid IS NOT NULL",
};

/* Who accessed the file: the audit events on the person and on every object
 * of the export ($3: a uuid[] literal). Staff appear by role, not name. */
static const struct db_stmt st_accesses = {
    "sa_accesses",
    "SELECT e.id::text, jsonb_build_object('at', to_char(e.occurred_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'action', e.action, 'object_type', e.object_type, "
    "'roles', to_jsonb(e.roles), 'by', CASE WHEN e.user_id IS NOT NULL THEN 'staff' "
    "ELSE 'integration' END, 'outcome', e.outcome, 'break_glass', e.break_glass)::text, "
    "NULL, NULL, false FROM audit_event e WHERE e.tenant_id = $1 AND $2::uuid IS NOT NULL "
    "AND e.object_id = ANY($3::uuid[]) ORDER BY e.occurred_at, e.id",
};

enum { S_ID, S_JSON, S_ENC, S_WITHHELD, S_OTHERS };

/* A section of the export. */
struct sa_section {
	const char *key;
	const struct db_stmt *st;
	const char *audit_type;     /* registered per row; NULL: not audited */
	const char *table, *column; /* the AD of S_ENC; NULL when none */
	const char *field;          /* the decrypted value's member */
	bool json_value;            /* the decrypted value is JSON text */
};

static const struct sa_section sections[] = {
    {"households", &st_households, "household", "household", "address", "address", true},
    {"isee", &st_isee, "isee", NULL, NULL, NULL, false},
    {"cases", &st_cases, "case", NULL, NULL, NULL, false},
    {"assessments", &st_assessments, "assessment", "assessment", "free_text", "free_text", false},
    {"assessment_annotations", &st_annotations, "assessment_annotation", "assessment_annotation",
     "body", "body", false},
    {"plans", &st_plans, "care_plan", "care_plan", "goals", "goals", true},
    {"interventions", &st_interventions, "intervention", NULL, NULL, NULL, false},
    {"notes", &st_notes, "case_note", "case_note", "body", "body", false},
    {"contacts", &st_contacts, "access_contact", "access_contact", "request", "request", false},
};

const char *sa_basis_label(const char *basis)
{
	static const char *const map[][2] = {
	    {"defence_in_court",
	     "Codice privacy art. 2-undecies c. 1 lett. e): esercizio di un diritto in sede "
	     "giudiziaria"},
	    {"whistleblower",
	     "Codice privacy art. 2-undecies c. 1 lett. f): riservatezza dell'identità di chi ha "
	     "segnalato"},
	    {"third_party_rights", "GDPR art. 15 par. 4: diritti e libertà di altre persone"},
	    {"judicial_secrecy",
	     "Codice privacy art. 2-undecies c. 3: atti coperti da segreto dell'autorità "
	     "giudiziaria"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i][0], basis) == 0)
			return map[i][1];
	return basis;
}

/* Loads one section into doc[sec->key], the withheld items into withheld.
 * Returns a db_rc or CRYPT_INTEGRITY. */
static int sa_section_load(struct http_req *req, const struct sa_section *sec, const char *person,
                           json_t *doc, json_t *withheld)
{
	const char *p[2] = {req->principal.tenant_id, person};
	PGresult *r;
	int rc = db_exec(req->arena, sec->st, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	json_t *items = json_array();
	json_object_set_new(doc, sec->key, items);
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *o = json_loads(PQgetvalue(r, i, S_JSON), 0, NULL);
		if (o == NULL)
			return DB_ERROR;
		json_array_append_new(items, o);
		const char *id = PQgetvalue(r, i, S_ID);
		if (sec->audit_type != NULL && http_audit_object(req, sec->audit_type, id) != 0)
			return DB_ERROR;
		if (!PQgetisnull(r, i, S_WITHHELD)) {
			const char *basis = PQgetvalue(r, i, S_WITHHELD);
			json_t *w = json_pack("{s:s, s:s, s:s, s:s}", "type", sec->audit_type, "id",
			                      id, "basis", basis, "reason", sa_basis_label(basis));
			json_object_set(o, "withheld", w);
			json_array_append_new(withheld, w);
		} else if (strcmp(PQgetvalue(r, i, S_OTHERS), "t") == 0) {
			json_object_set_new(o, "redacted",
			                    json_string("riguarda altre persone del nucleo"));
		}
		if (sec->table == NULL || PQgetisnull(r, i, S_ENC))
			continue;
		const char *plain;
		if ((rc = api_case_decrypt(req, sec->table, sec->column, id, r, i, S_ENC,
		                           &plain)) != DB_OK)
			return rc;
		json_t *v = sec->json_value ? json_loads(plain, 0, NULL) : json_string(plain);
		json_object_set_new(o, sec->field, v ? v : json_string(plain));
	}
	return DB_OK;
}

/* The ids registered for the audit trail as a uuid[] literal (arena). */
static char *sa_object_ids(struct http_req *req)
{
	size_t n = 0;
	for (const struct http_audit_obj *o = req->audit_objs; o; o = o->next)
		n++;
	char *s = arena_alloc(req->arena, n * (UTIL_UUID_LEN + 1) + 3);
	if (s == NULL)
		return NULL;
	size_t k = 0;
	s[k++] = '{';
	for (const struct http_audit_obj *o = req->audit_objs; o; o = o->next) {
		if (!util_is_uuid(o->id))
			return NULL;
		if (k > 1)
			s[k++] = ',';
		memcpy(s + k, o->id, UTIL_UUID_LEN);
		k += UTIL_UUID_LEN;
	}
	s[k++] = '}';
	s[k] = '\0';
	return s;
}

/* Runs a statement of the S_* shape with its rows' JSON into doc[key]. */
static int sa_plain_list(struct http_req *req, const struct db_stmt *st, int n,
                         const char *const *p, json_t *doc, const char *key)
{
	PGresult *r;
	int rc = db_exec(req->arena, st, n, p, &r);
	if (rc != DB_OK)
		return rc;
	json_t *items = json_array();
	json_object_set_new(doc, key, items);
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *o = json_loads(PQgetvalue(r, i, S_JSON), 0, NULL);
		if (o == NULL)
			return DB_ERROR;
		json_array_append_new(items, o);
	}
	return DB_OK;
}

/* Gathers the export of person into *out (new reference) in the current
 * transaction, registering every object read on req. Returns a db_rc,
 * CRYPT_INTEGRITY, or 1 when the person is not visible (any more). */
static int sa_gather(struct http_req *req, const char *person, json_t **out)
{
	json_t *subject = NULL;
	int rc = api_person_export(req, person, &subject);
	if (rc != DB_OK || subject == NULL)
		return rc != DB_OK ? rc : 1;
	json_t *doc = json_pack("{s:o}", "person", subject);
	json_t *withheld = json_array();
	if (doc == NULL || withheld == NULL || http_audit_object(req, "person", person) != 0) {
		json_decref(doc);
		json_decref(withheld);
		return DB_ERROR;
	}
	for (size_t i = 0; rc == DB_OK && i < sizeof sections / sizeof sections[0]; i++)
		rc = sa_section_load(req, &sections[i], person, doc, withheld);
	json_t *history = NULL;
	if (rc == DB_OK && (rc = api_person_history_items(req, person, &history)) == DB_OK) {
		size_t i;
		json_t *h;
		json_array_foreach(history, i, h) json_object_del(h, "changed_by");
		json_object_set_new(doc, "rectifications", history);
	}
	const char *p[3] = {req->principal.tenant_id, person, NULL};
	PGresult *r = NULL;
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_sealed, 2, p, &r);
	if (rc == DB_OK && PQntuples(r) == 1 && atoi(PQgetvalue(r, 0, 0)) > 0)
		json_array_append_new(
		    withheld, json_pack("{s:s, s:i, s:s, s:s}", "type", "sealed_cases", "count",
		                        atoi(PQgetvalue(r, 0, 0)), "basis", "sealed_case", "reason",
		                        "Casi riservati (violenza, segreto giudiziario, indirizzo "
		                        "protetto): il contenuto si comunica solo dopo la "
		                        "valutazione del responsabile del servizio (Codice privacy "
		                        "art. 2-undecies)"));
	if (rc == DB_OK && (p[2] = sa_object_ids(req)) == NULL)
		rc = DB_ERROR;
	if (rc == DB_OK)
		rc = sa_plain_list(req, &st_accesses, 3, p, doc, "accesses");
	json_object_set_new(doc, "documents", json_array());
	json_object_set_new(doc, "withheld", withheld);
	if (rc != DB_OK) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return DB_OK;
}

/* The pseudo-route the gathering transaction is audited under. */
static const struct route sa_route = {"POST", "/api/v1/persons/{id}/subject-access", NULL,
                                      "person.subject_access", 0};

/* Runs the gathering transaction as run's requester: the export (new
 * reference in *doc) and its audit events, committed together. Returns a
 * db_rc, CRYPT_INTEGRITY or 1 (person not visible). */
static int sa_collect(struct arena *a, const struct job_run *run, const char *person, json_t **doc)
{
	struct http_req *req = arena_alloc(a, sizeof *req);
	if (req == NULL)
		return DB_ERROR;
	memset(req, 0, sizeof *req);
	req->arena = a;
	req->method = "POST";
	req->route = &sa_route;
	req->principal = run->who;
	req->params[0] = person;
	util_strlcpy(req->request_id, run->id, sizeof req->request_id);
	req->status = 200;
	int rc = db_begin();
	if (rc == DB_OK)
		rc = db_set_context(a, run->who.tenant_id, run->who.user_id);
	if (rc == DB_OK)
		rc = sa_gather(req, person, doc);
	if (rc == DB_OK)
		rc = audit_record(req);
	if (rc == DB_OK)
		rc = db_commit();
	else
		db_rollback();
	if (rc != DB_OK && *doc != NULL) {
		json_decref(*doc);
		*doc = NULL;
	}
	return rc;
}

/* Borrows run; out's body is owned by a. */
int subject_access_run(struct arena *a, const struct job_run *run, struct job_output *out)
{
	const char *person = json_string_value(json_object_get(run->params, "person_id"));
	const char *format = json_string_value(json_object_get(run->params, "format"));
	if (person == NULL || format == NULL || job_progress(a, run, 10) != DB_OK)
		return -1;
	json_t *doc = NULL;
	int rc = DB_RETRY;
	for (int attempt = 0; rc == DB_RETRY && attempt < 3; attempt++)
		rc = sa_collect(a, run, person, &doc);
	if (rc == 1) {
		out->status = 404;
		out->problem = json_pack("{s:s, s:s, s:i, s:s}", "type", "/problems/not-found",
		                         "title", "Risorsa non trovata", "status", 404, "detail",
		                         "La persona non esiste più o non è visibile");
		return 0;
	}
	if (rc != DB_OK) {
		log_event(LOGL_ERROR, "subject access export failed",
		          json_pack("{s:s, s:s, s:i, s:s}", "component", "jobs", "job", run->id,
		                    "rc", rc, "sqlstate", db_last_sqlstate()));
		json_decref(doc);
		return -1;
	}
	if (job_progress(a, run, 60) != DB_OK) {
		json_decref(doc);
		return -1;
	}
	char stamp[32];
	util_rfc3339_now(stamp);
	json_object_set_new(doc, "generated_at", json_string(stamp));
	json_object_set_new(doc, "legal_basis", json_string("Regolamento (UE) 2016/679, art. 15"));
	if (strcmp(format, "html") == 0) {
		out->body = sa_html(a, doc, &out->len);
		out->type = "text/html; charset=utf-8";
	} else {
		char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		if (text != NULL && arena_defer(a, free, text) != 0) {
			free(text);
			text = NULL;
		}
		out->body = text;
		out->len = text ? strlen(text) : 0;
		out->type = "application/json";
	}
	json_decref(doc);
	if (out->body == NULL)
		return -1;
	out->status = 200;
	return 0;
}

/* POST /api/v1/persons/{id}/subject-access?format=json|html */
int api_subject_access_start(struct http_req *req)
{
	if (job_no_body(req))
		return 0;
	const char *format = http_query(req, "format");
	if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "html") != 0)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "format: uno tra json, html");
	const char *person = http_param(req, 0);
	bool found = false;
	int rc = api_person_lookup(req, person, &found, NULL);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (!found)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	json_t *params =
	    json_pack("{s:s, s:s}", "person_id", person, "format", format ? format : "json");
	char id[UTIL_UUID_LEN + 1];
	rc = params ? job_enqueue(req, "subject_access", params, id) : DB_ERROR;
	json_decref(params);
	if (rc == DB_OK && http_audit_object(req, "person", person) != 0)
		rc = DB_ERROR;
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	return job_reply_accepted(req, id);
}
