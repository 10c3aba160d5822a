-- The audit trail (DESIGN §5.5): one row per read or write of personal data,
-- per denied access, written in the request's own transaction (fail closed).
-- Ids only: no names, fiscal codes or free text of the data subjects.
-- Append-only: the application role may only INSERT and SELECT, and triggers
-- refuse UPDATE, DELETE and TRUNCATE to everyone, the owner included.

CREATE TABLE audit_event (
    tenant_id    uuid NOT NULL REFERENCES tenant (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_id      uuid,
    roles        text[] NOT NULL DEFAULT '{}',
    action       text NOT NULL,
    object_type  text,
    object_id    uuid,
    purpose      text,
    break_glass  boolean NOT NULL DEFAULT false,
    outcome      smallint NOT NULL CHECK (outcome BETWEEN 100 AND 599),
    request_id   text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_event_object ON audit_event (tenant_id, object_id, occurred_at);
CREATE INDEX audit_event_user ON audit_event (tenant_id, user_id, occurred_at);
CREATE INDEX audit_event_time ON audit_event (tenant_id, occurred_at, id);
ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_event FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_event_tenant ON audit_event
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON audit_event TO cartella_app;

CREATE FUNCTION app.audit_event_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_event_no_change
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION app.audit_event_immutable();
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION app.audit_event_immutable();
