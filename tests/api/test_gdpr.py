"""Data-subject rights (GDPR): restriction of processing (art. 18). A
restricted person and the content of their cases disappear for everyone but
the service manager and the DPO, enforced by row-level security; the reason is
ciphertext; every change leaves its audit event; bad input and other roles
change nothing."""
import os

import pytest

import fiscal
from conftest import ASSAGO, CORSICO, Db, error_fields, is_problem

T = 30
PERSONS = "/api/v1/persons"


class Staff:
    """Logged-in staff of Corsico and a service manager of Assago."""

    def __init__(self, make_user, login):
        def session(tenant, role):
            u, p = make_user(tenant, role)
            s = login(u, p, tenant)
            s.user_id = s.login_body["user"]["id"]
            return s
        self.sw = session(CORSICO, "social_worker")
        self.adm = session(CORSICO, "administrative")
        self.sm = session(CORSICO, "service_manager")
        self.dpo = session(CORSICO, "dpo")
        self.plan = session(CORSICO, "planning_office")
        self.foreign_sm = session(ASSAGO, "service_manager")


@pytest.fixture(scope="module")
def staff(make_user, login):
    return Staff(make_user, login)


def url(s, path):
    return s.base_url + path


def new_person(s):
    body = fiscal.person()
    r = s.post(url(s, PERSONS), json=body, timeout=T)
    assert r.status_code == 201, r.text
    return r.json()["id"], body


def etag(pid):
    """The person's current ETag, read as the superuser (RLS aside)."""
    return '"%d"' % Db(os.environ["CARTELLA_PG_SUPERUSER_URL"]).one(
        "SELECT version FROM person WHERE id = %s", (pid,))


def restrict(s, pid, body=None, if_match=None):
    return s.put(url(s, PERSONS + "/" + pid + "/restriction"),
                 json={"reason": "Contestazione dell'esattezza (art. 18.1.a)"} if body is None
                 else body, headers={"If-Match": if_match or etag(pid)}, timeout=T)


def lift(s, pid, if_match=None):
    return s.delete(url(s, PERSONS + "/" + pid + "/restriction"),
                    headers={"If-Match": if_match or etag(pid)}, timeout=T)


def row(db, pid):
    return db.all("SELECT restricted, restriction_reason_enc IS NOT NULL, restricted_by, version"
                  " FROM person WHERE id = %s", (pid,))[0]


def open_case(s, pid):
    r = s.post(url(s, "/api/v1/cases"), json={"person_id": pid}, timeout=T)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_restriction_hides_the_person_from_all_but_manager_and_dpo(staff, db):
    pid, body = new_person(staff.sw)
    r = restrict(staff.sm, pid)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["person_id"] == pid and got["restricted"] is True
    assert got["reason"].startswith("Contestazione") and got["restricted_by"] == staff.sm.user_id
    assert got["restricted_at"].endswith("Z")
    assert r.headers["ETag"] == etag(pid)
    restricted, has_reason, by, _ = row(db, pid)
    assert restricted and has_reason and str(by) == staff.sm.user_id
    stored = db.one("SELECT restriction_reason_enc::text FROM person WHERE id = %s", (pid,))
    assert "Contestazione" not in stored and "Contestazione".encode().hex() not in stored

    for s in (staff.sw, staff.adm):
        assert is_problem(s.get(url(s, PERSONS + "/" + pid), timeout=T), 404)
        r = s.get(url(s, PERSONS), params={"fiscal_code": body["fiscal_code"]}, timeout=T)
        assert r.status_code == 200 and r.json()["items"] == []
        r = s.get(url(s, PERSONS), params={"q": body["surname"] + " " + body["given_name"]},
                  timeout=T)
        assert pid not in [p["id"] for p in r.json()["items"]]
        # a rectification cannot reach the person either
        r = s.patch(url(s, PERSONS + "/" + pid), json={"given_name": "Altro", "reason": "motivo"},
                    headers={"If-Match": "*"}, timeout=T)
        assert is_problem(r, 404)
    assert is_problem(staff.sw.get(url(staff.sw, PERSONS + "/" + pid + "/history"), timeout=T),
                      404)
    r = staff.sm.get(url(staff.sm, PERSONS + "/" + pid), timeout=T)
    assert r.status_code == 200 and r.json()["restricted"] is True
    r = staff.dpo.get(url(staff.dpo, PERSONS + "/" + pid + "/history"), timeout=T)
    assert r.status_code == 200

    # the DPO lifts it: visible again, reason destroyed
    assert lift(staff.dpo, pid).status_code == 204
    assert staff.sw.get(url(staff.sw, PERSONS + "/" + pid), timeout=T).status_code == 200
    restricted, has_reason, by, _ = row(db, pid)
    assert not restricted and not has_reason and by is None
    # lifting again is idempotent
    assert lift(staff.dpo, pid).status_code == 204


def test_case_content_of_a_restricted_person_is_hidden(staff, db):
    pid, _ = new_person(staff.sw)
    cid = open_case(staff.sw, pid)
    assert restrict(staff.dpo, pid).status_code == 200
    for path in ("", "/assignments", "/notes", "/assessments", "/plans"):
        r = staff.sw.get(url(staff.sw, "/api/v1/cases/" + cid + path), timeout=T)
        assert is_problem(r, 404), path
    r = staff.sw.get(url(staff.sw, "/api/v1/cases"), params={"person_id": pid}, timeout=T)
    assert cid not in [c["id"] for c in r.json().get("items", [])]
    r = staff.sm.get(url(staff.sm, "/api/v1/cases/" + cid), timeout=T)
    assert r.status_code == 200, r.text
    assert lift(staff.sm, pid).status_code == 204
    assert staff.sw.get(url(staff.sw, "/api/v1/cases/" + cid), timeout=T).status_code == 200


def test_rls_hides_restricted_rows_from_the_application_role(staff, db, db_app):
    pid, _ = new_person(staff.sw)
    cid = open_case(staff.sw, pid)
    assert restrict(staff.sm, pid).status_code == 200
    tenant = db.tenant_id(CORSICO)

    def visible(user_id):
        c = db_app(tenant)
        with c.cursor() as cur:
            cur.execute("SELECT set_config('app.user', %s, true)", (user_id or "",))
            cur.execute("SELECT count(*) FROM person WHERE id = %s", (pid,))
            persons = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM social_case WHERE id = %s", (cid,))
            cases = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM case_status_history WHERE case_id = %s", (cid,))
            history = cur.fetchone()[0]
            cur.execute("SELECT app.person_restricted(%s)", (pid,))
            flag = cur.fetchone()[0]
            cur.execute("UPDATE person SET version = version WHERE id = %s", (pid,))
            updated = cur.rowcount
        c.rollback()
        return persons, cases, history > 0, flag, updated

    assert visible(staff.sw.user_id) == (0, 0, False, True, 0)
    assert visible(None) == (0, 0, False, True, 0)
    assert visible(staff.sm.user_id) == (1, 1, True, True, 1)
    assert visible(staff.dpo.user_id) == (1, 1, True, True, 1)
    lift(staff.sm, pid)


def test_other_roles_are_refused_and_nothing_changes(staff, db):
    pid, _ = new_person(staff.sw)
    before = row(db, pid)
    for s in (staff.sw, staff.adm, staff.plan):
        assert is_problem(restrict(s, pid), 403)
        assert is_problem(lift(s, pid), 403)
    assert row(db, pid) == before
    # another Comune's service manager: 404, nothing changes
    assert is_problem(restrict(staff.foreign_sm, pid), 404)
    assert is_problem(lift(staff.foreign_sm, pid), 404)
    assert row(db, pid) == before


def test_bad_input_changes_nothing(staff, db):
    pid, _ = new_person(staff.sw)
    before = row(db, pid)
    for body, field in (({}, "reason"), ({"reason": ""}, "reason"), ({"reason": 5}, "reason"),
                        ({"reason": "x" * 2001}, "reason"),
                        ({"reason": "ok", "until": "2030-01-01"}, "until")):
        r = restrict(staff.sm, pid, body)
        assert is_problem(r, 400), body
        assert field in error_fields(r.json()), body
    r = staff.sm.put(url(staff.sm, PERSONS + "/" + pid + "/restriction"), data="{not json",
                     headers={"Content-Type": "application/json"}, timeout=T)
    assert is_problem(r, 400)
    missing = "00000000-0000-4000-8000-000000000000"
    assert is_problem(restrict(staff.sm, missing, if_match='"1"'), 404)
    assert is_problem(restrict(staff.sm, "not-a-uuid", if_match='"1"'), 404)
    # stale and absent If-Match
    assert is_problem(restrict(staff.sm, pid, if_match='"99"'), 412)
    assert is_problem(lift(staff.sm, pid, if_match='"99"'), 412)
    r = staff.sm.put(url(staff.sm, PERSONS + "/" + pid + "/restriction"), json={"reason": "x"},
                     timeout=T)
    assert is_problem(r, 428)
    assert row(db, pid) == before


def test_every_change_is_audited_with_ids_only(staff, db):
    pid, _ = new_person(staff.sw)
    assert restrict(staff.sm, pid).status_code == 200
    assert lift(staff.dpo, pid).status_code == 204
    events = db.all("SELECT action, object_type, user_id, outcome FROM audit_event"
                    " WHERE object_id = %s AND action LIKE 'person.%%restrict' ORDER BY id",
                    (pid,))
    assert [(a, t, str(u), o) for a, t, u, o in events] == [
        ("person.restrict", "person", staff.sm.user_id, 200),
        ("person.unrestrict", "person", staff.dpo.user_id, 204)]
