-- The SIUSS change queue (migration 030) learns of the two other tables a PS
-- flow reads (api/waas.c, WS_COLUMNS and WS_FROM): the ISEE attestation of
-- the intervention's DSU (isee.signed_on becomes @DataDSU, and a means test 1
-- intervention without one is refused, isee_missing) and the intervention's
-- service (service_catalogue: the INPS code, the export flags, the name when
-- the code has no label; the SINBA flow reads the code and the flags too).
--
-- Before this migration nothing queued an intervention when those changed:
-- an intervention recorded before its DSU's attestation was refused and its
-- entry removed, and recording the attestation later never sent its flow; a
-- correction of a service's INPS code never reached the flows already sent.
-- Now:
--   - an ISEE attestation inserted or removed, or its dsu_protocol or
--     signed_on changed, notes the interventions of its tenant that name the
--     old or the new protocol;
--   - a service whose inps_code, never_export, export_only_if_in_charge,
--     isee_linked or name changed notes every intervention of that service,
--     in the service's own tenant and in the tenants that may use it (its
--     Comuni, when it is an Ambito's). A change of anything else (the ISTAT
--     or regional area, the nature, active) reaches no flow and notes
--     nothing.
-- The sync judges what a noted intervention needs by comparing the flow it
-- would make now with the current one (api/waas.c, api/sinba.c): the
-- versions in flow_state and sinba_state cannot tell that the attestation or
-- the service changed, so they no longer filter the page.

-- The interventions naming a DSU, for the ISEE trigger: without it each
-- attestation recorded would read every intervention of the Comune (a
-- sequential scan of 174,000 rows at regional scale). Only means-tested
-- interventions carry a protocol, hence partial.
CREATE INDEX intervention_by_dsu ON intervention (tenant_id, dsu_protocol)
    WHERE dsu_protocol IS NOT NULL;

-- The statement-level trigger on isee and on service_catalogue, one
-- function as in migration 030. It runs as the owner with app.tenant set to
-- each tenant in turn and put back after, for the reasons given on
-- app.flow_change_trigger; the interventions it finds are noted through
-- app.flow_change_note by id.
--
-- isee: the interventions of the changed rows' tenant whose dsu_protocol is
-- one of the rows' (old and new on UPDATE, where only a changed dsu_protocol
-- or signed_on counts: the value, the indicator type and the validity are
-- not in the flow). The lookup uses intervention_by_dsu.
--
-- service_catalogue (UPDATE only: a new service has no interventions, and
-- one that has cannot be deleted): the interventions of the services whose
-- flow columns changed. An intervention names its service by
-- (service_tenant_id, service_id), and a tenant may name its own services or
-- its Ambito's (tenant.parent_id: the catalogue's read policy, and the check
-- in api/interventions.c), so the tenants to look in are the service's own
-- and those whose parent it is. A Comune that left the Ambito keeps
-- interventions of the old Ambito's services, but the sync, bound by the
-- same read policy, no longer sees them: noting them would change nothing.
-- The lookup uses intervention_by_service (tenant_id, service_id).
CREATE FUNCTION app.flow_change_source_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    prev     text := current_setting('app.tenant', true);
    tenants  uuid[];
    dsus     text[];
    owners   uuid[];
    services uuid[];
    t        uuid;
BEGIN
    IF TG_TABLE_NAME = 'service_catalogue' THEN
        SELECT coalesce(array_agg(n.tenant_id), '{}'), coalesce(array_agg(n.id), '{}')
          INTO owners, services
          FROM new_rows n JOIN old_rows o USING (tenant_id, id)
         WHERE n.inps_code IS DISTINCT FROM o.inps_code
            OR n.never_export IS DISTINCT FROM o.never_export
            OR n.export_only_if_in_charge IS DISTINCT FROM o.export_only_if_in_charge
            OR n.isee_linked IS DISTINCT FROM o.isee_linked
            OR n.name IS DISTINCT FROM o.name;
        tenants := ARRAY(SELECT m.id FROM tenant m
                          WHERE m.id = ANY (owners) OR m.parent_id = ANY (owners));
    ELSIF TG_OP = 'DELETE' THEN
        tenants := ARRAY(SELECT DISTINCT tenant_id FROM old_rows);
    ELSE
        tenants := ARRAY(SELECT DISTINCT tenant_id FROM new_rows);
    END IF;
    FOREACH t IN ARRAY tenants LOOP
        PERFORM set_config('app.tenant', t::text, true);
        IF TG_TABLE_NAME = 'service_catalogue' THEN
            PERFORM app.flow_change_note(t, 'id', ARRAY(
                SELECT i.id FROM unnest(owners, services) AS s (tenant_id, id)
                  JOIN intervention i ON i.tenant_id = t AND i.service_id = s.id
                                     AND i.service_tenant_id = s.tenant_id));
            CONTINUE;
        ELSIF TG_OP = 'INSERT' THEN
            dsus := ARRAY(SELECT DISTINCT dsu_protocol FROM new_rows WHERE tenant_id = t);
        ELSIF TG_OP = 'DELETE' THEN
            dsus := ARRAY(SELECT DISTINCT dsu_protocol FROM old_rows WHERE tenant_id = t);
        ELSE
            dsus := ARRAY(SELECT DISTINCT unnest(ARRAY[o.dsu_protocol, n.dsu_protocol])
                            FROM new_rows n JOIN old_rows o USING (tenant_id, id)
                           WHERE n.tenant_id = t
                             AND (n.dsu_protocol IS DISTINCT FROM o.dsu_protocol
                                  OR n.signed_on IS DISTINCT FROM o.signed_on));
        END IF;
        PERFORM app.flow_change_note(t, 'id', ARRAY(
            SELECT i.id FROM intervention i
             WHERE i.tenant_id = t AND i.dsu_protocol = ANY (dsus)));
    END LOOP;
    PERFORM set_config('app.tenant', coalesce(prev, ''), true);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.flow_change_source_trigger() FROM PUBLIC;

CREATE TRIGGER flow_change_isee_insert AFTER INSERT ON isee
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_source_trigger();
CREATE TRIGGER flow_change_isee_update AFTER UPDATE ON isee
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_source_trigger();
CREATE TRIGGER flow_change_isee_delete AFTER DELETE ON isee
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_source_trigger();
CREATE TRIGGER flow_change_service_update AFTER UPDATE ON service_catalogue
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.flow_change_source_trigger();

-- What these triggers would have noted before they existed: the interventions
-- already compared by a sync whose DSU attestation or service was written
-- since (isee and service_catalogue keep updated_at; an attestation is
-- inserted with it). Tenant by tenant, as in migration 030; the next sync
-- compares them and makes only what differs.
DO $$
DECLARE
    t uuid;
BEGIN
    FOR t IN SELECT id FROM tenant LOOP
        PERFORM set_config('app.tenant', t::text, true);
        INSERT INTO flow_change (tenant_id, intervention_id)
        SELECT i.tenant_id, i.id FROM intervention i
          JOIN service_catalogue s ON s.tenant_id = i.service_tenant_id AND s.id = i.service_id
          LEFT JOIN flow_state st ON st.tenant_id = i.tenant_id AND st.intervention_id = i.id
          LEFT JOIN sinba_state sb ON sb.tenant_id = i.tenant_id AND sb.intervention_id = i.id
         WHERE i.tenant_id = t AND (st.checked_at IS NOT NULL OR sb.checked_at IS NOT NULL)
           AND (s.updated_at > least(st.checked_at, sb.checked_at)
                OR EXISTS (SELECT 1 FROM isee e WHERE e.tenant_id = i.tenant_id
                              AND e.dsu_protocol = i.dsu_protocol
                              AND e.updated_at > least(st.checked_at, sb.checked_at)))
         ORDER BY i.created_at, i.id
        ON CONFLICT (tenant_id, intervention_id) DO NOTHING;
    END LOOP;
    PERFORM set_config('app.tenant', '', true);
END
$$;
