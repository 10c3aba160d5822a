-- The SIUSS change queue (migrations 030 and 031) learns of the last table a
-- PS flow reads: the label of the service's INPS code in the code list
-- inps-prestazioni becomes @DenominazionePrestazione (api/waas.c,
-- WS_COLUMNS: coalesce(c.label_it, s.name)). When INPS renames a prestazione
-- and `cartella migrate` loads the new list (server/migrate.c, an upsert),
-- the flows already sent carry the old name; before this migration nothing
-- queued their interventions, so they were never corrected.
--
-- Now a statement that changes the label of inps-prestazioni codes notes,
-- in every tenant, the interventions whose service (their own Comune's or
-- their Ambito's) has one of those codes. A new code has no service yet and
-- a closed one (valid_to set) keeps its label, so only UPDATEs of label_it
-- count; the other lists are read by no flow through this join. The sync
-- compares each noted intervention's flow with its current one as for the
-- other sources (migration 031), so a label that comes back to what the
-- flow already says makes nothing.
--
-- The function runs as the owner, tenant by tenant with app.tenant set and
-- put back, as app.flow_change_trigger does (migration 030, which says
-- why): code is not a tenant's table, so the tenants are all of them. The
-- service catalogue's read policy gives each tenant its own services and
-- its Ambito's, which is exactly what its interventions may name. A code
-- list is reloaded rarely and by an operator; the lookup of the
-- interventions uses intervention_by_service.
CREATE FUNCTION app.flow_change_code_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    prev  text := current_setting('app.tenant', true);
    codes text[];
    t     uuid;
BEGIN
    codes := ARRAY(SELECT n.code FROM new_rows n JOIN old_rows o USING (list, code)
                    WHERE n.list = 'inps-prestazioni'
                      AND n.label_it IS DISTINCT FROM o.label_it);
    IF cardinality(codes) = 0 THEN
        RETURN NULL;
    END IF;
    FOR t IN SELECT id FROM tenant LOOP
        PERFORM set_config('app.tenant', t::text, true);
        PERFORM app.flow_change_note(t, 'id', ARRAY(
            SELECT i.id FROM service_catalogue s
              JOIN intervention i ON i.tenant_id = t AND i.service_id = s.id
                                 AND i.service_tenant_id = s.tenant_id
             WHERE s.inps_code = ANY (codes)));
    END LOOP;
    PERFORM set_config('app.tenant', coalesce(prev, ''), true);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.flow_change_code_trigger() FROM PUBLIC;

CREATE TRIGGER flow_change_code_update AFTER UPDATE ON code
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_code_trigger();
