/* The access policy, as data: every action the API performs, the staff roles
 * and the integration-client scopes allowed to perform it. Routes name their
 * action; a route whose action is not here stops the server at start (deny
 * by default). A principal is either a staff session (roles) or an
 * integration client (scopes: an API client or a PDND voucher); each is
 * checked against its own column, never the other. */
#ifndef CARTELLA_POLICY_H
#define CARTELLA_POLICY_H

#include <stdbool.h>
#include <stdint.h>

struct http_req;

enum policy_role {
	ROLE_SOCIAL_WORKER = 1u << 0,
	ROLE_ADMINISTRATIVE = 1u << 1,
	ROLE_SERVICE_MANAGER = 1u << 2,
	ROLE_PLANNING_OFFICE = 1u << 3,
	ROLE_DPO = 1u << 4,
	ROLE_ADMIN = 1u << 5,
};
#define POLICY_ROLE_COUNT 6
#define POLICY_ANY_ROLE   0x3Fu

/* Client scopes: what an integration client may be granted. */
enum policy_scope_bit {
	SCOPE_SIUSS = 1u << 0,
	SCOPE_PERSONS_READ = 1u << 1,
	SCOPE_INTERVENTIONS_READ = 1u << 2,
	SCOPE_INTERVENTIONS_WRITE = 1u << 3,
	SCOPE_CATALOGUE_READ = 1u << 4,
};

#define POLICY_PUBLIC 1u /* no authentication at all */
/* Allowed to a session restricted to second-factor enrolment. */
#define POLICY_ENROLMENT 2u

/* The roles that can read case content or identifying data (every one that
 * some action allowing personal data names): they must pass a TOTP second
 * factor at login (DESIGN §5.1). The DPO reads persons' rectification
 * history and the audit trail, so is included. */
#define POLICY_SECOND_FACTOR_ROLES                                                                 \
	(ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_DPO)

struct policy_action {
	const char *name;
	uint32_t roles; /* staff roles allowed (any one suffices) */
	unsigned flags;
	const char *what; /* one line for docs/security.md */
	uint32_t scopes;  /* client scopes allowed (any one suffices) */
};

struct policy_scope {
	const char *name; /* "persons.read" */
	uint32_t bit;
	const char *what; /* one line for docs/security.md */
};

/* Who asks: a staff session or an integration client. */
enum policy_principal {
	POLICY_STAFF = 0,
	POLICY_CLIENT = 1,
};

/* The scopes, NULL-name-terminated, in bit order. */
extern const struct policy_scope policy_scopes[];

/* Scope name ↔ bit. policy_scope_bit returns 0 if unknown. */
uint32_t policy_scope_bit(const char *name);
const char *policy_scope_name(uint32_t bit);

/* Parses a PostgreSQL text[] of scope names ("{siuss,persons.read}") into
 * bits; unknown names are ignored. Borrows pg_array. */
uint32_t policy_scopes_from_array(const char *pg_array);

/* Role name ("social_worker") ↔ bit. policy_role_bit returns 0 if unknown. */
uint32_t policy_role_bit(const char *name);
const char *policy_role_name(uint32_t bit);

/* Role names, in bit order, NULL-terminated. */
extern const char *const policy_role_names[];

/* The action named name, or NULL. */
const struct policy_action *policy_find(const char *name);

/* The whole table and its length. */
const struct policy_action *policy_actions(unsigned *n);

/* For router_init: NULL when the action exists and its public flag agrees
 * with the route's, else the reason. */
const char *policy_route_check(const char *action, unsigned route_flags);

/* True when a principal of kind who, holding grants (roles for staff,
 * scopes for clients), may perform action. */
bool policy_allows(const char *action, enum policy_principal who, uint32_t grants);

/* Parses a PostgreSQL text[] of role names ("{admin,dpo}") into bits;
 * unknown names are ignored. */
uint32_t policy_roles_from_array(const char *pg_array);

/* True when roles include any of the roles in want (the role check helper). */
bool policy_has_role(uint32_t roles, uint32_t want);

/* http hook: answers 403 unless the request's principal may perform the
 * route's action (a session restricted to second-factor enrolment only the
 * actions flagged POLICY_ENROLMENT). Returns 0 to go on, 1 after replying. */
int policy_authorize(struct http_req *req);

#endif
