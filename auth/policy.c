#include "auth/policy.h"
#include "server/http.h"
#include "server/router.h"

#include <string.h>

const char *const policy_role_names[] = {
	"social_worker", "administrative", "service_manager", "planning_office", "dpo", "admin",
	NULL,
};

/* The table. Keep it sorted by resource; docs/security.md is generated from it. */
static const struct policy_action actions[] = {
	{"status.read", 0, POLICY_PUBLIC, "service health (ModI /status)"},
	{"metrics.read", 0, POLICY_PUBLIC, "Prometheus metrics (no personal data)"},
	{"openapi.read", 0, POLICY_PUBLIC, "the OpenAPI contract"},
	{"session.create", 0, POLICY_PUBLIC, "log in"},
	{"session.read", POLICY_ANY_ROLE, 0, "read one's own session"},
	{"session.delete", POLICY_ANY_ROLE, 0, "log out"},
	{"user.list", ROLE_ADMIN, 0, "list staff accounts with roles in the tenant"},
	{"user.read", ROLE_ADMIN, 0, "read a staff account"},
	{"user.create", ROLE_ADMIN, 0, "create a staff account with roles in the tenant"},
	{"user.update", ROLE_ADMIN, 0, "change roles, disable, reset password"},
};

uint32_t policy_role_bit(const char *name)
{
	for (unsigned i = 0; policy_role_names[i] != NULL; i++)
		if (strcmp(policy_role_names[i], name) == 0)
			return 1u << i;
	return 0;
}

const char *policy_role_name(uint32_t bit)
{
	for (unsigned i = 0; i < POLICY_ROLE_COUNT; i++)
		if (bit == 1u << i)
			return policy_role_names[i];
	return NULL;
}

const struct policy_action *policy_find(const char *name)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

const struct policy_action *policy_actions(unsigned *n)
{
	*n = (unsigned)(sizeof actions / sizeof actions[0]);
	return actions;
}

const char *policy_route_check(const char *action, unsigned route_flags)
{
	const struct policy_action *a = policy_find(action);
	if (a == NULL)
		return "not in the policy table";
	bool route_public = (route_flags & ROUTE_PUBLIC) != 0;
	bool action_public = (a->flags & POLICY_PUBLIC) != 0;
	if (route_public != action_public)
		return "public on one side only (route flags and policy disagree)";
	if (!action_public && a->roles == 0)
		return "allows no role";
	return NULL;
}

/* Borrows pg_array. */
uint32_t policy_roles_from_array(const char *pg_array)
{
	uint32_t bits = 0;
	char name[32];
	size_t n = 0;
	for (const char *p = pg_array; *p; p++) {
		if (*p == '{' || *p == '"')
			continue;
		if (*p == ',' || *p == '}') {
			name[n] = '\0';
			if (n > 0)
				bits |= policy_role_bit(name);
			n = 0;
		} else if (n + 1 < sizeof name) {
			name[n++] = *p;
		}
	}
	return bits;
}

bool policy_has_role(uint32_t roles, uint32_t want)
{
	return (roles & want) != 0;
}

bool policy_allows(const char *action, uint32_t roles)
{
	const struct policy_action *a = policy_find(action);
	if (a == NULL)
		return false;
	if (a->flags & POLICY_PUBLIC)
		return true;
	return policy_has_role(roles, a->roles);
}

int policy_authorize(struct http_req *req)
{
	const struct policy_action *a = policy_find(req->route->action);
	if (a != NULL && (a->flags & POLICY_PUBLIC))
		return 0;
	if (a != NULL && req->principal.authenticated && policy_has_role(req->principal.roles, a->roles))
		return 0;
	http_reply_problem(req, PROBLEM_FORBIDDEN, NULL);
	return 1;
}
