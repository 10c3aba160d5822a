-- Sealed cases, sealed persons and break-glass (DESIGN §5.2, record level).
--
-- A sealed case (social_case.sealed: violence, court secrecy, protected
-- address) is visible to the application role only for
--   (a) users assigned to it today (case_assignment, as for confidential notes),
--   (b) users holding the service_manager role in the tenant,
--   (c) a user holding an unexpired break-glass grant on it.
-- To anyone else the case and every row hanging off it (status history,
-- assignments, notes, assessments, plans, front-office contacts and
-- interventions with its case_id) do not exist.
--
-- A sealed person (person.sealed: protected address) is visible only to the
-- service managers and to the users who may see one of that person's sealed
-- cases (by assignment or grant). Their person and rectification rows, and
-- the front-office contacts naming them, are hidden from everyone else.
--
-- How: RESTRICTIVE policies for cartella_app, ANDed with the tenant policies,
-- check the row's case (person) id against the ids hidden from the current
-- user. The ids come from a STABLE SECURITY DEFINER function owned by the
-- owner role, in an uncorrelated NOT IN subquery: PostgreSQL runs it once
-- per statement and probes a hash table per row ("hashed SubPlan"), and the
-- partial indexes below make it read only the sealed rows of the tenant. Running as the owner, the function is subject to the tenant
-- policies (FORCE) but not to these restrictive ones (TO cartella_app), so
-- there is no recursion. With no app.user every sealed row is hidden.
--
-- The restrictive policies cover SELECT and UPDATE (an UPDATE's WHERE reads
-- rows through the SELECT policies too). INSERT is left to the tenant
-- policy: every insert of a child row first loads its case through these
-- policies (api_case_find answers 404), and a social worker who opens a
-- sealed case must be able to write its first history row and assignment.

CREATE INDEX social_case_sealed ON social_case (tenant_id) WHERE sealed;
CREATE INDEX person_sealed ON person (tenant_id) WHERE sealed;

-- Break-glass: a time-boxed grant to see one sealed case, with a mandatory
-- reason (ciphertext: it may mention personal facts) and the service
-- manager's review (outcome and comment, the comment ciphertext too). Every
-- audit event the holder produces on the case while the grant runs carries
-- break_glass = true and purpose = the grant id.
CREATE TABLE break_glass_grant (
    tenant_id    uuid NOT NULL REFERENCES tenant (id),
    id           uuid NOT NULL,
    case_id      uuid NOT NULL,
    user_id      uuid NOT NULL REFERENCES app_user (id),
    reason_enc   bytea NOT NULL,
    minutes      smallint NOT NULL CHECK (minutes BETWEEN 1 AND 30),
    opened_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at   timestamptz NOT NULL,
    outcome      text CHECK (outcome IN ('justified', 'unjustified')),
    comment_enc  bytea,
    resolved_by  uuid REFERENCES app_user (id),
    resolved_at  timestamptz,
    version      integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id),
    CHECK (expires_at > opened_at),
    CHECK ((outcome IS NULL) = (resolved_at IS NULL)),
    CHECK ((outcome IS NULL) = (resolved_by IS NULL)),
    CHECK (outcome IS NOT NULL OR comment_enc IS NULL)
);
CREATE INDEX break_glass_grant_holder ON break_glass_grant (tenant_id, user_id, case_id, expires_at);
CREATE INDEX break_glass_grant_queue ON break_glass_grant
    (tenant_id, (outcome IS NULL), opened_at DESC, id DESC);
ALTER TABLE break_glass_grant ENABLE ROW LEVEL SECURITY;
ALTER TABLE break_glass_grant FORCE ROW LEVEL SECURITY;
CREATE POLICY break_glass_grant_tenant ON break_glass_grant
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON break_glass_grant TO cartella_app;
GRANT UPDATE (outcome, comment_enc, resolved_by, resolved_at, version)
    ON break_glass_grant TO cartella_app;

-- The audit events produced under a grant (the review counts them).
CREATE INDEX audit_event_purpose ON audit_event (tenant_id, purpose) WHERE purpose IS NOT NULL;

-- True when the current user holds service_manager in the current tenant.
CREATE FUNCTION app.is_service_manager() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM user_role r
                    WHERE r.tenant_id = app.tenant() AND r.user_id = app.user_id()
                      AND r.role = 'service_manager')
$$;

-- The sealed cases of the current tenant hidden from the current user: all
-- of them for a user who is not a service manager, but those assigned to
-- the user today and those the user holds an unexpired grant on. Set-based
-- (no function call per sealed row).
CREATE FUNCTION app.hidden_cases() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN app.is_service_manager() THEN '{}'::uuid[] ELSE
        (SELECT coalesce(array_agg(c.id), '{}'::uuid[]) FROM social_case c
          WHERE c.tenant_id = app.tenant() AND c.sealed
            AND NOT EXISTS (SELECT 1 FROM case_assignment a
                             WHERE a.tenant_id = c.tenant_id AND a.case_id = c.id
                               AND a.user_id = app.user_id() AND a.valid_from <= current_date
                               AND (a.valid_to IS NULL OR a.valid_to >= current_date))
            AND NOT EXISTS (SELECT 1 FROM break_glass_grant g
                             WHERE g.tenant_id = c.tenant_id AND g.user_id = app.user_id()
                               AND g.case_id = c.id AND g.expires_at > now()))
    END
$$;

-- The sealed persons of the current tenant hidden from the current user:
-- all of them but those with a sealed case the user sees.
CREATE FUNCTION app.hidden_persons() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN app.is_service_manager() THEN '{}'::uuid[] ELSE
        (SELECT coalesce(array_agg(p.id), '{}'::uuid[]) FROM person p
          WHERE p.tenant_id = app.tenant() AND p.sealed
            AND NOT EXISTS (SELECT 1 FROM social_case c
                             WHERE c.tenant_id = p.tenant_id AND c.person_id = p.id AND c.sealed
                               AND c.id NOT IN (SELECT unnest(app.hidden_cases()))))
    END
$$;

-- For POST /cases/{id}/break-glass, which must tell a sealed case the caller
-- cannot see from one that does not exist: true (sealed), false (not
-- sealed) or NULL (no such case in the current tenant). Nothing else.
CREATE FUNCTION app.case_sealed(p_case uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT c.sealed FROM social_case c WHERE c.tenant_id = app.tenant() AND c.id = p_case
$$;

-- The grant an audit event of the current user on object (p_type, p_id) is
-- produced under: the newest unexpired grant of the user on the case the
-- object is or belongs to; NULL when none. Runs with the caller's rights.
CREATE FUNCTION app.break_glass_purpose(p_type text, p_id uuid) RETURNS uuid
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT g.id FROM break_glass_grant g
     WHERE g.tenant_id = app.tenant() AND g.user_id = app.user_id() AND g.expires_at > now()
       AND p_id IS NOT NULL
       AND (g.case_id = p_id
            OR (p_type = 'intervention' AND g.case_id = (SELECT i.case_id FROM intervention i
                 WHERE i.tenant_id = g.tenant_id AND i.id = p_id))
            OR (p_type = 'access-contact' AND g.case_id = (SELECT k.case_id FROM access_contact k
                 WHERE k.tenant_id = g.tenant_id AND k.id = p_id))
            OR (p_type = 'person' AND EXISTS (SELECT 1 FROM social_case c
                 WHERE c.tenant_id = g.tenant_id AND c.id = g.case_id AND c.person_id = p_id)))
     ORDER BY g.opened_at DESC, g.id
     LIMIT 1
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['app.is_service_manager()',
                             'app.hidden_cases()', 'app.hidden_persons()',
                             'app.case_sealed(uuid)', 'app.break_glass_purpose(text, uuid)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO cartella_app', f);
    END LOOP;
END
$$;

-- The restrictive policies: one for SELECT and one for UPDATE per table.
-- expr is a condition on the row; NULL ids (a contact or intervention
-- without a case) pass.
CREATE FUNCTION pg_temp.seal(tbl text, expr text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR SELECT TO cartella_app USING (%s)',
                   tbl || '_sealed_read', tbl, expr);
    EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR UPDATE TO cartella_app USING (%s)',
                   tbl || '_sealed_update', tbl, expr);
END
$$;

SELECT pg_temp.seal('social_case', 'id NOT IN (SELECT unnest(app.hidden_cases()))');
SELECT pg_temp.seal(t, 'case_id NOT IN (SELECT unnest(app.hidden_cases()))')
  FROM unnest(ARRAY['case_status_history', 'case_assignment', 'case_note', 'assessment',
                    'care_plan']) AS t;
SELECT pg_temp.seal('intervention',
                    'case_id IS NULL OR case_id NOT IN (SELECT unnest(app.hidden_cases()))');
SELECT pg_temp.seal('access_contact',
                    '(case_id IS NULL OR case_id NOT IN (SELECT unnest(app.hidden_cases()))) '
                    'AND (person_id IS NULL OR person_id NOT IN (SELECT unnest(app.hidden_persons())))');
SELECT pg_temp.seal('person', 'id NOT IN (SELECT unnest(app.hidden_persons()))');
-- A grant is seen by its holder and by the service managers (the review).
SELECT pg_temp.seal('break_glass_grant', 'user_id = app.user_id() OR (SELECT app.is_service_manager())');
SELECT pg_temp.seal('person_version', 'person_id NOT IN (SELECT unnest(app.hidden_persons()))');
