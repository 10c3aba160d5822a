#include "server/router.h"

#include <stdio.h>
#include <string.h>

#define ROUTER_MAX_SEGMENTS 12

static const struct route *table;
static size_t table_n;

/* Borrows pattern; counts placeholders, checks shape. Returns -1 if bad. */
static int pattern_params(const char *pattern)
{
	if (pattern[0] != '/')
		return -1;
	int params = 0, segments = 0;
	const char *p = pattern;
	while (*p == '/') {
		p++;
		segments++;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			return -1;
		if (p[0] == '{') {
			if (p[len - 1] != '}' || len < 3)
				return -1;
			params++;
		}
		p += len;
	}
	if (*p != '\0' || segments > ROUTER_MAX_SEGMENTS || params > ROUTE_MAX_PARAMS)
		return -1;
	return params;
}

/* Borrows routes for the process lifetime. */
int router_init(const struct route *routes, size_t n,
                const char *(*action_check)(const char *action, unsigned flags), char *err,
                size_t errn)
{
	for (size_t i = 0; i < n; i++) {
		const struct route *r = &routes[i];
		if (r->method == NULL || r->pattern == NULL || r->handler == NULL) {
			snprintf(err, errn, "route %zu is incomplete", i);
			return -1;
		}
		if (pattern_params(r->pattern) < 0) {
			snprintf(err, errn, "route %s %s: bad pattern", r->method, r->pattern);
			return -1;
		}
		if (r->action == NULL || r->action[0] == '\0') {
			snprintf(err, errn, "route %s %s names no policy action", r->method,
			         r->pattern);
			return -1;
		}
		const char *why = action_check(r->action, r->flags);
		if (why != NULL) {
			snprintf(err, errn, "route %s %s: action %s: %s", r->method, r->pattern,
			         r->action, why);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(routes[j].method, r->method) == 0 &&
			    strcmp(routes[j].pattern, r->pattern) == 0) {
				snprintf(err, errn, "route %s %s is declared twice", r->method,
				         r->pattern);
				return -1;
			}
		}
	}
	table = routes;
	table_n = n;
	return 0;
}

/* Compares path segments (split in place) with the pattern. Fills params;
 * those the pattern does not have are NULL. */
static bool pattern_matches(const char *pattern, char *const *segs, int nsegs,
                            const char *params[ROUTE_MAX_PARAMS])
{
	int i = 0, np = 0;
	for (int k = 0; k < ROUTE_MAX_PARAMS; k++)
		params[k] = NULL;
	const char *p = pattern;
	while (*p == '/') {
		p++;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (i >= nsegs)
			return false;
		if (p[0] == '{') {
			params[np++] = segs[i];
		} else if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0) {
			return false;
		}
		i++;
		p += len;
	}
	return i == nsegs;
}

/* Borrows method; modifies path in place; params point into path. */
enum router_match router_match(const char *method, char *path, const struct route **out,
                               const char *params[ROUTE_MAX_PARAMS], char *allow, size_t allown)
{
	char *segs[ROUTER_MAX_SEGMENTS];
	int nsegs = 0;
	*out = NULL;
	if (allown > 0)
		allow[0] = '\0';
	if (path[0] != '/')
		return ROUTER_NO_PATH;
	char *p = path;
	while (*p == '/') {
		*p++ = '\0';
		if (*p == '\0' && nsegs > 0)
			return ROUTER_NO_PATH; /* trailing slash */
		if (nsegs == ROUTER_MAX_SEGMENTS)
			return ROUTER_NO_PATH;
		segs[nsegs++] = p;
		char *slash = strchr(p, '/');
		if (slash == NULL)
			break;
		if (slash == p)
			return ROUTER_NO_PATH; /* empty segment */
		p = slash;
	}
	bool path_found = false;
	size_t used = 0;
	const char *tmp[ROUTE_MAX_PARAMS];
	for (size_t i = 0; i < table_n; i++) {
		if (!pattern_matches(table[i].pattern, segs, nsegs, tmp))
			continue;
		if (strcmp(table[i].method, method) == 0) {
			memcpy(params, tmp, sizeof tmp);
			*out = &table[i];
			return ROUTER_FOUND;
		}
		/* Collect Allow; skip methods already listed. */
		if (allown > 0 && strstr(allow, table[i].method) == NULL) {
			int w = snprintf(allow + used, allown - used, "%s%s", used ? ", " : "",
			                 table[i].method);
			if (w > 0 && (size_t)w < allown - used)
				used += (size_t)w;
		}
		path_found = true;
	}
	return path_found ? ROUTER_NO_METHOD : ROUTER_NO_PATH;
}

const struct route *router_routes(size_t *n)
{
	*n = table_n;
	return table;
}

size_t router_index(const struct route *r)
{
	return (size_t)(r - table);
}
