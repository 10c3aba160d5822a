/* POST /api/v1/persons/{id}/erasure {ground, request_reference?}: erasure
 * of a person (GDPR art. 17, DESIGN §5.3; schema/020_erasure.sql).
 *
 * In one transaction, with the person and the person's cases locked:
 *   - an erased person                    → 409 already-erased (erased_at);
 *   - a person the caller cannot see      → 404;
 *   - an active legal hold on the person or one of the person's cases
 *                                         → 409 legal-hold naming each hold;
 *   - a retention rule still running on a document class the person has
 *     data in                             → 409 retention-period naming each
 *                                           rule and the date until which
 *                                           the data must be kept;
 *   - otherwise app.erase_person anonymises the person,
 *     app.erasure_forget_jobs destroys the job results that copy the
 *     person's data (schema/026), app.erasure_forget_annotations the text of
 *     the annotations of the person's assessments (schema/028), and the
 *     answer lists what was destroyed.
 * A refusal is kept in the audit trail with its status (commit_on_error:
 * nothing else was written); so is the erasure. Both carry the person's id,
 * which identifies nobody once the person is erased. */
#include "api/api.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdlib.h>
#include <string.h>

static const struct db_stmt st_erased = {
    "erasure_erased",
    "SELECT to_char(app.person_erased_at($1::uuid) AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
};

/* Locks the person (as the caller sees it: row-level security applies) and
 * then, through the owner, every case of the person, so that no hold can be
 * placed between the checks and the erasure. */
static const struct db_stmt st_lock = {
    "erasure_lock",
    "SELECT p.id, (SELECT count(*) FROM app.erasure_lock(p.id)) FROM person p "
    "WHERE p.tenant_id = $1 AND p.id = $2 FOR UPDATE OF p",
};

static const struct db_stmt st_holds = {
    "erasure_holds",
    "SELECT id, subject_type, to_char(placed_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM app.erasure_holds($1::uuid)",
};

static const struct db_stmt st_retention = {
    "erasure_retention",
    "SELECT document_class, event, years, to_char(keep_until, 'YYYY-MM-DD'), pending "
    "FROM app.erasure_retention($1::uuid)",
};

static const struct db_stmt st_erase = {
    "erasure_erase",
    "SELECT app.erase_person($1::uuid, $2::uuid, $3, $4)::text, "
    "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
};

/* The job results that may copy the person's data (schema/026) and the
 * annotations of the person's assessments (schema/028). */
static const struct db_stmt st_forget_jobs = {
    "erasure_forget_jobs",
    "SELECT results, stopped, app.erasure_forget_annotations($1::uuid) "
    "FROM app.erasure_forget_jobs($1::uuid)",
};

static const char *const grounds[] = {"no_longer_necessary", "consent_withdrawn", "objection",
                                      "unlawful_processing", "legal_obligation",  NULL};

/* Replies the refusal id (409) with extra (stolen) and keeps the request's
 * audit event for person id with the answer. Returns what the handler
 * returns. */
static int erasure_refuse(struct http_req *req, const char *id, enum problem_id pid,
                          const char *detail, json_t *extra)
{
	if (http_audit_object(req, "person", id) != 0) {
		json_decref(extra);
		return -1;
	}
	req->commit_on_error = true;
	return http_reply_problem_with(req, pid, detail, extra);
}

/* The legal holds of rows r as a JSON array (new reference). */
static json_t *erasure_holds_json(PGresult *r)
{
	json_t *a = json_array();
	for (int i = 0; a != NULL && i < PQntuples(r); i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", PQgetvalue(r, i, 0),
		                                   "subject_type", PQgetvalue(r, i, 1), "placed_at",
		                                   PQgetvalue(r, i, 2)));
	return a;
}

/* The binding rules of rows r as a JSON array (new reference); *until
 * receives the latest keep_until, or NULL when one is pending. */
static json_t *erasure_rules_json(PGresult *r, const char **until)
{
	json_t *a = json_array();
	*until = "";
	for (int i = 0; a != NULL && i < PQntuples(r); i++) {
		bool pending = strcmp(PQgetvalue(r, i, 4), "t") == 0;
		const char *k = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
		if (pending)
			*until = NULL;
		else if (*until != NULL && k != NULL && strcmp(k, *until) > 0)
			*until = k;
		json_array_append_new(a,
		                      json_pack("{s:s, s:s, s:I, s:s?, s:b}", "document_class",
		                                PQgetvalue(r, i, 0), "event", PQgetvalue(r, i, 1),
		                                "years", (json_int_t)atoll(PQgetvalue(r, i, 2)),
		                                "keep_until", k, "pending", pending));
	}
	return a;
}

/* Runs the checks that may refuse the erasure of person id (locked).
 * Returns 0 when none refuses; 1 after replying; HTTP_RETRY. */
static int erasure_check(struct http_req *req, const char *id)
{
	const char *p[1] = {id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_holds, 1, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) > 0) {
		erasure_refuse(req, id, PROBLEM_LEGAL_HOLD,
		               "Sui dati della persona è attivo un vincolo di conservazione (legal "
		               "hold): la cancellazione è possibile solo dopo la sua revoca",
		               json_pack("{s:o}", "legal_holds", erasure_holds_json(r)));
		return 1;
	}
	rc = db_exec(req->arena, &st_retention, 1, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) > 0) {
		const char *until;
		json_t *rules = erasure_rules_json(r, &until);
		erasure_refuse(
		    req, id, PROBLEM_RETENTION,
		    until != NULL
		        ? "I dati della persona vanno conservati fino alla data indicata "
		          "(keep_until), secondo le regole di conservazione elencate"
		        : "Il periodo di conservazione non è ancora iniziato: una cartella "
		          "è aperta o un intervento è in corso",
		    json_pack("{s:o, s:s?}", "retention", rules, "keep_until", until));
		return 1;
	}
	return 0;
}

/* POST /api/v1/persons/{id}/erasure */
int api_person_erasure(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *ground = NULL, *reference = NULL;
	json_t *errors = jsonx_errors_new();
	const struct jsonx_field spec[] = {
	    {"ground", JX_STRING, JX_REQUIRED, 1, 32, &ground, NULL},
	    {"request_reference", JX_STRING, JX_NULLABLE, 1, 64, &reference, NULL},
	};
	jsonx_read(req->json, "", spec, 2, errors);
	if (ground != NULL && !jsonx_in(ground, grounds))
		jsonx_error(errors, "ground", "enum",
		            "uno tra no_longer_necessary, consent_withdrawn, objection, "
		            "unlawful_processing, legal_obligation");
	if (reference != NULL &&
	    strspn(reference,
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-") !=
	        strlen(reference))
		jsonx_error(errors, "request_reference", "format",
		            "numero di protocollo: lettere, cifre e / . _ - soltanto");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, errors);
	json_decref(errors);

	const char *id = http_param(req, 0);
	if (!util_is_uuid(id))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_erased, 1, p + 1, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		return erasure_refuse(req, id, PROBLEM_ALREADY_ERASED,
		                      "La persona è già stata cancellata: non resta nulla da "
		                      "cancellare",
		                      json_pack("{s:s}", "erased_at", PQgetvalue(r, 0, 0)));
	rc = api_load_row(req, &st_lock, 2, p, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	rc = erasure_check(req, id);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;

	const char *e[4] = {id, req->principal.user_id, ground, reference};
	rc = db_exec(req->arena, &st_erase, 4, e, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQgetisnull(r, 0, 0))
		return HTTP_RETRY; /* erased concurrently: the retry answers 409 */
	json_t *destroyed = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	const char *erased_at = PQgetvalue(r, 0, 1);
	PGresult *j;
	rc = destroyed ? db_exec(req->arena, &st_forget_jobs, 1, e, &j) : DB_ERROR;
	if (rc != DB_OK) {
		json_decref(destroyed);
		return http_reply_db_error(req, rc);
	}
	if (json_object_set_new(destroyed, "job_results",
	                        json_integer(atoll(PQgetvalue(j, 0, 0)))) != 0 ||
	    json_object_set_new(destroyed, "jobs_stopped",
	                        json_integer(atoll(PQgetvalue(j, 0, 1)))) != 0 ||
	    json_object_set_new(destroyed, "assessment_annotations",
	                        json_integer(atoll(PQgetvalue(j, 0, 2)))) != 0 ||
	    http_audit_object(req, "person", id) != 0) {
		json_decref(destroyed);
		return -1;
	}
	return http_reply_json(req, 200,
	                       json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o}", "person_id", id,
	                                 "erased_at", erased_at, "erased_by",
	                                 req->principal.user_id, "ground", ground,
	                                 "request_reference", reference, "destroyed", destroyed));
}
