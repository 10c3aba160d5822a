/* Items withheld from the data subject (Codice privacy art. 2-undecies;
 * GDPR art. 15(4)): PUT /api/v1/cases/{id}/notes/{note_id}/withholding and
 * /assessments/{assessment_id}/withholding {basis} mark a diary note or an
 * assessment as withheld with its legal basis; DELETE lifts the mark. The
 * subject-access export then lists the item as withheld with the reason
 * instead of its content (subject_access.c). Service managers only. */
#include "api/api.h"
#include "api/subject_access.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"
#include "server/util.h"

#include <string.h>

/* A table whose rows can be withheld: its audit type and statements. */
struct withheld_table {
	const char *type;
	const struct db_stmt *set, *clear;
};

#define WH_RETURNING                                                                               \
	" RETURNING id::text, case_id::text, withheld_basis, to_char(withheld_at AT TIME ZONE "    \
	"'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const struct db_stmt st_note_set = {
    "withhold_note_set",
    "UPDATE case_note SET withheld_basis = $4, withheld_at = now(), withheld_by = "
    "app.user_id() WHERE tenant_id = $1 AND case_id = $2 AND id = $3" WH_RETURNING,
};
static const struct db_stmt st_note_clear = {
    "withhold_note_clear",
    "UPDATE case_note SET withheld_basis = NULL, withheld_at = NULL, withheld_by = NULL "
    "WHERE tenant_id = $1 AND case_id = $2 AND id = $3" WH_RETURNING,
};
static const struct db_stmt st_assessment_set = {
    "withhold_assessment_set",
    "UPDATE assessment SET withheld_basis = $4, withheld_at = now(), withheld_by = "
    "app.user_id() WHERE tenant_id = $1 AND case_id = $2 AND id = $3" WH_RETURNING,
};
static const struct db_stmt st_assessment_clear = {
    "withhold_assessment_clear",
    "UPDATE assessment SET withheld_basis = NULL, withheld_at = NULL, withheld_by = NULL "
    "WHERE tenant_id = $1 AND case_id = $2 AND id = $3" WH_RETURNING,
};

static const struct withheld_table notes = {"case_note", &st_note_set, &st_note_clear};
static const struct withheld_table assessments = {"assessment", &st_assessment_set,
                                                  &st_assessment_clear};

/* Sets (basis non-NULL) or clears the mark of row {id}/{item} of t. */
static int withhold(struct http_req *req, const struct withheld_table *t, bool set)
{
	const char *basis = NULL;
	if (set) {
		if (api_require_body(req))
			return 0;
		const struct jsonx_field spec[] = {
		    {"basis", JX_STRING, JX_REQUIRED, 1, 32, &basis, NULL},
		};
		json_t *errors = jsonx_errors_new();
		jsonx_read(req->json, "", spec, 1, errors);
		static const char *const bases[] = {"defence_in_court", "whistleblower",
		                                    "third_party_rights", "judicial_secrecy", NULL};
		if (basis != NULL && !jsonx_in(basis, bases))
			jsonx_error(errors, "basis", "enum",
			            "uno tra defence_in_court, whistleblower, third_party_rights, "
			            "judicial_secrecy");
		if (json_array_size(errors) > 0)
			return http_reply_validation(req, errors);
		json_decref(errors);
	}
	const char *p[4] = {req->principal.tenant_id, http_param(req, 0), http_param(req, 1),
	                    basis};
	if (!util_is_uuid(p[1]) || !util_is_uuid(p[2]))
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	PGresult *r;
	int rc = db_exec(req->arena, set ? t->set : t->clear, set ? 4 : 3, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (PQntuples(r) != 1)
		return http_reply_problem(req, PROBLEM_NOT_FOUND, NULL);
	if (http_audit_object(req, t->type, PQgetvalue(r, 0, 0)) != 0)
		return -1;
	if (!set)
		return http_reply_empty(req, 204);
	return http_reply_json(
	    req, 200,
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", PQgetvalue(r, 0, 0), "case_id",
	              PQgetvalue(r, 0, 1), "basis", PQgetvalue(r, 0, 2), "reason",
	              sa_basis_label(PQgetvalue(r, 0, 2)), "withheld_at", PQgetvalue(r, 0, 3)));
}

int api_note_withholding_put(struct http_req *req)
{
	return withhold(req, &notes, true);
}

int api_note_withholding_delete(struct http_req *req)
{
	return withhold(req, &notes, false);
}

int api_assessment_withholding_put(struct http_req *req)
{
	return withhold(req, &assessments, true);
}

int api_assessment_withholding_delete(struct http_req *req)
{
	return withhold(req, &assessments, false);
}
