"""The audit trail: every read and write of personal data leaves an
audit_event in the request's own transaction; denied accesses (403/404) are
recorded too; the table is append-only; the DPO can ask who read a person and
what a user read; and if the trail cannot be written the request fails
closed (503, no data)."""
import os
import uuid

import psycopg2
import pytest

import fiscal
from conftest import ASSAGO, CORSICO, HTTP_TIMEOUT, is_problem


@pytest.fixture
def worker(make_user, login):
    u, p = make_user(CORSICO, "social_worker")
    s = login(u, p, CORSICO)
    s.username = u
    return s


@pytest.fixture
def dpo(make_user, login):
    u, p = make_user(CORSICO, "dpo")
    s = login(u, p, CORSICO)
    s.username = u
    return s


def rid():
    return "audit-" + uuid.uuid4().hex


def events(db, request_id):
    """The audit rows of one request, as dicts (read as superuser)."""
    rows = db.all(
        "SELECT e.tenant_id::text, e.user_id::text, e.roles, e.action, e.object_type,"
        " e.object_id::text, e.outcome, u.username"
        " FROM audit_event e LEFT JOIN app_user u ON u.id = e.user_id"
        " WHERE e.request_id = %s ORDER BY e.id", (request_id,))
    keys = ("tenant_id", "user_id", "roles", "action", "object_type", "object_id", "outcome",
            "username")
    return [dict(zip(keys, r)) for r in rows]


def new_person(s, **kw):
    r = s.post(s.base_url + "/api/v1/persons", json=fiscal.person(**kw), timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()


def test_reading_a_person_records_who_what_and_outcome(worker, db):
    p = new_person(worker)
    r_id = rid()
    r = worker.get(worker.base_url + "/api/v1/persons/" + p["id"],
                   headers={"X-Request-Id": r_id}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    ev = events(db, r_id)
    assert len(ev) == 1, ev
    e = ev[0]
    assert e["username"] == worker.username
    assert e["tenant_id"] == str(db.tenant_id(CORSICO))
    assert e["roles"] == ["social_worker"]
    assert (e["action"], e["object_type"], e["object_id"], e["outcome"]) == (
        "person.read", "person", p["id"], 200)


def test_writes_are_recorded(worker, db):
    r_id = rid()
    r = worker.post(worker.base_url + "/api/v1/persons", json=fiscal.person(),
                    headers={"X-Request-Id": r_id}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201
    ev = events(db, r_id)
    assert [(e["action"], e["object_id"], e["outcome"]) for e in ev] == [
        ("person.create", r.json()["id"], 201)]


def test_a_list_of_n_persons_records_n_events(worker, db):
    surname = "Auditorelli" + uuid.uuid4().hex[:6]
    people = [new_person(worker, surname=surname) for _ in range(4)]
    r_id = rid()
    r = worker.get(worker.base_url + "/api/v1/persons", params={"q": surname},
                   headers={"X-Request-Id": r_id}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    returned = {p["id"] for p in r.json()["items"]}
    assert returned == {p["id"] for p in people}
    ev = events(db, r_id)
    assert len(ev) == 4
    assert {e["object_id"] for e in ev} == returned
    assert {(e["action"], e["object_type"], e["outcome"]) for e in ev} == {
        ("person.search", "person", 200)}


def test_forbidden_access_is_recorded_and_changes_nothing(worker, dpo, db):
    p = new_person(worker)
    before = db.one("SELECT version FROM person WHERE id = %s", (p["id"],))
    r_id = rid()
    r = dpo.get(dpo.base_url + "/api/v1/persons/" + p["id"], headers={"X-Request-Id": r_id},
                timeout=HTTP_TIMEOUT)
    assert is_problem(r, 403)
    assert p["surname"] not in r.text
    ev = events(db, r_id)
    assert [(e["username"], e["action"], e["object_id"], e["outcome"]) for e in ev] == [
        (dpo.username, "person.read", p["id"], 403)]
    assert db.one("SELECT version FROM person WHERE id = %s", (p["id"],)) == before


def test_cross_tenant_404_is_recorded_in_the_callers_tenant(worker, make_user, login, db):
    p = new_person(worker)
    u, pw = make_user(ASSAGO, "social_worker")
    other = login(u, pw, ASSAGO)
    r_id = rid()
    r = other.patch(other.base_url + "/api/v1/persons/" + p["id"],
                    json={"surname": "Cambiato", "reason": "prova"},
                    headers={"X-Request-Id": r_id, "If-Match": '"1"'},
                    timeout=HTTP_TIMEOUT)
    assert is_problem(r, 404)
    ev = events(db, r_id)
    assert [(e["tenant_id"], e["username"], e["action"], e["object_id"], e["outcome"])
            for e in ev] == [(str(db.tenant_id(ASSAGO)), u, "person.update", p["id"], 404)]
    assert db.one("SELECT version FROM person WHERE id = %s", (p["id"],)) == 1


def test_dpo_asks_who_read_a_person_and_what_a_user_read(worker, dpo, make_user, login, db):
    p = new_person(worker)
    u2, pw2 = make_user(CORSICO, "administrative")
    clerk = login(u2, pw2, CORSICO)
    for s in (worker, clerk, worker):
        assert s.get(s.base_url + "/api/v1/persons/" + p["id"],
                     timeout=HTTP_TIMEOUT).status_code == 200
    url = dpo.base_url + "/api/v1/audit/events"
    r = dpo.get(url, params={"person_id": p["id"], "action": "person.read"},
                timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["username"] for i in items] == [worker.username, u2, worker.username]
    assert all(i["object_id"] == p["id"] and i["object_type"] == "person" for i in items)
    assert items[1]["roles"] == ["administrative"]
    assert items[0]["occurred_at"] >= items[1]["occurred_at"] >= items[2]["occurred_at"]
    # Everything about the person, the create included, with paging.
    seen, cursor = [], None
    while True:
        params = {"object_id": p["id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = dpo.get(url, params=params, timeout=HTTP_TIMEOUT)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert [(i["action"], i["username"]) for i in seen] == [
        ("person.read", worker.username), ("person.read", u2),
        ("person.read", worker.username), ("person.create", worker.username)]
    assert len({i["request_id"] for i in seen}) == 4
    # What did the clerk read?
    clerk_id = str(db.user_id(u2))
    r = dpo.get(url, params={"user_id": clerk_id}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert [(i["action"], i["object_id"]) for i in r.json()["items"]] == [
        ("person.read", p["id"])]
    # Time window.
    first = seen[-1]["occurred_at"]
    r = dpo.get(url, params={"object_id": p["id"], "to": first}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.json()["items"] == []
    r = dpo.get(url, params={"object_id": p["id"], "from": first}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and len(r.json()["items"]) == 4


@pytest.mark.parametrize("params", [{"person_id": "x"}, {"from": "yesterday"},
                                    {"to": "2026-13"}, {"cursor": "abc"},
                                    {"action": "Drop Table"}])
def test_dpo_query_rejects_bad_parameters(dpo, params):
    r = dpo.get(dpo.base_url + "/api/v1/audit/events", params=params, timeout=HTTP_TIMEOUT)
    assert is_problem(r, 400)


@pytest.mark.parametrize("role", ["social_worker", "administrative", "service_manager",
                                  "planning_office", "admin"])
def test_only_the_dpo_reads_the_trail(make_user, login, role):
    u, p = make_user(CORSICO, role)
    s = login(u, p, CORSICO)
    r = s.get(s.base_url + "/api/v1/audit/events", timeout=HTTP_TIMEOUT)
    assert is_problem(r, 403)


def test_the_dpo_sees_only_its_tenant(make_user, login, db):
    u, p = make_user(ASSAGO, "dpo")
    s = login(u, p, ASSAGO)
    r = s.get(s.base_url + "/api/v1/audit/events", params={"limit": 500}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    corsico = db.all("SELECT request_id FROM audit_event WHERE tenant_id = %s",
                     (db.tenant_id(CORSICO),))
    assert not {i["request_id"] for i in r.json()["items"]} & {c[0] for c in corsico}


def test_app_role_cannot_change_the_trail(db_app, db):
    tenant = db.tenant_id(CORSICO)
    for sql in ("UPDATE audit_event SET outcome = 200",
                "DELETE FROM audit_event",
                "TRUNCATE audit_event"):
        c = db_app(tenant)
        with c.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql)
        c.rollback()


def test_app_role_sees_only_its_tenant(db_app, db):
    c = db_app()
    with c.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_event")
        assert cur.fetchone()[0] == 0
    c2 = db_app(db.tenant_id(ASSAGO))
    with c2.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_event WHERE tenant_id <> %s",
                    (db.tenant_id(ASSAGO),))
        assert cur.fetchone()[0] == 0


def test_the_owner_cannot_change_the_trail_either(worker, db_owner, db):
    new_person(worker)
    tenant = str(db.tenant_id(CORSICO))
    with db_owner.cursor() as cur:
        for sql in ("UPDATE audit_event SET outcome = 500",
                    "DELETE FROM audit_event",
                    "TRUNCATE audit_event"):
            # Row-level security applies to the owner too (FORCE): set the
            # tenant so the rows are visible and the trigger is what refuses.
            cur.execute("SELECT set_config('app.tenant', %s, false)", (tenant,))
            with pytest.raises(psycopg2.Error) as exc:
                cur.execute(sql)
            assert "append-only" in str(exc.value)
            db_owner.rollback()


def test_fail_closed_when_the_trail_cannot_be_written(worker, db_super, db):
    p = new_person(worker)
    su = db_super()
    su.autocommit = True
    r_id = rid()
    try:
        with su.cursor() as cur:
            cur.execute("REVOKE INSERT ON audit_event FROM cartella_app")
        r = worker.get(worker.base_url + "/api/v1/persons/" + p["id"],
                       headers={"X-Request-Id": r_id}, timeout=HTTP_TIMEOUT)
        w = worker.post(worker.base_url + "/api/v1/persons", json=fiscal.person(),
                        timeout=HTTP_TIMEOUT)
    finally:
        with su.cursor() as cur:
            cur.execute("GRANT INSERT ON audit_event TO cartella_app")
    assert is_problem(r, 503)
    assert "Retry-After" in r.headers
    for secret in (p["surname"], p["given_name"], p["fiscal_code"], p["id"]):
        assert secret not in r.text
    assert is_problem(w, 503)
    assert events(db, r_id) == []
    # And with the grant back, reads work again.
    r = worker.get(worker.base_url + "/api/v1/persons/" + p["id"], timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
