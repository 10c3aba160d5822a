#include "auth/audit.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/util.h"

#include <stdio.h>
#include <string.h>

/* One statement whatever the number of objects: the per-object columns
 * travel as two parallel arrays and unnest into rows. An event on a case
 * (or an object of it) the user holds an unexpired break-glass grant on is
 * flagged, with the grant's id as its purpose (schema/012_sealed.sql);
 * otherwise the purpose is the one the handler recorded (e.g. an extract's).
 * app.break_glass_purpose is only called when the user holds some unexpired
 * grant (checked once per statement): the function cannot be inlined and
 * re-plans its query, under the sealed-case policies, on every call, which
 * made the audit insert the costliest statement of a read (docs/performance.md).
 * Without a grant it would return NULL anyway. */
static const struct db_stmt st_insert = {
    "audit_insert",
    "INSERT INTO audit_event (tenant_id, user_id, roles, action, object_type, object_id, "
    "outcome, request_id, client, purpose, break_glass) "
    "SELECT $1, $2, $3::text[], $4, o.type, o.id, $7::smallint, $8, $9, coalesce(g.id::text, $10), "
    "g.id IS NOT NULL FROM unnest($5::text[], $6::uuid[]) AS o(type, id) "
    "LEFT JOIN LATERAL (SELECT app.break_glass_purpose(o.type, o.id) AS id "
    "WHERE (SELECT EXISTS (SELECT 1 FROM break_glass_grant b WHERE b.tenant_id = app.tenant() "
    "AND b.user_id = app.user_id() AND b.expires_at > now()))) g ON true",
};

/* The principal's roles as a PostgreSQL text[] literal (arena-owned), or
 * NULL on OOM. Role names need no quoting. */
static char *audit_roles(struct http_req *req)
{
	char buf[160] = "{";
	size_t n = 1;
	for (unsigned b = 0; b < POLICY_ROLE_COUNT; b++) {
		if (!(req->principal.roles & (1u << b)))
			continue;
		int w = snprintf(buf + n, sizeof buf - n, "%s%s", n > 1 ? "," : "",
		                 policy_role_names[b]);
		if (w < 0 || (size_t)w >= sizeof buf - n)
			return NULL;
		n += (size_t)w;
	}
	if (n + 2 > sizeof buf)
		return NULL;
	buf[n++] = '}';
	buf[n] = '\0';
	return arena_strdup(req->arena, buf);
}

/* The object type a route is about: its first segment after /api/v1/,
 * singular ("/api/v1/cases/{id}/notes" → "case"), arena-owned, or NULL on
 * OOM. */
static char *audit_route_type(struct http_req *req)
{
	const char *s = req->route->pattern;
	if (strncmp(s, "/api/v1/", 8) == 0)
		s += 8;
	else if (*s == '/')
		s++;
	size_t n = strcspn(s, "/");
	if (n > 1 && s[n - 1] == 's')
		n--;
	if (n > 32)
		n = 32;
	return arena_strndup(req->arena, s, n);
}

/* The id of the object a request without registered objects is about: its
 * first path parameter, or for a 201 the last segment of its Location, when
 * that is a UUID; else NULL. Borrowed from req. */
static const char *audit_request_object(struct http_req *req)
{
	const char *p0 = http_param(req, 0);
	if (p0 != NULL && util_is_uuid(p0))
		return p0;
	for (int h = 0; req->status == 201 && h < req->nheaders; h++) {
		if (strcmp(req->headers[h].name, "Location") != 0)
			continue;
		const char *slash = strrchr(req->headers[h].value, '/');
		if (slash != NULL && util_is_uuid(slash + 1))
			return slash + 1;
	}
	return NULL;
}

/* Builds the two array literals: the objects registered by the handler, or
 * the request itself (audit_request_object). Types
 * are static identifiers and ids UUIDs (checked), so no quoting is needed.
 * Returns 0, or -1 on OOM or a malformed id. */
static int audit_arrays(struct http_req *req, char **types, char **ids)
{
	if (req->audit_count == 0) {
		const char *id = audit_request_object(req);
		if (id != NULL) {
			char *t = audit_route_type(req);
			*types = t ? arena_printf(req->arena, "{\"%s\"}", t) : NULL;
			*ids = arena_printf(req->arena, "{%s}", id);
		} else {
			*types = arena_strdup(req->arena, "{NULL}");
			*ids = arena_strdup(req->arena, "{NULL}");
		}
		return *types && *ids ? 0 : -1;
	}
	size_t tcap = 3, icap = 3;
	for (const struct http_audit_obj *o = req->audit_objs; o; o = o->next) {
		if (!util_is_uuid(o->id) || strlen(o->type) > 32)
			return -1;
		tcap += strlen(o->type) + 3;
		icap += UTIL_UUID_LEN + 1;
	}
	char *t = arena_alloc(req->arena, tcap), *i = arena_alloc(req->arena, icap);
	if (t == NULL || i == NULL)
		return -1;
	size_t tn = 0, in = 0;
	t[tn++] = '{';
	i[in++] = '{';
	for (const struct http_audit_obj *o = req->audit_objs; o; o = o->next) {
		if (o != req->audit_objs) {
			t[tn++] = ',';
			i[in++] = ',';
		}
		size_t tl = strlen(o->type);
		t[tn++] = '"';
		memcpy(t + tn, o->type, tl);
		tn += tl;
		t[tn++] = '"';
		memcpy(i + in, o->id, UTIL_UUID_LEN);
		in += UTIL_UUID_LEN;
	}
	t[tn++] = '}';
	t[tn] = '\0';
	i[in++] = '}';
	i[in] = '\0';
	*types = t;
	*ids = i;
	return 0;
}

int audit_record(struct http_req *req)
{
	char *roles = audit_roles(req);
	char *types = NULL, *ids = NULL;
	if (roles == NULL || audit_arrays(req, &types, &ids) != 0)
		return DB_ERROR;
	char outcome[8];
	snprintf(outcome, sizeof outcome, "%d", req->status);
	const struct http_principal *pr = &req->principal;
	const char *p[10] = {pr->tenant_id,
	                     pr->user_id[0] && !pr->client ? pr->user_id : NULL,
	                     roles,
	                     req->route->action,
	                     types,
	                     ids,
	                     outcome,
	                     req->request_id,
	                     pr->client ? pr->client_ref : NULL,
	                     req->audit_purpose};
	/* Sent with the transaction's COMMIT, in the same round trip: if the
	 * insert fails, the commit fails with it and nothing is kept. */
	return db_defer(req->arena, &st_insert, 10, p);
}
