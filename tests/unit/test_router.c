#include "server/router.h"
#include "tests/unit/check.h"

#include <string.h>

static int h(struct http_req *req)
{
	(void)req;
	return 0;
}

static const char *accept_all(const char *action, unsigned flags)
{
	(void)flags;
	return strcmp(action, "bogus") == 0 ? "not in the policy table" : NULL;
}

int main(void)
{
	char err[256];
	static const struct route routes[] = {
	    {"GET", "/api/v1/users", h, "user.list", 0},
	    {"POST", "/api/v1/users", h, "user.create", 0},
	    {"GET", "/api/v1/users/{id}", h, "user.read", 0},
	    {"PATCH", "/api/v1/users/{id}", h, "user.update", 0},
	    {"GET", "/api/v1/cases/{id}/notes/{note}", h, "note.read", 0},
	};
	CHECK(router_init(routes, 5, accept_all, err, sizeof err) == 0);

	const struct route *r;
	const char *params[ROUTE_MAX_PARAMS];
	char allow[64];
	char p1[] = "/api/v1/users";
	CHECK(router_match("GET", p1, &r, params, allow, sizeof allow) == ROUTER_FOUND);
	CHECK(r == &routes[0] && router_index(r) == 0);

	char p2[] = "/api/v1/users/abc";
	CHECK(router_match("PATCH", p2, &r, params, allow, sizeof allow) == ROUTER_FOUND);
	CHECK(r == &routes[3] && strcmp(params[0], "abc") == 0);

	char p3[] = "/api/v1/users/abc";
	CHECK(router_match("DELETE", p3, &r, params, allow, sizeof allow) == ROUTER_NO_METHOD);
	CHECK(strcmp(allow, "GET, PATCH") == 0);

	char p4[] = "/api/v1/cases/c1/notes/n2";
	CHECK(router_match("GET", p4, &r, params, allow, sizeof allow) == ROUTER_FOUND);
	CHECK(strcmp(params[0], "c1") == 0 && strcmp(params[1], "n2") == 0);

	/* Near misses are not found. */
	char p5[] = "/api/v1/users/";
	CHECK(router_match("GET", p5, &r, params, allow, sizeof allow) == ROUTER_NO_PATH);
	char p6[] = "/api/v1//users";
	CHECK(router_match("GET", p6, &r, params, allow, sizeof allow) == ROUTER_NO_PATH);
	char p7[] = "/api/v1/users/a/b";
	CHECK(router_match("GET", p7, &r, params, allow, sizeof allow) == ROUTER_NO_PATH);
	char p8[] = "api/v1/users";
	CHECK(router_match("GET", p8, &r, params, allow, sizeof allow) == ROUTER_NO_PATH);
	char p9[] = "/";
	CHECK(router_match("GET", p9, &r, params, allow, sizeof allow) == ROUTER_NO_PATH);
	char p10[] = "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o";
	CHECK(router_match("GET", p10, &r, params, allow, sizeof allow) == ROUTER_NO_PATH);

	/* A route without an action, or with one the policy does not know, or
	 * declared twice, stops the start. */
	static const struct route no_action[] = {{"GET", "/x", h, NULL, 0}};
	CHECK(router_init(no_action, 1, accept_all, err, sizeof err) == -1);
	CHECK(strstr(err, "no policy action") != NULL);
	static const struct route unknown[] = {{"GET", "/x", h, "bogus", 0}};
	CHECK(router_init(unknown, 1, accept_all, err, sizeof err) == -1);
	CHECK(strstr(err, "bogus") != NULL);
	static const struct route twice[] = {{"GET", "/x", h, "a", 0}, {"GET", "/x", h, "a", 0}};
	CHECK(router_init(twice, 2, accept_all, err, sizeof err) == -1);
	static const struct route bad[] = {{"GET", "/x/{", h, "a", 0}};
	CHECK(router_init(bad, 1, accept_all, err, sizeof err) == -1);
	CHECK_DONE();
}
