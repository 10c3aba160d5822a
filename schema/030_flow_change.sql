-- The SIUSS change queue (api/waas.c, docs/reporting.md "How the sync finds
-- changes"): which interventions the flow sync must look at again.
--
-- Before this migration the sync compared every intervention of the Comune
-- with flow_state and sinba_state on each GET /waas/v1/flussi: linear in the
-- Comune, 7 s for 174,000 interventions at regional scale, over the 5 s
-- statement timeout, so a large Comune's first sync never finished
-- (docs/performance.md, "SIUSS flows"). Now the writes that can change what
-- the comparison sees note the intervention here, in their own transaction,
-- and each sync takes one page of the queue (the oldest entries, at most
-- CARTELLA_FLOW_SYNC_PAGE), compares just those interventions as before,
-- makes their flows and removes the entries it read. A request's work is
-- bounded by the page; a large first sync proceeds over several requests.
--
-- What notes an intervention (statement-level triggers, one INSERT per
-- statement, so a bulk load adds one statement per batch, not per row):
--   - an intervention inserted, or updated with a new version;
--   - its beneficiary updated with a new version, or sealed, unsealed,
--     restricted or unrestricted (the sync, an integration client, does not
--     see a sealed or restricted person: the entry read while hidden is
--     removed, and lifting the flag notes the interventions again);
--   - its case sealed or unsealed (the same reason);
--   - an assessment of its case inserted, changed or removed (the SINA and
--     SINBA sections come from the case's latest one).
-- The comparison with flow_state and sinba_state stays the judge: an entry
-- for an intervention that needs nothing makes nothing.
--
-- One row per intervention: a second change before the sync gives the row a
-- new seq. The sync removes an entry only when its seq is still the one it
-- read, so a change committed while the sync ran stays queued for the next
-- one (the UPDATE of seq and the sync's DELETE lock the same row).
CREATE SEQUENCE flow_change_seq;

CREATE TABLE flow_change (
    tenant_id       uuid NOT NULL REFERENCES tenant (id),
    intervention_id uuid NOT NULL,
    seq             bigint NOT NULL DEFAULT nextval('flow_change_seq'),
    PRIMARY KEY (tenant_id, intervention_id)
);
CREATE INDEX flow_change_order ON flow_change (tenant_id, seq);
ALTER TABLE flow_change ENABLE ROW LEVEL SECURITY;
ALTER TABLE flow_change FORCE ROW LEVEL SECURITY;
CREATE POLICY flow_change_tenant ON flow_change
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, DELETE ON flow_change TO cartella_app;

-- Notes the interventions of tenant t whose id (by 'id'), beneficiary
-- ('person') or case ('case') is one of ids. Called by the trigger below,
-- as the owner, with app.tenant set to t.
CREATE FUNCTION app.flow_change_note(t uuid, by text, ids uuid[]) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF by = 'id' THEN
        INSERT INTO flow_change (tenant_id, intervention_id)
        SELECT DISTINCT t, u FROM unnest(ids) AS u
        ON CONFLICT (tenant_id, intervention_id) DO UPDATE SET seq = nextval('flow_change_seq');
    ELSIF by = 'person' THEN
        INSERT INTO flow_change (tenant_id, intervention_id)
        SELECT t, i.id FROM intervention i WHERE i.tenant_id = t AND i.beneficiary_id = ANY (ids)
        ON CONFLICT (tenant_id, intervention_id) DO UPDATE SET seq = nextval('flow_change_seq');
    ELSE
        INSERT INTO flow_change (tenant_id, intervention_id)
        SELECT t, i.id FROM intervention i WHERE i.tenant_id = t AND i.case_id = ANY (ids)
        ON CONFLICT (tenant_id, intervention_id) DO UPDATE SET seq = nextval('flow_change_seq');
    END IF;
END
$$;
REVOKE ALL ON FUNCTION app.flow_change_note(uuid, text, uuid[]) FROM PUBLIC;

-- The statement-level trigger: notes the interventions the changed rows of
-- the transition tables (new_rows, and old_rows on UPDATE or DELETE) touch;
-- an UPDATE notes only rows whose watched columns changed, an assessment
-- only when it is a sina or sinba one. Runs as the owner: the tenant
-- policies (FORCE) still bind it, the sealed-case and restriction policies
-- (for cartella_app) do not, so the interventions of a case or person hidden
-- from the writer are noted too. It works tenant by tenant with app.tenant
-- set to each (a writer that bypasses row-level security, such as an
-- operator's superuser session, may change rows of several tenants, or set
-- none), and puts app.tenant back as it found it.
CREATE FUNCTION app.flow_change_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    prev    text := current_setting('app.tenant', true);
    tenants uuid[];
    t       uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        tenants := ARRAY(SELECT DISTINCT tenant_id FROM old_rows);
    ELSE
        tenants := ARRAY(SELECT DISTINCT tenant_id FROM new_rows);
    END IF;
    FOREACH t IN ARRAY tenants LOOP
        PERFORM set_config('app.tenant', t::text, true);
        IF TG_TABLE_NAME = 'intervention' AND TG_OP = 'INSERT' THEN
            PERFORM app.flow_change_note(t, 'id', ARRAY(
                SELECT id FROM new_rows WHERE tenant_id = t));
        ELSIF TG_TABLE_NAME = 'intervention' THEN
            PERFORM app.flow_change_note(t, 'id', ARRAY(
                SELECT n.id FROM new_rows n JOIN old_rows o USING (tenant_id, id)
                 WHERE n.tenant_id = t AND n.version IS DISTINCT FROM o.version));
        ELSIF TG_TABLE_NAME = 'person' THEN
            PERFORM app.flow_change_note(t, 'person', ARRAY(
                SELECT n.id FROM new_rows n JOIN old_rows o USING (tenant_id, id)
                 WHERE n.tenant_id = t AND (n.version IS DISTINCT FROM o.version
                       OR n.sealed IS DISTINCT FROM o.sealed
                       OR n.restricted IS DISTINCT FROM o.restricted)));
        ELSIF TG_TABLE_NAME = 'social_case' THEN
            PERFORM app.flow_change_note(t, 'case', ARRAY(
                SELECT n.id FROM new_rows n JOIN old_rows o USING (tenant_id, id)
                 WHERE n.tenant_id = t AND (n.sealed IS DISTINCT FROM o.sealed
                       OR n.person_id IS DISTINCT FROM o.person_id)));
        ELSIF TG_OP = 'DELETE' THEN -- assessment
            PERFORM app.flow_change_note(t, 'case', ARRAY(
                SELECT case_id FROM old_rows WHERE tenant_id = t AND kind IN ('sina', 'sinba')));
        ELSE -- assessment, INSERT or UPDATE
            PERFORM app.flow_change_note(t, 'case', ARRAY(
                SELECT case_id FROM new_rows WHERE tenant_id = t AND kind IN ('sina', 'sinba')));
        END IF;
    END LOOP;
    PERFORM set_config('app.tenant', coalesce(prev, ''), true);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.flow_change_trigger() FROM PUBLIC;

CREATE TRIGGER flow_change_intervention_insert AFTER INSERT ON intervention
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_trigger();
CREATE TRIGGER flow_change_intervention_update AFTER UPDATE ON intervention
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_trigger();
CREATE TRIGGER flow_change_person_update AFTER UPDATE ON person
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_trigger();
CREATE TRIGGER flow_change_case_update AFTER UPDATE ON social_case
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_trigger();
CREATE TRIGGER flow_change_assessment_insert AFTER INSERT ON assessment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_trigger();
CREATE TRIGGER flow_change_assessment_update AFTER UPDATE ON assessment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_trigger();
CREATE TRIGGER flow_change_assessment_delete AFTER DELETE ON assessment
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_trigger();

-- Every intervention that exists now is noted once, tenant by tenant (the
-- tenant policies bind the owner too): the first sync after this migration
-- compares each of them, in pages, and makes only what the old check would
-- have made.
DO $$
DECLARE
    t uuid;
BEGIN
    FOR t IN SELECT id FROM tenant LOOP
        PERFORM set_config('app.tenant', t::text, true);
        INSERT INTO flow_change (tenant_id, intervention_id)
        SELECT tenant_id, id FROM intervention WHERE tenant_id = t ORDER BY created_at, id;
    END LOOP;
    PERFORM set_config('app.tenant', '', true);
END
$$;
