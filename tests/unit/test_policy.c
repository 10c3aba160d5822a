#include "auth/policy.h"
#include "server/router.h"
#include "tests/unit/check.h"

#include <string.h>

int main(void)
{
	CHECK(policy_role_bit("social_worker") == ROLE_SOCIAL_WORKER);
	CHECK(policy_role_bit("admin") == ROLE_ADMIN);
	CHECK(policy_role_bit("root") == 0);
	CHECK(strcmp(policy_role_name(ROLE_DPO), "dpo") == 0);
	CHECK(policy_roles_from_array("{admin,dpo}") == (ROLE_ADMIN | ROLE_DPO));
	CHECK(policy_roles_from_array("{}") == 0);
	CHECK(policy_roles_from_array("{bogus,\"social_worker\"}") == ROLE_SOCIAL_WORKER);

	/* Deny by default: unknown actions allow nobody. */
	CHECK(!policy_allows("no.such.action", POLICY_ANY_ROLE));
	CHECK(policy_allows("status.read", 0));
	CHECK(policy_allows("user.create", ROLE_ADMIN));
	CHECK(!policy_allows("user.create", ROLE_SOCIAL_WORKER | ROLE_DPO | ROLE_SERVICE_MANAGER));
	CHECK(!policy_allows("session.read", 0));

	/* The route check ties route flags to the policy. */
	CHECK(policy_route_check("user.list", 0) == NULL);
	CHECK(policy_route_check("user.list", ROUTE_PUBLIC) != NULL);
	CHECK(policy_route_check("status.read", 0) != NULL);
	CHECK(policy_route_check("nope", 0) != NULL);

	/* Every non-public action allows at least one role; names are unique. */
	unsigned n;
	const struct policy_action *a = policy_actions(&n);
	for (unsigned i = 0; i < n; i++) {
		CHECK((a[i].flags & POLICY_PUBLIC) || a[i].roles != 0);
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(a[i].name, a[j].name) != 0);
	}
	CHECK_DONE();
}
