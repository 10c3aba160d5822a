/* GET /api/v1/audit/events: the DPO's view of the audit trail (who read or
 * changed what, when, with which outcome), newest first, keyset-paginated
 * on (occurred_at, id). GET /api/v1/audit/verify: the check of its seal. */
#include "api/api.h"
#include "auth/audit_seal.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct db_stmt st_events = {
    "audit_events",
    "SELECT e.id, to_char(e.occurred_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), e.user_id, u.username, e.roles, e.action, "
    "e.object_type, e.object_id, e.outcome, e.request_id, e.break_glass, e.purpose, "
    "((extract(epoch FROM e.occurred_at) * 1000000)::numeric)::bigint, e.client "
    "FROM audit_event e LEFT JOIN app_user u ON u.id = e.user_id "
    "WHERE e.tenant_id = $1 "
    "AND ($2::uuid IS NULL OR e.object_id = $2) "
    "AND ($3::text IS NULL OR e.object_type = $3) "
    "AND ($4::uuid IS NULL OR e.user_id = $4) "
    "AND ($5::text IS NULL OR e.action = $5) "
    "AND ($6::timestamptz IS NULL OR e.occurred_at >= $6) "
    "AND ($7::timestamptz IS NULL OR e.occurred_at < $7) "
    "AND ($8::bigint IS NULL OR (e.occurred_at, e.id) < "
    "(timestamptz 'epoch' + $8::bigint * interval '1 microsecond', $9::bigint)) "
    "ORDER BY e.occurred_at DESC, e.id DESC LIMIT $10",
};

/* True when s is an RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM).
 * Borrows s. */
static bool audit_is_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i = 0;
	for (; shape[i]; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	}
	if (s[i] == '.') {
		size_t start = ++i;
		while (isdigit((unsigned char)s[i]) && i - start < 9)
			i++;
		if (i == start)
			return false;
	}
	if (s[i] == 'Z' || s[i] == 'z')
		return s[i + 1] == '\0';
	if (s[i] != '+' && s[i] != '-')
		return false;
	return isdigit((unsigned char)s[i + 1]) && isdigit((unsigned char)s[i + 2]) &&
	       s[i + 3] == ':' && isdigit((unsigned char)s[i + 4]) &&
	       isdigit((unsigned char)s[i + 5]) && s[i + 6] == '\0';
}

/* Splits a cursor "<microseconds>.<id>" into its two decimal parts (arena
 * copies). Returns true when it has that shape. */
static bool audit_cursor_parse(struct http_req *req, const char *c, const char **us,
                               const char **id)
{
	const char *dot = strchr(c, '.');
	long long v;
	if (dot == NULL || dot == c || strlen(c) > 48)
		return false;
	char *a = arena_strndup(req->arena, c, (size_t)(dot - c));
	char *b = arena_strdup(req->arena, dot + 1);
	if (a == NULL || b == NULL || !util_parse_int(a, 0, (long long)1 << 62, &v) ||
	    !util_parse_int(b, 1, (long long)1 << 62, &v))
		return false;
	*us = a;
	*id = b;
	return true;
}

/* The value of a text[] column ("{a,b}") as a JSON array of strings. */
static json_t *audit_text_array(struct http_req *req, const char *pg)
{
	json_t *a = json_array();
	char *list = arena_strdup(req->arena, pg);
	char *save = NULL;
	for (char *tok = list ? strtok_r(list, "{},\"", &save) : NULL; a && tok;
	     tok = strtok_r(NULL, "{},\"", &save))
		json_array_append_new(a, json_string(tok));
	return a;
}

/* GET /api/v1/audit/events?person_id=&object_id=&user_id=&action=&from=&to=
 * &cursor=&limit= */
int api_audit_event_list(struct http_req *req)
{
	const char *person = http_query(req, "person_id");
	const char *object = http_query(req, "object_id");
	const char *user = http_query(req, "user_id");
	const char *action = http_query(req, "action");
	const char *from = http_query(req, "from");
	const char *to = http_query(req, "to");
	const char *cursor = http_query(req, "cursor");
	if (person && !util_is_uuid(person))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "person_id non valido");
	if (object && !util_is_uuid(object))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "object_id non valido");
	if (person && object && strcmp(person, object) != 0)
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "person_id e object_id indicano oggetti diversi");
	if (user && !util_is_uuid(user))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "user_id non valido");
	if (action && (strlen(action) == 0 || strlen(action) > 64 ||
	               strspn(action, "abcdefghijklmnopqrstuvwxyz_.") != strlen(action)))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "action non valida");
	if (from && !audit_is_timestamp(from))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "from: data e ora RFC 3339 (es. 2026-01-31T08:00:00Z)");
	if (to && !audit_is_timestamp(to))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER,
		                          "to: data e ora RFC 3339 (es. 2026-01-31T18:00:00Z)");
	const char *cur_us = NULL, *cur_id = NULL;
	if (cursor && !audit_cursor_parse(req, cursor, &cur_us, &cur_id))
		return http_reply_problem(req, PROBLEM_BAD_PARAMETER, "cursor non valido");
	int limit;
	if (http_page_limit(req, 50, &limit))
		return 0;
	char slimit[16];
	snprintf(slimit, sizeof slimit, "%d", limit + 1);
	const char *p[10] = {req->principal.tenant_id,
	                     person ? person : object,
	                     person ? "person" : NULL,
	                     user,
	                     action,
	                     from,
	                     to,
	                     cur_us,
	                     cur_id,
	                     slimit};
	PGresult *r;
	int rc = db_exec(req->arena, &st_events, 10, p, &r);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *items = json_array();
	int rows = PQntuples(r);
	for (int i = 0; items != NULL && i < rows && i < limit; i++) {
#define COL_OR_NULL(c) (PQgetisnull(r, i, (c)) ? NULL : PQgetvalue(r, i, (c)))
		json_t *o = json_pack(
		    "{s:s, s:s?, s:s?, s:s?, s:o, s:s, s:s?, s:s?, s:i, s:s, s:b, s:s?}",
		    "occurred_at", PQgetvalue(r, i, 1), "user_id", COL_OR_NULL(2), "username",
		    COL_OR_NULL(3), "client", COL_OR_NULL(13), "roles",
		    audit_text_array(req, PQgetvalue(r, i, 4)), "action", PQgetvalue(r, i, 5),
		    "object_type", COL_OR_NULL(6), "object_id", COL_OR_NULL(7), "outcome",
		    atoi(PQgetvalue(r, i, 8)), "request_id", PQgetvalue(r, i, 9), "break_glass",
		    strcmp(PQgetvalue(r, i, 10), "t") == 0, "purpose", COL_OR_NULL(11));
#undef COL_OR_NULL
		if (o == NULL || json_array_append_new(items, o) != 0) {
			json_decref(items);
			return -1;
		}
	}
	if (items == NULL)
		return -1;
	json_t *next = json_null();
	if (rows > limit) {
		char *c = arena_printf(req->arena, "%s.%s", PQgetvalue(r, limit - 1, 12),
		                       PQgetvalue(r, limit - 1, 0));
		if (c == NULL) {
			json_decref(items);
			return -1;
		}
		next = json_string(c);
	}
	return http_reply_json(req, 200,
	                       json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
}

/* GET /api/v1/audit/verify: recomputes the tenant's audit chain. Borrows req. */
int api_audit_verify(struct http_req *req)
{
	struct audit_verify_result res;
	int rc = audit_verify_tenant(req->arena, req->principal.tenant_id, &res);
	if (rc != DB_OK)
		return http_reply_db_error(req, rc);
	json_t *broken =
	    res.ok
	        ? json_null()
	        : json_pack("{s:I, s:o}", "seq", (json_int_t)res.broken_seq, "event_id",
	                    res.broken_event_id > 0 ? json_integer((json_int_t)res.broken_event_id)
	                                            : json_null());
	if (broken == NULL)
		return -1;
	return http_reply_json(req, 200,
	                       json_pack("{s:b, s:I, s:I, s:o}", "ok", res.ok, "sealed",
	                                 (json_int_t)res.sealed, "unsealed",
	                                 (json_int_t)res.unsealed, "first_broken", broken));
}
