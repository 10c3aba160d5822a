-- Integration clients (DESIGN §5.1): machine principals of one tenant that
-- hold scopes instead of roles (auth/policy.c) and authenticate with HTTP
-- Basic (client id : client secret). The secret is 32 random bytes shown
-- once; only its keyed BLAKE2b-256 is stored, under a per-tenant key derived
-- from the tenant's index key (auth/client.c, docs/security.md): a copy of
-- the database alone does not even let one test a guessed secret, and the
-- check costs one hash (an Argon2id per API call would buy nothing against a
-- 256-bit random secret and would hand out a denial of service).
--
-- The tenant of a presented client id is not known before the row is read:
-- app.resolve_client sets app.client_lookup to the presented id so that the
-- one row becomes visible to SELECT for that lookup only (as
-- app.resolve_session does with the token hash).

CREATE FUNCTION app.client_lookup() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.client_lookup', true), '')::uuid $$;

CREATE TABLE api_client (
    tenant_id    uuid NOT NULL REFERENCES tenant (id),
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes       text[] NOT NULL CHECK (cardinality(scopes) >= 1 AND scopes <@ ARRAY[
                     'siuss', 'persons.read', 'interventions.read', 'interventions.write',
                     'catalogue.read']::text[]),
    secret_hash  bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    enabled      boolean NOT NULL DEFAULT true,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid REFERENCES app_user (id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   uuid REFERENCES app_user (id),
    secret_rotated_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id)
);
CREATE UNIQUE INDEX api_client_name ON api_client (tenant_id, lower(name));
ALTER TABLE api_client ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_client FORCE ROW LEVEL SECURITY;
CREATE POLICY api_client_tenant ON api_client
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
CREATE POLICY api_client_lookup ON api_client FOR SELECT
    USING (id = (SELECT app.client_lookup()));
GRANT SELECT, INSERT, UPDATE ON api_client TO cartella_app;

-- Reads the presented client inside the current transaction: its tenant,
-- secret hash, scopes and whether it is enabled (the caller compares the
-- hash in constant time, then sets the tenant context). Runs with the
-- caller's rights, so row-level security applies throughout.
CREATE FUNCTION app.resolve_client(p_id uuid)
RETURNS TABLE (tenant_id uuid, secret_hash bytea, scopes text[], enabled boolean,
               tenant_code text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('app.client_lookup', p_id::text, true);
    RETURN QUERY
        SELECT c.tenant_id, c.secret_hash, c.scopes, c.enabled, t.code
          FROM api_client c JOIN tenant t ON t.id = c.tenant_id
         WHERE c.id = p_id;
    PERFORM set_config('app.client_lookup', '', true);
END
$$;
GRANT EXECUTE ON FUNCTION app.resolve_client(uuid) TO cartella_app;

-- The audit trail names a client principal: "api:<client id>" for an API
-- client, "pdnd:<e-service>:<consumer>:<purpose>" for a PDND voucher; NULL
-- for staff (user_id names them). The seal covers it (auth/audit_seal.c).
ALTER TABLE audit_event
    ADD COLUMN client text CHECK (client ~ '^(api|pdnd):' AND length(client) <= 200),
    ADD CONSTRAINT audit_event_one_principal CHECK (user_id IS NULL OR client IS NULL);
CREATE INDEX audit_event_client ON audit_event (tenant_id, client, occurred_at)
    WHERE client IS NOT NULL;

CREATE OR REPLACE FUNCTION app.audit_event_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_LEVEL = 'ROW' THEN
        IF OLD.seal_seq IS NULL AND OLD.seal_hash IS NULL
           AND NEW.seal_seq IS NOT NULL AND NEW.seal_hash IS NOT NULL
           AND (NEW.tenant_id, NEW.id, NEW.occurred_at, NEW.user_id, NEW.roles, NEW.action,
                NEW.object_type, NEW.object_id, NEW.purpose, NEW.break_glass, NEW.outcome,
                NEW.request_id, NEW.client)
               IS NOT DISTINCT FROM
               (OLD.tenant_id, OLD.id, OLD.occurred_at, OLD.user_id, OLD.roles, OLD.action,
                OLD.object_type, OLD.object_id, OLD.purpose, OLD.break_glass, OLD.outcome,
                OLD.request_id, OLD.client)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Idempotency keys belong to a staff user or to a client principal.
ALTER TABLE idempotency_key
    ALTER COLUMN user_id DROP NOT NULL,
    ADD COLUMN client text CHECK (length(client) <= 200),
    ADD CONSTRAINT idempotency_key_one_principal CHECK ((user_id IS NULL) <> (client IS NULL));
CREATE UNIQUE INDEX idempotency_key_client ON idempotency_key (tenant_id, client, key)
    WHERE client IS NOT NULL;
-- Lookups match the principal with IS NOT DISTINCT FROM; keys are chosen by
-- the caller and nearly unique, so (tenant, key) finds the row.
CREATE INDEX idempotency_key_by_key ON idempotency_key (tenant_id, key);
