-- TOTP second factor (DESIGN §5.1, RFC 6238): one authenticator per staff
-- account, with single-use recovery codes. An account is global (app_user)
-- but belongs to its home tenant, whose admin alone may reset its password;
-- the second factor is keyed the same way: rows are owned by the home
-- tenant (row-level security) and the secret is encrypted with the home
-- tenant's data key (auth/crypt.*, bound to table, column, tenant and user).
-- A login to another tenant reads them under the home tenant's context.

CREATE TABLE user_totp (
    tenant_id    uuid NOT NULL REFERENCES tenant (id),
    user_id      uuid NOT NULL REFERENCES app_user (id),
    secret       bytea NOT NULL,
    -- NULL while enrolment waits for its first code; then the factor is active.
    confirmed_at timestamptz,
    -- The last (highest) time step (unix time / 30) accepted, and which of the
    -- two steps before it were accepted too (bit 0: last_step - 1, bit 1:
    -- last_step - 2): a code of a step already accepted is a replay.
    last_step    bigint,
    earlier_used smallint NOT NULL DEFAULT 0 CHECK (earlier_used BETWEEN 0 AND 3),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE UNIQUE INDEX user_totp_user ON user_totp (user_id);
ALTER TABLE user_totp ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_totp FORCE ROW LEVEL SECURITY;
CREATE POLICY user_totp_tenant ON user_totp
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE, DELETE ON user_totp TO cartella_app;

-- Recovery codes: a keyed BLAKE2b-256 of (user, code) under a subkey of the
-- home tenant's index key, never the code. Used once.
CREATE TABLE user_recovery_code (
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES user_totp (tenant_id, user_id) ON DELETE CASCADE
);
ALTER TABLE user_recovery_code ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_recovery_code FORCE ROW LEVEL SECURITY;
CREATE POLICY user_recovery_code_tenant ON user_recovery_code
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, DELETE ON user_recovery_code TO cartella_app;
GRANT UPDATE (used_at) ON user_recovery_code TO cartella_app;

-- How a session's holder passed the second factor: 'none' (not required for
-- the roles, or not enrolled while CARTELLA_TOTP_REQUIRED is off), 'totp',
-- 'recovery_code', or 'enrolment_required' (may only enrol, read and end
-- the session).
ALTER TABLE session ADD COLUMN second_factor text NOT NULL DEFAULT 'none'
    CHECK (second_factor IN ('none', 'totp', 'recovery_code', 'enrolment_required'));

-- resolve_session also returns second_factor.
DROP FUNCTION app.resolve_session(bytea, integer);
CREATE FUNCTION app.resolve_session(p_token_hash bytea, p_idle_seconds integer)
RETURNS TABLE (session_id uuid, user_id uuid, username text, tenant_id uuid,
               tenant_code text, roles text[], second_factor text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    s record;
    found_session boolean;
BEGIN
    PERFORM set_config('app.token_hash', encode(p_token_hash, 'hex'), true);
    SELECT se.tenant_id, se.id, se.user_id, se.last_seen_at, se.second_factor, u.username
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
                        '{}'::text[]),
               s.second_factor
          FROM tenant t WHERE t.id = s.tenant_id;
END
$$;
GRANT EXECUTE ON FUNCTION app.resolve_session(bytea, integer) TO cartella_app;
