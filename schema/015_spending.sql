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
-- An administrator loads a Comune's whole year at once (PUT replaces it):
-- the Comune's own administrator, or the administrator of its Ambito. An
-- Ambito's population is the sum of its Comuni's.
CREATE TABLE population (
    tenant_id  uuid NOT NULL REFERENCES tenant (id),
    year       integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    sex        char(1) NOT NULL CHECK (sex IN ('M', 'F')),
    age_from   integer NOT NULL CHECK (age_from BETWEEN 0 AND 120),
    age_to     integer CHECK (age_to BETWEEN 0 AND 120),
    residents  integer NOT NULL CHECK (residents BETWEEN 0 AND 10000000),
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

-- The facts of the spending reports for tenant p_tenant and year p_year, as
-- aggregates only (no row, no person id ever leaves the function):
--   ('spending', tenant, area, channel, management, cents)
--       interventions: one-off in the year of delivery_date at their funding;
--       periodic at their monthly funding x app.months_active; cancelled ones
--       and those of restricted persons are left out; plus expenditures;
--   ('users', tenant, area, NULL, NULL, n)
--       distinct beneficiaries of those interventions in the area
--       (area NULL: across all areas) within one tenant;
--   ('population', tenant, NULL, NULL, NULL, residents or NULL if not loaded)
--       for each Comune of the scope.
-- The scope is p_tenant and, when it is an Ambito, its member Comuni.
--
-- The boundary: the caller's tenant (app.tenant()) must be p_tenant or
-- p_tenant's Ambito; anything else raises insufficient_privilege. No policy
-- is widened: for each tenant of the scope the function sets app.tenant to
-- that tenant for the length of one aggregate query, so the tenant policies
-- (FORCE, which bind the owner too) confine it to that tenant's rows, and
-- puts the caller's tenant back before returning. It runs as its owner
-- (SECURITY DEFINER) so that policies narrowing what one user may see
-- (restrictive policies TO cartella_app, e.g. on sealed cases) do not make
-- the spending depend on who asks: money spent on a sealed case is spent.
-- The Ambito's session thus never gets row access to a member Comune's
-- persons or interventions, nor any user to a hidden row: only sums and
-- counts leave the function.
CREATE FUNCTION app.spending_facts(p_tenant uuid, p_year integer)
RETURNS TABLE (kind text, tenant_id uuid, area text, channel text, management text,
               amount bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    caller uuid := app.tenant();
    t      record;
    y0     date := make_date(p_year, 1, 1);
    y1     date := make_date(p_year + 1, 1, 1);
BEGIN
    IF caller IS NULL OR NOT (p_tenant = caller OR EXISTS (
            SELECT 1 FROM tenant m WHERE m.id = p_tenant AND m.parent_id = caller)) THEN
        RAISE EXCEPTION 'spending report of tenant % outside the caller''s scope', p_tenant
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR t IN SELECT s.id, s.kind FROM tenant s
              WHERE s.id = p_tenant
                 OR (s.parent_id = p_tenant
                     AND (SELECT a.kind FROM tenant a WHERE a.id = p_tenant) = 'ambito')
              ORDER BY s.id
    LOOP
        PERFORM set_config('app.tenant', t.id::text, true);
        RETURN QUERY
        WITH iv AS (
            SELECT i.id, i.beneficiary_id, i.management, s.regional_area AS area,
                   CASE WHEN i.nature = 'one_off' THEN 1
                        ELSE app.months_active(i.start_date, i.end_date, p_year) END AS months
              FROM intervention i
              JOIN service_catalogue s
                ON s.tenant_id = i.service_tenant_id AND s.id = i.service_id
              JOIN person p ON p.tenant_id = i.tenant_id AND p.id = i.beneficiary_id
             WHERE i.tenant_id = t.id AND i.status <> 'cancelled' AND NOT p.restricted
               AND ((i.nature = 'one_off' AND i.delivery_date >= y0 AND i.delivery_date < y1)
                 OR (i.nature = 'periodic' AND i.start_date < y1
                     AND (i.end_date IS NULL OR i.end_date >= y0))))
        SELECT 'spending', t.id, iv.area, f.channel, iv.management,
               sum(f.amount_cents * iv.months)::bigint
          FROM iv JOIN intervention_funding f
            ON f.tenant_id = t.id AND f.intervention_id = iv.id
         GROUP BY iv.area, f.channel, iv.management
        UNION ALL
        SELECT 'users', t.id, iv.area, NULL, NULL, count(DISTINCT iv.beneficiary_id)
          FROM iv GROUP BY ROLLUP (iv.area)
        UNION ALL
        SELECT 'spending', t.id, e.regional_area, e.channel, e.management,
               sum(e.amount_cents)::bigint
          FROM expenditure e
         WHERE e.tenant_id = t.id AND e.year = p_year
         GROUP BY e.regional_area, e.channel, e.management
        UNION ALL
        SELECT 'population', t.id, NULL, NULL, NULL,
               (SELECT sum(pp.residents)::bigint FROM population pp
                 WHERE pp.tenant_id = t.id AND pp.year = p_year)
         WHERE t.kind = 'comune';
    END LOOP;
    PERFORM set_config('app.tenant', caller::text, true);
END
$$;
REVOKE ALL ON FUNCTION app.spending_facts(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.spending_facts(uuid, integer) TO cartella_app;
