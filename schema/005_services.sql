-- The local service catalogue and the providers.
--
-- service_catalogue: the services an Ambito (or one of its Comuni) delivers,
-- each mapped to the codes the flows need: the INPS prestazione (with the
-- export flags of the SIUSS rules), the ISTAT survey user area and the
-- regional spending area. An Ambito's services are shared by its Comuni: a
-- Comune reads its own rows and its Ambito's, and writes only its own.
--
-- The code columns reference the code lists through constant companion
-- columns (inps_list, ...), so a service can only name a code that exists.
-- On a new database the lists are loaded after the SQL migrations, so the
-- foreign keys are added NOT VALID after the seed below: the seed is checked
-- by tests/api/test_catalogue.py, every later write by PostgreSQL.

CREATE TABLE service_catalogue (
    tenant_id      uuid NOT NULL REFERENCES tenant (id),
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    code           text NOT NULL CHECK (code ~ '^[A-Z0-9][A-Z0-9._-]{0,31}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    inps_code      text,
    inps_list      text GENERATED ALWAYS AS ('inps-prestazioni') STORED,
    isee_linked    boolean NOT NULL DEFAULT false,
    export_only_if_in_charge boolean NOT NULL DEFAULT false,
    never_export   boolean NOT NULL DEFAULT false,
    istat_area     text NOT NULL,
    istat_list     text GENERATED ALWAYS AS ('istat-user-areas') STORED,
    regional_area  text NOT NULL,
    regional_list  text GENERATED ALWAYS AS ('regional-spending-areas') STORED,
    nature         text NOT NULL CHECK (nature IN ('periodic', 'one_off', 'both')),
    active         boolean NOT NULL DEFAULT true,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid REFERENCES app_user (id),
    updated_by     uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code),
    -- A service without an INPS code can only be one that is never exported.
    CHECK (inps_code IS NOT NULL OR never_export),
    CHECK (NOT (never_export AND export_only_if_in_charge))
);

-- Providers of services: third-sector bodies, cooperatives, public and
-- private bodies, optionally as a regional unit of offer (CUDES code).
CREATE TABLE provider (
    tenant_id   uuid NOT NULL REFERENCES tenant (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- partita IVA (11 digits) or a 16-character codice fiscale
    tax_code    text NOT NULL CHECK (tax_code ~ '^([0-9]{11}|[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])$'),
    kind        text NOT NULL CHECK (kind IN ('third_sector', 'public', 'private', 'cooperative')),
    cudes_code  text CHECK (cudes_code ~ '^[0-9]{6,12}$'),
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid REFERENCES app_user (id),
    updated_by  uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, tax_code)
);
CREATE INDEX provider_by_name ON provider (tenant_id, name, id);
ALTER TABLE provider ENABLE ROW LEVEL SECURITY;
ALTER TABLE provider FORCE ROW LEVEL SECURITY;
CREATE POLICY provider_tenant ON provider
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON provider TO cartella_app;

-- The Ambito del Corsichese's shared catalogue (Piano di Zona 2021-2023).
-- INPS codes from the PSA table (schema/codes/inps-prestazioni.csv); Z9.99
-- (Altro) where the service has no PSA code of its own (affido, trasporto
-- sociale: their PS codes are not in the published table yet). The tutela
-- minori service is the professional service itself: never exported.
INSERT INTO service_catalogue (tenant_id, code, name, inps_code, isee_linked,
                               export_only_if_in_charge, never_export, istat_area,
                               regional_area, nature)
SELECT (SELECT id FROM tenant WHERE code = 'corsichese'), v.*
  FROM (VALUES
    ('SAD', 'Servizio di assistenza domiciliare (SAD)', 'A2.07', true, false, false,
     'ELD', 'anziani', 'periodic'),
    ('PASTI', 'Pasti a domicilio', 'A2.07', true, false, false,
     'ELD', 'anziani', 'periodic'),
    ('CONTR-ECON', 'Contributi economici a integrazione del reddito', 'A1.04', true, false, false,
     'POV', 'emarginazione_poverta', 'both'),
    ('AFFIDO', 'Affido familiare (contributo alla famiglia affidataria)', 'Z9.99', false, true, false,
     'FAM', 'minori_famiglia', 'periodic'),
    ('COM-MINORI', 'Inserimento in comunità per minori', 'A3.02', false, true, false,
     'FAM', 'minori_famiglia', 'periodic'),
    ('CDD', 'Integrazione retta Centro diurno disabili (CDD)', 'A1.12', true, false, false,
     'DIS', 'disabili', 'periodic'),
    ('RSA', 'Integrazione retta RSA', 'A1.14', true, false, false,
     'ELD', 'anziani', 'periodic'),
    ('TRASPORTO', 'Trasporto sociale', 'Z9.99', true, false, false,
     'DIS', 'disabili', 'periodic'),
    ('BUONO-SOC', 'Buono sociale per il sostegno della domiciliarità', 'A1.11', true, false, false,
     'DIS', 'disabili', 'periodic'),
    ('VOUCHER', 'Voucher sociale per servizi alla persona', 'A1.15', true, false, false,
     'DIS', 'disabili', 'periodic'),
    ('TUTELA-MIN', 'Servizio tutela minori', NULL, false, false, true,
     'FAM', 'minori_famiglia', 'periodic'),
    ('ADM', 'Assistenza domiciliare minori (ADM) - educativa domiciliare', 'A2.02', false, true, false,
     'FAM', 'minori_famiglia', 'periodic'),
    ('INS-LAV', 'Inserimento lavorativo (tirocini e borse lavoro)', 'A2.09', false, true, false,
     'POV', 'emarginazione_poverta', 'periodic'),
    ('EMERG-ABIT', 'Emergenza abitativa (contributo per alloggio)', 'A1.05', true, false, false,
     'POV', 'emarginazione_poverta', 'one_off'))
    AS v (code, name, inps_code, isee_linked, export_only_if_in_charge, never_export,
          istat_area, regional_area, nature);

ALTER TABLE service_catalogue
    ADD CONSTRAINT service_catalogue_inps_code_fkey
        FOREIGN KEY (inps_list, inps_code) REFERENCES code (list, code) NOT VALID,
    ADD CONSTRAINT service_catalogue_istat_area_fkey
        FOREIGN KEY (istat_list, istat_area) REFERENCES code (list, code) NOT VALID,
    ADD CONSTRAINT service_catalogue_regional_area_fkey
        FOREIGN KEY (regional_list, regional_area) REFERENCES code (list, code) NOT VALID;

-- Row-level security once the seed is in (the owner role is subject to it too).
ALTER TABLE service_catalogue ENABLE ROW LEVEL SECURITY;
ALTER TABLE service_catalogue FORCE ROW LEVEL SECURITY;
CREATE POLICY service_catalogue_read ON service_catalogue FOR SELECT
    USING (tenant_id = (SELECT app.tenant())
           OR tenant_id = (SELECT t.parent_id FROM tenant t WHERE t.id = (SELECT app.tenant())));
CREATE POLICY service_catalogue_insert ON service_catalogue FOR INSERT
    WITH CHECK (tenant_id = (SELECT app.tenant()));
CREATE POLICY service_catalogue_update ON service_catalogue FOR UPDATE
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON service_catalogue TO cartella_app;
