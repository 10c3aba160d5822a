-- Annotations of an assessment (GDPR art. 16; DESIGN §5.3): a professional
-- assessment is a judgement, not a fact to be overwritten, so a contested
-- one is annotated. An annotation records, beside the assessment it
-- concerns, either the data subject's own statement ('data_subject': "I do
-- not agree that ...", art. 16 "including by means of providing a
-- supplementary statement") or a professional correction or clarification
-- ('professional'). The assessment itself never changes; annotations are
-- never edited or deleted (the application role may only insert them).
--
-- The text is ciphertext under the tenant data key (associated data
-- assessment_annotation/body/tenant/id), like the assessment's free text,
-- and is left out for the administrative role the same way. case_id is the
-- assessment's case, copied by the insert (api/assessment_annotations.c
-- selects it from the assessment) so that the sealed-case and restriction
-- policies can name it as they do for assessments.
CREATE TABLE assessment_annotation (
    tenant_id     uuid NOT NULL REFERENCES tenant (id),
    id            uuid NOT NULL,
    case_id       uuid NOT NULL,
    assessment_id uuid NOT NULL,
    source        text NOT NULL CHECK (source IN ('data_subject', 'professional')),
    -- NULL once the person the case is about has been erased (art. 17)
    body_enc      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid NOT NULL REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessment (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id)
);
CREATE INDEX assessment_annotation_by_assessment
    ON assessment_annotation (tenant_id, assessment_id, created_at, id);
CREATE INDEX assessment_annotation_by_case ON assessment_annotation (tenant_id, case_id);
ALTER TABLE assessment_annotation ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment_annotation FORCE ROW LEVEL SECURITY;
CREATE POLICY assessment_annotation_tenant ON assessment_annotation
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
-- As for assessments (migrations 012, 017, 020): hidden with a sealed case,
-- a restricted or an erased person's case.
CREATE POLICY assessment_annotation_sealed_read ON assessment_annotation AS RESTRICTIVE
    FOR SELECT TO cartella_app USING (case_id NOT IN (SELECT unnest(app.hidden_cases())));
CREATE POLICY assessment_annotation_restricted_read ON assessment_annotation AS RESTRICTIVE
    FOR SELECT TO cartella_app USING (case_id NOT IN (SELECT unnest(app.restricted_cases())));
GRANT SELECT, INSERT ON assessment_annotation TO cartella_app;

-- Erasure (art. 17): destroys the text of the annotations on the person's
-- own cases, as app.erase_person destroys the assessments' free text.
-- Called by the erasure in its transaction; returns how many.
CREATE FUNCTION app.erasure_forget_annotations(p_person uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    UPDATE assessment_annotation x SET body_enc = NULL
     WHERE x.tenant_id = app.tenant() AND x.body_enc IS NOT NULL
       AND x.case_id IN (SELECT c.id FROM social_case c
                          WHERE c.tenant_id = app.tenant() AND c.person_id = p_person);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION app.erasure_forget_annotations(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.erasure_forget_annotations(uuid) TO cartella_app;
