-- Households (nucleo familiare), their members over time, and ISEE
-- attestations.
--
-- household: a label such as "Famiglia Rossi" names people, so it is
-- ciphertext like the address (same object as a person's address, JSON
-- encrypted by the application; auth/crypt.c, AD = table/column/tenant/row).
--
-- household_member: one membership period of one person in one household,
-- with the relation code (anagrafe list schema/codes/household-relations.csv,
-- relation to the head: 1 = intestatario della scheda) and the head flag.
-- Periods are closed ranges [valid_from, valid_to] (valid_to NULL = still a
-- member). Two exclusion constraints keep the rules the handler checks first
-- (api/households.c) true under concurrency: a person belongs to at most one
-- household at a time, a household has at most one head at a time.
--
-- isee: ISEE attestations of a household or a person (DPCM 159/2013): the
-- DSU protocol (INPS-ISEE-YYYY-NNNNNNNNX-NN), its year and date, the kind of
-- indicator, its value in cents and the validity period. Values are not
-- identifying alone (the DSU protocol and value travel in clear in the SIUSS
-- flows); who they belong to is the household or person row.

-- Equality on uuid inside a GiST exclusion constraint (trusted extension:
-- the database owner may create it).
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE household (
    tenant_id    uuid NOT NULL REFERENCES tenant (id),
    id           uuid NOT NULL,
    label_enc    bytea,
    address_enc  bytea,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid REFERENCES app_user (id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE household ENABLE ROW LEVEL SECURITY;
ALTER TABLE household FORCE ROW LEVEL SECURITY;
CREATE POLICY household_tenant ON household
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON household TO cartella_app;

CREATE TABLE household_member (
    tenant_id     uuid NOT NULL REFERENCES tenant (id),
    id            uuid NOT NULL,
    household_id  uuid NOT NULL,
    person_id     uuid NOT NULL,
    relation      text NOT NULL,
    relation_list text GENERATED ALWAYS AS ('household-relations') STORED,
    head          boolean NOT NULL DEFAULT false,
    valid_from    date NOT NULL,
    valid_to      date,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid REFERENCES app_user (id),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, household_id) REFERENCES household (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES person (tenant_id, id),
    FOREIGN KEY (relation_list, relation) REFERENCES code (list, code),
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    -- The head is the intestatario (relation 1) and the other way round.
    CHECK (head = (relation = '1')),
    CONSTRAINT household_member_one_household_at_a_time EXCLUDE USING gist (
        tenant_id WITH =, person_id WITH =,
        daterange(valid_from, valid_to, '[]') WITH &&),
    CONSTRAINT household_member_one_head_at_a_time EXCLUDE USING gist (
        tenant_id WITH =, household_id WITH =,
        daterange(valid_from, valid_to, '[]') WITH &&) WHERE (head)
);
CREATE INDEX household_member_by_household
    ON household_member (tenant_id, household_id, valid_from, id);
ALTER TABLE household_member ENABLE ROW LEVEL SECURITY;
ALTER TABLE household_member FORCE ROW LEVEL SECURITY;
CREATE POLICY household_member_tenant ON household_member
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON household_member TO cartella_app;

CREATE TABLE isee (
    tenant_id      uuid NOT NULL REFERENCES tenant (id),
    id             uuid NOT NULL,
    household_id   uuid,
    person_id      uuid,
    dsu_protocol   text NOT NULL
        CHECK (dsu_protocol ~ '^INPS-ISEE-[0-9]{4}-[0-9]{8}[0-9A-Z]-[0-9]{2}$'),
    year           smallint NOT NULL CHECK (year BETWEEN 2015 AND 2099),
    signed_on      date NOT NULL,
    indicator_type text NOT NULL CHECK (indicator_type IN
        ('ordinario', 'ridotto', 'minorenni', 'universitario', 'sociosanitario', 'corrente')),
    value_cents    bigint NOT NULL CHECK (value_cents BETWEEN 0 AND 99999999999),
    valid_from     date NOT NULL,
    valid_to       date NOT NULL,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid REFERENCES app_user (id),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, household_id) REFERENCES household (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES person (tenant_id, id),
    CHECK (household_id IS NOT NULL OR person_id IS NOT NULL),
    CHECK (year = substr(dsu_protocol, 11, 4)::smallint),
    CHECK (extract(year FROM signed_on) = year),
    CHECK (valid_from >= signed_on),
    CHECK (valid_to >= valid_from)
);
-- One indicator of a kind per DSU (and per person: the ISEE minorenni is
-- computed for each minor of the same DSU).
CREATE UNIQUE INDEX isee_one_per_dsu ON isee (tenant_id, dsu_protocol, indicator_type,
    coalesce(person_id, '00000000-0000-0000-0000-000000000000'::uuid));
CREATE INDEX isee_by_household ON isee (tenant_id, household_id, signed_on DESC, id DESC)
    WHERE household_id IS NOT NULL;
CREATE INDEX isee_by_person ON isee (tenant_id, person_id, signed_on DESC, id DESC)
    WHERE person_id IS NOT NULL;
CREATE INDEX isee_by_date ON isee (tenant_id, signed_on DESC, id DESC);
ALTER TABLE isee ENABLE ROW LEVEL SECURITY;
ALTER TABLE isee FORCE ROW LEVEL SECURITY;
CREATE POLICY isee_tenant ON isee
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON isee TO cartella_app;
