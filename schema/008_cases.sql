-- The case record (cartella) and what hangs off it: its status history,
-- who works on it, the front-office contacts (segretariato sociale), the
-- structured assessments, the care plans and the diary.
--
-- social_case: one person (and optionally their household) followed by one
-- Comune. area is the SIUSS user area (list siuss-user-areas: 1 famiglia e
-- minori, 2 disabilità e non autosufficienza, 3 povertà ed esclusione
-- sociale): the area of the presa in carico, which the PS/PSA flow reports as
-- AreaUtenza for every intervention given while the person is in charge, so
-- it is required once the case is in_charge. (The ISTAT survey area belongs
-- to the service, in service_catalogue.) Life cycle: access → assessment →
-- in_charge → closed, closing allowed from every open state, reopening to
-- assessment or in_charge; api/cases.c enforces the transitions and records
-- each one in case_status_history. sealed is stored now; its visibility
-- rules come with break-glass.
--
-- Free text that may name people is ciphertext produced by the application
-- (auth/crypt.c, AD = table/column/tenant/row): the access request, the
-- assessment free text, the plan goals (the whole array as one value) and
-- the diary notes. Coded values stay in clear for the flows and reports.
--
-- Code columns reference the code lists through constant companion columns
-- (area_list, ...), as in service_catalogue, so a row can only name a code
-- that exists; the handlers check first to answer with the field's name.

CREATE TABLE social_case (
    tenant_id      uuid NOT NULL REFERENCES tenant (id),
    id             uuid NOT NULL,
    person_id      uuid NOT NULL,
    household_id   uuid,
    area           text,
    area_list      text GENERATED ALWAYS AS ('siuss-user-areas') STORED,
    status         text NOT NULL DEFAULT 'access'
        CHECK (status IN ('access', 'assessment', 'in_charge', 'closed')),
    opened_on      date NOT NULL,
    closed_on      date,
    closure_reason text,
    closure_list   text GENERATED ALWAYS AS ('case-closure-reasons') STORED,
    sealed         boolean NOT NULL DEFAULT false,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid REFERENCES app_user (id),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES person (tenant_id, id),
    FOREIGN KEY (tenant_id, household_id) REFERENCES household (tenant_id, id),
    FOREIGN KEY (area_list, area) REFERENCES code (list, code),
    FOREIGN KEY (closure_list, closure_reason) REFERENCES code (list, code),
    CHECK ((status = 'closed') = (closed_on IS NOT NULL)),
    CHECK ((status = 'closed') = (closure_reason IS NOT NULL)),
    CHECK (closed_on IS NULL OR closed_on >= opened_on),
    CHECK (status <> 'in_charge' OR area IS NOT NULL)
);
CREATE INDEX social_case_by_person ON social_case (tenant_id, person_id);
-- A person has at most one open case in a Comune (a closed one is reopened,
-- or a new one is opened once the previous is closed).
CREATE UNIQUE INDEX social_case_one_open ON social_case (tenant_id, person_id)
    WHERE status <> 'closed';
CREATE INDEX social_case_by_opening ON social_case (tenant_id, opened_on DESC, id DESC);
ALTER TABLE social_case ENABLE ROW LEVEL SECURITY;
ALTER TABLE social_case FORCE ROW LEVEL SECURITY;
CREATE POLICY social_case_tenant ON social_case
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON social_case TO cartella_app;

-- Every change of status: who, when, from (NULL when the case was opened),
-- to, and the closure reason when the change closed the case.
CREATE TABLE case_status_history (
    tenant_id    uuid NOT NULL REFERENCES tenant (id),
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    case_id      uuid NOT NULL,
    from_status  text CHECK (from_status IN ('access', 'assessment', 'in_charge', 'closed')),
    to_status    text NOT NULL CHECK (to_status IN ('access', 'assessment', 'in_charge', 'closed')),
    reason       text,
    reason_list  text GENERATED ALWAYS AS ('case-closure-reasons') STORED,
    changed_by   uuid REFERENCES app_user (id),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id),
    FOREIGN KEY (reason_list, reason) REFERENCES code (list, code),
    CHECK (from_status IS DISTINCT FROM to_status)
);
CREATE INDEX case_status_history_by_case ON case_status_history (tenant_id, case_id, changed_at);
ALTER TABLE case_status_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_status_history FORCE ROW LEVEL SECURITY;
CREATE POLICY case_status_history_tenant ON case_status_history
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON case_status_history TO cartella_app;

-- Who works on a case, in which capacity, over which period (closed range;
-- valid_to NULL = still assigned). The same user cannot hold the same role
-- in the same case twice over overlapping periods.
CREATE TABLE case_assignment (
    tenant_id    uuid NOT NULL REFERENCES tenant (id),
    id           uuid NOT NULL,
    case_id      uuid NOT NULL,
    user_id      uuid NOT NULL REFERENCES app_user (id),
    role_in_case text NOT NULL CHECK (role_in_case IN ('case_manager', 'co_worker', 'administrative')),
    valid_from   date NOT NULL,
    valid_to     date,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid REFERENCES app_user (id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id),
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CONSTRAINT case_assignment_no_overlap EXCLUDE USING gist (
        tenant_id WITH =, case_id WITH =, user_id WITH =, role_in_case WITH =,
        daterange(valid_from, valid_to, '[]') WITH &&)
);
CREATE INDEX case_assignment_by_case ON case_assignment (tenant_id, case_id, valid_from, id);
CREATE INDEX case_assignment_by_user ON case_assignment (tenant_id, user_id);
ALTER TABLE case_assignment ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_assignment FORCE ROW LEVEL SECURITY;
CREATE POLICY case_assignment_tenant ON case_assignment
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON case_assignment TO cartella_app;

-- Segretariato sociale: a contact at the front office, by phone, e-mail or
-- at home. The person may be unknown (anonymous request for information);
-- the request itself is ciphertext.
CREATE TABLE access_contact (
    tenant_id    uuid NOT NULL REFERENCES tenant (id),
    id           uuid NOT NULL,
    contact_on   date NOT NULL,
    channel      text NOT NULL CHECK (channel IN ('front_office', 'phone', 'email', 'home_visit', 'other')),
    person_id    uuid,
    area         text,
    area_list    text GENERATED ALWAYS AS ('siuss-user-areas') STORED,
    request_enc  bytea,
    outcome      text NOT NULL CHECK (outcome IN ('information', 'referral', 'case_opened', 'none')),
    case_id      uuid,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES person (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id),
    FOREIGN KEY (area_list, area) REFERENCES code (list, code),
    CHECK (outcome <> 'case_opened' OR case_id IS NOT NULL)
);
CREATE INDEX access_contact_by_date ON access_contact (tenant_id, contact_on DESC, id DESC);
CREATE INDEX access_contact_by_person ON access_contact (tenant_id, person_id)
    WHERE person_id IS NOT NULL;
CREATE INDEX access_contact_by_case ON access_contact (tenant_id, case_id)
    WHERE case_id IS NOT NULL;
ALTER TABLE access_contact ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_contact FORCE ROW LEVEL SECURITY;
CREATE POLICY access_contact_tenant ON access_contact
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON access_contact TO cartella_app;

-- Structured assessments. kind sina / sinba: answers are the coded fields of
-- the SINA element of PS_PSA_SINA201812.xsd and of SINBA.xsd, validated
-- against their enumerations (code lists sina-*, sinba-*) by
-- api/assessments.c; generic: a small object of strings and numbers.
-- Each new assessment of a kind in a case is a new version; none is edited.
CREATE TABLE assessment (
    tenant_id     uuid NOT NULL REFERENCES tenant (id),
    id            uuid NOT NULL,
    case_id       uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('generic', 'sina', 'sinba')),
    version       integer NOT NULL CHECK (version >= 1),
    assessed_on   date NOT NULL,
    answers       jsonb NOT NULL CHECK (jsonb_typeof(answers) = 'object'),
    free_text_enc bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id),
    UNIQUE (tenant_id, case_id, kind, version)
);
CREATE INDEX assessment_by_case ON assessment (tenant_id, case_id, assessed_on DESC, id DESC);
ALTER TABLE assessment ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessment FORCE ROW LEVEL SECURITY;
CREATE POLICY assessment_tenant ON assessment
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON assessment TO cartella_app;

-- Progetto personalizzato / di vita / familiare: goals (ciphertext: they may
-- name people; goal_count stays in clear for the indicators), the period,
-- the outcome when it ends and the follow-up some months later (the impact
-- indicators of the Piano di Zona, e.g. households out of poverty).
CREATE TABLE care_plan (
    tenant_id         uuid NOT NULL REFERENCES tenant (id),
    id                uuid NOT NULL,
    case_id           uuid NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('personalised', 'life_project', 'family_project')),
    goals_enc         bytea NOT NULL,
    goal_count        integer NOT NULL CHECK (goal_count BETWEEN 1 AND 50),
    start_on          date NOT NULL,
    end_on            date,
    outcome           text CHECK (outcome IN ('achieved', 'partly_achieved', 'not_achieved')),
    follow_up_on      date,
    follow_up_outcome text CHECK (follow_up_outcome IN
        ('out_of_poverty', 'improved_quality_of_life', 'no_change', 'worse')),
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    created_by        uuid REFERENCES app_user (id),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        uuid REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id),
    CHECK (end_on IS NULL OR end_on >= start_on),
    CHECK (outcome IS NULL OR end_on IS NOT NULL),
    CHECK (follow_up_on IS NULL OR follow_up_on >= coalesce(end_on, start_on)),
    CHECK (follow_up_outcome IS NULL OR follow_up_on IS NOT NULL)
);
CREATE INDEX care_plan_by_case ON care_plan (tenant_id, case_id, start_on DESC, id DESC);
ALTER TABLE care_plan ENABLE ROW LEVEL SECURITY;
ALTER TABLE care_plan FORCE ROW LEVEL SECURITY;
CREATE POLICY care_plan_tenant ON care_plan
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT, UPDATE ON care_plan TO cartella_app;

-- The diary: notes are written once (never edited), with the server's time.
-- confidential notes are shown only to their author, the workers assigned to
-- the case and the service managers.
CREATE TABLE case_note (
    tenant_id       uuid NOT NULL REFERENCES tenant (id),
    id              uuid NOT NULL,
    case_id         uuid NOT NULL,
    written_on      timestamptz NOT NULL DEFAULT now(),
    body_enc        bytea NOT NULL,
    confidentiality text NOT NULL DEFAULT 'normal' CHECK (confidentiality IN ('normal', 'confidential')),
    author_id       uuid NOT NULL REFERENCES app_user (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES social_case (tenant_id, id)
);
CREATE INDEX case_note_by_case ON case_note (tenant_id, case_id, written_on DESC, id DESC);
ALTER TABLE case_note ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_note FORCE ROW LEVEL SECURITY;
CREATE POLICY case_note_tenant ON case_note
    USING (tenant_id = (SELECT app.tenant()))
    WITH CHECK (tenant_id = (SELECT app.tenant()));
GRANT SELECT, INSERT ON case_note TO cartella_app;
