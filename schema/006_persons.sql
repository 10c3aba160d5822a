-- Persons known to the service. Identifying values are ciphertext produced
-- by the application (auth/crypt.c: XChaCha20-Poly1305 bound to table,
-- column, tenant, row and key version); searches use keyed blind indexes.
-- Clear columns are the ones reports need and that identify nobody alone:
-- sex, birth year, citizenship, residence municipality.

CREATE TABLE person (
    tenant_id         uuid NOT NULL REFERENCES tenant (id),
    id                uuid NOT NULL,
    fiscal_code_enc   bytea,
    fiscal_code_kind  text CHECK (fiscal_code_kind IN ('personal', 'numeric', 'temporary')),
    fiscal_code_bidx  bytea CHECK (length(fiscal_code_bidx) = 32),
    surname_enc       bytea NOT NULL,
    given_name_enc    bytea NOT NULL,
    surname_bidx      bytea NOT NULL CHECK (length(surname_bidx) = 32),
    name_bidx         bytea NOT NULL CHECK (length(name_bidx) = 32),
    sex               char(1) NOT NULL CHECK (sex IN ('M', 'F')),
    birth_date_enc    bytea,
    birth_year        smallint CHECK (birth_year BETWEEN 1900 AND 2199),
    birth_place_enc   bytea,
    citizenship       char(3) CHECK (citizenship ~ '^[0-9]{3}$'),
    residence_istat   char(6) CHECK (residence_istat ~ '^[0-9]{6}$'),
    address_enc       bytea,
    contacts_enc      bytea,
    sealed            boolean NOT NULL DEFAULT false,
    restricted        boolean NOT NULL DEFAULT false,
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    created_by        uuid REFERENCES app_user (id),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    CHECK ((fiscal_code_enc IS NULL) = (fiscal_code_bidx IS NULL)),
    CHECK ((fiscal_code_enc IS NULL) = (fiscal_code_kind IS NULL))
);
CREATE UNIQUE INDEX person_fiscal_code ON person (tenant_id, fiscal_code_bidx)
    WHERE fiscal_code_bidx IS NOT NULL;
CREATE INDEX person_name ON person (tenant_id, name_bidx);
CREATE INDEX person_surname ON person (tenant_id, surname_bidx);
ALTER TABLE person ENABLE ROW LEVEL SECURITY;
ALTER TABLE person FORCE ROW LEVEL SECURITY;
CREATE POLICY person_tenant ON person
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON person TO cartella_app;

-- Rectification history (GDPR art. 16): the representation a change
-- replaced, encrypted as one value, with who, when and why.
CREATE TABLE person_version (
    tenant_id      uuid NOT NULL REFERENCES tenant (id),
    id             uuid NOT NULL,
    person_id      uuid NOT NULL,
    version        integer NOT NULL,
    previous_enc   bytea NOT NULL,
    reason_enc     bytea NOT NULL,
    changed_fields text[] NOT NULL,
    changed_by     uuid REFERENCES app_user (id),
    changed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, person_id, version),
    FOREIGN KEY (tenant_id, person_id) REFERENCES person (tenant_id, id)
);
ALTER TABLE person_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE person_version FORCE ROW LEVEL SECURITY;
CREATE POLICY person_version_tenant ON person_version
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON person_version TO cartella_app;

-- Idempotency keys for POST: a retried request with the same key and body
-- gets the first answer again; the same key with another body is refused.
-- The stored answer may hold personal data, so it is ciphertext too.
CREATE TABLE idempotency_key (
    tenant_id     uuid NOT NULL REFERENCES tenant (id),
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES app_user (id),
    key           text NOT NULL CHECK (length(key) BETWEEN 8 AND 64),
    route         text NOT NULL,
    request_hash  bytea NOT NULL,
    status        integer,
    location      text,
    etag          text,
    response_enc  bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_id, key)
);
ALTER TABLE idempotency_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_key FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_key_tenant ON idempotency_key
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_key TO cartella_app;
