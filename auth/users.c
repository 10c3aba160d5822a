#include "auth/users.h"
#include "auth/policy.h"
#include "server/db.h"

#include <stdlib.h>
#include <string.h>

static const struct db_stmt st_tenant_by_code = {
    "users_tenant_by_code",
    "SELECT id, code, name, kind FROM tenant WHERE code = $1 "
    "AND valid_from <= current_date AND (valid_to IS NULL OR valid_to >= current_date)",
};

int users_tenant_by_code(struct arena *a, const char *code, struct users_tenant *out)
{
	const char *p[1] = {code};
	PGresult *r;
	int rc = db_exec(a, &st_tenant_by_code, 1, p, &r);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(r) != 1)
		return USERS_NOT_FOUND;
	util_strlcpy(out->id, PQgetvalue(r, 0, 0), sizeof out->id);
	util_strlcpy(out->code, PQgetvalue(r, 0, 1), sizeof out->code);
	util_strlcpy(out->name, PQgetvalue(r, 0, 2), sizeof out->name);
	util_strlcpy(out->kind, PQgetvalue(r, 0, 3), sizeof out->kind);
	return DB_OK;
}

#define ACCOUNT_COLUMNS "id, username, home_tenant_id, disabled, version, password_hash"

/* Copies row 0 of r into out (the hash pointer stays owned by the arena). */
static int users_fill(PGresult *r, struct users_account *out)
{
	if (PQntuples(r) != 1)
		return USERS_NOT_FOUND;
	util_strlcpy(out->id, PQgetvalue(r, 0, 0), sizeof out->id);
	util_strlcpy(out->username, PQgetvalue(r, 0, 1), sizeof out->username);
	util_strlcpy(out->home_tenant_id, PQgetvalue(r, 0, 2), sizeof out->home_tenant_id);
	out->disabled = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
	out->version = atoll(PQgetvalue(r, 0, 4));
	out->password_hash = PQgetvalue(r, 0, 5);
	return DB_OK;
}

static const struct db_stmt st_by_username = {
    "users_by_username",
    "SELECT " ACCOUNT_COLUMNS " FROM app_user WHERE username = $1",
};

int users_by_username(struct arena *a, const char *username, struct users_account *out)
{
	const char *p[1] = {username};
	PGresult *r;
	int rc = db_exec(a, &st_by_username, 1, p, &r);
	return rc != DB_OK ? rc : users_fill(r, out);
}

static const struct db_stmt st_by_id = {
    "users_by_id",
    "SELECT " ACCOUNT_COLUMNS " FROM app_user WHERE id = $1",
};

int users_by_id(struct arena *a, const char *id, struct users_account *out)
{
	if (!util_is_uuid(id))
		return USERS_NOT_FOUND;
	const char *p[1] = {id};
	PGresult *r;
	int rc = db_exec(a, &st_by_id, 1, p, &r);
	return rc != DB_OK ? rc : users_fill(r, out);
}

static const struct db_stmt st_create = {
    "users_create",
    "INSERT INTO app_user (username, password_hash, home_tenant_id) VALUES ($1, $2, $3) "
    "RETURNING id",
};

int users_create(struct arena *a, const char *username, const char *password_hash,
                 const char *home_tenant_id, char id_out[UTIL_UUID_LEN + 1])
{
	const char *p[3] = {username, password_hash, home_tenant_id};
	PGresult *r;
	int rc = db_exec(a, &st_create, 3, p, &r);
	if (rc == DB_OK)
		util_strlcpy(id_out, PQgetvalue(r, 0, 0), UTIL_UUID_LEN + 1);
	return rc;
}

static const struct db_stmt st_roles = {
    "users_roles",
    "SELECT role FROM user_role WHERE tenant_id = $1 AND user_id = $2",
};

int users_roles(struct arena *a, const char *tenant_id, const char *user_id, uint32_t *roles)
{
	const char *p[2] = {tenant_id, user_id};
	PGresult *r;
	*roles = 0;
	int rc = db_exec(a, &st_roles, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	for (int i = 0; i < PQntuples(r); i++)
		*roles |= policy_role_bit(PQgetvalue(r, i, 0));
	return DB_OK;
}

static const struct db_stmt st_grant = {
    "users_grant",
    "INSERT INTO user_role (tenant_id, user_id, role, granted_by) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING",
};

int users_grant(struct arena *a, const char *tenant_id, const char *user_id, const char *role,
                const char *granted_by)
{
	const char *p[4] = {tenant_id, user_id, role, granted_by};
	return db_exec(a, &st_grant, 4, p, NULL);
}

static const struct db_stmt st_revoke_role = {
    "users_revoke_role",
    "DELETE FROM user_role WHERE tenant_id = $1 AND user_id = $2 AND role = $3",
};

int users_set_roles(struct arena *a, const char *tenant_id, const char *user_id, uint32_t roles,
                    const char *granted_by)
{
	for (unsigned i = 0; i < POLICY_ROLE_COUNT; i++) {
		const char *name = policy_role_names[i];
		int rc;
		if (roles & (1u << i)) {
			rc = users_grant(a, tenant_id, user_id, name, granted_by);
		} else {
			const char *p[3] = {tenant_id, user_id, name};
			rc = db_exec(a, &st_revoke_role, 3, p, NULL);
		}
		if (rc != DB_OK)
			return rc;
	}
	return DB_OK;
}

static const struct db_stmt st_set_password = {
    "users_set_password",
    "UPDATE app_user SET password_hash = $2, password_changed_at = now() WHERE id = $1",
};

int users_set_password(struct arena *a, const char *user_id, const char *password_hash)
{
	const char *p[2] = {user_id, password_hash};
	return db_exec(a, &st_set_password, 2, p, NULL);
}

static const struct db_stmt st_set_disabled = {
    "users_set_disabled",
    "UPDATE app_user SET disabled = $2 WHERE id = $1",
};

int users_set_disabled(struct arena *a, const char *user_id, bool disabled)
{
	const char *p[2] = {user_id, disabled ? "true" : "false"};
	return db_exec(a, &st_set_disabled, 2, p, NULL);
}

static const struct db_stmt st_touch = {
    "users_touch",
    "UPDATE app_user SET updated_at = now(), version = version + 1 WHERE id = $1",
};

int users_touch(struct arena *a, const char *user_id)
{
	const char *p[1] = {user_id};
	return db_exec(a, &st_touch, 1, p, NULL);
}

static const struct db_stmt st_revoke_sessions = {
    "users_revoke_sessions",
    "SELECT app.revoke_user_sessions($1)",
};

int users_revoke_sessions(struct arena *a, const char *user_id)
{
	const char *p[1] = {user_id};
	return db_exec(a, &st_revoke_sessions, 1, p, NULL);
}
