-- Foundation: tenants, staff accounts and their roles, sessions, login
-- throttling, and the helpers row-level security reads the request context
-- from. Runs as the owner role; the application connects as cartella_app,
-- which owns nothing and is subject to every policy (FORCE).

CREATE SCHEMA app;
GRANT USAGE ON SCHEMA app TO cartella_app;

-- The request context, set per transaction with set_config(..., true).
-- An unset or empty setting reads as NULL, and NULL matches no tenant.
CREATE FUNCTION app.tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.tenant', true), '')::uuid $$;

CREATE FUNCTION app.user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.user', true), '')::uuid $$;

CREATE FUNCTION app.token_hash() RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT decode(nullif(current_setting('app.token_hash', true), ''), 'hex') $$;

-- Comuni and Ambiti. Reference data every user may read; membership of an
-- Ambito is data (parent_id, valid_from/valid_to), never code.
CREATE TABLE tenant (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind          text NOT NULL CHECK (kind IN ('comune', 'ambito')),
    code          text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,31}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    istat_code    char(6) UNIQUE CHECK (istat_code ~ '^[0-9]{6}$'),
    belfiore_code char(4) UNIQUE CHECK (belfiore_code ~ '^[A-Z][0-9]{3}$'),
    parent_id     uuid REFERENCES tenant (id),
    valid_from    date NOT NULL DEFAULT DATE '2000-01-01',
    valid_to      date,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CHECK (kind = 'ambito' OR (istat_code IS NOT NULL AND code = istat_code))
);
GRANT SELECT ON tenant TO cartella_app;

-- Staff accounts. A person who works for several Comuni has one account and
-- roles in each; home_tenant_id is the Comune that created (and may disable)
-- the account. Not tenant-owned: reads go through user_role (which is).
CREATE TABLE app_user (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username       text NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    password_hash  text NOT NULL,
    home_tenant_id uuid NOT NULL REFERENCES tenant (id),
    disabled       boolean NOT NULL DEFAULT false,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX app_user_username ON app_user (username);
GRANT SELECT, INSERT, UPDATE ON app_user TO cartella_app;

CREATE TABLE user_role (
    tenant_id  uuid NOT NULL REFERENCES tenant (id),
    user_id    uuid NOT NULL REFERENCES app_user (id),
    role       text NOT NULL CHECK (role IN ('social_worker', 'administrative',
                   'service_manager', 'planning_office', 'dpo', 'admin')),
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, user_id, role)
);
CREATE INDEX user_role_by_user ON user_role (user_id);
ALTER TABLE user_role ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_role FORCE ROW LEVEL SECURITY;
CREATE POLICY user_role_tenant ON user_role
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, DELETE ON user_role TO cartella_app;

-- Sessions: opaque tokens, stored as their BLAKE2b hash, bound to one tenant.
-- A row is visible inside its tenant, or to the holder of its token (the
-- request that presents it sets app.token_hash before the tenant is known).
CREATE TABLE session (
    tenant_id   uuid NOT NULL REFERENCES tenant (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES app_user (id),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    client_ip_hash bytea,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX session_by_user ON session (tenant_id, user_id) WHERE revoked_at IS NULL;
ALTER TABLE session ENABLE ROW LEVEL SECURITY;
ALTER TABLE session FORCE ROW LEVEL SECURITY;
CREATE POLICY session_tenant ON session
    USING (tenant_id = (SELECT app.tenant()) OR token_hash = (SELECT app.token_hash()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON session TO cartella_app;

-- Failed-login counters, per account (tenant + username, whether or not the
-- account exists) and per client address; keys are hashes, never the values.
CREATE TABLE login_throttle (
    key_hash      bytea PRIMARY KEY CHECK (length(key_hash) = 32),
    failures      integer NOT NULL DEFAULT 0,
    window_start  timestamptz NOT NULL DEFAULT now(),
    blocked_until timestamptz
);
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO cartella_app;

-- Resolves a presented session token inside the current transaction: sets
-- app.token_hash so the session row becomes visible, checks expiry and the
-- account, then sets app.tenant and app.user and returns the roles. Runs with
-- the caller's rights, so row-level security applies throughout.
CREATE FUNCTION app.resolve_session(p_token_hash bytea, p_idle_seconds integer)
RETURNS TABLE (session_id uuid, user_id uuid, username text, tenant_id uuid,
               tenant_code text, roles text[])
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    s record;
    found_session boolean;
BEGIN
    PERFORM set_config('app.token_hash', encode(p_token_hash, 'hex'), true);
    SELECT se.tenant_id, se.id, se.user_id, se.last_seen_at, u.username
      INTO s
      FROM session se JOIN app_user u ON u.id = se.user_id
     WHERE se.token_hash = p_token_hash
       AND se.revoked_at IS NULL
       AND se.expires_at > now()
       AND se.last_seen_at > now() - make_interval(secs => p_idle_seconds)
       AND NOT u.disabled;
    found_session := FOUND;
    PERFORM set_config('app.token_hash', '', true);
    IF NOT found_session THEN
        RETURN;
    END IF;
    PERFORM set_config('app.tenant', s.tenant_id::text, true);
    PERFORM set_config('app.user', s.user_id::text, true);
    -- Idle expiry only needs a coarse clock: write at most every 15 seconds
    -- (or every half idle period, when that is shorter).
    IF s.last_seen_at < now() - least(interval '15 seconds',
                                      make_interval(secs => p_idle_seconds / 2.0)) THEN
        UPDATE session SET last_seen_at = now()
         WHERE session.tenant_id = s.tenant_id AND session.id = s.id;
    END IF;
    RETURN QUERY
        SELECT s.id, s.user_id, s.username, s.tenant_id, t.code,
               coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_role r
                          WHERE r.tenant_id = s.tenant_id AND r.user_id = s.user_id),
                        '{}'::text[])
          FROM tenant t WHERE t.id = s.tenant_id;
END
$$;
GRANT EXECUTE ON FUNCTION app.resolve_session(bytea, integer) TO cartella_app;

-- Revokes every open session of a user in every tenant (used when an account
-- is disabled or its password changes). It visits each tenant's rows under
-- that tenant's context, so it needs no privilege beyond the caller's.
CREATE FUNCTION app.revoke_user_sessions(p_user uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    saved text := current_setting('app.tenant', true);
    t record;
    n integer := 0;
    k integer;
BEGIN
    FOR t IN SELECT id FROM tenant LOOP
        PERFORM set_config('app.tenant', t.id::text, true);
        UPDATE session SET revoked_at = now()
         WHERE tenant_id = t.id AND user_id = p_user AND revoked_at IS NULL;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    PERFORM set_config('app.tenant', coalesce(saved, ''), true);
    RETURN n;
END
$$;
GRANT EXECUTE ON FUNCTION app.revoke_user_sessions(uuid) TO cartella_app;

REVOKE ALL ON schema_migration FROM PUBLIC;
