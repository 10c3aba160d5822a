-- Pseudonymised extracts for the planning office and the remaining Piano di
-- Zona indicators (DESIGN §7.5, §7.6; docs/reporting.md).
--
-- service_catalogue.emergency: the service answers an emergency (e.g. the
-- emergency housing contribution); its interventions are the indicator
-- "interventi di emergenza".
-- service_catalogue.sensitivity: the service concerns minors, health or
-- violence; every extract cell it contributes to is suppressed under 5
-- instead of under 3. (Cells of minors by age and of the health areas are
-- recognised without it, see app.extract_sensitive.)

ALTER TABLE service_catalogue
    ADD COLUMN emergency boolean NOT NULL DEFAULT false,
    ADD COLUMN sensitivity text CHECK (sensitivity IN ('minors', 'health', 'violence'));

-- The seed of 005 (the Ambito del Corsichese's catalogue), under its
-- tenant's row-level security.
SELECT set_config('app.tenant', (SELECT id FROM tenant WHERE code = 'corsichese')::text, true);
UPDATE service_catalogue SET emergency = true
 WHERE tenant_id = (SELECT id FROM tenant WHERE code = 'corsichese') AND code = 'EMERG-ABIT';
UPDATE service_catalogue SET sensitivity = 'minors'
 WHERE tenant_id = (SELECT id FROM tenant WHERE code = 'corsichese')
   AND code IN ('AFFIDO', 'COM-MINORI', 'TUTELA-MIN', 'ADM');
SELECT set_config('app.tenant', '', true);

-- The professional social workers of a tenant in a year, in full-time
-- equivalents (FTE, two decimals), as the Comune's personnel office counts
-- them: the source of "assistenti sociali ogni 4.000 abitanti". Not personal
-- data. Loaded like the population, by the tenant's administrator or its
-- Ambito's; the Ambito records the staff of its associated services (e.g. the
-- tutela minori) under its own tenant.
CREATE TABLE staffing (
    tenant_id          uuid NOT NULL REFERENCES tenant (id),
    year               integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    social_workers_fte numeric(6,2) NOT NULL CHECK (social_workers_fte BETWEEN 0 AND 9999),
    version            integer NOT NULL DEFAULT 1,
    loaded_at          timestamptz NOT NULL DEFAULT now(),
    loaded_by          uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, year)
);
ALTER TABLE staffing ENABLE ROW LEVEL SECURITY;
ALTER TABLE staffing FORCE ROW LEVEL SECURITY;
CREATE POLICY staffing_tenant ON staffing
    USING (tenant_id = (SELECT app.tenant())
           OR tenant_id IN (SELECT t.id FROM tenant t WHERE t.parent_id = (SELECT app.tenant())))
    WITH CHECK (tenant_id = (SELECT app.tenant())
           OR tenant_id IN (SELECT t.id FROM tenant t WHERE t.parent_id = (SELECT app.tenant())));
GRANT SELECT, INSERT, UPDATE ON staffing TO cartella_app;

-- The register of extracts: who ran which table, for which tenant and year,
-- for which purpose, how many rows left and how many cells were suppressed.
-- The audit events of an extract name its row (object_type extract).
CREATE TABLE extract_run (
    tenant_id       uuid NOT NULL REFERENCES tenant (id),
    id              uuid NOT NULL,
    scope_tenant_id uuid NOT NULL REFERENCES tenant (id),
    table_name      text NOT NULL CHECK (table_name ~ '^[a-z_]{1,48}$'),
    year            integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    purpose         text NOT NULL CHECK (purpose ~ '^[a-z0-9][a-z0-9-]{2,63}$'),
    row_count       integer NOT NULL CHECK (row_count >= 0),
    suppressed      integer NOT NULL CHECK (suppressed >= 0),
    requested_by    uuid REFERENCES app_user (id),
    requested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE extract_run ENABLE ROW LEVEL SECURITY;
ALTER TABLE extract_run FORCE ROW LEVEL SECURITY;
CREATE POLICY extract_run_tenant ON extract_run
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON extract_run TO cartella_app;

-- The age band of a person born in birth_year during year y (the age reached
-- that year): 0-17, 18-64, 65-74, 75+, or unknown without a birth year.
CREATE FUNCTION app.age_band(birth_year integer, y integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN birth_year IS NULL THEN 'unknown'
                WHEN y - birth_year < 18 THEN '0-17'
                WHEN y - birth_year < 65 THEN '18-64'
                WHEN y - birth_year < 75 THEN '65-74'
                ELSE '75+' END
$$;

-- Whether a cell an intervention contributes to is of a sensitive category
-- (suppressed under 5): a minor, a service flagged minors/health/violence,
-- the minors-and-family area and the health areas (dependencies, mental
-- health, integrated social-health services).
CREATE FUNCTION app.extract_sensitive(age_band text, sensitivity text, regional_area text,
                                      istat_area text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT age_band = '0-17' OR sensitivity IS NOT NULL
        OR regional_area IN ('minori_famiglia', 'dipendenze', 'salute_mentale',
                             'compartecipazione_sociosanitaria')
        OR istat_area IN ('FAM', 'ADD')
$$;

-- The interventions of tenant p_tenant an extract of year p_year may show:
-- those of app.year_interventions (not cancelled, no restricted person)
-- less every intervention of a sealed case and every intervention of a
-- sealed person or of a person with a sealed case (such a person never
-- appears in an extract). With the attributes an extract may carry.
CREATE FUNCTION app.extract_interventions(p_tenant uuid, p_year integer)
RETURNS TABLE (id uuid, beneficiary_id uuid, months integer, sex text, age_band text,
               service_code text, inps_code text, regional_area text, istat_area text,
               sensitive boolean, nature text, in_charge boolean, user_area smallint,
               means_test smallint)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT y.id, y.beneficiary_id, y.months, p.sex::text, app.age_band(p.birth_year, p_year),
           s.code, s.inps_code, s.regional_area, s.istat_area,
           app.extract_sensitive(app.age_band(p.birth_year, p_year), s.sensitivity,
                                 s.regional_area, s.istat_area),
           i.nature, i.in_charge, i.user_area, i.means_test
      FROM app.year_interventions(p_tenant, p_year) y
      JOIN intervention i ON i.tenant_id = p_tenant AND i.id = y.id
      JOIN person p ON p.tenant_id = p_tenant AND p.id = y.beneficiary_id
      JOIN service_catalogue s ON s.tenant_id = y.service_tenant_id AND s.id = y.service_id
      LEFT JOIN social_case c ON c.tenant_id = p_tenant AND c.id = i.case_id
     WHERE NOT p.sealed AND NOT coalesce(c.sealed, false)
       AND NOT EXISTS (SELECT 1 FROM social_case sc
                        WHERE sc.tenant_id = p_tenant AND sc.person_id = p.id AND sc.sealed)
$$;

-- The cells of a predefined extract table for tenant p_tenant (a Comune or
-- the Ambito with its Comuni) and year p_year: (row key, column, count,
-- sensitive). Counts only, never a person; the same boundary as
-- app.spending_facts (schema/015_spending.sql).
--   users_by_area_age_sex:            (tenant code, regional area, age band) x sex,
--                                     distinct users;
--   interventions_by_service_tenant:  (service code) x tenant code, interventions.
CREATE FUNCTION app.extract_cells(p_tenant uuid, p_year integer, p_table text)
RETURNS TABLE (row_key text[], col text, n bigint, sensitive boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    caller uuid := app.tenant();
    t      record;
    t_code text;
BEGIN
    FOR t IN SELECT * FROM app.report_scope(p_tenant, caller) LOOP
        PERFORM set_config('app.tenant', t.tenant_id::text, true);
        SELECT tt.code INTO t_code FROM tenant tt WHERE tt.id = t.tenant_id;
        IF p_table = 'users_by_area_age_sex' THEN
            RETURN QUERY
            SELECT ARRAY[t_code, e.regional_area, e.age_band], e.sex,
                   count(DISTINCT e.beneficiary_id), bool_or(e.sensitive)
              FROM app.extract_interventions(t.tenant_id, p_year) e
             GROUP BY e.regional_area, e.age_band, e.sex;
        ELSIF p_table = 'interventions_by_service_tenant' THEN
            RETURN QUERY
            SELECT ARRAY[e.service_code], t_code, count(*), bool_or(e.sensitive)
              FROM app.extract_interventions(t.tenant_id, p_year) e
             GROUP BY e.service_code;
        ELSE
            RAISE EXCEPTION 'unknown extract table %', p_table
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    PERFORM set_config('app.tenant', caller::text, true);
END
$$;

-- The rows of the microdata extract: one per intervention counted in the
-- year, with the attributes an extract may carry. person_id and tenant_id
-- leave this function only to be hashed by the caller into the per-purpose
-- pseudonym (api/extracts.c); they are never returned to a client.
CREATE FUNCTION app.extract_microdata(p_tenant uuid, p_year integer)
RETURNS TABLE (tenant_id uuid, tenant_code text, person_id uuid, age_band text, sex text,
               regional_area text, istat_area text, service_code text, inps_code text,
               nature text, months integer, in_charge boolean, user_area smallint,
               means_test smallint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    caller uuid := app.tenant();
    t      record;
BEGIN
    FOR t IN SELECT * FROM app.report_scope(p_tenant, caller) LOOP
        PERFORM set_config('app.tenant', t.tenant_id::text, true);
        RETURN QUERY
        SELECT t.tenant_id, (SELECT tt.code FROM tenant tt WHERE tt.id = t.tenant_id),
               e.beneficiary_id, e.age_band, e.sex, e.regional_area, e.istat_area,
               e.service_code, e.inps_code, e.nature, e.months, e.in_charge, e.user_area,
               e.means_test
          FROM app.extract_interventions(t.tenant_id, p_year) e;
    END LOOP;
    PERFORM set_config('app.tenant', caller::text, true);
END
$$;

-- The Piano di Zona indicators that app.spending_facts does not give, for
-- tenant p_tenant and year p_year, per tenant of the scope (kind, band,
-- amount):
--   ('users_age', band, n)           distinct users by age band (the regional
--                                    report's users: sealed cases count);
--   ('population_age', band, n|NULL) residents of a Comune in the band; NULL
--                                    when none are loaded or a loaded band
--                                    straddles the band's limits;
--   ('emergency', NULL, n)           interventions of emergency services;
--   ('emergency_users', NULL, n)     their distinct users;
--   ('social_workers', NULL, c|NULL) FTE x 100 (NULL: not recorded; a Comune
--                                    only, the Ambito's own when recorded);
--   ('family_ended' | 'family_followed' | 'family_out_of_poverty', NULL, n)
--        households (the case's household, else its person) whose family
--        project ended in the year; of them those with a follow-up at least
--        6 months after the end; of them those out of poverty at it;
--   ('life_ended' | 'life_followed' | 'life_improved', NULL, n)
--        persons whose life project ended in the year; with a follow-up; whose
--        quality of life improved.
-- Restricted persons are left out, as everywhere.
CREATE FUNCTION app.indicator_facts(p_tenant uuid, p_year integer)
RETURNS TABLE (kind text, band text, amount bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    caller uuid := app.tenant();
    t      record;
BEGIN
    FOR t IN SELECT * FROM app.report_scope(p_tenant, caller) LOOP
        PERFORM set_config('app.tenant', t.tenant_id::text, true);
        RETURN QUERY
        WITH iv AS (
            SELECT y.*, app.age_band(p.birth_year, p_year) AS band, s.emergency
              FROM app.year_interventions(t.tenant_id, p_year) y
              JOIN person p ON p.tenant_id = t.tenant_id AND p.id = y.beneficiary_id
              JOIN service_catalogue s
                ON s.tenant_id = y.service_tenant_id AND s.id = y.service_id),
        bands (b, lo, hi) AS (
            VALUES ('0-17', 0, 17), ('18-64', 18, 64), ('65-74', 65, 74), ('75+', 75, 999)),
        plans AS (
            SELECT cp.kind AS plan_kind, cp.end_on, cp.follow_up_on, cp.follow_up_outcome,
                   CASE WHEN cp.kind = 'family_project' AND c.household_id IS NOT NULL
                        THEN 'h' || c.household_id ELSE 'p' || c.person_id END AS unit
              FROM care_plan cp
              JOIN social_case c ON c.tenant_id = cp.tenant_id AND c.id = cp.case_id
              JOIN person p ON p.tenant_id = c.tenant_id AND p.id = c.person_id
             WHERE cp.tenant_id = t.tenant_id AND NOT p.restricted
               AND cp.kind IN ('family_project', 'life_project')
               AND cp.end_on >= make_date(p_year, 1, 1) AND cp.end_on < make_date(p_year + 1, 1, 1))
        SELECT 'users_age', iv.band, count(DISTINCT iv.beneficiary_id) FROM iv GROUP BY iv.band
        UNION ALL
        SELECT 'population_age', bands.b,
               CASE WHEN NOT EXISTS (SELECT 1 FROM population pp
                                      WHERE pp.tenant_id = t.tenant_id AND pp.year = p_year)
                      OR EXISTS (SELECT 1 FROM population pp
                                  WHERE pp.tenant_id = t.tenant_id AND pp.year = p_year
                                    AND pp.age_from <= bands.hi
                                    AND coalesce(pp.age_to, 999) >= bands.lo
                                    AND (pp.age_from < bands.lo
                                         OR coalesce(pp.age_to, 999) > bands.hi))
                    THEN NULL
                    ELSE (SELECT coalesce(sum(pp.residents), 0) FROM population pp
                           WHERE pp.tenant_id = t.tenant_id AND pp.year = p_year
                             AND pp.age_from >= bands.lo AND coalesce(pp.age_to, 999) <= bands.hi)
               END::bigint
          FROM bands WHERE t.tenant_kind = 'comune'
        UNION ALL
        SELECT 'emergency', NULL, count(*) FROM iv WHERE iv.emergency
        UNION ALL
        SELECT 'emergency_users', NULL, count(DISTINCT iv.beneficiary_id) FROM iv WHERE iv.emergency
        UNION ALL
        SELECT 'social_workers', NULL,
               (SELECT (st.social_workers_fte * 100)::bigint FROM staffing st
                 WHERE st.tenant_id = t.tenant_id AND st.year = p_year)
         WHERE t.tenant_kind = 'comune'
            OR EXISTS (SELECT 1 FROM staffing st WHERE st.tenant_id = t.tenant_id AND st.year = p_year)
        UNION ALL
        SELECT 'family_ended', NULL, count(DISTINCT unit) FROM plans WHERE plan_kind = 'family_project'
        UNION ALL
        SELECT 'family_followed', NULL, count(DISTINCT unit) FROM plans
         WHERE plan_kind = 'family_project' AND follow_up_outcome IS NOT NULL
           AND follow_up_on >= end_on + interval '6 months'
        UNION ALL
        SELECT 'family_out_of_poverty', NULL, count(DISTINCT unit) FROM plans
         WHERE plan_kind = 'family_project' AND follow_up_outcome = 'out_of_poverty'
           AND follow_up_on >= end_on + interval '6 months'
        UNION ALL
        SELECT 'life_ended', NULL, count(DISTINCT unit) FROM plans WHERE plan_kind = 'life_project'
        UNION ALL
        SELECT 'life_followed', NULL, count(DISTINCT unit) FROM plans
         WHERE plan_kind = 'life_project' AND follow_up_outcome IS NOT NULL
        UNION ALL
        SELECT 'life_improved', NULL, count(DISTINCT unit) FROM plans
         WHERE plan_kind = 'life_project' AND follow_up_outcome = 'improved_quality_of_life';
    END LOOP;
    PERFORM set_config('app.tenant', caller::text, true);
END
$$;

REVOKE ALL ON FUNCTION app.extract_interventions(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.extract_cells(uuid, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.extract_microdata(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.indicator_facts(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.extract_cells(uuid, integer, text) TO cartella_app;
GRANT EXECUTE ON FUNCTION app.extract_microdata(uuid, integer) TO cartella_app;
GRANT EXECUTE ON FUNCTION app.indicator_facts(uuid, integer) TO cartella_app;
