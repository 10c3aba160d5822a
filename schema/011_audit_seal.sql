-- The seal of the audit trail (DESIGN §5.5): a hash chain per tenant over
-- audit_event, written asynchronously by the server's sealer thread
-- (auth/audit_seal.c). Each sealed row carries its position in the chain
-- (seal_seq, from 1) and seal_hash = keyed BLAKE2b-256 over the previous
-- hash, the position and a canonical form of the row (docs/security.md);
-- audit_seal_head holds the last link of each tenant's chain.
-- The trail stays append-only: the only UPDATE allowed is the one-time
-- sealing of a row, which sets seal_seq and seal_hash from NULL and leaves
-- every other column as it was.

ALTER TABLE audit_event
    ADD COLUMN seal_seq bigint CHECK (seal_seq >= 1),
    ADD COLUMN seal_hash bytea CHECK (octet_length(seal_hash) = 32),
    ADD CONSTRAINT audit_event_seal_both CHECK ((seal_seq IS NULL) = (seal_hash IS NULL));
CREATE UNIQUE INDEX audit_event_seal ON audit_event (tenant_id, seal_seq)
    WHERE seal_seq IS NOT NULL;
CREATE INDEX audit_event_unsealed ON audit_event (tenant_id, occurred_at, id)
    WHERE seal_seq IS NULL;
GRANT UPDATE (seal_seq, seal_hash) ON audit_event TO cartella_app;

CREATE TABLE audit_seal_head (
    tenant_id  uuid PRIMARY KEY REFERENCES tenant (id),
    seq        bigint NOT NULL CHECK (seq >= 0),
    hash       bytea NOT NULL CHECK (octet_length(hash) = 32),
    sealed_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE audit_seal_head ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_seal_head FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_seal_head_tenant ON audit_seal_head
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON audit_seal_head TO cartella_app;

-- Refuses DELETE and TRUNCATE, and every UPDATE but the sealing one: both
-- seal columns NULL before and set after, every other column unchanged
-- (a column added to audit_event must be added to the comparison).
CREATE OR REPLACE FUNCTION app.audit_event_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_LEVEL = 'ROW' THEN
        IF OLD.seal_seq IS NULL AND OLD.seal_hash IS NULL
           AND NEW.seal_seq IS NOT NULL AND NEW.seal_hash IS NOT NULL
           AND (NEW.tenant_id, NEW.id, NEW.occurred_at, NEW.user_id, NEW.roles, NEW.action,
                NEW.object_type, NEW.object_id, NEW.purpose, NEW.break_glass, NEW.outcome,
                NEW.request_id)
               IS NOT DISTINCT FROM
               (OLD.tenant_id, OLD.id, OLD.occurred_at, OLD.user_id, OLD.roles, OLD.action,
                OLD.object_type, OLD.object_id, OLD.purpose, OLD.break_glass, OLD.outcome,
                OLD.request_id)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
