-- Interventions (erogazioni) and their funding.
--
-- intervention: one service of the local catalogue delivered to one
-- beneficiary, the unit of the SIUSS PS/PSA flow (one PrestazioniSociali
-- element, ../shared/reference/notes/siuss-flows-and-codes.md §3 and §13).
-- Its nature is the flow's CaratterePrestazione:
--   periodic (1, Periodico):  start_date required, end_date optional (>= start),
--                             monthly_amount_cents (ImportoMensile) required;
--   one_off  (2, Occasionale): delivery_date (DataErogazionePrestazione) and
--                             total_amount_cents (ImportoPrestazione) required.
-- The fields of the other nature must be NULL.
--
-- means_test is the flow's PresenzaProvaMezzi:
--   1 = subject to ISEE (the DSU protocol is then required);
--   2 = means-tested, but not through ISEE (e.g. INPS benefits, tax relief);
--   3 = generally subject to ISEE, but exempted from the means test for this
--       beneficiary on other grounds of need (e.g. nursery for a disabled child);
--   4 = not means-tested (no economic criteria in the service's rules).
-- in_charge is PresaCarico (true = 1 SI); user_area is AreaUtenza (code list
-- siuss-user-areas: 1 famiglia e minori, 2 disabilità e non autosufficienza,
-- 3 povertà ed esclusione sociale), required when in_charge.
-- The co-payment shares are ImportoQuotaEnte / Utente / SSN, in cents; their
-- sum never exceeds the cost.
--
-- The cost of an intervention is what its funding must add up to: the total
-- amount of a one-off intervention, the monthly amount of a periodic one
-- (its funding is a split per month).
--
-- The service may be the Comune's own catalogue row or its Ambito's: the row
-- is referenced with its owner's tenant_id (service_tenant_id), so the
-- catalogue stays shared while every other foreign key stays within the
-- intervention's tenant.
--
-- Interventions are never deleted: a wrong one is cancelled (status).

CREATE TABLE intervention (
    tenant_id            uuid NOT NULL REFERENCES tenant (id),
    id                   uuid NOT NULL,
    case_id              uuid,
    beneficiary_id       uuid NOT NULL,
    service_tenant_id    uuid NOT NULL,
    service_id           uuid NOT NULL,
    nature               text NOT NULL CHECK (nature IN ('periodic', 'one_off')),
    start_date           date,
    end_date             date,
    delivery_date        date,
    monthly_amount_cents bigint CHECK (monthly_amount_cents BETWEEN 1 AND 99999999999),
    total_amount_cents   bigint CHECK (total_amount_cents BETWEEN 1 AND 99999999999),
    hours_per_month      numeric(6,2) CHECK (hours_per_month > 0 AND hours_per_month <= 744),
    means_test           smallint NOT NULL CHECK (means_test BETWEEN 1 AND 4),
    dsu_protocol         text CHECK (dsu_protocol ~ '^INPS-ISEE-[0-9]{4}-[0-9]{8}[0-9A-Z]-[0-9]{2}$'),
    share_tenant_cents   bigint CHECK (share_tenant_cents >= 0),
    share_user_cents     bigint CHECK (share_user_cents >= 0),
    share_health_cents   bigint CHECK (share_health_cents >= 0),
    management           text NOT NULL DEFAULT 'single'
                             CHECK (management IN ('single', 'associated')),
    provider_id          uuid,
    in_charge            boolean NOT NULL,
    user_area            smallint CHECK (user_area BETWEEN 1 AND 3),
    application_protocol text CHECK (length(application_protocol) BETWEEN 1 AND 32),
    status               text NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active', 'suspended', 'ended', 'cancelled')),
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    created_by           uuid REFERENCES app_user (id),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    updated_by           uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, beneficiary_id) REFERENCES person (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id),
    FOREIGN KEY (tenant_id, provider_id) REFERENCES provider (tenant_id, id),
    FOREIGN KEY (service_tenant_id, service_id) REFERENCES service_catalogue (tenant_id, id),
    CONSTRAINT intervention_nature_fields CHECK (
        (nature = 'periodic' AND start_date IS NOT NULL AND delivery_date IS NULL
         AND monthly_amount_cents IS NOT NULL AND total_amount_cents IS NULL
         AND (end_date IS NULL OR end_date >= start_date))
     OR (nature = 'one_off' AND delivery_date IS NOT NULL AND start_date IS NULL
         AND end_date IS NULL AND total_amount_cents IS NOT NULL
         AND monthly_amount_cents IS NULL)),
    CONSTRAINT intervention_dsu_when_isee CHECK (means_test <> 1 OR dsu_protocol IS NOT NULL),
    CONSTRAINT intervention_area_when_in_charge CHECK (NOT in_charge OR user_area IS NOT NULL),
    CONSTRAINT intervention_shares_within_cost CHECK (
        coalesce(share_tenant_cents, 0) + coalesce(share_user_cents, 0)
        + coalesce(share_health_cents, 0)
        <= coalesce(monthly_amount_cents, total_amount_cents))
);
CREATE INDEX intervention_by_beneficiary ON intervention (tenant_id, beneficiary_id);
CREATE INDEX intervention_by_case ON intervention (tenant_id, case_id) WHERE case_id IS NOT NULL;
CREATE INDEX intervention_by_service ON intervention (tenant_id, service_id);
ALTER TABLE intervention ENABLE ROW LEVEL SECURITY;
ALTER TABLE intervention FORCE ROW LEVEL SECURITY;
CREATE POLICY intervention_tenant ON intervention
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON intervention TO cartella_app;

-- Who pays for an intervention: one row per funding channel (code list
-- funding-channels). The parts add up to the intervention's cost; a change of
-- the split replaces all of its rows.
CREATE TABLE intervention_funding (
    tenant_id       uuid NOT NULL REFERENCES tenant (id),
    intervention_id uuid NOT NULL,
    channel         text NOT NULL,
    channel_list    text GENERATED ALWAYS AS ('funding-channels') STORED,
    amount_cents    bigint NOT NULL CHECK (amount_cents BETWEEN 1 AND 99999999999),
    PRIMARY KEY (tenant_id, intervention_id, channel),
    FOREIGN KEY (tenant_id, intervention_id) REFERENCES intervention (tenant_id, id),
    FOREIGN KEY (channel_list, channel) REFERENCES code (list, code)
);
ALTER TABLE intervention_funding ENABLE ROW LEVEL SECURITY;
ALTER TABLE intervention_funding FORCE ROW LEVEL SECURITY;
CREATE POLICY intervention_funding_tenant ON intervention_funding
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, DELETE ON intervention_funding TO cartella_app;

-- The funding of an intervention must add up to its cost. The API checks it
-- and answers 400; this deferred check, run at commit for every intervention
-- a transaction touched, keeps any other writer honest.
CREATE FUNCTION app.intervention_funding_check() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    t      uuid;
    i      uuid;
    cost   bigint;
    funded bigint;
BEGIN
    IF TG_TABLE_NAME = 'intervention' THEN
        t := NEW.tenant_id;
        i := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        t := OLD.tenant_id;
        i := OLD.intervention_id;
    ELSE
        t := NEW.tenant_id;
        i := NEW.intervention_id;
    END IF;
    SELECT coalesce(monthly_amount_cents, total_amount_cents) INTO cost
      FROM intervention WHERE tenant_id = t AND id = i;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(sum(amount_cents), 0) INTO funded
      FROM intervention_funding WHERE tenant_id = t AND intervention_id = i;
    IF funded <> cost THEN
        RAISE EXCEPTION 'intervention %: funding % cents, cost % cents', i, funded, cost
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER intervention_funding_sum
    AFTER INSERT OR UPDATE ON intervention
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION app.intervention_funding_check();
CREATE CONSTRAINT TRIGGER intervention_funding_parts_sum
    AFTER INSERT OR UPDATE OR DELETE ON intervention_funding
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION app.intervention_funding_check();
