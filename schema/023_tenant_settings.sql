-- A Comune's own settings, changed through PATCH /api/v1/tenants/{id} by its
-- admin: for now the fiscal code that signs its SIUSS flows (016). The tenant
-- table stays reference data every user reads; row-level security lets the
-- application role update only the row of the tenant in app.tenant(), and
-- only these columns.
GRANT UPDATE (siuss_operator_cf, version, updated_at) ON tenant TO cartella_app;
ALTER TABLE tenant ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON tenant FOR SELECT TO cartella_app USING (true);
CREATE POLICY tenant_update_own ON tenant FOR UPDATE TO cartella_app
    USING (id = (SELECT app.tenant()))
    WITH CHECK (id = (SELECT app.tenant()));
