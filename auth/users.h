/* Staff accounts and their roles: the operations shared by the admin API
 * and the `cartella user` command. Each runs inside the caller's transaction
 * and tenant context, and returns a db_rc (or USERS_* below). */
#ifndef CARTELLA_USERS_H
#define CARTELLA_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "server/util.h"

struct arena;

#define USERS_NOT_FOUND 1 /* positive: not a db_rc */

struct users_tenant {
	char id[UTIL_UUID_LEN + 1];
	char code[33];
	char name[201];
	char kind[8];
};

struct users_account {
	char id[UTIL_UUID_LEN + 1];
	char username[65];
	char home_tenant_id[UTIL_UUID_LEN + 1];
	bool disabled;
	long long version;
	const char *password_hash; /* arena-owned */
};

/* Finds an active tenant by its code. */
int users_tenant_by_code(struct arena *a, const char *code, struct users_tenant *out);

/* Finds an account by username (any tenant). */
int users_by_username(struct arena *a, const char *username, struct users_account *out);

/* Finds an account by id (any tenant). */
int users_by_id(struct arena *a, const char *id, struct users_account *out);

/* Creates an account; writes its id. DB_UNIQUE when the username is taken. */
int users_create(struct arena *a, const char *username, const char *password_hash,
                 const char *home_tenant_id, char id_out[UTIL_UUID_LEN + 1]);

/* The account's roles in the context tenant, as policy bits. */
int users_roles(struct arena *a, const char *tenant_id, const char *user_id, uint32_t *roles);

/* Grants one role in tenant (no error if already held). */
int users_grant(struct arena *a, const char *tenant_id, const char *user_id, const char *role,
                const char *granted_by);

/* Makes the account's roles in tenant exactly roles (bits). */
int users_set_roles(struct arena *a, const char *tenant_id, const char *user_id, uint32_t roles,
                    const char *granted_by);

/* Sets a new password hash / the disabled flag (callers then users_touch). */
int users_set_password(struct arena *a, const char *user_id, const char *password_hash);
int users_set_disabled(struct arena *a, const char *user_id, bool disabled);

/* Bumps the account version (any change to it or its roles). */
int users_touch(struct arena *a, const char *user_id);

/* Revokes every open session of the account, in every tenant. */
int users_revoke_sessions(struct arena *a, const char *user_id);

#endif
