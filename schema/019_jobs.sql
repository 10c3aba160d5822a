-- Jobs (DESIGN §3.2, §6 "Long work") and what subject access needs (§5.3).
--
-- A job is long work a user asked for: a report run in the background or
-- the export of everything held about a person (GDPR art. 15). The server's
-- job workers (api/jobs.c) claim queued jobs with FOR UPDATE SKIP LOCKED,
-- run them as the user who asked, and store the result encrypted with the
-- tenant data key (it may hold personal data), with its media type and the
-- SHA-256 of its bytes. A result expires ttl_seconds after it was made: the
-- sweeper then deletes it and the job reads as 'expired'.
--
-- A job is the requester's alone: besides the tenant policy, a restrictive
-- policy for cartella_app shows a job only to the user who asked for it
-- (other users of the tenant get 404, as for a job that does not exist).
--
-- Workers and the sweeper work across tenants through the SECURITY DEFINER
-- functions below, which visit one tenant at a time (app.tenant set for
-- each, as app.spending_facts does), so the tenant policy binds them too.
-- A running job carries the id of the server process running it (runner)
-- and a heartbeat that process renews; a job whose heartbeat is older than
-- the lease was left by a crashed process and is queued again (or failed
-- after its third attempt) by app.job_recover, which every server runs at
-- start and then periodically.

CREATE TABLE job (
    tenant_id        uuid NOT NULL REFERENCES tenant (id),
    id               uuid NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('report', 'subject_access')),
    -- What to run; never personal data (report name and query, person id).
    parameters       jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'object'),
    requested_by     uuid NOT NULL REFERENCES app_user (id),
    -- The requester's roles in the tenant when the job was accepted: the
    -- job runs with them (the policy allowed the request with them).
    requester_roles  text[] NOT NULL,
    status           text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'expired')),
    progress         smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    attempts         smallint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    runner           uuid,
    heartbeat_at     timestamptz,
    result_enc       bytea,
    result_type      text,
    result_sha256    bytea CHECK (octet_length(result_sha256) = 32),
    result_size      bigint CHECK (result_size >= 0),
    -- Why it failed: the problem (type, title, status, detail), no personal data.
    error            jsonb,
    ttl_seconds      integer NOT NULL CHECK (ttl_seconds > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    expires_at       timestamptz,
    -- Subject access: the release of the result to the data subject.
    released_at      timestamptz,
    released_by      uuid REFERENCES app_user (id),
    release_channel  text CHECK (release_channel IN ('in_person', 'post', 'email', 'pec')),
    PRIMARY KEY (tenant_id, id),
    CHECK (status <> 'done' OR (result_enc IS NOT NULL AND result_sha256 IS NOT NULL
                                AND result_type IS NOT NULL AND expires_at IS NOT NULL)),
    CHECK (status <> 'running' OR (runner IS NOT NULL AND heartbeat_at IS NOT NULL)),
    CHECK (status IN ('done') OR result_enc IS NULL),
    CHECK ((released_at IS NULL) = (released_by IS NULL)),
    CHECK ((released_at IS NULL) = (release_channel IS NULL))
);
CREATE INDEX job_queued ON job (tenant_id, created_at) WHERE status = 'queued';
CREATE INDEX job_running ON job (tenant_id) WHERE status = 'running';
CREATE INDEX job_done ON job (tenant_id, expires_at) WHERE status = 'done';
ALTER TABLE job ENABLE ROW LEVEL SECURITY;
ALTER TABLE job FORCE ROW LEVEL SECURITY;
CREATE POLICY job_tenant ON job
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
CREATE POLICY job_requester ON job AS RESTRICTIVE TO cartella_app
    USING (requested_by = (SELECT app.user_id()))
    WITH CHECK (requested_by = (SELECT app.user_id()));
GRANT SELECT, INSERT ON job TO cartella_app;
GRANT UPDATE (status, progress, result_enc, result_type, result_sha256, result_size, error,
              finished_at, expires_at, heartbeat_at, released_at, released_by,
              release_channel) ON job TO cartella_app;

-- Claims the oldest queued job of some tenant for runner p_runner (tenants
-- visited in random order, so that one busy tenant does not starve the
-- others), marks it running and returns it; no row when none is queued.
CREATE FUNCTION app.job_claim(p_runner uuid)
RETURNS TABLE (tenant_id uuid, id uuid, kind text, parameters jsonb, requested_by uuid,
               requester_roles text[], attempts smallint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    caller text := current_setting('app.tenant', true);
    t      uuid;
BEGIN
    FOR t IN SELECT tn.id FROM tenant tn ORDER BY random() LOOP
        PERFORM set_config('app.tenant', t::text, true);
        RETURN QUERY
        UPDATE job j SET status = 'running', runner = p_runner, heartbeat_at = now(),
                         started_at = now(), attempts = j.attempts + 1, progress = 0,
                         error = NULL
         WHERE (j.tenant_id, j.id) = (SELECT q.tenant_id, q.id FROM job q
                                        WHERE q.tenant_id = t AND q.status = 'queued'
                                        ORDER BY q.created_at LIMIT 1
                                          FOR UPDATE SKIP LOCKED)
        RETURNING j.tenant_id, j.id, j.kind, j.parameters, j.requested_by, j.requester_roles,
                  j.attempts;
        IF FOUND THEN
            PERFORM set_config('app.tenant', coalesce(caller, ''), true);
            RETURN;
        END IF;
    END LOOP;
    PERFORM set_config('app.tenant', coalesce(caller, ''), true);
END
$$;

-- Housekeeping of every tenant, in one call:
--   renews the heartbeat of the jobs runner p_runner is running;
--   queues again the running jobs whose heartbeat is older than p_lease
--   seconds (their process died), or fails them after their third attempt;
--   deletes the results past their expiry (the job reads 'expired').
-- Returns how many jobs were requeued, failed and expired.
CREATE FUNCTION app.job_housekeeping(p_runner uuid, p_lease integer,
                                     OUT requeued integer, OUT failed integer,
                                     OUT expired integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    caller text := current_setting('app.tenant', true);
    t      uuid;
    n      integer;
BEGIN
    requeued := 0; failed := 0; expired := 0;
    FOR t IN SELECT tn.id FROM tenant tn LOOP
        PERFORM set_config('app.tenant', t::text, true);
        UPDATE job SET heartbeat_at = now()
         WHERE tenant_id = t AND status = 'running' AND runner = p_runner;
        UPDATE job SET status = 'queued', runner = NULL, heartbeat_at = NULL, progress = 0
         WHERE tenant_id = t AND status = 'running' AND runner <> p_runner
           AND heartbeat_at < now() - make_interval(secs => p_lease) AND attempts < 3;
        GET DIAGNOSTICS n = ROW_COUNT;
        requeued := requeued + n;
        UPDATE job SET status = 'failed', finished_at = now(),
                       error = jsonb_build_object(
                           'type', '/problems/internal', 'title', 'Errore interno',
                           'status', 500,
                           'detail', 'Il lavoro si è interrotto tre volte; richiederlo di nuovo')
         WHERE tenant_id = t AND status = 'running' AND runner <> p_runner
           AND heartbeat_at < now() - make_interval(secs => p_lease) AND attempts >= 3;
        GET DIAGNOSTICS n = ROW_COUNT;
        failed := failed + n;
        UPDATE job SET status = 'expired', result_enc = NULL
         WHERE tenant_id = t AND status = 'done' AND expires_at <= now();
        GET DIAGNOSTICS n = ROW_COUNT;
        expired := expired + n;
    END LOOP;
    PERFORM set_config('app.tenant', coalesce(caller, ''), true);
END
$$;

-- Subject access: how many sealed cases of person p_person the current
-- tenant holds, whoever asks (they are listed as withheld in the export,
-- never their content; docs/security.md).
CREATE FUNCTION app.person_sealed_cases(p_person uuid) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT count(*)::integer FROM social_case c
     WHERE c.tenant_id = app.tenant() AND c.person_id = p_person AND c.sealed
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['app.job_claim(uuid)', 'app.job_housekeeping(uuid, integer)',
                             'app.person_sealed_cases(uuid)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO cartella_app', f);
    END LOOP;
END
$$;

-- Items withheld from the data subject (Codice privacy art. 2-undecies;
-- GDPR art. 15(4)): a note or an assessment marked by the service manager
-- with the legal basis. The subject-access export lists it as withheld with
-- its basis instead of its content.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['case_note', 'assessment'] LOOP
        EXECUTE format(
            'ALTER TABLE %I'
            '  ADD COLUMN withheld_basis text CHECK (withheld_basis IN (%L, %L, %L, %L)),'
            '  ADD COLUMN withheld_at timestamptz,'
            '  ADD COLUMN withheld_by uuid REFERENCES app_user (id),'
            '  ADD CONSTRAINT %I CHECK ((withheld_basis IS NULL) = (withheld_at IS NULL)'
            '                          AND (withheld_at IS NULL) = (withheld_by IS NULL))',
            t, 'defence_in_court', 'whistleblower', 'third_party_rights', 'judicial_secrecy',
            t || '_withheld');
        EXECUTE format('GRANT UPDATE (withheld_basis, withheld_at, withheld_by) ON %I'
                       ' TO cartella_app', t);
    END LOOP;
END
$$;
