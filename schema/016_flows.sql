-- SIUSS flow bookkeeping (DESIGN §4 flow_record, §7.2; api/waas_*.c).
--
-- Flows are generated lazily, when INPS pulls GET /waas/v1/flussi (or a batch
-- is exported): the sync step compares every intervention with flow_state and
-- appends to flow_record what INPS has not seen yet:
--   - an exportable intervention never sent            -> one I flow;
--   - a sent one whose flow content changed           -> a C flow for the old
--     content, then an I flow for the new one;
--   - a sent one now cancelled or no longer exportable -> a C flow.
-- flow_record is append-only: a flow, once handed out, never changes, except
-- for the outcome INPS notifies with POST /waas/v1/esiti.
--
-- The content of a flow is a JSON snapshot of every XML input (identifying
-- data included), encrypted like any personal data (auth/crypt.c, bound to
-- table flow_record, column payload, tenant and row id); the XML is rendered
-- from it deterministically, so a flow handed out twice is the same bytes.

-- Who signs the tenant's flows: Ente@CFOperatore of the XML (the fiscal code
-- of the operator responsible for the transmission, or the Comune's own
-- 11-digit fiscal code). Set by the operator (docs/operations.md); a tenant
-- without it (or without a Belfiore code) produces no SIUSS flow.
ALTER TABLE tenant ADD COLUMN siuss_operator_cf text
    CHECK (siuss_operator_cf ~ '^([A-Z]{6}[0-9]{2}[A-Z][0-9]{2}[A-Z][0-9A-Z]{3}[A-Z]|[0-9]{11})$');

CREATE TABLE flow_record (
    tenant_id            uuid NOT NULL REFERENCES tenant (id),
    id                   uuid NOT NULL,
    flow_type            text NOT NULL CHECK (flow_type IN ('PS', 'SINBA')),
    -- {Belfiore}.{PS|SINBA}.{YYYYMMDD}.{7-digit daily progressive}
    flow_id              text NOT NULL CHECK (length(flow_id) <= 50),
    flow_day             date NOT NULL,
    day_seq              integer NOT NULL CHECK (day_seq BETWEEN 1 AND 9999999),
    -- milliseconds since the epoch; strictly increasing per tenant
    ts_flusso            bigint NOT NULL CHECK (ts_flusso > 0),
    operation            char(1) NOT NULL CHECK (operation IN ('I', 'C')),
    intervention_id      uuid NOT NULL,
    intervention_version integer NOT NULL,
    person_id            uuid NOT NULL,
    payload_enc          bytea NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- the latest outcome INPS notified (flow_outcome keeps them all)
    outcome              text CHECK (outcome IN ('OK', 'DATI_NON_TROVATI',
                                                 'RICHIESTA_INVALIDA', 'ERRORE_GENERICO')),
    outcome_detail       text,
    outcome_siuss_id     text,
    outcome_at           timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, flow_id),
    UNIQUE (tenant_id, ts_flusso),
    UNIQUE (tenant_id, flow_type, flow_day, day_seq),
    FOREIGN KEY (tenant_id, intervention_id) REFERENCES intervention (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES person (tenant_id, id)
);
CREATE INDEX flow_record_by_intervention ON flow_record (tenant_id, intervention_id, ts_flusso);
ALTER TABLE flow_record ENABLE ROW LEVEL SECURITY;
ALTER TABLE flow_record FORCE ROW LEVEL SECURITY;
CREATE POLICY flow_record_tenant ON flow_record
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON flow_record TO cartella_app;
GRANT UPDATE (outcome, outcome_detail, outcome_siuss_id, outcome_at) ON flow_record TO cartella_app;

-- What the sync step last saw of each intervention: the versions of the
-- intervention and of its beneficiary, the I flow INPS holds (NULL when none)
-- and, when the intervention should be exported but cannot be, why
-- (data-quality refusal, e.g. an omocodic fiscal code the INPS XSD refuses).
CREATE TABLE flow_state (
    tenant_id            uuid NOT NULL REFERENCES tenant (id),
    intervention_id      uuid NOT NULL,
    intervention_version integer NOT NULL,
    person_version       integer NOT NULL,
    current_flow         uuid,
    refusal              text,
    checked_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, intervention_id),
    FOREIGN KEY (tenant_id, intervention_id) REFERENCES intervention (tenant_id, id),
    FOREIGN KEY (tenant_id, current_flow) REFERENCES flow_record (tenant_id, id)
);
ALTER TABLE flow_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE flow_state FORCE ROW LEVEL SECURITY;
CREATE POLICY flow_state_tenant ON flow_state
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON flow_state TO cartella_app;

-- Every outcome INPS notified (POST /waas/v1/esiti), as received. An outcome
-- for a flow id this tenant never produced is kept with flow_record_id NULL
-- (known = false) and reported in the log, never refused: INPS would retry it.
CREATE TABLE flow_outcome (
    tenant_id        uuid NOT NULL REFERENCES tenant (id),
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    flow_record_id   uuid,
    flow_id          text NOT NULL CHECK (length(flow_id) <= 200),
    flow_type        text NOT NULL CHECK (length(flow_type) <= 32),
    ts_flusso        text NOT NULL CHECK (length(ts_flusso) <= 64),
    ts_acquisizione  text NOT NULL CHECK (length(ts_acquisizione) <= 64),
    codice_esito     text NOT NULL CHECK (codice_esito IN ('OK', 'DATI_NON_TROVATI',
                                                           'RICHIESTA_INVALIDA',
                                                           'ERRORE_GENERICO')),
    descrizione_esito text CHECK (length(descrizione_esito) <= 4096),
    id_acquisizione_siuss text CHECK (length(id_acquisizione_siuss) <= 200),
    known            boolean GENERATED ALWAYS AS (flow_record_id IS NOT NULL) STORED,
    received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, flow_record_id) REFERENCES flow_record (tenant_id, id)
);
CREATE INDEX flow_outcome_by_flow ON flow_outcome (tenant_id, flow_id);
ALTER TABLE flow_outcome ENABLE ROW LEVEL SECURITY;
ALTER TABLE flow_outcome FORCE ROW LEVEL SECURITY;
CREATE POLICY flow_outcome_tenant ON flow_outcome
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON flow_outcome TO cartella_app;
