"""Persons: encrypted at rest, validated, searchable by blind index, with a
rectification history and tenant isolation."""
import os
import subprocess
import uuid

import pytest

import fiscal
from conftest import CORSICO, error_fields, is_problem

BUCCINASCO = "015036"


@pytest.fixture
def worker(make_user, login):
    """A logged-in social worker of Corsico."""
    u, p = make_user(CORSICO, "social_worker")
    return login(u, p, CORSICO)


def create(s, body, **kw):
    return s.post(s.base_url + "/api/v1/persons", json=body, timeout=30, **kw)


def person_count(db):
    return db.one("SELECT count(*) FROM person")


def test_create_and_read_back_decrypted(worker):
    body = fiscal.person(sex="F", birth="1975-06-30", place="D045")
    r = create(worker, body)
    assert r.status_code == 201, r.text
    p = r.json()
    assert r.headers["Location"] == "/api/v1/persons/" + p["id"]
    assert r.headers["ETag"] == '"1"'
    for k in ("fiscal_code", "surname", "given_name", "sex", "birth_date", "birth_place",
              "citizenship", "residence", "address", "contacts"):
        assert p[k] == body[k], k
    assert p["fiscal_code_kind"] == "personal" and p["version"] == 1
    g = worker.get(worker.base_url + r.headers["Location"], timeout=30)
    assert g.status_code == 200 and g.json() == p


def test_nothing_identifying_is_stored_in_clear(worker, db):
    body = fiscal.person(surname="Zanzibarotti", given_name="Ermenegilda", sex="F",
                         birth="1990-02-28")
    r = create(worker, body)
    assert r.status_code == 201, r.text
    row = db.all("SELECT p::text FROM person p WHERE id = %s", (r.json()["id"],))[0][0]
    for secret in (body["fiscal_code"], "Zanzibarotti", "ZANZIBAROTTI", "Ermenegilda",
                   "1990-02-28", body["address"]["line"], body["contacts"][0]["value"]):
        assert secret not in row


def test_pg_dump_holds_no_names_or_fiscal_codes(worker):
    people = [fiscal.person(surname="Quaglierini%s" % i, given_name="Ottavina") for i in range(3)]
    for b in people:
        assert create(worker, b).status_code == 201
    url = os.environ["CARTELLA_PG_SUPERUSER_URL"]
    dump = subprocess.run(["pg_dump", "--data-only", "--dbname", url], capture_output=True,
                          text=True, timeout=300)
    assert dump.returncode == 0, dump.stderr
    assert "COPY public.person" in dump.stdout
    for b in people:
        for secret in (b["fiscal_code"], b["surname"], b["surname"].upper(), b["address"]["line"]):
            assert secret not in dump.stdout
    assert "Ottavina" not in dump.stdout


def test_duplicate_fiscal_code_is_409_naming_the_existing_person(worker, db):
    body = fiscal.person()
    first = create(worker, body).json()
    before = person_count(db)
    again = dict(body, surname="Altro", given_name="Nome")
    r = create(worker, again)
    assert is_problem(r, 409)
    assert r.json()["existing_id"] == first["id"]
    assert person_count(db) == before


def test_the_same_fiscal_code_may_exist_in_another_comune(worker, make_user, login):
    body = fiscal.person()
    assert create(worker, body).status_code == 201
    u, p = make_user(BUCCINASCO, "social_worker")
    other = login(u, p, BUCCINASCO)
    assert create(other, body).status_code == 201


@pytest.mark.parametrize("field,value,rule", [
    ("fiscal_code", "RSSMRA80A01F205Y", "check_digit"),
    ("fiscal_code", "RSSMRA80Z01F205X", "format"),
    ("fiscal_code", 12345678901, "type"),
    ("birth_date", "1980-02-30", "calendar"),
    ("birth_date", "2999-01-01", "range"),
    ("sex", "X", "enum"),
    ("citizenship", "999", "unknown"),
    ("residence", "15093", "min_length"),
    ("nickname", "Mario", "unknown"),
    ("reason", "non si indica alla creazione", "unknown"),
])
def test_bad_fields_are_named_and_nothing_is_stored(worker, db, field, value, rule):
    body = fiscal.person()
    body[field] = value
    before = person_count(db)
    r = create(worker, body)
    assert is_problem(r, 400), r.text
    assert (field, rule) in [(e["field"], e["rule"]) for e in r.json()["errors"]], r.text
    assert person_count(db) == before


def test_every_failing_field_is_listed_at_once(worker):
    body = fiscal.person()
    body.update(sex="Q", birth_date="1980-13-01", citizenship="1", surname="")
    r = create(worker, body)
    assert is_problem(r, 400)
    assert {"sex", "birth_date", "citizenship", "surname"} <= set(error_fields(r.json()))


def test_data_must_agree_with_the_fiscal_code(worker):
    body = fiscal.person(sex="M", birth="1980-01-01", place="F205")
    body.update(sex="F", birth_date="1981-01-01", birth_place="D045")
    r = create(worker, body)
    assert is_problem(r, 400)
    rules = {(e["field"], e["rule"]) for e in r.json()["errors"]}
    assert {("sex", "mismatch"), ("birth_date", "mismatch"), ("birth_place", "mismatch")} <= rules


def test_temporary_and_numeric_codes_and_people_without_one(worker):
    stp = dict(fiscal.person(), fiscal_code="STP0301234567890")
    r = create(worker, stp)
    assert r.status_code == 201, r.text
    assert r.json()["fiscal_code_kind"] == "temporary"
    none = fiscal.person()
    del none["fiscal_code"]
    r = create(worker, none)
    assert r.status_code == 201, r.text
    assert r.json()["fiscal_code"] is None


def test_search_by_fiscal_code_and_by_name(worker):
    body = fiscal.person(surname="De Santis", given_name="Anna Maria", sex="F")
    pid = create(worker, body).json()["id"]
    base = worker.base_url + "/api/v1/persons"
    r = worker.get(base, params={"fiscal_code": body["fiscal_code"].lower()}, timeout=30)
    assert [p["id"] for p in r.json()["items"]] == [pid]
    for q in ("de santis", "DE SANTIS ANNA MARIA", "De Santis Anna Maria", "dè santis"):
        r = worker.get(base, params={"q": q}, timeout=30)
        assert r.status_code == 200
        assert pid in [p["id"] for p in r.json()["items"]], q
    for q in ("Santis", "De Santis Anna", "Anna Maria"):
        r = worker.get(base, params={"q": q}, timeout=30)
        assert pid not in [p["id"] for p in r.json()["items"]], q
    spaced = " ".join([body["fiscal_code"][:6], body["fiscal_code"][6:11], body["fiscal_code"][11:]])
    r = worker.get(base, params={"fiscal_code": spaced}, timeout=30)
    assert [p["id"] for p in r.json()["items"]] == [pid]
    r = worker.get(base, params={"fiscal_code": "not-a-code"}, timeout=30)
    assert is_problem(r, 400)


def test_rectification_keeps_history_with_who_when_why(worker):
    body = fiscal.person()
    r = create(worker, body)
    pid, url = r.json()["id"], worker.base_url + r.headers["Location"]
    patch = {"surname": "Rossi-Bianchi", "address": {"line": "Via Nuova 1"},
             "reason": "Errore di trascrizione segnalato dall'interessata"}
    r = worker.patch(url, json=patch, headers={"If-Match": '"1"'}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["surname"] == "Rossi-Bianchi" and r.json()["version"] == 2
    assert r.json()["given_name"] == body["given_name"]
    assert r.headers["ETag"] == '"2"'
    h = worker.get(url + "/history", timeout=30).json()["items"]
    assert len(h) == 1
    assert h[0]["version"] == 1 and h[0]["reason"] == patch["reason"]
    assert h[0]["previous"]["surname"] == body["surname"]
    assert h[0]["previous"]["address"] == body["address"]
    assert set(h[0]["changed_fields"]) == {"surname", "address"}
    assert h[0]["changed_by"]["username"]
    # The name index follows the change.
    found = worker.get(worker.base_url + "/api/v1/persons", params={"q": "Rossi-Bianchi"},
                       timeout=30).json()["items"]
    assert pid in [p["id"] for p in found]


def test_patch_needs_if_match_and_a_reason(worker, db):
    r = create(worker, fiscal.person())
    url = worker.base_url + r.headers["Location"]
    r = worker.patch(url, json={"given_name": "X", "reason": "motivo"}, timeout=30)
    assert is_problem(r, 428)
    r = worker.patch(url, json={"given_name": "X", "reason": "motivo"},
                     headers={"If-Match": '"7"'}, timeout=30)
    assert is_problem(r, 412)
    r = worker.patch(url, json={"given_name": "X"}, headers={"If-Match": '"1"'}, timeout=30)
    assert is_problem(r, 400) and "reason" in error_fields(r.json())
    assert worker.get(url, timeout=30).json()["version"] == 1


def test_another_comunes_person_does_not_exist(worker, make_user, login):
    pid = create(worker, fiscal.person()).json()["id"]
    u, p = make_user(BUCCINASCO, "social_worker")
    other = login(u, p, BUCCINASCO)
    url = other.base_url + "/api/v1/persons/" + pid
    assert is_problem(other.get(url, timeout=30), 404)
    r = other.patch(url, json={"given_name": "X", "reason": "motivo"},
                    headers={"If-Match": '"1"'}, timeout=30)
    assert is_problem(r, 404)
    assert is_problem(other.get(url + "/history", timeout=30), 404)
    assert is_problem(other.get(other.base_url + "/api/v1/persons/" + str(uuid.uuid4()),
                                timeout=30), 404)


def test_roles_without_case_access_are_refused(make_user, login):
    for tenant, role in ((CORSICO, "dpo"), (CORSICO, "admin"), ("corsichese", "planning_office")):
        u, p = make_user(tenant, role)
        s = login(u, p, tenant)
        assert is_problem(create(s, fiscal.person()), 403), role
        assert is_problem(s.get(s.base_url + "/api/v1/persons", timeout=30), 403), role


def test_idempotency_key_replays_and_refuses_a_different_body(worker, db):
    body = fiscal.person()
    key = "k-" + uuid.uuid4().hex
    r1 = create(worker, body, headers={"Idempotency-Key": key})
    assert r1.status_code == 201
    before = person_count(db)
    r2 = create(worker, body, headers={"Idempotency-Key": key})
    assert r2.status_code == 201 and r2.json()["id"] == r1.json()["id"]
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert r2.headers["Location"] == r1.headers["Location"]
    assert r2.headers["ETag"] == r1.headers["ETag"]
    assert person_count(db) == before
    r3 = create(worker, fiscal.person(), headers={"Idempotency-Key": key})
    assert is_problem(r3, 422)
    assert person_count(db) == before
    # The stored answer is ciphertext too.
    row = db.all("SELECT k::text FROM idempotency_key k WHERE key = %s", (key,))[0][0]
    assert body["surname"] not in row and body["fiscal_code"] not in row


def test_pagination_walks_every_person_once(worker):
    ids = {create(worker, fiscal.person()).json()["id"] for _ in range(5)}
    seen, cursor = [], None
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = worker.get(worker.base_url + "/api/v1/persons", params=params, timeout=30).json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and ids <= set(seen)
    r = worker.get(worker.base_url + "/api/v1/persons", params={"limit": 501}, timeout=30)
    assert is_problem(r, 400)
