-- Spending that is not one beneficiary's, the resident population, and the
-- one function the spending reports read (docs/reporting.md).
--
-- expenditure: a tenant's spending recorded as a whole rather than per
-- beneficiary (the professional social service's staff, running costs,
-- grants to organisations, other): per year, regional spending area
-- (code list regional-spending-areas), funding channel (funding-channels)
-- and management (single Comune or associated through the Ambito).
-- description and budget_chapter describe an accounting line of the
-- Comune's budget; they are not personal data (the API says so) and are
-- stored in clear.

CREATE TABLE expenditure (
    tenant_id      uuid NOT NULL REFERENCES tenant (id),
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    year           integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    regional_area  text NOT NULL,
    regional_list  text GENERATED ALWAYS AS ('regional-spending-areas') STORED,
    channel        text NOT NULL,
    channel_list   text GENERATED ALWAYS AS ('funding-channels') STORED,
    management     text NOT NULL CHECK (management IN ('single', 'associated')),
    kind           text NOT NULL CHECK (kind IN ('staff', 'running_costs', 'grants', 'other')),
    amount_cents   bigint NOT NULL CHECK (amount_cents BETWEEN 1 AND 99999999999),
    description    text NOT NULL CHECK (length(description) BETWEEN 1 AND 200),
    budget_chapter text CHECK (length(budget_chapter) BETWEEN 1 AND 32),
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid REFERENCES app_user (id),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (regional_list, regional_area) REFERENCES code (list, code),
    FOREIGN KEY (channel_list, channel) REFERENCES code (list, code)
);
CREATE INDEX expenditure_by_year ON expenditure (tenant_id, year, id);
ALTER TABLE expenditure ENABLE ROW LEVEL SECURITY;
ALTER TABLE expenditure FORCE ROW LEVEL SECURITY;
CREATE POLICY expenditure_tenant ON expenditure
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON expenditure TO cartella_app;

-- Residents of a Comune on 1 January of a year, by sex and age band (ISTAT
-- demographic data, public and not personal), for per-capita indicators.
-- An administrator loads a Comune's whole year at once (PUT replaces it,
-- with If-Match once the year exists):
-- the Comune's own administrator, or the administrator of its Ambito. An
-- Ambito's population is the sum of its Comuni's.
CREATE TABLE population (
    tenant_id  uuid NOT NULL REFERENCES tenant (id),
    year       integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    sex        char(1) NOT NULL CHECK (sex IN ('M', 'F')),
    age_from   integer NOT NULL CHECK (age_from BETWEEN 0 AND 120),
    age_to     integer CHECK (age_to BETWEEN 0 AND 120),
    residents  integer NOT NULL CHECK (residents BETWEEN 0 AND 10000000),
    -- The version of the whole year's load (the same on all its rows): the
    -- ETag a replacing PUT must match.
    version    integer NOT NULL DEFAULT 1,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    loaded_by  uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, year, sex, age_from),
    CHECK (age_to IS NULL OR age_to >= age_from)
);
ALTER TABLE population ENABLE ROW LEVEL SECURITY;
ALTER TABLE population FORCE ROW LEVEL SECURITY;
-- Population is not personal data: the Ambito's session may also write its
-- member Comuni's rows (its administrator loads them for the whole Ambito).
CREATE POLICY population_tenant ON population
    USING (tenant_id = (SELECT app.tenant())
           OR tenant_id IN (SELECT t.id FROM tenant t WHERE t.parent_id = (SELECT app.tenant())))
    WITH CHECK (tenant_id = (SELECT app.tenant())
           OR tenant_id IN (SELECT t.id FROM tenant t WHERE t.parent_id = (SELECT app.tenant())));
GRANT SELECT, INSERT, DELETE ON population TO cartella_app;

-- Months of year y in which a periodic intervention running from s to e
-- (e NULL = open-ended) is active: the calendar months of y that contain at
-- least one day of [s, e]. A month with one active day counts whole, so the
-- funding split of a periodic intervention (per month) multiplies exactly.
CREATE FUNCTION app.months_active(s date, e date, y integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT greatest(0,
        CASE WHEN e IS NULL OR e >= make_date(y + 1, 1, 1) THEN 12
             WHEN e < make_date(y, 1, 1) THEN 0
             ELSE extract(month FROM e)::integer END
      - CASE WHEN s < make_date(y, 1, 1) THEN 1
             WHEN s >= make_date(y + 1, 1, 1) THEN 13
             ELSE extract(month FROM s)::integer END
      + 1)
$$;

-- The tenants a report for p_tenant covers, asked by a session of tenant
-- p_caller: p_tenant itself and, when it is an Ambito, its member Comuni.
-- p_tenant must be p_caller or one of p_caller's member Comuni; anything
-- else raises insufficient_privilege.
CREATE FUNCTION app.report_scope(p_tenant uuid, p_caller uuid)
RETURNS TABLE (tenant_id uuid, tenant_kind text)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_caller IS NULL OR NOT (p_tenant = p_caller OR EXISTS (
            SELECT 1 FROM tenant m WHERE m.id = p_tenant AND m.parent_id = p_caller)) THEN
        RAISE EXCEPTION 'report of tenant % outside the caller''s scope', p_tenant
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY
    SELECT s.id, s.kind FROM tenant s
     WHERE s.id = p_tenant
        OR (s.parent_id = p_tenant
            AND (SELECT a.kind FROM tenant a WHERE a.id = p_tenant) = 'ambito')
     ORDER BY s.id;
END
$$;

-- The interventions of tenant p_tenant that count in year p_year, with the
-- number of times their funding and shares count (months): one-off ones
-- delivered in the year (1); periodic ones active in the year
-- (app.months_active). Cancelled interventions and those of restricted
-- persons (GDPR art. 18: left out of every report) are not returned. Read
-- under the row-level security of the current app.tenant, which must be
-- p_tenant (the report functions switch it).
CREATE FUNCTION app.year_interventions(p_tenant uuid, p_year integer)
RETURNS TABLE (id uuid, beneficiary_id uuid, management text, service_tenant_id uuid,
               service_id uuid, months integer, cost_cents bigint, share_user_cents bigint,
               share_health_cents bigint)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT i.id, i.beneficiary_id, i.management, i.service_tenant_id, i.service_id,
           CASE WHEN i.nature = 'one_off' THEN 1
                ELSE app.months_active(i.start_date, i.end_date, p_year) END,
           coalesce(i.monthly_amount_cents, i.total_amount_cents),
           coalesce(i.share_user_cents, 0), coalesce(i.share_health_cents, 0)
      FROM intervention i
      JOIN person p ON p.tenant_id = i.tenant_id AND p.id = i.beneficiary_id
     WHERE i.tenant_id = p_tenant AND i.status <> 'cancelled' AND NOT p.restricted
       AND ((i.nature = 'one_off' AND i.delivery_date >= make_date(p_year, 1, 1)
             AND i.delivery_date < make_date(p_year + 1, 1, 1))
         OR (i.nature = 'periodic' AND i.start_date < make_date(p_year + 1, 1, 1)
             AND (i.end_date IS NULL OR i.end_date >= make_date(p_year, 1, 1))))
$$;

-- The report functions below return aggregates only (no row, no person id
-- ever leaves them) for tenant p_tenant and year p_year.
--
-- The boundary: app.report_scope checks that the caller's tenant may see
-- p_tenant's report. No policy is widened: for each tenant of the scope the
-- function sets app.tenant to that tenant for the length of one aggregate
-- query, so the tenant policies (FORCE, which bind the owner too) confine it
-- to that tenant's rows, and puts the caller's tenant back before returning.
-- They run as their owner (SECURITY DEFINER) so that policies narrowing what
-- one user may see (restrictive policies TO cartella_app, e.g. on sealed
-- cases) do not make the figures depend on who asks: money spent on a
-- sealed case is spent. The Ambito's session thus never gets row access to
-- a member Comune's persons or interventions, nor any user to a hidden row:
-- only sums and counts leave the functions.

-- Regional spending report:
--   ('spending', tenant, area, channel, management, cents)
--       interventions (app.year_interventions) at their funding x months,
--       plus the expenditures of the year;
--   ('users', tenant, area, NULL, NULL, n)
--       distinct beneficiaries of those interventions in the regional area
--       (area NULL: across all areas) within one tenant;
--   ('population', tenant, NULL, NULL, NULL, residents or NULL if not loaded)
--       for each Comune of the scope.
CREATE FUNCTION app.spending_facts(p_tenant uuid, p_year integer)
RETURNS TABLE (kind text, tenant_id uuid, area text, channel text, management text,
               amount bigint)
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
            SELECT y.*, s.regional_area AS area
              FROM app.year_interventions(t.tenant_id, p_year) y
              JOIN service_catalogue s
                ON s.tenant_id = y.service_tenant_id AND s.id = y.service_id)
        SELECT 'spending', t.tenant_id, iv.area, f.channel, iv.management,
               sum(f.amount_cents * iv.months)::bigint
          FROM iv JOIN intervention_funding f
            ON f.tenant_id = t.tenant_id AND f.intervention_id = iv.id
         GROUP BY iv.area, f.channel, iv.management
        UNION ALL
        SELECT 'users', t.tenant_id, iv.area, NULL, NULL, count(DISTINCT iv.beneficiary_id)
          FROM iv GROUP BY ROLLUP (iv.area)
        UNION ALL
        SELECT 'spending', t.tenant_id, e.regional_area, e.channel, e.management,
               sum(e.amount_cents)::bigint
          FROM expenditure e
         WHERE e.tenant_id = t.tenant_id AND e.year = p_year
         GROUP BY e.regional_area, e.channel, e.management
        UNION ALL
        SELECT 'population', t.tenant_id, NULL, NULL, NULL,
               (SELECT sum(pp.residents)::bigint FROM population pp
                 WHERE pp.tenant_id = t.tenant_id AND pp.year = p_year)
         WHERE t.tenant_kind = 'comune';
    END LOOP;
    PERFORM set_config('app.tenant', caller::text, true);
END
$$;

-- ISTAT survey (interventi e servizi sociali dei comuni singoli e
-- associati), by ISTAT user area and service of the catalogue (its code;
-- name the service's name):
--   ('cost' | 'user_share' | 'health_share', tenant, area, code, name, cents)
--       cost and co-payments of the user and of the health service, x months;
--   ('users', tenant, area, code, name, n)
--       distinct beneficiaries within one tenant, also per area (code NULL)
--       and across all areas (area NULL).
CREATE FUNCTION app.istat_facts(p_tenant uuid, p_year integer)
RETURNS TABLE (kind text, tenant_id uuid, area text, service text, service_name text,
               amount bigint)
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
            SELECT y.*, s.istat_area AS area, s.code, s.name
              FROM app.year_interventions(t.tenant_id, p_year) y
              JOIN service_catalogue s
                ON s.tenant_id = y.service_tenant_id AND s.id = y.service_id),
        sums AS (
            SELECT iv.area, iv.code, min(iv.name) AS name,
                   sum(iv.cost_cents * iv.months)::bigint AS cost,
                   sum(iv.share_user_cents * iv.months)::bigint AS user_share,
                   sum(iv.share_health_cents * iv.months)::bigint AS health_share
              FROM iv GROUP BY iv.area, iv.code)
        SELECT 'cost', t.tenant_id, sums.area, sums.code, sums.name, sums.cost FROM sums
        UNION ALL
        SELECT 'user_share', t.tenant_id, sums.area, sums.code, sums.name, sums.user_share
          FROM sums
        UNION ALL
        SELECT 'health_share', t.tenant_id, sums.area, sums.code, sums.name, sums.health_share
          FROM sums
        UNION ALL
        SELECT 'users', t.tenant_id, iv.area, iv.code, min(iv.name),
               count(DISTINCT iv.beneficiary_id)
          FROM iv GROUP BY GROUPING SETS ((iv.area, iv.code), (iv.area), ());
    END LOOP;
    PERFORM set_config('app.tenant', caller::text, true);
END
$$;

REVOKE ALL ON FUNCTION app.report_scope(uuid, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.year_interventions(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.spending_facts(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.istat_facts(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.spending_facts(uuid, integer) TO cartella_app;
GRANT EXECUTE ON FUNCTION app.istat_facts(uuid, integer) TO cartella_app;
