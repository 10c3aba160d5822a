"""Subject access (GDPR art. 15; api/subject_access.c): the DPO or a
service manager starts a job that gathers everything held about a person;
other household members' personal data and notes in their cases are
redacted; notes and assessments the service manager withheld (Codice privacy
art. 2-undecies) and sealed cases are listed as withheld with the reason,
never their content; the accesses to the file are listed; the result is JSON
or HTML with Italian headings; the release to the data subject is recorded;
other roles are refused and bad input changes nothing."""
import hashlib
import json
import time
import uuid

import pytest

import fiscal
from conftest import ASSAGO, CORSICO, error_fields, is_problem

T = 30


def ok(r, status=201):
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


class File:
    """A person P with a full file in Corsico, made through the API."""

    def __init__(self, make_user, login, db):
        def session(tenant, role):
            u, p = make_user(tenant, role)
            s = login(u, p, tenant)
            s.username = u
            return s
        self.sm = session(CORSICO, "service_manager")
        self.dpo = session(CORSICO, "dpo")
        self.dpo2 = session(CORSICO, "dpo")
        self.sw = session(CORSICO, "social_worker")
        self.adm = session(CORSICO, "administrative")
        self.plan = session(CORSICO, "planning_office")
        self.foreign_dpo = session(ASSAGO, "dpo")
        admin = session(CORSICO, "admin")
        api = self.api = self.sm.base_url + "/api/v1"
        sm, tag = self.sm, uuid.uuid4().hex[:8]
        self.tag = tag
        self.p_body = fiscal.person()
        self.q_body = fiscal.person(sex="F", birth="1985-05-05")
        self.p = ok(sm.post(api + "/persons", json=self.p_body, timeout=T))["id"]
        self.q = ok(sm.post(api + "/persons", json=self.q_body, timeout=T))["id"]
        self.hh = ok(sm.post(api + "/households", json={"label": "Nucleo " + tag}, timeout=T))["id"]
        for pid, rel, head in ((self.p, "1", True), (self.q, "2", False)):
            ok(sm.post(api + "/households/%s/members" % self.hh, json={
                "person_id": pid, "relation": rel, "head": head, "valid_from": "2020-01-01"},
                timeout=T))
        notes = api + "/cases/%s/notes"
        self.texts = {
            "note": "Colloquio con l'interessato <script>x</script> " + tag,
            "withheld_note": "Segnalazione riservata del vicino " + tag,
            "q_note": "Nota sulla sorella " + tag,
            "sealed_note": "Indirizzo protetto " + tag,
            "free_text": "Valutazione libera " + tag,
            "withheld_free": "Valutazione per il tribunale " + tag,
            "goals": "Obiettivo lavoro " + tag,
            "request": "Chiede il contributo affitto " + tag,
        }
        # One open case per person: the sealed one is opened and closed first.
        self.sealed = ok(sm.post(api + "/cases", json={"person_id": self.p, "sealed": True},
                                 timeout=T))["id"]
        ok(sm.post(notes % self.sealed, json={"body": self.texts["sealed_note"]}, timeout=T))
        etag = sm.get(api + "/cases/" + self.sealed, timeout=T).headers["ETag"]
        ok(sm.patch(api + "/cases/" + self.sealed, json={
            "status": "closed", "closure_reason": "rinuncia"}, headers={"If-Match": etag},
            timeout=T), 200)
        self.case = ok(sm.post(api + "/cases", json={
            "person_id": self.p, "household_id": self.hh, "area": "1",
            "opened_on": "2024-03-01"}, timeout=T))["id"]
        self.q_case = ok(sm.post(api + "/cases", json={
            "person_id": self.q, "household_id": self.hh, "area": "1",
            "opened_on": "2024-03-02"}, timeout=T))["id"]
        self.note = ok(sm.post(notes % self.case, json={"body": self.texts["note"]},
                               timeout=T))["id"]
        self.withheld_note = ok(sm.post(notes % self.case, json={
            "body": self.texts["withheld_note"], "confidentiality": "confidential"},
            timeout=T))["id"]
        ok(sm.post(notes % self.q_case, json={"body": self.texts["q_note"]}, timeout=T))
        assess = api + "/cases/%s/assessments" % self.case
        self.assessment = ok(sm.post(assess, json={
            "kind": "generic", "assessed_on": "2024-03-15", "answers": {"bisogno_principale": "casa"},
            "free_text": self.texts["free_text"]}, timeout=T))["id"]
        self.withheld_assessment = ok(sm.post(assess, json={
            "kind": "generic", "assessed_on": "2024-03-16",
            "answers": {"bisogno_principale": "tutela"},
            "free_text": self.texts["withheld_free"]}, timeout=T))["id"]
        self.plan_id = ok(sm.post(api + "/cases/%s/plans" % self.case, json={
            "kind": "family_project", "goals": [{"text": self.texts["goals"]}],
            "start_on": "2024-04-01"}, timeout=T))["id"]
        self.contact = ok(sm.post(api + "/access-contacts", json={
            "channel": "phone", "outcome": "information", "person_id": self.p,
            "request": self.texts["request"]}, timeout=T))["id"]
        service = ok(admin.post(api + "/services", json={
            "code": "SA-" + tag.upper(), "name": "Servizio accesso", "inps_code": "A2.07",
            "istat_area": "ELD", "regional_area": "anziani", "nature": "periodic",
            "isee_linked": True}, timeout=T))["id"]
        self.intervention = ok(sm.post(api + "/interventions", json={
            "case_id": self.case, "beneficiary_id": self.p, "service": service,
            "nature": "periodic", "start_date": "2024-04-01", "monthly_amount": "100.00",
            "means_test": 4, "funding": [{"channel": "comune", "amount": "100.00"}],
            "management": "single", "in_charge": True, "user_area": 1}, timeout=T))["id"]
        self.reason = "Rettifica chiesta dall'interessato " + tag
        ok(sm.patch(api + "/persons/" + self.p, json={"address": {"line": "Via Nuova 1"},
                                                       "reason": self.reason},
                    headers={"If-Match": '"1"'}, timeout=T), 200)
        # A social worker reads the file: the access must be listed.
        ok(self.sw.get(api + "/persons/" + self.p, timeout=T), 200)
        for path, body in (("/cases/%s/notes/%s/withholding" % (self.case, self.withheld_note),
                            {"basis": "whistleblower"}),
                           ("/cases/%s/assessments/%s/withholding"
                            % (self.case, self.withheld_assessment),
                            {"basis": "defence_in_court"})):
            w = ok(sm.put(api + path, json=body, timeout=T), 200)
            assert w["basis"] == body["basis"] and "2-undecies" in w["reason"]


@pytest.fixture(scope="module")
def f(make_user, login, db):
    return File(make_user, login, db)


def run(s, pid, query="", expect=303):
    r = s.post(s.base_url + "/api/v1/persons/%s/subject-access%s" % (pid, query), timeout=T)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == "/api/v1/jobs/" + job["id"]
    assert job["kind"] == "subject_access" and job["release"] is None
    deadline = time.monotonic() + 60
    while True:
        r = s.get(s.base_url + "/api/v1/jobs/" + job["id"], allow_redirects=False, timeout=T)
        if r.json()["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status_code == expect, r.text
    return r


def result(s, done):
    r = s.get(s.base_url + done.headers["Location"], timeout=T)
    assert r.status_code == 200, r.text
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert hashlib.sha256(r.content).hexdigest() == done.json()["result"]["sha256"]
    return r


def test_export_gathers_the_file_redacts_others_and_lists_withheld(f, db):
    done = run(f.dpo, f.p)
    r = result(f.dpo, done)
    assert r.headers["Content-Type"] == "application/json"
    doc = r.json()
    text = r.text
    person = doc["person"]
    assert person["id"] == f.p and person["fiscal_code"] == f.p_body["fiscal_code"]
    assert person["surname"] == f.p_body["surname"] and person["address"]["line"] == "Via Nuova 1"
    # Households: the other member appears by relation only.
    (hh,) = doc["households"]
    assert hh["household_id"] == f.hh and hh["relation"] == "1"
    assert hh["other_members"] == [{"relation": "2", "head": False, "valid_from": "2020-01-01",
                                    "valid_to": None, "personal_data": "redacted"}]
    for secret in (f.q_body["surname"], f.q_body["given_name"], f.q_body["fiscal_code"], f.q):
        assert secret not in text
    # Cases: own case in full, the other member's as redacted, the sealed not at all.
    cases = {c["id"]: c for c in doc["cases"]}
    assert cases[f.case]["status"] == "access" and cases[f.case]["subject"] == "self"
    assert cases[f.q_case] == {"id": f.q_case, "household_id": f.hh,
                               "subject": "household_member",
                               "redacted": "riguarda altre persone del nucleo"}
    assert f.sealed not in text and f.texts["sealed_note"] not in text
    # Notes: own note in full, withheld listed without body, the other's redacted.
    notes = {n["id"]: n for n in doc["notes"]}
    assert notes[f.note]["body"] == f.texts["note"]
    assert "body" not in notes[f.withheld_note]
    assert notes[f.withheld_note]["withheld"]["basis"] == "whistleblower"
    assert f.texts["withheld_note"] not in text and f.texts["q_note"] not in text
    assert [n["redacted"] for n in doc["notes"] if n["case_id"] == f.q_case] == [
        "riguarda altre persone del nucleo"]
    # Assessments, plans, interventions, contacts, rectifications.
    assessments = {a["id"]: a for a in doc["assessments"]}
    assert assessments[f.assessment]["free_text"] == f.texts["free_text"]
    assert assessments[f.assessment]["answers"] == {"bisogno_principale": "casa"}
    assert set(assessments[f.withheld_assessment]) == {
        "id", "case_id", "kind", "version", "assessed_on", "withheld"}
    assert f.texts["withheld_free"] not in text and "tutela" not in text
    assert doc["plans"][0]["id"] == f.plan_id and doc["plans"][0]["goals"][0]["text"] == f.texts["goals"]
    assert [i["id"] for i in doc["interventions"]] == [f.intervention]
    assert doc["contacts"][0]["request"] == f.texts["request"]
    assert doc["rectifications"][0]["reason"] == f.reason
    assert "changed_by" not in doc["rectifications"][0]
    assert doc["documents"] == []
    # Withheld: the note, the assessment and the sealed case, each with a reason.
    withheld = {(w["type"], w.get("id")): w for w in doc["withheld"]}
    assert withheld[("case_note", f.withheld_note)]["basis"] == "whistleblower"
    assert withheld[("assessment", f.withheld_assessment)]["basis"] == "defence_in_court"
    sealed = withheld[("sealed_cases", None)]
    assert sealed["count"] == 1 and "2-undecies" in sealed["reason"]
    # Accesses: the social worker's read, by role, without names.
    reads = [a for a in doc["accesses"]
             if a["action"] == "person.read" and a["roles"] == ["social_worker"]]
    assert reads and reads[0]["by"] == "staff" and reads[0]["outcome"] == 200
    assert f.sw.username not in text
    # The run is audited as the DPO's read of each object.
    dpo = str(db.user_id(f.dpo.username))
    objs = {o for (o,) in db.all("SELECT object_id::text FROM audit_event WHERE user_id = %s"
                                 " AND action = 'person.subject_access' AND outcome = 200",
                                 (dpo,))}
    assert {f.p, f.case, f.note, f.assessment, f.plan_id, f.intervention, f.contact} <= objs


def test_html_has_italian_headings_and_escapes(f):
    done = run(f.sm, f.p, "?format=html")
    r = result(f.sm, done)
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    html = r.text
    for heading in ("Dati personali", "Nuclei familiari", "Diario (note)",
                    "Accessi al fascicolo", "Storico delle rettifiche",
                    "Elementi non comunicati e motivo (Codice privacy art. 2-undecies)"):
        assert "<h2>%s" % heading in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert f.texts["withheld_note"] not in html


def test_release_is_recorded_once_and_audited(f, db):
    done = run(f.dpo, f.p)
    jid = done.json()["id"]
    url = f.dpo.base_url + "/api/v1/jobs/%s/release" % jid
    is_problem(f.dpo.put(url, json={"channel": "fax"}, timeout=T), 400)
    is_problem(f.dpo.put(url, json={}, timeout=T), 400)
    body = ok(f.dpo.put(url, json={"channel": "pec"}, timeout=T), 200)
    assert body["release"]["channel"] == "pec"
    assert body["release"]["released_by"] == str(db.user_id(f.dpo.username))
    is_problem(f.dpo.put(url, json={"channel": "pec"}, timeout=T), 409)
    events = db.all("SELECT object_type, object_id::text FROM audit_event WHERE action ="
                    " 'job.release' AND outcome = 200 AND user_id = %s",
                    (str(db.user_id(f.dpo.username)),))
    assert ("job", jid) in events and ("person", f.p) in events
    # The release is then listed among the accesses of a later export.
    doc = result(f.dpo, run(f.dpo, f.p)).json()
    assert any(a["action"] == "job.release" for a in doc["accesses"])
    # Another DPO does not see the job.
    is_problem(f.dpo2.get(f.dpo2.base_url + "/api/v1/jobs/" + jid, timeout=T), 404)
    is_problem(f.dpo2.put(f.dpo2.base_url + "/api/v1/jobs/%s/release" % jid,
                          json={"channel": "pec"}, timeout=T), 404)


def test_restricted_person_can_still_be_exported(f, db):
    pid = ok(f.sm.post(f.api + "/persons", json=fiscal.person(), timeout=T))["id"]
    ok(f.sm.put(f.api + "/persons/%s/restriction" % pid, json={"reason": "art. 18"},
                headers={"If-Match": '"1"'}, timeout=T), 200)
    is_problem(f.sw.get(f.api + "/persons/" + pid, timeout=T), 404)
    doc = result(f.dpo, run(f.dpo, pid)).json()
    assert doc["person"]["id"] == pid and doc["person"]["restricted"] is True


def jobs_of(db, s):
    return db.one("SELECT count(*) FROM job j JOIN app_user u ON u.id = j.requested_by"
                  " WHERE u.username = %s", (s.username,))


def test_other_roles_are_refused_and_start_nothing(f, db):
    for s in (f.sw, f.adm, f.plan):
        r = s.post(f.api + "/persons/%s/subject-access" % f.p, timeout=T)
        is_problem(r, 403)
        assert jobs_of(db, s) == 0
    # Withholding is the service manager's.
    for s in (f.sw, f.dpo):
        is_problem(s.put(f.api + "/cases/%s/notes/%s/withholding" % (f.case, f.note),
                         json={"basis": "whistleblower"}, timeout=T), 403)
    assert db.one("SELECT withheld_basis FROM case_note WHERE id = %s", (f.note,)) is None


def test_bad_input_changes_nothing(f, db):
    before = jobs_of(db, f.dpo)
    base = f.api + "/persons/%s/subject-access"
    is_problem(f.dpo.post(base % f.p + "?format=pdf", timeout=T), 400)
    assert error_fields(is_problem(f.dpo.post(base % f.p, json={"format": "html"}, timeout=T),
                                   400)) == ["format"]
    is_problem(f.dpo.post(base % "not-a-uuid", timeout=T), 404)
    is_problem(f.dpo.post(base % uuid.uuid4(), timeout=T), 404)
    # Another tenant's DPO does not see the person.
    is_problem(f.foreign_dpo.post(f.foreign_dpo.base_url +
                                  "/api/v1/persons/%s/subject-access" % f.p, timeout=T), 404)
    assert jobs_of(db, f.dpo) == before and jobs_of(db, f.foreign_dpo) == 0
    # Withholding: unknown basis, unknown note, missing body.
    url = f.api + "/cases/%s/notes/%s/withholding" % (f.case, f.note)
    body = is_problem(f.sm.put(url, json={"basis": "simpatia"}, timeout=T), 400)
    assert error_fields(body) == ["basis"]
    is_problem(f.sm.put(url, json={"basis": "whistleblower", "x": 1}, timeout=T), 400)
    is_problem(f.sm.put(f.api + "/cases/%s/notes/%s/withholding" % (f.case, uuid.uuid4()),
                        json={"basis": "whistleblower"}, timeout=T), 404)
    is_problem(f.sm.put(f.api + "/cases/%s/notes/%s/withholding" % (f.q_case, f.note),
                        json={"basis": "whistleblower"}, timeout=T), 404)
    assert db.one("SELECT withheld_basis FROM case_note WHERE id = %s", (f.note,)) is None


def test_withholding_can_be_lifted(f, db):
    url = f.api + "/cases/%s/assessments/%s/withholding" % (f.case, f.assessment)
    ok(f.sm.put(url, json={"basis": "third_party_rights"}, timeout=T), 200)
    doc = result(f.dpo, run(f.dpo, f.p)).json()
    assert any(w.get("id") == f.assessment for w in doc["withheld"])
    r = f.sm.delete(url, timeout=T)
    assert r.status_code == 204, r.text
    assert db.one("SELECT withheld_basis FROM assessment WHERE id = %s", (f.assessment,)) is None
    doc = result(f.dpo, run(f.dpo, f.p)).json()
    assert not any(w.get("id") == f.assessment for w in doc["withheld"])
