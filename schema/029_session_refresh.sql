-- The idle clock of a session no longer makes one request of a user wait for
-- another. app.resolve_session refreshes session.last_seen_at (at most every
-- 15 seconds) inside the request's transaction, so the refreshing request
-- holds the session row's lock until it commits. Before this migration a
-- second request of the same session that also wanted to refresh the clock
-- waited for that lock: behind a 4-second report, every other request of
-- the user waited, and with several long requests queued they reached the
-- statement timeout (found at regional scale, docs/performance.md).
--
-- Now the refresh takes the row lock only when it is free (FOR NO KEY UPDATE
-- SKIP LOCKED). When it is not free, another transaction is refreshing or
-- revoking the same session at this moment, and this request goes on
-- without writing: the clock is coarse by design, the transaction holding
-- the lock writes a time as recent, and the next request after it commits
-- refreshes again if needed. Nothing else changes: the checks (token,
-- revocation, expiry, idle time, disabled account) read the committed row
-- as before.
CREATE OR REPLACE FUNCTION app.resolve_session(p_token_hash bytea, p_idle_seconds integer)
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
    -- (or every half idle period, when that is shorter), and never wait for
    -- the row: see the comment at the top.
    IF s.last_seen_at < now() - least(interval '15 seconds',
                                      make_interval(secs => p_idle_seconds / 2.0)) THEN
        UPDATE session SET last_seen_at = now()
         WHERE session.tenant_id = s.tenant_id AND session.id = s.id
           AND session.id IN (SELECT fr.id FROM session fr
                               WHERE fr.tenant_id = s.tenant_id AND fr.id = s.id
                                 FOR NO KEY UPDATE SKIP LOCKED);
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
