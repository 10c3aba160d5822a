"""Annotations of an assessment (GDPR art. 16; api/assessment_annotations.c):
a contested assessment is never overwritten but annotated, with the data
subject's statement or a professional correction. The text is ciphertext in
the database, hidden from the administrative role like the free text, listed
with its assessment, in the subject-access export, and destroyed by an
erasure; closed cases can be annotated; other cases' and other Comuni's
assessments, wrong roles and bad input change nothing."""
import time
import uuid

import pytest

from conftest import ASSAGO, CORSICO, HTTP_TIMEOUT, error_fields, is_problem
from test_cases import SINA, Team, new_person, open_case

T = HTTP_TIMEOUT


@pytest.fixture(scope="module")
def team(make_user, login):
    t = Team(make_user, login)
    u, p = make_user(CORSICO, "dpo")
    t.dpo = login(u, p, CORSICO)
    u, p = make_user(ASSAGO, "service_manager")
    t.foreign_sm = login(u, p, ASSAGO)
    return t


def post(s, path, body):
    return s.post(s.base_url + path, json=body, timeout=T)


def assessment(s, case_id, kind="sina", answers=None, free_text=None, on="2024-03-15"):
    r = post(s, "/api/v1/cases/%s/assessments" % case_id, {
        "kind": kind, "assessed_on": on,
        "answers": SINA if answers is None else answers, "free_text": free_text})
    assert r.status_code == 201, r.text
    return r.json()


def annotate(s, case_id, aid, body, source="data_subject"):
    return post(s, "/api/v1/cases/%s/assessments/%s/annotations" % (case_id, aid),
                {"source": source, "body": body})


def read(s, case_id, aid):
    r = s.get(s.base_url + "/api/v1/cases/%s/assessments/%s" % (case_id, aid), timeout=T)
    assert r.status_code == 200, r.text
    return r.json()


def count(db, aid):
    return db.one("SELECT count(*) FROM assessment_annotation WHERE assessment_id = %s", (aid,))


def test_a_statement_and_a_correction_annotate_without_changing_the_assessment(team, db):
    c = open_case(team.sw)
    a = assessment(team.sw, c["id"], free_text="Valutazione iniziale")
    before = db.one("SELECT a::text FROM assessment a WHERE id = %s", (a["id"],))
    statement = "Non sono d'accordo: mi sposto da solo con il deambulatore " + uuid.uuid4().hex
    r = annotate(team.sw, c["id"], a["id"], statement)
    assert r.status_code == 201, r.text
    got = r.json()
    assert r.headers["Location"] == "/api/v1/cases/%s/assessments/%s" % (c["id"], a["id"])
    assert (got["source"], got["body"], got["assessment_id"], got["case_id"]) == \
        ("data_subject", statement, a["id"], c["id"])
    assert got["created_by"]["id"] == team.sw.user_id
    time.sleep(0.01)
    correction = "Rivalutata la mobilità: il punteggio resta, vedi nuova valutazione"
    r = annotate(team.sm, c["id"], a["id"], correction, source="professional")
    assert r.status_code == 201, r.text
    # The assessment is unchanged; its annotations come with it, oldest first.
    assert db.one("SELECT a::text FROM assessment a WHERE id = %s", (a["id"],)) == before
    shown = read(team.sw, c["id"], a["id"])
    assert shown["answers"] == a["answers"] and shown["annotation_count"] == 2
    assert [(n["source"], n["body"]) for n in shown["annotations"]] == \
        [("data_subject", statement), ("professional", correction)]
    listed = team.sw.get(team.sw.base_url + "/api/v1/cases/%s/assessments" % c["id"],
                         timeout=T).json()["items"]
    assert [x["annotation_count"] for x in listed if x["id"] == a["id"]] == [2]
    # The administrative role sees that there are annotations, not their text.
    adm = read(team.adm, c["id"], a["id"])
    assert len(adm["annotations"]) == 2 and all("body" not in n for n in adm["annotations"])
    # Ciphertext in the database, audited.
    stored = db.all("SELECT body_enc FROM assessment_annotation WHERE assessment_id = %s",
                    (a["id"],))
    assert len(stored) == 2 and all(statement.encode() not in bytes(b) for (b,) in stored)
    assert db.one("SELECT count(*) FROM audit_event WHERE action = 'assessment.annotate'"
                  " AND object_id = %s AND outcome = 201", (got["id"],)) == 1


def test_a_closed_case_can_still_be_annotated(team, db):
    c = open_case(team.sw)
    a = assessment(team.sw, c["id"])
    etag = team.sw.get(team.sw.base_url + "/api/v1/cases/" + c["id"], timeout=T).headers["ETag"]
    r = team.sw.patch(team.sw.base_url + "/api/v1/cases/" + c["id"],
                      json={"status": "closed", "closure_reason": "rinuncia"},
                      headers={"If-Match": etag}, timeout=T)
    assert r.status_code == 200, r.text
    assert annotate(team.sw, c["id"], a["id"], "Dichiarazione dopo la chiusura").status_code == 201


def test_other_roles_cases_and_comuni_are_refused_and_nothing_changes(team, db):
    c = open_case(team.sw)
    a = assessment(team.sw, c["id"])
    other = open_case(team.sw)
    for s in (team.adm, team.dpo):
        assert is_problem(annotate(s, c["id"], a["id"], "Testo qualsiasi"), 403)
    # An assessment of another case, through this case: 404.
    assert is_problem(annotate(team.sw, other["id"], a["id"], "Testo qualsiasi"), 404)
    # Another Comune's service manager: 404 (the case does not exist for it).
    assert is_problem(annotate(team.foreign_sm, c["id"], a["id"], "Testo qualsiasi"), 404)
    assert is_problem(annotate(team.sw, c["id"], str(uuid.uuid4()), "Testo qualsiasi"), 404)
    assert is_problem(annotate(team.sw, c["id"], "not-a-uuid", "Testo qualsiasi"), 404)
    assert count(db, a["id"]) == 0


def test_bad_input_is_400_naming_the_field_and_changes_nothing(team, db):
    c = open_case(team.sw)
    a = assessment(team.sw, c["id"])
    path = "/api/v1/cases/%s/assessments/%s/annotations" % (c["id"], a["id"])
    for body, field in (({}, "source"), ({"source": "data_subject"}, "body"),
                        ({"source": "neighbour", "body": "x"}, "source"),
                        ({"source": 1, "body": "x"}, "source"),
                        ({"source": "professional", "body": "   \n"}, "body"),
                        ({"source": "professional", "body": "x" * 5001}, "body"),
                        ({"source": "professional", "body": ["x"]}, "body"),
                        ({"source": "professional", "body": "x", "author": "y"}, "author")):
        r = post(team.sw, path, body)
        assert is_problem(r, 400), body
        assert field in error_fields(r.json()), (body, r.text)
    r = team.sw.post(team.sw.base_url + path, data="{nope",
                     headers={"Content-Type": "application/json"}, timeout=T)
    assert is_problem(r, 400)
    assert count(db, a["id"]) == 0


def test_subject_access_lists_them_and_erasure_destroys_their_text(team, db):
    pid = new_person(team.sw)
    c = open_case(team.sw, pid, opened_on="2010-01-15")
    a = assessment(team.sw, c["id"], on="2010-03-01")
    text = "Dichiarazione dell'interessato " + uuid.uuid4().hex
    assert annotate(team.sw, c["id"], a["id"], text).status_code == 201
    # subject access
    r = team.dpo.post(team.dpo.base_url + "/api/v1/persons/%s/subject-access" % pid, timeout=T)
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        r = team.dpo.get(team.dpo.base_url + "/api/v1/jobs/" + job, allow_redirects=False,
                         timeout=T)
        if r.status_code == 303 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status_code == 303, r.text
    export = team.dpo.get(team.dpo.base_url + r.headers["Location"], timeout=T).json()
    assert [(n["assessment_id"], n["body"]) for n in export["assessment_annotations"]] == \
        [(a["id"], text)]
    # erasure: the case closed long ago, so the default rules let it go
    etag = team.sw.get(team.sw.base_url + "/api/v1/cases/" + c["id"], timeout=T).headers["ETag"]
    r = team.sw.patch(team.sw.base_url + "/api/v1/cases/" + c["id"],
                      json={"status": "closed", "closure_reason": "rinuncia",
                            "closed_on": "2011-06-30"},
                      headers={"If-Match": etag}, timeout=T)
    assert r.status_code == 200, r.text
    r = post(team.dpo, "/api/v1/persons/%s/erasure" % pid, {"ground": "no_longer_necessary"})
    assert r.status_code == 200, r.text
    assert r.json()["destroyed"]["assessment_annotations"] == 1
    assert db.one("SELECT count(*) FROM assessment_annotation WHERE assessment_id = %s"
                  " AND body_enc IS NOT NULL", (a["id"],)) == 0
