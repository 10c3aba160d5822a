/* Annotations of an assessment (GDPR art. 16; schema/028): a contested
 * professional assessment is not overwritten but annotated, with the data
 * subject's own statement or a professional correction.
 *
 * POST /api/v1/cases/{id}/assessments/{assessment_id}/annotations
 *   {source: data_subject|professional, body} → 201 with the annotation.
 * Allowed on a closed case too: a rectification request may come years
 * after the case closed. Annotations are read with their assessment
 * (GET /api/v1/cases/{id}/assessments/{assessment_id}: "annotations", oldest
 * first; lists carry "annotation_count"); their text follows the free text's
 * field-level rule (not for the administrative role). */
#include "api/api.h"
#include "api/case_common.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <string.h>

#define ANNOTATION_MAX_CHARS 5000

/* clang-format off */
#define ANNOTATION_COLUMNS \
	"n.id, n.source, n.body_enc, " API_TS("n.created_at") ", n.created_by, u.username"
/* clang-format on */
enum { N_ID, N_SOURCE, N_BODY, N_CREATED, N_BY, N_USERNAME };

static const struct db_stmt st_of_assessment = {
    "annotations_of_assessment",
    "SELECT " ANNOTATION_COLUMNS " FROM assessment_annotation n LEFT JOIN app_user u "
    "ON u.id = n.created_by WHERE n.tenant_id = $1 AND n.assessment_id = $2 "
    "ORDER BY n.created_at, n.id",
};

static const struct db_stmt st_insert = {
    "annotations_insert",
    "INSERT INTO assessment_annotation (tenant_id, id, case_id, assessment_id, source, "
    "body_enc, created_by) SELECT a.tenant_id, $3, a.case_id, a.id, $4, $5, $6 "
    "FROM assessment a WHERE a.tenant_id = $1 AND a.case_id = $2 AND a.id = $7 "
    "RETURNING " API_TS("created_at"),
};

static const char *const sources[] = {"data_subject", "professional", NULL};

/* Row i of r as the API shows it (new reference, NULL with *rc); the text
 * only when with_body. */
static json_t *annotation_json(struct http_req *req, PGresult *r, int i, bool with_body, int *rc)
{
	const char *id = PQgetvalue(r, i, N_ID);
	json_t *o = json_pack("{s:s, s:s, s:s, s:{s:o, s:o}}", "id", id, "source",
	                      PQgetvalue(r, i, N_SOURCE), "created_at", PQgetvalue(r, i, N_CREATED),
	                      "created_by", "id", api_case_opt(r, i, N_BY), "username",
	                      api_case_opt(r, i, N_USERNAME));
	*rc = o ? DB_OK : DB_ERROR;
	if (o == NULL || !with_body)
		return o;
	const char *text;
	*rc = api_case_decrypt(req, "assessment_annotation", "body", id, r, i, N_BODY, &text);
	if (*rc != DB_OK) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "body", text ? json_string(text) : json_null());
	return o;
}

int api_assessment_annotations_attach(struct http_req *req, const char *assessment_id,
                                      bool with_body, json_t *o)
{
	const char *p[2] = {req->principal.tenant_id, assessment_id};
	PGresult *r;
	int rc = db_exec(req->arena, &st_of_assessment, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	json_t *list = json_array();
	if (list == NULL || json_object_set_new(o, "annotations", list) != 0)
		return DB_ERROR;
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *a = annotation_json(req, r, i, with_body, &rc);
		if (a == NULL || json_array_append_new(list, a) != 0)
			return a == NULL ? rc : DB_ERROR;
	}
	return DB_OK;
}

/* POST /api/v1/cases/{id}/assessments/{assessment_id}/annotations */
int api_assessment_annotation_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *source = NULL, *body = NULL;
	const struct jsonx_field spec[] = {
	    {"source", JX_STRING, JX_REQUIRED, 1, 16, &source, NULL},
	    {"body", JX_STRING, JX_REQUIRED, 1, ANNOTATION_MAX_CHARS, &body, NULL},
	};
	json_t *errors = jsonx_errors_new();
	if (api_case_keep(req, errors) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	if (source != NULL && !jsonx_in(source, sources))
		jsonx_error(errors, "source", "enum", "uno tra data_subject, professional");
	if (body != NULL && strspn(body, " \t\r\n") == strlen(body))
		jsonx_error(errors, "body", "format", "il testo è vuoto");
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	struct api_case_ref c;
	int rc = api_case_find(req, http_param(req, 0), &c);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *aid = http_param(req, 1);
	if (!util_is_uuid(aid))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *enc;
	if ((rc = api_case_encrypt(req, "assessment_annotation", "body", id, body, &enc)) != DB_OK)
		return http_reply_db_error(req, rc);
	const char *p[7] = {req->principal.tenant_id, c.id, id, source, enc,
	                    req->principal.user_id,   aid};
	PGresult *r;
	if ((rc = db_exec(req->arena, &st_insert, 7, p, &r)) != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1) /* no such assessment in this case */
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	if (http_audit_object(req, "assessment", aid) != 0 ||
	    http_audit_object(req, "assessment_annotation", id) != 0)
		return -1;
	char *loc = arena_printf(req->arena, "/api/v1/cases/%s/assessments/%s", c.id, aid);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s?}}", "id", id,
	                      "assessment_id", aid, "source", source, "body", body, "created_at",
	                      PQgetvalue(r, 0, 0), "case_id", c.id, "created_by", "id",
	                      req->principal.user_id, "username", req->principal.username);
	return o ? http_reply_json(req, 201, o) : -1;
}
