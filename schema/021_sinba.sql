-- SINBA flows (minors in charge, reference/inps-waas/SINBA.xsd; api/sinba.c)
-- and the data-quality report (api/data_quality.c).
--
-- SINBA flows share flow_record with the PS flows (flow_type 'SINBA', the
-- same per-tenant ts_flusso sequence, their own daily progressive) and are
-- handed out by the same GET /waas/v1/flussi. One flow is one minor and one
-- prestazione (the WaaS rule): one intervention in charge of a minor whose
-- case has a sinba assessment, with that assessment's answers. The sync step
-- keeps what it last saw of each intervention here, as flow_state does for
-- the PS flows.
--
-- SINBA.xsd has no TipoOperazione: a SINBA flow cannot cancel anything. A
-- changed record is sent again (a new flow with the new content); a record
-- INPS holds that is no longer true (cancelled intervention, no longer in
-- charge, the case's SINBA assessment gone) is kept in stale_flow and listed
-- by the data-quality report, to be corrected on the INPS portal.
CREATE TABLE sinba_state (
    tenant_id            uuid NOT NULL REFERENCES tenant (id),
    intervention_id      uuid NOT NULL,
    intervention_version integer NOT NULL,
    person_version       integer NOT NULL,
    -- the case's latest sinba assessment when last seen (NULL: none)
    assessment_id        uuid,
    -- the flow INPS holds for the intervention (NULL when none)
    current_flow         uuid,
    -- a flow INPS holds whose content is no longer true and that SINBA
    -- cannot withdraw
    stale_flow           uuid,
    -- why an intervention in SINBA's scope cannot be sent (data quality)
    refusal              text,
    checked_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, intervention_id),
    FOREIGN KEY (tenant_id, intervention_id) REFERENCES intervention (tenant_id, id),
    FOREIGN KEY (tenant_id, current_flow) REFERENCES flow_record (tenant_id, id),
    FOREIGN KEY (tenant_id, stale_flow) REFERENCES flow_record (tenant_id, id)
);
CREATE INDEX sinba_state_stale ON sinba_state (tenant_id) WHERE stale_flow IS NOT NULL;
ALTER TABLE sinba_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE sinba_state FORCE ROW LEVEL SECURITY;
CREATE POLICY sinba_state_tenant ON sinba_state
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON sinba_state TO cartella_app;

-- The data-quality report of the regional spending flow lists the records
-- the report counts: exactly app.year_interventions (015), read with the
-- caller's rights. It is a plain SQL function (not SECURITY DEFINER), so
-- row-level security applies to the caller as in any query of theirs.
GRANT EXECUTE ON FUNCTION app.year_interventions(uuid, integer) TO cartella_app;
