"""Erasure (GDPR art. 17) with retention rules and legal holds: a person is
anonymised (no name, fiscal code, ciphertext or blind index of theirs left in
a pg_dump) while the interventions keep the reports adding up, or the request
is refused with the hold or the rule (and the date) that prevents it; wrong
roles, other tenants and bad input change nothing."""
import base64
import os
import uuid

import pytest
import yaml

import fiscal
from conftest import (ASSAGO, CORSICO, HTTP_TIMEOUT, error_fields, is_problem, pg_dump,
                      random_name)
import test_gdpr as gdpr
import test_jobs as jobs
from test_contract import check as contract_check
from test_waas import ts_ms

T = HTTP_TIMEOUT
PERSONS = "/api/v1/persons"
RULES = "/api/v1/retention-rules"
HOLDS = "/api/v1/legal-holds"
REPORT = "/api/v1/reports/regional-spending"


@pytest.fixture(scope="module")
def doc():
    root = os.environ.get("CARTELLA_REPO", os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(os.path.join(root, "api", "openapi.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


class Staff(gdpr.Staff):
    """The staff of test_gdpr, with an administrator and another Comune's DPO."""

    def __init__(self, make_user, login):
        super().__init__(make_user, login)
        for attr, tenant, role in (("admin", CORSICO, "admin"), ("foreign_dpo", ASSAGO, "dpo")):
            u, p = make_user(tenant, role)
            setattr(self, attr, login(u, p, tenant))


@pytest.fixture(scope="module")
def staff(make_user, login):
    return Staff(make_user, login)


def call(s, method, path, body=None, **kw):
    return s.request(method, s.base_url + path, json=body, timeout=T, **kw)


def ok(r, status=201):
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


def new_person(s, **kw):
    body = fiscal.person(**kw)
    return ok(call(s, "POST", PERSONS, body))["id"], body


def erase(s, pid, body=None):
    return call(s, "POST", PERSONS + "/" + pid + "/erasure",
                {"ground": "no_longer_necessary", "request_reference": "2026/000123"}
                if body is None else body)


def person_row(db, pid):
    return db.all("SELECT p::text FROM person p WHERE id = %s", (pid,))[0][0]


def etag_of(r):
    return r.headers["ETag"]


def rule(s, cls):
    r = call(s, "GET", RULES)
    assert r.status_code == 200, r.text
    return next(x for x in r.json()["items"] if x["document_class"] == cls)


def set_rule(s, cls, years, basis="Regola di prova"):
    cur = rule(s, cls)
    return call(s, "PUT", RULES + "/" + cls, {"years": years, "legal_basis": basis},
                headers={"If-Match": '"%d"' % cur["version"]})


def service_id(db, code):
    """A service of the Ambito's shared catalogue (schema/005_services.sql)."""
    return str(db.one("SELECT s.id FROM service_catalogue s JOIN tenant t ON t.id = s.tenant_id"
                      " WHERE t.code = 'corsichese' AND s.code = %s", (code,)))


def spending(s, year):
    r = s.get(s.base_url + REPORT, params={"year": year}, timeout=T)
    assert r.status_code == 200, r.text
    return r.json()


def hexes(db, sql, args):
    """Every non-NULL bytea value the query returns, as the hex pg_dump writes."""
    return [v for row in db.all(sql, args) for v in row if v is not None]


# ---------------------------------------------------------------- a full file, erased

def build_file(s, db):
    """A person with everything the service records about one, all old enough
    for the default rules (case closed in 2012, intervention delivered 2011,
    ISEE expired in 2015):
    household, ISEE, case, note, assessment, plan, front-office contact,
    intervention, a rectification. Returns (person id, body, ids, plaintexts)."""
    pid, body = new_person(s, surname="Scancellandi", given_name="Ermenegarda", sex="F",
                           birth="1961-04-12")
    tag = uuid.uuid4().hex[:8]
    label = "Famiglia Scancellandi " + tag
    hh = ok(call(s, "POST", "/api/v1/households", {"label": label}))["id"]
    ok(call(s, "POST", "/api/v1/households/%s/members" % hh, {
        "person_id": pid, "relation": "1", "head": True, "valid_from": "2009-01-01"}))
    ok(call(s, "POST", "/api/v1/isee", {
        "person_id": pid, "dsu_protocol": "INPS-ISEE-2015-%08dA-01" % (uuid.uuid4().int % 10**8),
        "year": 2015, "signed_on": "2015-02-10", "indicator_type": "ordinario",
        "value": "7120.55", "valid_from": "2015-02-10", "valid_to": "2015-12-31"}))
    case = ok(call(s, "POST", "/api/v1/cases", {
        "person_id": pid, "household_id": hh, "area": "3", "opened_on": "2010-01-15"}))["id"]
    note = "Colloquio con Ermenegarda Scancellandi " + tag
    ok(call(s, "POST", "/api/v1/cases/%s/notes" % case, {"body": note,
                                                         "confidentiality": "normal"}))
    free = "Valutazione di Ermenegarda " + tag
    ok(call(s, "POST", "/api/v1/cases/%s/assessments" % case, {
        "kind": "generic", "assessed_on": "2010-03-01",
        "answers": {"bisogno_principale": "casa di Ermenegarda"}, "free_text": free}))
    goal = "Obiettivo di Ermenegarda " + tag
    ok(call(s, "POST", "/api/v1/cases/%s/plans" % case, {
        "kind": "personalised", "goals": [{"text": goal}], "start_on": "2010-04-01",
        "end_on": "2011-12-31"}))
    request = "Richiesta di Ermenegarda " + tag
    ok(call(s, "POST", "/api/v1/access-contacts", {
        "contact_on": "2010-01-10", "channel": "phone", "person_id": pid,
        "request": request, "outcome": "information"}))
    iv = ok(call(s, "POST", "/api/v1/interventions", {
        "case_id": case, "beneficiary_id": pid, "service": service_id(db, "CONTR-ECON"),
        "nature": "one_off",
        "delivery_date": "2011-05-02", "total_amount": "640.00", "means_test": 4,
        "funding": [{"channel": "comune", "amount": "640.00"}], "management": "single",
        "in_charge": True, "user_area": 3, "application_protocol": "PROT-" + tag}))["id"]
    r = call(s, "GET", PERSONS + "/" + pid)
    ok(call(s, "PATCH", PERSONS + "/" + pid, {"given_name": "Ermenegarda Ida",
                                              "reason": "Rettifica del nome"},
            headers={"If-Match": etag_of(r)}), 200)
    r = call(s, "GET", "/api/v1/cases/" + case)
    ok(call(s, "PATCH", "/api/v1/cases/" + case, {
        "status": "closed", "closure_reason": "rinuncia", "closed_on": "2012-06-30"},
        headers={"If-Match": etag_of(r)}), 200)
    plain = [body["fiscal_code"], body["surname"], body["surname"].upper(), body["given_name"],
             body["address"]["line"], body["contacts"][0]["value"], label, note, free, goal,
             request, "PROT-" + tag]
    return pid, body, {"household": hh, "case": case, "intervention": iv}, plain


def test_erasure_anonymises_the_person_and_reports_still_add_up(staff, db, doc):
    pid, body, ids, plain = build_file(staff.sm, db)
    secrets = hexes(db, "SELECT p.fiscal_code_enc, p.surname_enc, p.given_name_enc,"
                        " p.fiscal_code_bidx, p.surname_bidx, p.name_bidx, p.birth_date_enc,"
                        " p.address_enc, p.contacts_enc FROM person p WHERE p.id = %s", (pid,))
    secrets += hexes(db, "SELECT previous_enc, reason_enc FROM person_version"
                         " WHERE person_id = %s", (pid,))
    secrets += hexes(db, "SELECT n.body_enc FROM case_note n WHERE n.case_id = %s", (ids["case"],))
    secrets += hexes(db, "SELECT a.free_text_enc FROM assessment a WHERE a.case_id = %s",
                     (ids["case"],))
    secrets += hexes(db, "SELECT g.goals_enc FROM care_plan g WHERE g.case_id = %s",
                     (ids["case"],))
    secrets += hexes(db, "SELECT k.request_enc FROM access_contact k WHERE k.person_id = %s",
                     (pid,))
    secrets += hexes(db, "SELECT h.label_enc FROM household h WHERE h.id = %s",
                     (ids["household"],))
    secrets = [bytes(v).hex() for v in secrets]
    assert len(secrets) >= 15
    dump = pg_dump(data_only=True)
    assert all(h in dump for h in secrets), "the dump should hold the ciphertexts before"
    before = spending(staff.sm, 2011)
    iv_before = ok(call(staff.sm, "GET", "/api/v1/interventions/" + ids["intervention"]), 200)

    r = erase(staff.dpo, pid)
    assert r.status_code == 200, r.text
    contract_check(doc, "POST", "/api/v1/persons/{id}/erasure", r)
    got = r.json()
    assert got["person_id"] == pid and got["erased_by"] == staff.dpo.user_id
    assert got["ground"] == "no_longer_necessary" and got["request_reference"] == "2026/000123"
    d = got["destroyed"]
    assert (d["history_versions"], d["notes"], d["assessments"], d["plans"], d["contacts"],
            d["isee"], d["interventions_kept"], d["households"]) == (1, 1, 1, 1, 1, 1, 1, 1)

    # Gone for everyone, the managers and the DPO included.
    for s in (staff.sw, staff.sm):
        assert is_problem(call(s, "GET", PERSONS + "/" + pid), 404)
        r = call(s, "GET", PERSONS, params={"fiscal_code": body["fiscal_code"]})
        assert r.status_code == 200 and r.json()["items"] == []
        r = call(s, "GET", PERSONS, params={"q": body["surname"]})
        assert pid not in [p["id"] for p in r.json()["items"]]
        assert is_problem(call(s, "GET", "/api/v1/cases/" + ids["case"]), 404)
        assert is_problem(call(s, "GET", "/api/v1/cases/%s/notes" % ids["case"]), 404)
    assert is_problem(call(staff.dpo, "GET", PERSONS + "/" + pid + "/history"), 404)

    # The intervention stays with its amounts, dates, service and area; only
    # the protocols that would lead back to the person are gone.
    iv_after = ok(call(staff.sm, "GET", "/api/v1/interventions/" + ids["intervention"]), 200)
    for k in ("beneficiary_id", "service", "nature", "delivery_date", "total_amount", "funding",
              "user_area", "status"):
        assert iv_after[k] == iv_before[k], k
    assert iv_after["application_protocol"] is None
    assert spending(staff.sm, 2011) == before

    # Not a hard delete: the row stays, marked erased, with nothing identifying.
    row = db.all("SELECT erased_at IS NOT NULL, erased_by, erasure_ground, surname_enc,"
                 " fiscal_code_bidx, name_bidx, birth_date_enc, address_enc, sex, birth_year"
                 " FROM person WHERE id = %s", (pid,))[0]
    assert row[0] and str(row[1]) == staff.dpo.user_id and row[2] == "no_longer_necessary"
    assert row[3:8] == (None, None, None, None, None)
    # what the reports and extracts count by stays
    assert row[8:] == ("F", 1961)
    assert db.one("SELECT count(*) FROM isee WHERE person_id = %s", (pid,)) == 0
    assert db.one("SELECT count(*) FROM person_version WHERE person_id = %s"
                  " AND previous_enc IS NULL AND reason_enc IS NULL", (pid,)) == 1

    dump = pg_dump(data_only=True)
    assert [h for h in secrets if h in dump] == []
    assert [p for p in plain if p in dump] == []
    # The audit trail names the person only by the id, now a pseudonym.
    events = db.all("SELECT a::text FROM audit_event a WHERE object_id = %s", (pid,))
    assert events and not any(p in e[0] for e in events for p in plain)
    assert db.one("SELECT count(*) FROM audit_event WHERE object_id = %s"
                  " AND action = 'person.erase' AND outcome = 200", (pid,)) == 1

    # Erasing again: 409 with the rule (already erased), nothing changes.
    stored = person_row(db, pid)
    r = erase(staff.sm, pid)
    assert is_problem(r, 409) and r.json()["type"] == "/problems/already-erased"
    assert r.json()["erased_at"] == got["erased_at"]
    contract_check(doc, "POST", "/api/v1/persons/{id}/erasure", r)
    assert person_row(db, pid) == stored


# ---------------------------------------------------------------- legal holds

def test_a_legal_hold_refuses_the_erasure_until_released(staff, db, doc):
    pid, _ = new_person(staff.sw)
    r = call(staff.sm, "POST", HOLDS, {"subject_type": "person", "subject_id": pid,
                                       "reason": "Procedimento giudiziario n. 123/2026"})
    hold = ok(r)
    contract_check(doc, "POST", HOLDS, r)
    assert r.headers["Location"] == HOLDS + "/" + hold["id"]
    assert hold["status"] == "active" and hold["placed_by"] == staff.sm.user_id
    assert hold["reason"].startswith("Procedimento")
    stored = db.one("SELECT reason_enc::text FROM legal_hold WHERE id = %s", (hold["id"],))
    assert "Procedimento".encode().hex() not in stored

    before = person_row(db, pid)
    r = erase(staff.dpo, pid)
    assert is_problem(r, 409), r.text
    contract_check(doc, "POST", "/api/v1/persons/{id}/erasure", r)
    body = r.json()
    assert body["type"] == "/problems/legal-hold"
    assert [h["id"] for h in body["legal_holds"]] == [hold["id"]]
    assert body["legal_holds"][0]["subject_type"] == "person"
    assert person_row(db, pid) == before
    # The refusal is in the audit trail, with its status.
    assert db.one("SELECT count(*) FROM audit_event WHERE object_id = %s"
                  " AND action = 'person.erase' AND outcome = 409", (pid,)) == 1

    # Listed and read by the DPO; released by the DPO; then erasure goes on.
    r = call(staff.dpo, "GET", HOLDS, params={"subject_id": pid, "status": "active"})
    contract_check(doc, "GET", HOLDS, r)
    assert [h["id"] for h in r.json()["items"]] == [hold["id"]]
    r = call(staff.dpo, "POST", HOLDS + "/" + hold["id"] + "/release",
             {"reason": "Procedimento archiviato"})
    contract_check(doc, "POST", HOLDS + "/{id}/release", r)
    released = ok(r, 200)
    assert released["status"] == "released" and released["released_by"] == staff.dpo.user_id
    assert released["release_reason"] == "Procedimento archiviato"
    r = call(staff.dpo, "POST", HOLDS + "/" + hold["id"] + "/release",
             {"reason": "Procedimento archiviato"})
    assert is_problem(r, 409)
    r = call(staff.sm, "GET", HOLDS + "/" + hold["id"])
    contract_check(doc, "GET", HOLDS + "/{id}", r)
    assert ok(r, 200)["status"] == "released"
    assert erase(staff.dpo, pid).status_code == 200


def test_a_hold_on_a_case_the_dpo_cannot_see_still_refuses(staff, db):
    """A sealed case is hidden from the DPO, and so is the hold on it; the
    erasure checks it all the same."""
    pid, _ = new_person(staff.sw)
    case = ok(call(staff.sm, "POST", "/api/v1/cases", {"person_id": pid, "sealed": True}))["id"]
    hold = ok(call(staff.sm, "POST", HOLDS, {"subject_type": "case", "subject_id": case,
                                             "reason": "Segnalazione alla Procura"}))
    assert is_problem(call(staff.dpo, "GET", HOLDS + "/" + hold["id"]), 404)
    r = erase(staff.dpo, pid)
    assert is_problem(r, 409) and r.json()["type"] == "/problems/legal-hold"
    assert r.json()["legal_holds"][0] == {"id": hold["id"], "subject_type": "case",
                                          "placed_at": hold["placed_at"]}


# ---------------------------------------------------------------- retention

def test_retention_rules_are_seeded_and_the_dpo_changes_them(staff, db, doc):
    r = call(staff.sm, "GET", RULES)
    contract_check(doc, "GET", RULES, r)
    rules = {x["document_class"]: x for x in ok(r, 200)["items"]}
    assert set(rules) == {"case_file", "note", "assessment", "intervention", "financial", "audit"}
    assert rules["case_file"]["event"] == "case_closure"
    assert rules["intervention"]["event"] == "intervention_end"
    assert rules["financial"]["event"] == "financial_year_end"
    assert rules["audit"]["years"] >= 2 and "24 mesi" in rules["audit"]["legal_basis"]
    cur = rules["note"]
    r = call(staff.dpo, "PUT", RULES + "/note", {"years": cur["years"] + 1,
                                                 "legal_basis": "Piano di conservazione 2026"},
             headers={"If-Match": '"%d"' % cur["version"]})
    contract_check(doc, "PUT", RULES + "/{document_class}", r)
    new = ok(r, 200)
    assert new["years"] == cur["years"] + 1 and new["updated_by"] == staff.dpo.user_id
    assert r.headers["ETag"] == '"%d"' % new["version"]
    # a stale ETag: 412, nothing changes
    r = call(staff.dpo, "PUT", RULES + "/note", {"years": 3, "legal_basis": "x"},
             headers={"If-Match": '"%d"' % cur["version"]})
    assert is_problem(r, 412)
    assert ok(set_rule(staff.dpo, "note", cur["years"], cur["legal_basis"]), 200)
    # another Comune's rules are its own
    other = {x["document_class"]: x for x in ok(call(staff.foreign_sm, "GET", RULES), 200)["items"]}
    assert other["note"]["version"] == 1


def test_a_tenant_added_later_gets_the_default_rules(db_owner):
    """Tenants are data (an Ambito changes): one inserted by the owner with no
    tenant context gets the six default rules, under its own context."""
    with db_owner.cursor() as cur:
        cur.execute("INSERT INTO tenant (kind, code, name, valid_from) VALUES"
                    " ('ambito', %s, 'Ambito di prova', DATE '2026-01-01') RETURNING id",
                    ("prova-" + uuid.uuid4().hex[:8],))
        tid = cur.fetchone()[0]
        cur.execute("SELECT current_setting('app.tenant', true)")
        assert cur.fetchone()[0] in (None, "")
        cur.execute("SELECT set_config('app.tenant', %s, true)", (str(tid),))
        cur.execute("SELECT document_class, years FROM retention_rule ORDER BY 1")
        assert dict(cur.fetchall()) == {"assessment": 10, "audit": 2, "case_file": 10,
                                        "financial": 10, "intervention": 10, "note": 10}
    db_owner.rollback()


def test_retention_refuses_with_the_rule_and_the_date(staff, db, doc):
    pid, _ = new_person(staff.sw)
    case = ok(call(staff.sw, "POST", "/api/v1/cases", {"person_id": pid,
                                                       "opened_on": "2023-01-10"}))["id"]
    # An open case: the period has not started.
    r = erase(staff.dpo, pid)
    assert is_problem(r, 409), r.text
    contract_check(doc, "POST", "/api/v1/persons/{id}/erasure", r)
    body = r.json()
    assert body["type"] == "/problems/retention-period" and body["keep_until"] is None
    assert body["retention"] == [{"document_class": "case_file", "event": "case_closure",
                                  "years": rule(staff.dpo, "case_file")["years"],
                                  "keep_until": None, "pending": True}]
    # Closed on 2024-01-10: kept for the rule's years from then.
    r = call(staff.sw, "GET", "/api/v1/cases/" + case)
    ok(call(staff.sw, "PATCH", "/api/v1/cases/" + case, {
        "status": "closed", "closure_reason": "rinuncia", "closed_on": "2024-01-10"},
        headers={"If-Match": etag_of(r)}), 200)
    years = rule(staff.dpo, "case_file")["years"]
    before = person_row(db, pid)
    r = erase(staff.dpo, pid)
    assert is_problem(r, 409)
    body = r.json()
    until = "%d-01-10" % (2024 + years)
    assert body["keep_until"] == until
    assert body["retention"] == [{"document_class": "case_file", "event": "case_closure",
                                  "years": years, "keep_until": until, "pending": False}]
    assert person_row(db, pid) == before
    # The DPO shortens the rule to one year: the period is over.
    old = rule(staff.dpo, "case_file")
    try:
        assert set_rule(staff.dpo, "case_file", 1).status_code == 200
        assert erase(staff.dpo, pid).status_code == 200
    finally:
        assert set_rule(staff.dpo, "case_file", old["years"], old["legal_basis"]).status_code == 200


# ---------------------------------------------------------------- SIUSS

SIUSS_TENANT = "015220"


def test_the_flows_of_an_erased_person_are_no_longer_handed_out(make_user, login, make_client,
                                                                db):
    db.one("UPDATE tenant SET siuss_operator_cf = '09876543210' WHERE code = %s RETURNING id",
           (SIUSS_TENANT,))
    u, p = make_user(SIUSS_TENANT, "social_worker", roles=("administrative", "dpo"))
    s = login(u, p, SIUSS_TENANT)
    inps = make_client(["siuss"], tenant=SIUSS_TENANT)
    body = fiscal.person()
    body["residence"] = SIUSS_TENANT
    body["address"]["istat_code"] = SIUSS_TENANT
    pid = ok(call(s, "POST", PERSONS, body))["id"]
    ok(call(s, "POST", "/api/v1/interventions", {
        "beneficiary_id": pid, "service": service_id(db, "SAD"), "nature": "periodic",
        "start_date": "2014-03-01", "end_date": "2014-10-31", "monthly_amount": "350.00",
        "means_test": 4, "funding": [{"channel": "comune", "amount": "350.00"}],
        "in_charge": True, "user_area": 2, "application_protocol": random_name("P-")}))

    def flows_naming_the_person():
        found, since = [], 0
        while True:
            r = inps.get(inps.base_url + "/waas/v1/flussi", params={"since": since, "limit": 100},
                         timeout=T)
            assert r.status_code == 200, r.text
            items = r.json()["elenco_flussi"]
            found += [e for e in items
                      if body["fiscal_code"].encode() in base64.b64decode(e["flusso"])]
            if len(items) < 100:
                return found
            since = ts_ms(items[-1]["ts_flusso"])

    assert len(flows_naming_the_person()) == 1
    count = db.one("SELECT count(*) FROM flow_record WHERE person_id = %s", (pid,))
    r = erase(s, pid)
    assert r.status_code == 200, r.text
    assert r.json()["destroyed"]["siuss_flows"] == count
    assert flows_naming_the_person() == []
    # no cancellation or new flow is made for the erased person either
    assert db.one("SELECT count(*) FROM flow_record WHERE person_id = %s", (pid,)) == count
    assert db.one("SELECT count(*) FROM flow_record WHERE person_id = %s"
                  " AND payload_enc IS NOT NULL", (pid,)) == 0


# ---------------------------------------------------------------- job results

def test_erasure_destroys_the_job_results_that_copy_the_person(make_user, login, db):
    """A finished subject-access export of the person and a finished SIUSS batch
    (which lists the person) expire with the erasure; a running export of the
    person fails; another person's export is untouched."""
    db.one("UPDATE tenant SET siuss_operator_cf = '09876543210' WHERE code = %s RETURNING id",
           (SIUSS_TENANT,))
    u, p = make_user(SIUSS_TENANT, "social_worker", roles=("administrative", "dpo"))
    s = login(u, p, SIUSS_TENANT)
    user_id = s.login_body["user"]["id"]
    body = fiscal.person()
    body["residence"] = SIUSS_TENANT
    body["address"]["istat_code"] = SIUSS_TENANT
    pid = ok(call(s, "POST", PERSONS, body))["id"]
    other = ok(call(s, "POST", PERSONS, fiscal.person()))["id"]
    ok(call(s, "POST", "/api/v1/interventions", {
        "beneficiary_id": pid, "service": service_id(db, "SAD"), "nature": "periodic",
        "start_date": "2014-03-01", "end_date": "2014-10-31", "monthly_amount": "350.00",
        "means_test": 4, "funding": [{"channel": "comune", "amount": "350.00"}],
        "in_charge": True, "user_area": 2, "application_protocol": random_name("P-")}))

    def export(person):
        r = call(s, "POST", PERSONS + "/" + person + "/subject-access")
        assert r.status_code == 202, r.text
        return r.json()["id"]
    mine, theirs = export(pid), export(other)
    batch = jobs.start(s, "siuss-batch", "?from=2014-03-01&to=2014-03-31").json()["id"]
    for j in (mine, theirs, batch):
        done = jobs.wait_job(s, j)
        assert done.status_code == 303, done.text
        if j == batch:
            assert body["fiscal_code"] in call(s, "GET", done.headers["Location"]).text
    # An export of the person that another server process is running (its
    # heartbeat is fresh, so no housekeeping takes it back meanwhile).
    running = str(uuid.uuid4())
    db.one("INSERT INTO job (tenant_id, id, kind, parameters, requested_by, requester_roles,"
           " status, runner, heartbeat_at, started_at, attempts, ttl_seconds)"
           " SELECT t.id, %s, 'subject_access',"
           " jsonb_build_object('person_id', %s::text, 'format', 'json'), %s, '{dpo}',"
           " 'running', gen_random_uuid(), now() + interval '1 hour', now(), 1, 3600"
           " FROM tenant t WHERE t.code = %s RETURNING id",
           (running, pid, user_id, SIUSS_TENANT))
    tenant_jobs = ("FROM job j JOIN tenant t ON t.id = j.tenant_id WHERE t.code = '%s' AND " %
                   SIUSS_TENANT)
    results = db.one("SELECT count(*) " + tenant_jobs + "j.status = 'done' AND ("
                     "(j.kind = 'subject_access' AND j.parameters->>'person_id' = %s) OR"
                     " j.parameters->>'report' = 'siuss-batch')", (pid,))
    assert results >= 2

    r = erase(s, pid)
    assert r.status_code == 200, r.text
    assert r.json()["destroyed"]["job_results"] == results
    assert r.json()["destroyed"]["jobs_stopped"] == 1
    for j in (mine, batch):
        got = ok(call(s, "GET", "/api/v1/jobs/" + j, allow_redirects=False), 200)
        assert got["status"] == "expired" and got["result"] is None
        assert is_problem(call(s, "GET", "/api/v1/jobs/%s/result" % j), 410)
        assert db.one("SELECT result_enc FROM job WHERE id = %s", (j,)) is None
    got = ok(call(s, "GET", "/api/v1/jobs/" + running), 200)
    assert got["status"] == "failed" and got["error"]["type"] == "/problems/gone"
    assert db.one("SELECT count(*) " + tenant_jobs + "j.status IN ('done', 'running', 'queued')"
                  " AND j.parameters->>'person_id' = %s", (pid,)) == 0
    # Another person's export is still there.
    done = jobs.wait_job(s, theirs)
    assert done.status_code == 303
    assert call(s, "GET", done.headers["Location"]).status_code == 200


# ---------------------------------------------------------------- refusals

def test_other_roles_are_refused_and_nothing_changes(staff, db):
    pid, _ = new_person(staff.sw)
    before = person_row(db, pid)
    for s in (staff.sw, staff.adm, staff.plan, staff.admin):
        assert is_problem(erase(s, pid), 403)
        assert is_problem(call(s, "POST", HOLDS, {"subject_type": "person", "subject_id": pid,
                                                  "reason": "Motivo qualsiasi"}), 403)
        assert is_problem(call(s, "GET", HOLDS), 403)
    for s in (staff.sw, staff.adm, staff.plan, staff.admin, staff.sm):
        assert is_problem(call(s, "PUT", RULES + "/note", {"years": 1, "legal_basis": "x"},
                               headers={"If-Match": "*"}), 403)
    assert person_row(db, pid) == before
    assert db.one("SELECT count(*) FROM legal_hold WHERE person_id = %s", (pid,)) == 0
    assert db.one("SELECT count(*) FROM audit_event WHERE object_id = %s"
                  " AND action = 'person.erase' AND outcome = 403", (pid,)) == 4


def test_another_comune_gets_404_and_nothing_changes(staff, db):
    pid, _ = new_person(staff.sw)
    hold = ok(call(staff.sm, "POST", HOLDS, {"subject_type": "person", "subject_id": pid,
                                             "reason": "Controllo della Corte dei conti"}))
    before = person_row(db, pid)
    for s in (staff.foreign_sm, staff.foreign_dpo):
        assert is_problem(erase(s, pid), 404)
        r = call(s, "POST", HOLDS, {"subject_type": "person", "subject_id": pid,
                                    "reason": "Motivo qualsiasi"})
        assert is_problem(r, 404) and "subject_id" in error_fields(r.json())
        assert is_problem(call(s, "GET", HOLDS + "/" + hold["id"]), 404)
        assert is_problem(call(s, "POST", HOLDS + "/" + hold["id"] + "/release",
                               {"reason": "Motivo qualsiasi"}), 404)
        assert hold["id"] not in [h["id"] for h in call(s, "GET", HOLDS).json()["items"]]
    assert person_row(db, pid) == before
    assert db.one("SELECT released_at FROM legal_hold WHERE id = %s", (hold["id"],)) is None
    assert db.one("SELECT count(*) FROM legal_hold WHERE person_id = %s", (pid,)) == 1


def test_bad_input_changes_nothing(staff, db):
    pid, _ = new_person(staff.sw)
    before = person_row(db, pid)
    for body, field in (({}, "ground"), ({"ground": "whim"}, "ground"), ({"ground": 3}, "ground"),
                        ({"ground": "objection", "request_reference": "Mario Rossi"},
                         "request_reference"),
                        ({"ground": "objection", "request_reference": "x" * 65},
                         "request_reference"),
                        ({"ground": "objection", "surname": "x"}, "surname")):
        r = erase(staff.dpo, pid, body)
        assert is_problem(r, 400), body
        assert field in error_fields(r.json()), body
    r = staff.dpo.post(staff.dpo.base_url + PERSONS + "/" + pid + "/erasure", data="{nope",
                       headers={"Content-Type": "application/json"}, timeout=T)
    assert is_problem(r, 400)
    assert is_problem(erase(staff.dpo, "not-a-uuid"), 404)
    assert is_problem(erase(staff.dpo, str(uuid.uuid4())), 404)
    assert person_row(db, pid) == before

    rules = db.all("SELECT r::text FROM retention_rule r ORDER BY 1")
    for body, field in (({"years": -1, "legal_basis": "x"}, "years"),
                        ({"years": 101, "legal_basis": "x"}, "years"),
                        ({"years": "10", "legal_basis": "x"}, "years"),
                        ({"years": 10}, "legal_basis"),
                        ({"years": 10, "legal_basis": "  "}, "legal_basis"),
                        ({"years": 10, "legal_basis": "x", "event": "now"}, "event")):
        r = call(staff.dpo, "PUT", RULES + "/note", body, headers={"If-Match": "*"})
        assert is_problem(r, 400), body
        assert field in error_fields(r.json()), body
    assert is_problem(call(staff.dpo, "PUT", RULES + "/everything",
                           {"years": 1, "legal_basis": "x"}, headers={"If-Match": "*"}), 404)
    assert is_problem(call(staff.dpo, "PUT", RULES + "/note", {"years": 1, "legal_basis": "x"}),
                      428)
    assert db.all("SELECT r::text FROM retention_rule r ORDER BY 1") == rules

    holds = db.one("SELECT count(*) FROM legal_hold")
    for body, field in (({"subject_type": "household", "subject_id": pid, "reason": "x" * 12},
                         "subject_type"),
                        ({"subject_type": "person", "subject_id": "12", "reason": "x" * 12},
                         "subject_id"),
                        ({"subject_type": "person", "subject_id": pid, "reason": "corto"},
                         "reason"),
                        ({"subject_type": "person", "subject_id": pid}, "reason"),
                        ({"subject_type": "person", "subject_id": pid, "reason": "x" * 12,
                          "until": "2030-01-01"}, "until")):
        r = call(staff.sm, "POST", HOLDS, body)
        assert is_problem(r, 400), body
        assert field in error_fields(r.json()), body
    r = call(staff.sm, "POST", HOLDS, {"subject_type": "case", "subject_id": pid,
                                       "reason": "Un motivo valido"})
    assert is_problem(r, 404) and "subject_id" in error_fields(r.json())
    for params in ({"status": "all"}, {"subject_id": "x"}, {"cursor": "x"}):
        assert is_problem(call(staff.sm, "GET", HOLDS, params=params), 400)
    assert db.one("SELECT count(*) FROM legal_hold") == holds
