-- Bulk loading (`cartella demo --persons N`, docs/performance.md): COPY FROM
-- refuses tables under row-level security, so the loader copies each batch
-- into session-local temporary tables (ON COMMIT DELETE ROWS: never seen by
-- another session, emptied when the batch commits) and moves the rows with
-- INSERT ... SELECT, where row-level security, constraints and triggers
-- check every row. The application role needs the TEMPORARY privilege on
-- the database for that (scripts/run revokes the PUBLIC default). A database
-- the owner role cannot grant on (an external one) keeps its privileges: the
-- operator grants TEMPORARY to the application role by hand, or the demo
-- loader says what is missing.
DO $$
BEGIN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO cartella_app', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot grant TEMPORARY on database % to cartella_app: grant it by hand to use cartella demo --persons',
        current_database();
END
$$;

-- The deferred check that an intervention's funding adds up to its cost
-- (009) runs once per intervention and once per funding row. As the
-- application role its look-up of the intervention paid for the sealed-case
-- policies (012: app.hidden_cases(), about a millisecond per call), so a
-- new intervention with two funding parts spent milliseconds at COMMIT and a
-- bulk load of millions could not finish in hours. It runs now as the owner
-- of the tables, whom the tenant policies still bind (FORCE ROW LEVEL
-- SECURITY) and the sealed-case policies (for cartella_app) do not: it sees
-- every intervention of the current tenant, which a consistency check must,
-- and it returns nothing but its verdict.
ALTER FUNCTION app.intervention_funding_check() SECURITY DEFINER;
ALTER FUNCTION app.intervention_funding_check() SET search_path = public, pg_temp;
REVOKE ALL ON FUNCTION app.intervention_funding_check() FROM PUBLIC;
