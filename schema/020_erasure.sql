-- Erasure (GDPR art. 17) with retention rules and legal holds (DESIGN §5.3).
--
-- retention_rule: per tenant (each Comune is a controller) and document
-- class, how many years the class must be kept after the event that starts
-- its period. The event belongs to the class and is not configurable:
--   case_file   case closure        the person's cases, status history,
--                                    assignments, plans, front-office contacts
--   note        case closure        the diary notes of the person's cases
--   assessment  case closure        the assessments of the person's cases
--   intervention intervention end  who received which intervention
--   financial   financial year end  ISEE attestations, amounts and co-payments
--                                    (31 December of the year the intervention
--                                    ended or the ISEE expired)
--   audit       audit event         the audit trail (kept by its own rule: it
--                                    holds pseudonymous ids only, so it never
--                                    blocks an erasure)
-- The defaults below are seeded for every tenant (and for tenants added
-- later, by trigger); docs/security.md gives their grounds. The DPO changes
-- them through PUT /api/v1/retention-rules/{document_class}.
--
-- legal_hold: a litigation, court, police or audit hold on a person or on a
-- case; while it is active (released_at NULL) the person cannot be erased.
-- The reason (and the release reason) may mention personal facts:
-- ciphertext (auth/crypt.c, AD = legal_hold/reason|release_reason/tenant/row).
--
-- Erasure anonymises, never hard-deletes the person: app.erase_person
-- destroys every encrypted value and blind index of the person, the values
-- of the rectification history, the free text of the person's cases
-- (notes, assessments, plans, front-office requests, break-glass reasons),
-- the payloads of the SIUSS flows made for the person, the person's own ISEE
-- attestations and the protocol numbers of the person's interventions, and
-- marks the person erased (erased_at). Interventions (amounts, dates,
-- services, areas, funding), cases (area, status, dates), the person's clear
-- statistical columns (sex, birth year, citizenship, residence: what the
-- reports and extracts count by) and the audit trail (ids only) stay, so past
-- reports and extracts add up the same. From then on the person,
-- the rectification history and the person's cases are hidden from the
-- application role for every user (app.restricted_persons, redefined below),
-- so no flow, extract or screen hands them out again.

-- ------------------------------------------------------------- retention

CREATE TABLE retention_rule (
    tenant_id      uuid NOT NULL REFERENCES tenant (id),
    document_class text NOT NULL CHECK (document_class IN
        ('case_file', 'note', 'assessment', 'intervention', 'financial', 'audit')),
    years          smallint NOT NULL CHECK (years BETWEEN 0 AND 100),
    legal_basis    text NOT NULL CHECK (length(legal_basis) BETWEEN 1 AND 500),
    version        integer NOT NULL DEFAULT 1,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, document_class)
);
ALTER TABLE retention_rule ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention_rule FORCE ROW LEVEL SECURITY;
CREATE POLICY retention_rule_tenant ON retention_rule
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT ON retention_rule TO cartella_app;
GRANT UPDATE (years, legal_basis, version, updated_at, updated_by) ON retention_rule
    TO cartella_app;

-- The event that starts each class's period (fixed by the class).
CREATE FUNCTION app.retention_event(p_class text) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE p_class
        WHEN 'case_file' THEN 'case_closure'
        WHEN 'note' THEN 'case_closure'
        WHEN 'assessment' THEN 'case_closure'
        WHEN 'intervention' THEN 'intervention_end'
        WHEN 'financial' THEN 'financial_year_end'
        WHEN 'audit' THEN 'audit_event'
    END
$$;
GRANT EXECUTE ON FUNCTION app.retention_event(text) TO cartella_app;

-- Seeds the default rules of tenant p_tenant (existing rules are kept).
-- FORCE row-level security binds the owner too: the insert runs with
-- app.tenant set to p_tenant, and the caller's context is put back after
-- (a tenant is usually added by a migration or an operator, with none set).
CREATE FUNCTION app.retention_seed(p_tenant uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    caller text := coalesce(current_setting('app.tenant', true), '');
BEGIN
    PERFORM set_config('app.tenant', p_tenant::text, true);
    INSERT INTO retention_rule (tenant_id, document_class, years, legal_basis)
        SELECT p_tenant, d.c, d.y, d.b FROM (VALUES
            ('case_file', 10::smallint,
             'Default configurabile: ogni Comune lo fissa nel proprio piano di conservazione '
             '(DPR 445/2000 art. 68); lo scarto richiede l''autorizzazione della Soprintendenza '
             'archivistica (D.Lgs. 42/2004 art. 21)'),
            ('note', 10::smallint,
             'Default configurabile: come il fascicolo (case_file), di cui il diario fa parte'),
            ('assessment', 10::smallint,
             'Default configurabile: come il fascicolo (case_file), di cui le valutazioni fanno parte'),
            ('intervention', 10::smallint,
             'Prescrizione ordinaria di dieci anni (art. 2946 c.c.) per la ripetizione di '
             'prestazioni indebite e per le contestazioni sull''erogazione'),
            ('financial', 10::smallint,
             'Prescrizione ordinaria di dieci anni (art. 2946 c.c.) per importi, '
             'compartecipazioni e attestazioni ISEE su cui si fondano'),
            ('audit', 2::smallint,
             'Almeno 24 mesi: Garante, Linee guida sul dossier sanitario (4 giugno 2015), '
             'l''analogo più vicino')) AS d (c, y, b)
        ON CONFLICT (tenant_id, document_class) DO NOTHING;
    PERFORM set_config('app.tenant', caller, true);
END
$$;
REVOKE ALL ON FUNCTION app.retention_seed(uuid) FROM PUBLIC;

CREATE FUNCTION app.retention_seed_new_tenant() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM app.retention_seed(NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER tenant_retention_seed AFTER INSERT ON tenant
    FOR EACH ROW EXECUTE FUNCTION app.retention_seed_new_tenant();

SELECT app.retention_seed(id) FROM tenant;

-- ------------------------------------------------------------- legal holds

CREATE TABLE legal_hold (
    tenant_id           uuid NOT NULL REFERENCES tenant (id),
    id                  uuid NOT NULL,
    subject_type        text NOT NULL CHECK (subject_type IN ('person', 'case')),
    person_id           uuid,
    case_id             uuid,
    reason_enc          bytea NOT NULL,
    placed_at           timestamptz NOT NULL DEFAULT now(),
    placed_by           uuid NOT NULL REFERENCES app_user (id),
    released_at         timestamptz,
    released_by         uuid REFERENCES app_user (id),
    release_reason_enc  bytea,
    version             integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES person (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id),
    CHECK ((subject_type = 'person') = (person_id IS NOT NULL AND case_id IS NULL)),
    CHECK ((subject_type = 'case') = (case_id IS NOT NULL AND person_id IS NULL)),
    CHECK ((released_at IS NULL) = (released_by IS NULL)),
    CHECK ((released_at IS NULL) = (release_reason_enc IS NULL))
);
CREATE INDEX legal_hold_person ON legal_hold (tenant_id, person_id) WHERE person_id IS NOT NULL;
CREATE INDEX legal_hold_case ON legal_hold (tenant_id, case_id) WHERE case_id IS NOT NULL;
CREATE INDEX legal_hold_by_date ON legal_hold (tenant_id, placed_at DESC, id DESC);
ALTER TABLE legal_hold ENABLE ROW LEVEL SECURITY;
ALTER TABLE legal_hold FORCE ROW LEVEL SECURITY;
CREATE POLICY legal_hold_tenant ON legal_hold
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON legal_hold TO cartella_app;
GRANT UPDATE (released_at, released_by, release_reason_enc, version) ON legal_hold
    TO cartella_app;
-- A hold on a sealed case or person the user may not see, or on a restricted
-- one, does not exist for that user (as the rows hanging off them).
DO $$
DECLARE
    cmd text;
BEGIN
    FOREACH cmd IN ARRAY ARRAY['SELECT', 'UPDATE'] LOOP
        EXECUTE format(
            'CREATE POLICY %I ON legal_hold AS RESTRICTIVE FOR %s TO cartella_app USING ('
            '(case_id IS NULL OR case_id NOT IN (SELECT unnest(app.hidden_cases())) '
            ' AND case_id NOT IN (SELECT unnest(app.restricted_cases()))) '
            'AND (person_id IS NULL OR person_id NOT IN (SELECT unnest(app.hidden_persons())) '
            ' AND person_id NOT IN (SELECT unnest(app.restricted_persons()))))',
            'legal_hold_hidden_' || lower(cmd), cmd);
    END LOOP;
END
$$;

-- ------------------------------------------------------------- erased persons

ALTER TABLE person
    ADD COLUMN erased_at timestamptz,
    ADD COLUMN erased_by uuid REFERENCES app_user (id),
    ADD COLUMN erasure_ground text CHECK (erasure_ground IN
        ('no_longer_necessary', 'consent_withdrawn', 'objection', 'unlawful_processing',
         'legal_obligation')),
    ADD COLUMN erasure_reference text CHECK (erasure_reference ~ '^[A-Za-z0-9/._-]{1,64}$'),
    ALTER COLUMN surname_enc DROP NOT NULL,
    ALTER COLUMN given_name_enc DROP NOT NULL,
    ALTER COLUMN surname_bidx DROP NOT NULL,
    ALTER COLUMN name_bidx DROP NOT NULL,
    -- A person who is not erased keeps what a person needs; an erased one
    -- keeps nothing that identifies.
    ADD CONSTRAINT person_identified_unless_erased CHECK (
        erased_at IS NOT NULL
        OR (surname_enc IS NOT NULL AND given_name_enc IS NOT NULL
            AND surname_bidx IS NOT NULL AND name_bidx IS NOT NULL)),
    ADD CONSTRAINT person_erased_is_empty CHECK (
        erased_at IS NULL
        OR (fiscal_code_enc IS NULL AND fiscal_code_bidx IS NULL AND surname_enc IS NULL
            AND given_name_enc IS NULL AND surname_bidx IS NULL AND name_bidx IS NULL
            AND birth_date_enc IS NULL AND birth_place_enc IS NULL AND address_enc IS NULL
            AND contacts_enc IS NULL AND restriction_reason_enc IS NULL
            AND erased_by IS NOT NULL AND erasure_ground IS NOT NULL));
CREATE INDEX person_erased ON person (tenant_id) WHERE erased_at IS NOT NULL;

-- Values an erasure destroys in place (the rows stay, for accountability).
ALTER TABLE person_version ALTER COLUMN previous_enc DROP NOT NULL,
                           ALTER COLUMN reason_enc DROP NOT NULL;
ALTER TABLE case_note ALTER COLUMN body_enc DROP NOT NULL;
ALTER TABLE care_plan ALTER COLUMN goals_enc DROP NOT NULL;
ALTER TABLE break_glass_grant ALTER COLUMN reason_enc DROP NOT NULL;
ALTER TABLE flow_record ALTER COLUMN payload_enc DROP NOT NULL;

-- The DSU protocol of an ISEE-tested intervention identifies its
-- beneficiary at INPS: an erased beneficiary's interventions lose it.
ALTER TABLE intervention ADD COLUMN beneficiary_erased boolean NOT NULL DEFAULT false;
ALTER TABLE intervention DROP CONSTRAINT intervention_dsu_when_isee,
    ADD CONSTRAINT intervention_dsu_when_isee
        CHECK (means_test <> 1 OR dsu_protocol IS NOT NULL OR beneficiary_erased);

-- The persons hidden from the current user by a GDPR measure: restricted
-- ones (art. 18) unless the user is a service manager or the DPO, erased
-- ones (art. 17) always. The restrictive policies of migration 017 on
-- person, person_version, social_case and the case's rows, and on
-- access_contact, apply both through these two functions.
CREATE OR REPLACE FUNCTION app.restricted_persons() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(array_agg(p.id), '{}'::uuid[]) FROM person p
     WHERE p.tenant_id = app.tenant()
       AND (p.erased_at IS NOT NULL OR (p.restricted AND NOT (SELECT app.sees_restricted())))
$$;

CREATE OR REPLACE FUNCTION app.restricted_cases() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(array_agg(c.id), '{}'::uuid[]) FROM social_case c
      JOIN person p ON p.tenant_id = c.tenant_id AND p.id = c.person_id
     WHERE c.tenant_id = app.tenant()
       AND (p.erased_at IS NOT NULL OR (p.restricted AND NOT (SELECT app.sees_restricted())))
$$;

-- When person p_person of the current tenant was erased; NULL when not
-- erased or unknown. For POST /persons/{id}/erasure, which answers 409 for
-- an erased person (hidden from everyone) rather than 404.
CREATE FUNCTION app.person_erased_at(p_person uuid) RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT p.erased_at FROM person p WHERE p.tenant_id = app.tenant() AND p.id = p_person
$$;

-- Locks every case of person p_person (sealed ones too) until the end of
-- the transaction, so that no hold is placed on one of them between the
-- checks of an erasure and the erasure itself; returns their ids.
CREATE FUNCTION app.erasure_lock(p_person uuid) RETURNS SETOF uuid
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT c.id FROM social_case c WHERE c.tenant_id = app.tenant() AND c.person_id = p_person
       FOR UPDATE
$$;

-- The active legal holds that block the erasure of person p_person: on the
-- person or on one of the person's cases, whoever may see them.
CREATE FUNCTION app.erasure_holds(p_person uuid)
RETURNS TABLE (id uuid, subject_type text, placed_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT h.id, h.subject_type, h.placed_at FROM legal_hold h
     WHERE h.tenant_id = app.tenant() AND h.released_at IS NULL
       AND (h.person_id = p_person
            OR h.case_id IN (SELECT c.id FROM social_case c
                              WHERE c.tenant_id = h.tenant_id AND c.person_id = p_person))
     ORDER BY h.placed_at, h.id
$$;

-- The retention rules that still bind person p_person's data today: per
-- document class with data, the date until which it must be kept
-- (keep_until; the period runs while current_date <= keep_until), or NULL
-- with pending = true when the event has not happened yet (an open case, a
-- running intervention). Sees every row of the tenant (sealed ones too).
CREATE FUNCTION app.erasure_retention(p_person uuid)
RETURNS TABLE (document_class text, event text, years smallint, keep_until date,
               pending boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    WITH cases AS (
        SELECT c.id, c.closed_on,
               EXISTS (SELECT 1 FROM case_note n
                        WHERE n.tenant_id = c.tenant_id AND n.case_id = c.id) AS has_notes,
               EXISTS (SELECT 1 FROM assessment a
                        WHERE a.tenant_id = c.tenant_id AND a.case_id = c.id) AS has_assessments
          FROM social_case c WHERE c.tenant_id = app.tenant() AND c.person_id = p_person),
    ends AS (
        SELECT CASE WHEN i.nature = 'one_off' THEN i.delivery_date
                    WHEN i.end_date IS NOT NULL THEN i.end_date
                    WHEN i.status IN ('ended', 'cancelled') THEN i.updated_at::date
               END AS ended_on
          FROM intervention i WHERE i.tenant_id = app.tenant() AND i.beneficiary_id = p_person),
    dated (document_class, ended_on, any_rows) AS (
        SELECT 'case_file', max(closed_on), count(*) > 0 FROM cases
        UNION ALL
        SELECT 'note', max(closed_on), count(*) > 0 FROM cases WHERE has_notes
        UNION ALL
        SELECT 'assessment', max(closed_on), count(*) > 0 FROM cases WHERE has_assessments
        UNION ALL
        SELECT 'intervention', max(ended_on), count(*) > 0 FROM ends
        UNION ALL
        SELECT 'financial', max(y), count(*) > 0 FROM (
            SELECT make_date(extract(year FROM ended_on)::integer, 12, 31) AS y FROM ends
            UNION ALL
            SELECT make_date(extract(year FROM e.valid_to)::integer, 12, 31) FROM isee e
             WHERE e.tenant_id = app.tenant() AND e.person_id = p_person) f),
    pending (document_class, open) AS (
        SELECT 'case_file', bool_or(closed_on IS NULL) FROM cases
        UNION ALL
        SELECT 'note', bool_or(closed_on IS NULL) FROM cases WHERE has_notes
        UNION ALL
        SELECT 'assessment', bool_or(closed_on IS NULL) FROM cases WHERE has_assessments
        UNION ALL
        SELECT 'intervention', bool_or(ended_on IS NULL) FROM ends
        UNION ALL
        SELECT 'financial', bool_or(ended_on IS NULL) FROM ends)
    SELECT r.document_class, app.retention_event(r.document_class), r.years,
           CASE WHEN coalesce(p.open, false) THEN NULL
                ELSE (d.ended_on + make_interval(years => r.years))::date END,
           coalesce(p.open, false)
      FROM dated d
      JOIN retention_rule r ON r.tenant_id = app.tenant() AND r.document_class = d.document_class
      LEFT JOIN pending p ON p.document_class = d.document_class
     WHERE d.any_rows
       AND (coalesce(p.open, false)
            OR (d.ended_on + make_interval(years => r.years))::date >= current_date)
     ORDER BY array_position(ARRAY['case_file', 'note', 'assessment', 'intervention',
                                   'financial'], r.document_class)
$$;

-- Anonymises person p_person of the current tenant for user p_user (see the
-- head of this file). The caller (api/erasure.c) has checked that the user
-- sees the person and that no hold or rule binds it. Returns what it
-- destroyed, per kind, as a JSON object of counts; NULL when there is no
-- such person or it is already erased. Runs as the owner: it must reach the
-- person's rows the user may not see (sealed cases) and the columns the
-- application role may not change (flow payloads, history values).
CREATE FUNCTION app.erase_person(p_person uuid, p_user uuid, p_ground text, p_reference text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    t     uuid := app.tenant();
    n     integer;
    out   jsonb := '{}'::jsonb;
    cases uuid[];
    homes uuid[];
BEGIN
    PERFORM 1 FROM person p WHERE p.tenant_id = t AND p.id = p_person AND p.erased_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(array_agg(c.id), '{}') INTO cases FROM social_case c
     WHERE c.tenant_id = t AND c.person_id = p_person;

    UPDATE person_version v SET previous_enc = NULL, reason_enc = NULL
     WHERE v.tenant_id = t AND v.person_id = p_person AND v.previous_enc IS NOT NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('history_versions', n);

    UPDATE case_note x SET body_enc = NULL
     WHERE x.tenant_id = t AND x.case_id = ANY (cases) AND x.body_enc IS NOT NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('notes', n);

    -- Free text and generic answers (free strings) go; SINA/SINBA answers
    -- are coded values only and stay for the statistics.
    UPDATE assessment x SET free_text_enc = NULL,
           answers = CASE WHEN x.kind = 'generic' THEN '{}'::jsonb ELSE x.answers END
     WHERE x.tenant_id = t AND x.case_id = ANY (cases);
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('assessments', n);

    UPDATE care_plan x SET goals_enc = NULL
     WHERE x.tenant_id = t AND x.case_id = ANY (cases) AND x.goals_enc IS NOT NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('plans', n);

    UPDATE access_contact x SET request_enc = NULL
     WHERE x.tenant_id = t AND (x.person_id = p_person OR x.case_id = ANY (cases))
       AND x.request_enc IS NOT NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('contacts', n);

    UPDATE break_glass_grant x SET reason_enc = NULL, comment_enc = NULL
     WHERE x.tenant_id = t AND x.case_id = ANY (cases)
       AND (x.reason_enc IS NOT NULL OR x.comment_enc IS NOT NULL);
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('break_glass_reasons', n);

    UPDATE flow_record x SET payload_enc = NULL
     WHERE x.tenant_id = t AND x.person_id = p_person AND x.payload_enc IS NOT NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('siuss_flows', n);

    DELETE FROM isee x WHERE x.tenant_id = t AND x.person_id = p_person;
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('isee', n);

    UPDATE intervention x SET dsu_protocol = NULL, application_protocol = NULL,
           beneficiary_erased = true
     WHERE x.tenant_id = t AND x.beneficiary_id = p_person;
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('interventions_kept', n);

    -- Stored answers of POST /persons that created or named the person.
    DELETE FROM idempotency_key x
     WHERE x.tenant_id = t AND x.location = '/api/v1/persons/' || p_person::text;
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('stored_answers', n);

    UPDATE person SET fiscal_code_enc = NULL, fiscal_code_kind = NULL, fiscal_code_bidx = NULL,
           surname_enc = NULL, given_name_enc = NULL, surname_bidx = NULL, name_bidx = NULL,
           birth_date_enc = NULL, birth_place_enc = NULL, address_enc = NULL, contacts_enc = NULL,
           restriction_reason_enc = NULL, erased_at = now(), erased_by = p_user,
           erasure_ground = p_ground, erasure_reference = p_reference,
           updated_at = now(), updated_by = p_user, version = version + 1
     WHERE tenant_id = t AND id = p_person;

    -- A household whose members are all erased loses its label and address.
    SELECT coalesce(array_agg(DISTINCT m.household_id), '{}') INTO homes
      FROM household_member m WHERE m.tenant_id = t AND m.person_id = p_person;
    UPDATE household h SET label_enc = NULL, address_enc = NULL
     WHERE h.tenant_id = t AND h.id = ANY (homes)
       AND (h.label_enc IS NOT NULL OR h.address_enc IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM household_member m JOIN person p
                         ON p.tenant_id = m.tenant_id AND p.id = m.person_id
                        WHERE m.tenant_id = t AND m.household_id = h.id
                          AND p.erased_at IS NULL);
    GET DIAGNOSTICS n = ROW_COUNT;
    out := out || jsonb_build_object('households', n);
    RETURN out;
END
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['app.person_erased_at(uuid)', 'app.erasure_lock(uuid)',
                             'app.erasure_holds(uuid)',
                             'app.erasure_retention(uuid)',
                             'app.erase_person(uuid, uuid, text, text)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO cartella_app', f);
    END LOOP;
END
$$;
