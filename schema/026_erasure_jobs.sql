-- Erasure (GDPR art. 17, schema/020_erasure.sql) and the results of jobs
-- (schema/019_jobs.sql).
--
-- A job result is ciphertext under the tenant data key, but it is a copy of
-- personal data: a subject-access export holds the whole file of its
-- person, and a SIUSS batch file (report siuss-batch) holds the fiscal code
-- and the services of every beneficiary of its period. Before this
-- migration such results stayed readable by their requester until their
-- expiry (a day by default) after the person was erased.
--
-- app.erasure_forget_jobs(p_person), called by the erasure in its
-- transaction with the person locked:
--   - expires (result destroyed; the job reads 'expired', GET answers 410)
--     every finished subject-access export of the person and every finished
--     SIUSS batch of the tenant;
--   - fails every queued or running subject-access export of the person and
--     every running SIUSS batch (it may already hold the person), with a
--     problem saying why. A runner that finishes afterwards finds its job no
--     longer 'running' and its result is dropped (api/jobs.c stores a result
--     only WHERE status = 'running' AND runner = itself); a queued SIUSS batch
--     runs after the erasure and leaves the person out.
-- The jobs are other users' (the restrictive job_requester policy shows a
-- job only to its requester), so the function is SECURITY DEFINER; it
-- touches the current tenant's jobs only.
CREATE FUNCTION app.erasure_forget_jobs(p_person uuid, OUT results integer, OUT stopped integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    t uuid := app.tenant();
BEGIN
    UPDATE job j SET status = 'expired', result_enc = NULL,
                     expires_at = least(j.expires_at, now())
     WHERE j.tenant_id = t AND j.status = 'done'
       AND ((j.kind = 'subject_access' AND j.parameters ->> 'person_id' = p_person::text)
            OR (j.kind = 'report' AND j.parameters ->> 'report' = 'siuss-batch'));
    GET DIAGNOSTICS results = ROW_COUNT;
    UPDATE job j SET status = 'failed', finished_at = now(),
                     error = jsonb_build_object(
                         'type', '/problems/gone', 'title', 'Risorsa non più disponibile',
                         'status', 410,
                         'detail', 'Una persona interessata dal lavoro è stata cancellata '
                                   '(GDPR art. 17) mentre era in corso; richiederlo di nuovo '
                                   'se serve ancora')
     WHERE j.tenant_id = t
       AND ((j.kind = 'subject_access' AND j.parameters ->> 'person_id' = p_person::text
             AND j.status IN ('queued', 'running'))
            OR (j.kind = 'report' AND j.parameters ->> 'report' = 'siuss-batch'
                AND j.status = 'running'));
    GET DIAGNOSTICS stopped = ROW_COUNT;
END
$$;
REVOKE ALL ON FUNCTION app.erasure_forget_jobs(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.erasure_forget_jobs(uuid) TO cartella_app;
