/* /api/v1/cases: the cartella, one person (and optionally their household)
 * followed by a Comune, and its life cycle
 *   access → assessment → in_charge → closed, reopen: closed → assessment | in_charge
 * (closing is allowed from every open state: a request can end at the front
 * office or after the assessment without a presa in carico). Every change of
 * status is kept in case_status_history. */
#include "api/api.h"
#include "api/case_common.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define CASE_COLUMNS \
	"id, person_id, household_id, area, status, " API_DATE("opened_on") ", " \
	API_DATE("closed_on") ", closure_reason, sealed, version, " API_TS("created_at") ", " \
	API_TS("updated_at") ", (opened_on - DATE '1970-01-01')"
/* clang-format on */
enum {
	C_ID,
	C_PERSON,
	C_HOUSEHOLD,
	C_AREA,
	C_STATUS,
	C_OPENED,
	C_CLOSED,
	C_REASON,
	C_SEALED,
	C_VERSION,
	C_CREATED,
	C_UPDATED,
	C_OPENED_DAYS
};

#define AREA_LIST    "siuss-user-areas"
#define CLOSURE_LIST "case-closure-reasons"
#define CODE_CHARS   "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.-"

static const char *const case_statuses[] = {"access", "assessment", "in_charge", "closed", NULL};
static const char *const open_statuses[] = {"access", "assessment", "in_charge", NULL};

/* The life cycle, as data: for each status, where a case may go next. */
static const struct {
	const char *from;
	const char *const to[3];
} transitions[] = {
    {"access", {"assessment", "closed", NULL}},
    {"assessment", {"in_charge", "closed", NULL}},
    {"in_charge", {"closed", NULL, NULL}},
    {"closed", {"assessment", "in_charge", NULL}},
};

/* The statuses a case in status may move to (static, NULL-terminated). */
static const char *const *case_next(const char *status)
{
	static const char *const none[] = {NULL};
	for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++)
		if (strcmp(transitions[i].from, status) == 0)
			return transitions[i].to;
	return none;
}

/* The statuses after status as a JSON array (new reference). */
static json_t *case_next_json(const char *status)
{
	json_t *a = json_array();
	for (const char *const *s = case_next(status); *s != NULL; s++)
		json_array_append_new(a, json_string(*s));
	return a;
}

/* The wire representation of row i (new reference, NULL on OOM). */
static json_t *case_json(PGresult *r, int i)
{
	const char *status = PQgetvalue(r, i, C_STATUS);
	return json_pack(
	    "{s:s, s:s, s:o, s:o, s:s, s:o, s:s, s:o, s:o, s:b, s:I, s:s, s:s}", "id",
	    PQgetvalue(r, i, C_ID), "person_id", PQgetvalue(r, i, C_PERSON), "household_id",
	    api_case_opt(r, i, C_HOUSEHOLD), "area", api_case_opt(r, i, C_AREA), "status", status,
	    "next_statuses", case_next_json(status), "opened_on", PQgetvalue(r, i, C_OPENED),
	    "closed_on", api_case_opt(r, i, C_CLOSED), "closure_reason",
	    api_case_opt(r, i, C_REASON), "sealed", strcmp(PQgetvalue(r, i, C_SEALED), "t") == 0,
	    "version", (json_int_t)atoll(PQgetvalue(r, i, C_VERSION)), "created_at",
	    PQgetvalue(r, i, C_CREATED), "updated_at", PQgetvalue(r, i, C_UPDATED));
}

static const struct db_stmt st_one = {
    "cases_one",
    "SELECT " CASE_COLUMNS " FROM social_case WHERE tenant_id = $1 AND id = $2",
};

/* Loads case id with CASE_COLUMNS: 0, or 1 after replying 404 / an error,
 * or HTTP_RETRY. */
static int case_load(struct http_req *req, const char *id, PGresult **r)
{
	const char *p[2] = {req->principal.tenant_id, id};
	return api_load_row(req, &st_one, 2, p, r);
}

static const struct db_stmt st_history = {
    "cases_history",
    "SELECT h.from_status, h.to_status, h.reason, " API_TS(
        "h.changed_at") ", h.changed_by, "
                        "u.username FROM case_status_history h LEFT JOIN app_user u ON u.id = "
                        "h.changed_by "
                        "WHERE h.tenant_id = $1 AND h.case_id = $2 ORDER BY h.changed_at, h.id",
};

/* The status history of case id as a JSON array (new reference), or NULL. */
static json_t *case_history(struct http_req *req, const char *id, int *rc)
{
	const char *p[2] = {req->principal.tenant_id, id};
	PGresult *r;
	*rc = db_exec(req->arena, &st_history, 2, p, &r);
	if (*rc != DB_OK)
		return NULL;
	json_t *items = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(
		    items,
		    json_pack("{s:o, s:s, s:o, s:s, s:{s:o, s:o}}", "from", api_case_opt(r, i, 0),
		              "to", PQgetvalue(r, i, 1), "closure_reason", api_case_opt(r, i, 2),
		              "changed_at", PQgetvalue(r, i, 3), "changed_by", "id",
		              api_case_opt(r, i, 4), "username", api_case_opt(r, i, 5)));
	return items;
}

/* Replies with case id (ETag set, status history included). */
static int case_reply(struct http_req *req, const char *id, int status)
{
	PGresult *r;
	int rc = case_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	json_t *history = case_history(req, id, &rc);
	if (history == NULL)
		return http_reply_db_error(req, rc);
	json_t *o = case_json(r, 0);
	if (o == NULL) {
		json_decref(history);
		return -1;
	}
	json_object_set_new(o, "status_history", history);
	http_set_etag(req, atoll(PQgetvalue(r, 0, C_VERSION)));
	return http_reply_json(req, status, o);
}

static const struct db_stmt st_open_of_person = {
    "cases_open_of_person",
    "SELECT id FROM social_case WHERE tenant_id = $1 AND person_id = $2 "
    "AND status <> 'closed' AND id <> coalesce($3::uuid, '00000000-0000-0000-0000-000000000000')",
};

/* Replies 409 when person_id already has an open case other than except
 * (may be NULL): returns 1 then, 0 when none, HTTP_RETRY. */
static int case_check_one_open(struct http_req *req, const char *person_id, const char *except)
{
	const char *p[3] = {req->principal.tenant_id, person_id, except};
	PGresult *r;
	int rc = db_exec(req->arena, &st_open_of_person, 3, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (PQntuples(r) == 0)
		return 0;
	const char *existing = PQgetvalue(r, 0, 0);
	char *loc = arena_printf(req->arena, "/api/v1/cases/%s", existing);
	http_reply_problem_with(req, PROBLEM_CONFLICT,
	                        "La persona ha già una cartella aperta in questo ente",
	                        json_pack("{s:s, s:s?}", "existing_id", existing, "existing", loc));
	return 1;
}

static const struct db_stmt st_history_insert = {
    "cases_history_insert",
    "INSERT INTO case_status_history (tenant_id, case_id, from_status, to_status, reason, "
    "changed_by) VALUES ($1, $2, $3, $4, $5, $6)",
};

/* Records a change of status of case id (from NULL when opened). */
static int case_record_status(struct http_req *req, const char *id, const char *from,
                              const char *to, const char *reason)
{
	const char *p[6] = {req->principal.tenant_id, id, from, to, reason, req->principal.user_id};
	return db_exec(req->arena, &st_history_insert, 6, p, NULL);
}

static const struct db_stmt st_insert = {
    "cases_insert",
    "INSERT INTO social_case (tenant_id, id, person_id, household_id, area, status, "
    "opened_on, sealed, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
};

static const struct db_stmt st_assign_creator = {
    "cases_assign_creator",
    "INSERT INTO case_assignment (tenant_id, id, case_id, user_id, role_in_case, valid_from, "
    "created_by, updated_by) VALUES ($1, $2, $3, $4, 'case_manager', $5, $4, $4)",
};

/* Adds "format" to errors when s is given and not a UUID. */
static void check_uuid(json_t *errors, const char *field, const char *s)
{
	if (s != NULL && !util_is_uuid(s))
		jsonx_error(errors, field, "format", "deve essere un UUID");
}

/* POST /api/v1/cases. A social worker who opens a case becomes its case
 * manager from the opening date. */
int api_case_create(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	const char *person_id = NULL, *household_id = NULL, *area = NULL, *status = "access",
	           *opened_on = NULL;
	int sealed = 0;
	const struct jsonx_field spec[] = {
	    {"person_id", JX_STRING, JX_REQUIRED, 1, 36, &person_id, NULL},
	    {"household_id", JX_STRING, JX_NULLABLE, 1, 36, &household_id, NULL},
	    {"area", JX_STRING, JX_NULLABLE, 1, 32, &area, NULL},
	    {"status", JX_STRING, 0, 1, 16, &status, NULL},
	    {"opened_on", JX_STRING, 0, 1, 10, &opened_on, NULL},
	    {"sealed", JX_BOOL, 0, 0, 0, &sealed, NULL},
	};
	json_t *errors = jsonx_errors_new(), *pending = json_array();
	if (api_case_keep(req, errors) != 0 || api_case_keep(req, pending) != 0)
		return -1;
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	check_uuid(errors, "person_id", person_id);
	check_uuid(errors, "household_id", household_id);
	if (status != NULL && !jsonx_in(status, open_statuses))
		jsonx_error(errors, "status", "enum",
		            "uno tra access, assessment, in_charge (una cartella nasce aperta)");
	char today[11];
	api_case_today_text(today);
	int32_t days;
	if (opened_on == NULL)
		opened_on = today;
	else
		api_case_date(errors, "opened_on", opened_on, true, &days);
	if (status != NULL && strcmp(status, "in_charge") == 0 && area == NULL)
		jsonx_error(errors, "area", "required",
		            "l'area di utenza è obbligatoria per la presa in carico");
	if (area != NULL)
		api_codes_add(pending, "area", AREA_LIST, area);
	int rc = api_codes_verify(req, pending, errors);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	if ((rc = api_case_check_ref(req, "person", person_id, "person_id")) != 0 ||
	    (household_id != NULL &&
	     (rc = api_case_check_ref(req, "household", household_id, "household_id")) != 0) ||
	    (rc = case_check_one_open(req, person_id, NULL)) != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;

	char id[UTIL_UUID_LEN + 1];
	util_uuid_v4(id);
	const char *p[9] = {req->principal.tenant_id,
	                    id,
	                    person_id,
	                    household_id,
	                    area,
	                    status,
	                    opened_on,
	                    sealed ? "true" : "false",
	                    req->principal.user_id};
	rc = db_exec(req->arena, &st_insert, 9, p, NULL);
	if (rc == DB_UNIQUE) /* opened concurrently, or sealed and hidden from the caller */
		return http_reply_problem(req, PROBLEM_CONFLICT,
		                          "La persona ha già una cartella aperta in questo ente");
	if (rc == DB_OK)
		rc = case_record_status(req, id, NULL, status, NULL);
	if (rc == DB_OK && policy_has_role(req->principal.roles, ROLE_SOCIAL_WORKER)) {
		char aid[UTIL_UUID_LEN + 1];
		util_uuid_v4(aid);
		const char *pa[5] = {req->principal.tenant_id, aid, id, req->principal.user_id,
		                     opened_on};
		rc = db_exec(req->arena, &st_assign_creator, 5, pa, NULL);
	}
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	char *loc = arena_printf(req->arena, "/api/v1/cases/%s", id);
	if (loc == NULL || http_add_header(req, "Location", loc) != 0)
		return -1;
	return case_reply(req, id, 201);
}

/* GET /api/v1/cases/{id} */
int api_case_read(struct http_req *req)
{
	return case_reply(req, http_param(req, 0), 200);
}

static const struct db_stmt st_list = {
    "cases_list",
    "SELECT " CASE_COLUMNS " FROM social_case c WHERE c.tenant_id = $1 "
    "AND ($2::uuid IS NULL OR (c.opened_on, c.id) < (SELECT k.opened_on, k.id FROM "
    "social_case k WHERE k.tenant_id = $1 AND k.id = $2)) "
    "AND ($3::uuid IS NULL OR c.person_id = $3) AND ($4::text IS NULL OR c.status = $4) "
    "AND ($5::text IS NULL OR c.area = $5) "
    "ORDER BY c.opened_on DESC, c.id DESC LIMIT $6",
};

/* GET /api/v1/cases?person_id=&status=&area=&cursor=&limit= (newest first) */
int api_case_list(struct http_req *req)
{
	int limit;
	const char *cursor;
	if (http_page_limit(req, 50, &limit) || api_case_cursor(req, &cursor))
		return 0;
	const char *person_id = http_query(req, "person_id"), *status = http_query(req, "status"),
	           *area = http_query(req, "area");
	if (status != NULL && !jsonx_in(status, case_statuses))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "status: uno tra access, assessment, in_charge, closed");
	if (person_id != NULL && !util_is_uuid(person_id))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "person_id non è un UUID");
	int rc;
	if (area != NULL) {
		json_t *errors = jsonx_errors_new(), *pending = json_array();
		if (api_case_keep(req, errors) != 0 || api_case_keep(req, pending) != 0)
			return -1;
		/* Codes are short ASCII words: anything else is unknown. */
		size_t n = strlen(area);
		bool shape = n >= 1 && n <= 32 && strspn(area, CODE_CHARS) == n;
		if (shape)
			api_codes_add(pending, "area", AREA_LIST, area);
		if ((rc = api_codes_verify(req, pending, errors)) != DB_OK)
			return http_reply_db_error(req, rc);
		if (!shape || json_array_size(errors) > 0)
			return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
			                          "area: codice sconosciuto (lista " AREA_LIST ")");
	}
	if (person_id != NULL && (rc = api_case_check_ref(req, "person", person_id, "person_id")))
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[6] = {req->principal.tenant_id, cursor, person_id, status, area, slimit};
	PGresult *r;
	rc = db_exec(req->arena, &st_list, 6, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++) {
		if (http_audit_object(req, "case", PQgetvalue(r, i, C_ID)) != 0) {
			json_decref(items);
			return -1;
		}
		json_array_append_new(items, case_json(r, i));
	}
	json_t *next = rows > limit ? json_string(PQgetvalue(r, limit - 1, C_ID)) : json_null();
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}

/* A PATCH body, after the merge with the stored case. */
struct case_patch {
	const char *status, *closure_reason, *closed_on, *area, *household_id;
	int sealed;
	bool g_status, g_reason, g_closed, g_area, g_household, g_sealed;
};

/* Reads the PATCH body into *in (strings borrowed). */
static void case_patch_parse(struct http_req *req, struct case_patch *in, json_t *errors)
{
	memset(in, 0, sizeof *in);
	in->sealed = -1;
	const struct jsonx_field spec[] = {
	    {"status", JX_STRING, 0, 1, 16, &in->status, NULL},
	    {"closure_reason", JX_STRING, JX_NULLABLE, 1, 32, &in->closure_reason, NULL},
	    {"closed_on", JX_STRING, JX_NULLABLE, 1, 10, &in->closed_on, NULL},
	    {"area", JX_STRING, JX_NULLABLE, 1, 32, &in->area, NULL},
	    {"household_id", JX_STRING, JX_NULLABLE, 1, 36, &in->household_id, NULL},
	    {"sealed", JX_BOOL, 0, 0, 0, &in->sealed, NULL},
	};
	jsonx_read(req->json, "", spec, sizeof spec / sizeof spec[0], errors);
	/* null clears a nullable property: given, with a NULL value. */
	in->g_status = json_object_get(req->json, "status") != NULL;
	in->g_reason = json_object_get(req->json, "closure_reason") != NULL;
	in->g_closed = json_object_get(req->json, "closed_on") != NULL;
	in->g_area = json_object_get(req->json, "area") != NULL;
	in->g_household = json_object_get(req->json, "household_id") != NULL;
	in->g_sealed = json_object_get(req->json, "sealed") != NULL;
	if (in->status != NULL && !jsonx_in(in->status, case_statuses))
		jsonx_error(errors, "status", "enum",
		            "uno tra access, assessment, in_charge, closed");
	check_uuid(errors, "household_id", in->household_id);
	if (json_object_size(req->json) == 0)
		jsonx_error(errors, "", "min_properties", "indicare almeno un campo da modificare");
}

/* Replies 409 for a transition the life cycle does not allow, naming
 * status and listing where the case may go. */
static int case_bad_transition(struct http_req *req, const char *from, const char *to)
{
	char allowed[64] = "";
	size_t used = 0;
	for (const char *const *s = case_next(from); *s != NULL; s++) {
		int w =
		    snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? ", " : "", *s);
		if (w > 0 && (size_t)w < sizeof allowed - used)
			used += (size_t)w;
	}
	char *msg = arena_printf(req->arena, "da %s non si può passare a %s; consentiti: %s", from,
	                         to, allowed);
	json_t *errors = jsonx_errors_new();
	jsonx_error(errors, "status", "transition", msg ? msg : "transizione non consentita");
	return http_reply_problem_with(
	    req, PROBLEM_CONFLICT, msg,
	    json_pack("{s:o, s:o}", "errors", errors, "allowed_statuses", case_next_json(from)));
}

static const struct db_stmt st_update = {
    "cases_update",
    "UPDATE social_case SET status = $3, closure_reason = $4, closed_on = $5, area = $6, "
    "household_id = $7, sealed = $8, updated_by = $9, updated_at = now(), "
    "version = version + 1 WHERE tenant_id = $1 AND id = $2 AND version = $10",
};

/* Only a service manager or a worker assigned to case id may change its
 * sealed flag (sealing a case one is not assigned to would hide it from
 * oneself): 0 when allowed, 1 after replying 403, HTTP_RETRY. */
static int case_may_seal(struct http_req *req, const char *id)
{
	if (policy_has_role(req->principal.roles, ROLE_SERVICE_MANAGER))
		return 0;
	bool assigned;
	int rc = api_case_is_assigned(req, id, &assigned);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc) == HTTP_RETRY ? HTTP_RETRY : 1;
	if (assigned)
		return 0;
	api_reply_forbidden_field(
	    req, "sealed", "solo il responsabile del servizio o chi è assegnato alla cartella",
	    "Solo il responsabile del servizio o chi lavora sulla cartella può "
	    "renderla riservata o toglierne la riserva");
	return 1;
}

/* PATCH /api/v1/cases/{id}: status transitions (closing needs closure_reason;
 * closed_on defaults to today), area, household, sealed flag. */
int api_case_update(struct http_req *req)
{
	if (api_require_body(req))
		return 0;
	struct case_patch in;
	json_t *errors = jsonx_errors_new(), *pending = json_array();
	if (api_case_keep(req, errors) != 0 || api_case_keep(req, pending) != 0)
		return -1;
	case_patch_parse(req, &in, errors);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	const char *id = http_param(req, 0);
	PGresult *r;
	int rc = case_load(req, id, &r);
	if (rc != 0)
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;
	const char *version = PQgetvalue(r, 0, C_VERSION);
	if (http_check_if_match(req, atoll(version)))
		return 0;
	const char *cur = PQgetvalue(r, 0, C_STATUS);
	const char *to = in.g_status ? in.status : cur;
	bool moving = strcmp(to, cur) != 0;
	if (moving) {
		bool ok = false;
		for (const char *const *s = case_next(cur); *s != NULL; s++)
			ok |= strcmp(*s, to) == 0;
		if (!ok)
			return case_bad_transition(req, cur, to);
	}
	bool closed = strcmp(to, "closed") == 0;
	bool closing = closed && moving;

	/* The closure belongs to a closed case only; reopening clears it. */
	const char *reason = NULL, *closed_on = NULL;
	if (!closed) {
		if (in.g_reason && in.closure_reason != NULL)
			jsonx_error(errors, "closure_reason", "state",
			            "si indica solo chiudendo la cartella (status closed)");
		if (in.g_closed && in.closed_on != NULL)
			jsonx_error(errors, "closed_on", "state",
			            "si indica solo chiudendo la cartella (status closed)");
	} else {
		reason = in.g_reason || closing ? in.closure_reason : PQgetvalue(r, 0, C_REASON);
		if (reason == NULL)
			jsonx_error(
			    errors, "closure_reason", "required",
			    "il motivo di chiusura è obbligatorio per chiudere la cartella");
		else
			api_codes_add(pending, "closure_reason", CLOSURE_LIST, reason);
		char *today = arena_alloc(req->arena, 11);
		if (today == NULL)
			return -1;
		api_case_today_text(today);
		closed_on = in.g_closed ? in.closed_on
		            : closing   ? today
		                        : PQgetvalue(r, 0, C_CLOSED);
		int32_t days;
		if (closed_on == NULL)
			jsonx_error(errors, "closed_on", "required",
			            "una cartella chiusa ha la data di chiusura");
		else if (api_case_date(errors, "closed_on", closed_on, true, &days) &&
		         days < (int32_t)atol(PQgetvalue(r, 0, C_OPENED_DAYS))) {
			char *m = arena_printf(req->arena, "non può precedere l'apertura (%s)",
			                       PQgetvalue(r, 0, C_OPENED));
			jsonx_error(errors, "closed_on", "range", m ? m : "precede l'apertura");
		}
	}
	const char *area =
	    in.g_area ? in.area : (PQgetisnull(r, 0, C_AREA) ? NULL : PQgetvalue(r, 0, C_AREA));
	if (in.g_area && area != NULL)
		api_codes_add(pending, "area", AREA_LIST, area);
	if (strcmp(to, "in_charge") == 0 && area == NULL)
		jsonx_error(errors, "area", "required",
		            "l'area di utenza è obbligatoria per la presa in carico");
	const char *household =
	    in.g_household
	        ? in.household_id
	        : (PQgetisnull(r, 0, C_HOUSEHOLD) ? NULL : PQgetvalue(r, 0, C_HOUSEHOLD));
	bool sealed = in.g_sealed ? in.sealed == 1 : strcmp(PQgetvalue(r, 0, C_SEALED), "t") == 0;
	if ((rc = api_codes_verify(req, pending, errors)) != DB_OK)
		return http_reply_db_error(req, rc);
	if (json_array_size(errors) > 0)
		return http_reply_validation(req, json_incref(errors));

	if ((sealed != (strcmp(PQgetvalue(r, 0, C_SEALED), "t") == 0) &&
	     (rc = case_may_seal(req, id)) != 0) ||
	    (in.g_household && household != NULL &&
	     (rc = api_case_check_ref(req, "household", household, "household_id")) != 0) ||
	    (moving && !closed && strcmp(cur, "closed") == 0 &&
	     (rc = case_check_one_open(req, PQgetvalue(r, 0, C_PERSON), id)) != 0))
		return rc == HTTP_RETRY ? HTTP_RETRY : 0;

	const char *p[10] = {req->principal.tenant_id,
	                     id,
	                     to,
	                     reason,
	                     closed_on,
	                     area,
	                     household,
	                     sealed ? "true" : "false",
	                     req->principal.user_id,
	                     version};
	PGresult *ur;
	rc = db_exec(req->arena, &st_update, 10, p, &ur);
	if (rc == DB_UNIQUE)
		return HTTP_RETRY; /* a concurrent reopen or open: the retry answers 409 */
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	if (strcmp(PQcmdTuples(ur), "1") != 0)
		return HTTP_RETRY; /* changed under us: the retry answers 412 */
	if (moving && (rc = case_record_status(req, id, cur, to, closing ? reason : NULL)) != DB_OK)
		return http_reply_db_error(req, rc);
	return case_reply(req, id, 200);
}
