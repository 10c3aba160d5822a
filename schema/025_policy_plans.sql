-- The functions the row-level security policies and the audit insert call,
-- rewritten in PL/pgSQL with the same queries and attributes (docs/performance.md).
--
-- As SQL functions with a SET clause they cannot be inlined, and PostgreSQL
-- (before 18) keeps the plan of a SQL function's query only for one
-- execution of the calling statement: every statement touching a person, a
-- case or an intervention planned app.hidden_cases(), app.hidden_persons(),
-- app.restricted_persons() and app.restricted_cases() again (several
-- milliseconds each on the benchmark machine, more than the statement
-- itself). PL/pgSQL keeps each query's plan for the session. What they return
-- is unchanged: the same queries, evaluated at the same moment (once per
-- statement, as the policies call them in sub-selects), STABLE, SECURITY
-- DEFINER (INVOKER for app.break_glass_purpose) and the same search_path.
-- CREATE OR REPLACE keeps their owner and their grants.

CREATE OR REPLACE FUNCTION app.is_service_manager() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM user_role r
                    WHERE r.tenant_id = app.tenant() AND r.user_id = app.user_id()
                      AND r.role = 'service_manager');
END
$$;

CREATE OR REPLACE FUNCTION app.sees_restricted() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM user_role r
                    WHERE r.tenant_id = app.tenant() AND r.user_id = app.user_id()
                      AND r.role IN ('service_manager', 'dpo'));
END
$$;

CREATE OR REPLACE FUNCTION app.hidden_cases() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF app.is_service_manager() THEN
        RETURN '{}'::uuid[];
    END IF;
    RETURN (SELECT coalesce(array_agg(c.id), '{}'::uuid[]) FROM social_case c
             WHERE c.tenant_id = app.tenant() AND c.sealed
               AND NOT EXISTS (SELECT 1 FROM case_assignment a
                                WHERE a.tenant_id = c.tenant_id AND a.case_id = c.id
                                  AND a.user_id = app.user_id() AND a.valid_from <= current_date
                                  AND (a.valid_to IS NULL OR a.valid_to >= current_date))
               AND NOT EXISTS (SELECT 1 FROM break_glass_grant g
                                WHERE g.tenant_id = c.tenant_id AND g.user_id = app.user_id()
                                  AND g.case_id = c.id AND g.expires_at > now()));
END
$$;

CREATE OR REPLACE FUNCTION app.hidden_persons() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF app.is_service_manager() THEN
        RETURN '{}'::uuid[];
    END IF;
    RETURN (SELECT coalesce(array_agg(p.id), '{}'::uuid[]) FROM person p
             WHERE p.tenant_id = app.tenant() AND p.sealed
               AND NOT EXISTS (SELECT 1 FROM social_case c
                                WHERE c.tenant_id = p.tenant_id AND c.person_id = p.id
                                  AND c.sealed
                                  AND c.id NOT IN (SELECT unnest(app.hidden_cases()))));
END
$$;

CREATE OR REPLACE FUNCTION app.restricted_persons() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(p.id), '{}'::uuid[]) FROM person p
             WHERE p.tenant_id = app.tenant()
               AND (p.erased_at IS NOT NULL OR (p.restricted AND NOT (SELECT app.sees_restricted()))));
END
$$;

CREATE OR REPLACE FUNCTION app.restricted_cases() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(c.id), '{}'::uuid[]) FROM social_case c
              JOIN person p ON p.tenant_id = c.tenant_id AND p.id = c.person_id
             WHERE c.tenant_id = app.tenant()
               AND (p.erased_at IS NOT NULL OR (p.restricted AND NOT (SELECT app.sees_restricted()))));
END
$$;

CREATE OR REPLACE FUNCTION app.break_glass_purpose(p_type text, p_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT g.id FROM break_glass_grant g
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
             LIMIT 1);
END
$$;
