-- Per-tenant keys for field encryption at rest (DESIGN §5.4). Each key is 32
-- random bytes wrapped by the key-encryption key (KEK), which lives outside
-- the database: wrapped = nonce(24) ‖ XChaCha20-Poly1305(key) ‖ tag(16), with
-- associated data "cartella-key|<kind>|<tenant>|<version>". kek_fingerprint
-- names the KEK that wrapped the row (a keyed hash, never the KEK itself).
--   data:  encrypts field values; versioned, the active one is the highest
--          version not retired; retired versions stay to decrypt old values.
--   index: keys the blind indexes; one version (1), never rotated with data.
-- Rows are created by the application on first use in a tenant and never
-- deleted by it; rotation only sets retired_at.
CREATE TABLE tenant_key (
    tenant_id       uuid NOT NULL REFERENCES tenant (id),
    kind            text NOT NULL CHECK (kind IN ('data', 'index')),
    version         integer NOT NULL CHECK (version >= 1),
    wrapped         bytea NOT NULL CHECK (length(wrapped) = 24 + 32 + 16),
    kek_fingerprint text NOT NULL CHECK (kek_fingerprint ~ '^[0-9a-f]{16}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz,
    PRIMARY KEY (tenant_id, kind, version),
    CHECK (kind = 'data' OR version = 1)
);
ALTER TABLE tenant_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_key FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_key_tenant ON tenant_key
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON tenant_key TO cartella_app;
GRANT UPDATE (retired_at) ON tenant_key TO cartella_app;
