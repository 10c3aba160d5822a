-- Restriction of processing (GDPR art. 18, DESIGN §5.3).
--
-- A restricted person (person.restricted) stays stored but is processed no
-- further: the application role sees the person, the rectification history
-- and the content of the person's cases (status history, assignments,
-- notes, assessments, plans) only when the current user holds the
-- service_manager or the dpo role in the current tenant. To everyone else
-- they do not exist (404, absent from lists and searches). Interventions
-- stay visible: they carry no identifying data of their own and the
-- spending aggregates must still add up (DESIGN §5.3).
--
-- How: RESTRICTIVE policies for cartella_app (ANDed with the tenant
-- policies) check the row's person (case) id against the ids hidden from
-- the current user, produced once per statement by STABLE SECURITY DEFINER
-- functions owned by the owner role (subject to the tenant policies, not to
-- these). With no app.user (an integration client) every restricted row is
-- hidden.
--
-- Flows, reports and extracts must leave restricted persons out: use
-- app.person_restricted(uuid) or join person and test NOT p.restricted.

ALTER TABLE person
    ADD COLUMN restriction_reason_enc bytea,
    ADD COLUMN restricted_at timestamptz,
    ADD COLUMN restricted_by uuid REFERENCES app_user (id);
-- No CHECK tying the flag to a reason: rows restricted before this migration
-- (or by the owner, e.g. report fixtures) carry the flag alone.

CREATE INDEX person_restricted ON person (tenant_id) WHERE restricted;

-- True when the current user holds service_manager or dpo in the current
-- tenant (the roles that may see restricted persons).
CREATE FUNCTION app.sees_restricted() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM user_role r
                    WHERE r.tenant_id = app.tenant() AND r.user_id = app.user_id()
                      AND r.role IN ('service_manager', 'dpo'))
$$;

-- True when person p_person of the current tenant is restricted, false when
-- not, NULL when there is no such person. For flows, reports and extracts.
CREATE FUNCTION app.person_restricted(p_person uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT p.restricted FROM person p WHERE p.tenant_id = app.tenant() AND p.id = p_person
$$;

-- The restricted persons of the current tenant hidden from the current user.
CREATE FUNCTION app.restricted_persons() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN app.sees_restricted() THEN '{}'::uuid[] ELSE
        (SELECT coalesce(array_agg(p.id), '{}'::uuid[]) FROM person p
          WHERE p.tenant_id = app.tenant() AND p.restricted)
    END
$$;

-- The cases of those persons.
CREATE FUNCTION app.restricted_cases() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN app.sees_restricted() THEN '{}'::uuid[] ELSE
        (SELECT coalesce(array_agg(c.id), '{}'::uuid[]) FROM social_case c
           JOIN person p ON p.tenant_id = c.tenant_id AND p.id = c.person_id
          WHERE c.tenant_id = app.tenant() AND p.restricted)
    END
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['app.sees_restricted()', 'app.person_restricted(uuid)',
                             'app.restricted_persons()', 'app.restricted_cases()']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO cartella_app', f);
    END LOOP;
END
$$;

-- One restrictive policy for SELECT and one for UPDATE per table.
CREATE FUNCTION pg_temp.restrict_rows(tbl text, expr text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR SELECT TO cartella_app USING (%s)',
                   tbl || '_restricted_read', tbl, expr);
    EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR UPDATE TO cartella_app USING (%s)',
                   tbl || '_restricted_update', tbl, expr);
END
$$;

SELECT pg_temp.restrict_rows('person', 'id NOT IN (SELECT unnest(app.restricted_persons()))');
SELECT pg_temp.restrict_rows('person_version',
                             'person_id NOT IN (SELECT unnest(app.restricted_persons()))');
SELECT pg_temp.restrict_rows('social_case',
                             'person_id NOT IN (SELECT unnest(app.restricted_persons()))');
SELECT pg_temp.restrict_rows(t, 'case_id NOT IN (SELECT unnest(app.restricted_cases()))')
  FROM unnest(ARRAY['case_status_history', 'case_assignment', 'case_note', 'assessment',
                    'care_plan']) AS t;
SELECT pg_temp.restrict_rows('access_contact',
                             'person_id IS NULL OR person_id NOT IN '
                             '(SELECT unnest(app.restricted_persons()))');
