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
	CHECK(!policy_allows("no.such.action", POLICY_STAFF, POLICY_ANY_ROLE));
	CHECK(!policy_allows("no.such.action", POLICY_CLIENT, 0xFFFFFFFFu));
	CHECK(policy_allows("status.read", POLICY_STAFF, 0));
	CHECK(policy_allows("user.create", POLICY_STAFF, ROLE_ADMIN));
	CHECK(!policy_allows("user.create", POLICY_STAFF,
	                     ROLE_SOCIAL_WORKER | ROLE_DPO | ROLE_SERVICE_MANAGER));
	CHECK(!policy_allows("session.read", POLICY_STAFF, 0));

	/* Clients are checked against scopes only: every scope together opens
	 * no staff-only action, and roles bits never count for a client. */
	CHECK(policy_scope_bit("siuss") == SCOPE_SIUSS);
	CHECK(policy_scope_bit("admin") == 0);
	CHECK(strcmp(policy_scope_name(SCOPE_PERSONS_READ), "persons.read") == 0);
	CHECK(policy_scopes_from_array("{siuss,\"catalogue.read\",bogus}") ==
	      (SCOPE_SIUSS | SCOPE_CATALOGUE_READ));
	CHECK(policy_allows("waas.flows.read", POLICY_CLIENT, SCOPE_SIUSS));
	CHECK(!policy_allows("waas.flows.read", POLICY_CLIENT, SCOPE_PERSONS_READ));
	CHECK(!policy_allows("waas.flows.read", POLICY_STAFF, POLICY_ANY_ROLE));
	CHECK(policy_allows("person.read", POLICY_CLIENT, SCOPE_PERSONS_READ));
	CHECK(!policy_allows("person.read", POLICY_CLIENT, ROLE_SOCIAL_WORKER));
	uint32_t all = 0;
	for (unsigned i = 0; policy_scopes[i].name != NULL; i++)
		all |= policy_scopes[i].bit;
	CHECK(!policy_allows("user.create", POLICY_CLIENT, all));
	CHECK(!policy_allows("client.create", POLICY_CLIENT, all));
	CHECK(!policy_allows("session.read", POLICY_CLIENT, all));
	CHECK(!policy_allows("note.read", POLICY_CLIENT, all));
	CHECK(!policy_allows("audit.read", POLICY_CLIENT, all));

	/* The route check ties route flags to the policy. */
	CHECK(policy_route_check("user.list", 0) == NULL);
	CHECK(policy_route_check("user.list", ROUTE_PUBLIC) != NULL);
	CHECK(policy_route_check("status.read", 0) != NULL);
	CHECK(policy_route_check("nope", 0) != NULL);

	/* Every non-public action allows at least one role or scope; names are
	 * unique; scopes name only known bits. */
	unsigned n;
	const struct policy_action *a = policy_actions(&n);
	for (unsigned i = 0; i < n; i++) {
		CHECK((a[i].flags & POLICY_PUBLIC) || a[i].roles != 0 || a[i].scopes != 0);
		CHECK((a[i].scopes & ~all) == 0);
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(a[i].name, a[j].name) != 0);
	}
	CHECK_DONE();
}
