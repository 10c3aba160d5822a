-- Key lifecycle (DESIGN §5.4; `cartella keys`, auth/keys*.c).
--
-- Rotating a tenant's data key inserts a new version; `cartella keys
-- reencrypt` then rewrites every value still under an older version and
-- retires a version (tenant_key.retired_at) once no value uses it. A
-- transaction that read the previous active version just before the
-- rotation may still be about to write values under it, so the
-- re-encryption waits for every such transaction first. The barrier is a
-- transaction-level advisory lock per tenant: every transaction that reads
-- the active data key to encrypt takes it in shared mode (below) and holds it
-- until it ends; the re-encryption takes it in exclusive mode once, which
-- waits for those transactions, then releases it at once.
--
-- The lock must be held before the active version is read: in READ
-- COMMITTED a statement's snapshot is taken when it starts, so the lock and
-- the read are two statements of this VOLATILE function (each statement of
-- a volatile function takes a fresh snapshot).

-- The advisory lock key of a tenant's data keys: (classid, objid) of the
-- two-integer form, so it cannot meet the bigint keys used elsewhere.
CREATE FUNCTION app.data_key_lock_id(p_tenant uuid) RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$ SELECT hashtext('cartella-data-key|' || p_tenant::text) $$;

-- The active (highest, not retired) key of kind for the tenant, read under
-- the shared barrier lock: version, wrapped, kek_fingerprint, the row's
-- xmin and the caller's transaction id (NULL while it has written nothing),
-- as auth/crypt.c reads every key row. Runs with the caller's rights:
-- row-level security applies.
CREATE FUNCTION app.active_key_for_write(p_tenant uuid, p_kind text)
RETURNS TABLE (version integer, wrapped bytea, kek_fingerprint text, row_xmin text,
               current_xact text)
LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_kind = 'data' THEN
        PERFORM pg_advisory_xact_lock_shared(1128354388, app.data_key_lock_id(p_tenant));
    END IF;
    RETURN QUERY
        SELECT k.version, k.wrapped, k.kek_fingerprint, k.xmin::text,
               pg_current_xact_id_if_assigned()::text
          FROM tenant_key k
         WHERE k.tenant_id = p_tenant AND k.kind = p_kind AND k.retired_at IS NULL
         ORDER BY k.version DESC
         LIMIT 1;
END
$$;
REVOKE ALL ON FUNCTION app.active_key_for_write(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.active_key_for_write(uuid, text) TO cartella_app;
GRANT EXECUTE ON FUNCTION app.data_key_lock_id(uuid) TO cartella_app;
