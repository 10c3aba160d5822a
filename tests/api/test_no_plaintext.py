"""Proof of no plaintext (issue 5 item 6): people seeded through the API —
names, fiscal codes, birth dates, addresses, contacts, household labels and
case notes — appear nowhere in clear: not in a full `pg_dump` of the
database (schema and data; bytea searched as hex too), not in the server's
log, not in the audit table. Positive controls prove each search would find
a value that is there."""
import os
import random
import string
import uuid

import pytest

import fiscal
from conftest import CORSICO, HTTP_TIMEOUT, pg_dump


def token(n=10):
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def variants(secret):
    """The forms a leaked value could take: as given, upper and lower case,
    JSON-escaped apostrophes aside, and the hex of its UTF-8 bytes (how
    pg_dump writes a bytea)."""
    forms = {secret, secret.upper(), secret.lower()}
    return forms | {f.encode().hex() for f in forms}


def found(haystack, secret):
    low = haystack.lower()
    return [v for v in variants(secret) if v.lower() in low]


@pytest.fixture(scope="module")
def seeded(make_user, login):
    u, p = make_user(CORSICO, "social_worker")
    s = login(u, p, CORSICO)
    request_id = "noplain-" + uuid.uuid4().hex
    s.headers["X-Request-Id"] = request_id
    base = s.base_url
    secrets_, ids = [], []
    for i in range(3):
        body = fiscal.person(sex="F", birth="19%02d-0%d-1%d" % (50 + i, i + 1, i + 3),
                             surname="Cifrata" + token(), given_name="Nascosta" + token())
        body["address"] = {"line": "Via %s %d" % (token().capitalize(), 10 + i),
                           "postal_code": "20094", "istat_code": "015093"}
        body["contacts"] = [{"kind": "mobile", "value": "+39 347 %07d" % random.randint(0, 9999999)},
                            {"kind": "email", "value": "%s@example.org" % token()}]
        r = s.post(base + "/api/v1/persons", json=body, timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        ids.append(pid)
        # Read it back, search by fiscal code and by name: reads are logged too.
        assert s.get(base + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT).status_code == 200
        assert s.get(base + "/api/v1/persons", params={"fiscal_code": body["fiscal_code"]},
                     timeout=HTTP_TIMEOUT).json()["items"]
        assert s.get(base + "/api/v1/persons", params={"q": body["surname"]},
                     timeout=HTTP_TIMEOUT).status_code == 200
        secrets_ += [body["surname"], body["given_name"], body["fiscal_code"],
                     body["birth_date"], body["address"]["line"], body["contacts"][0]["value"],
                     body["contacts"][1]["value"]]
    label, street = "Famiglia " + token().capitalize(), "Vicolo %s 7" % token().capitalize()
    r = s.post(base + "/api/v1/households",
               json={"label": label, "address": {"line": street, "postal_code": "20094",
                                                 "istat_code": "015093"}}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    r = s.post(base + "/api/v1/cases", json={"person_id": ids[0]}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    note = "Colloquio riservato: la signora riferisce %s" % token(14)
    r = s.post(base + "/api/v1/cases/%s/notes" % r.json()["id"], json={"body": note},
               timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    secrets_ += [label, street, note]
    return {"secrets": secrets_, "ids": ids, "username": u, "request_id": request_id}


def test_the_search_finds_plain_and_hex_forms():
    assert found("x Mario Rossi y", "ROSSI")
    assert found("\\x00" + "Rossi".encode().hex() + "00", "Rossi")
    assert not found("x Bianchi y", "Rossi")


def test_pg_dump_holds_none_of_them(seeded):
    text = pg_dump()
    # Positive controls: the dump holds the data (the username is stored in
    # clear, the persons' ids are there).
    assert found(text, seeded["username"])
    for pid in seeded["ids"]:
        assert pid in text
    leaks = {s: found(text, s) for s in seeded["secrets"] if found(text, s)}
    assert leaks == {}, leaks


def test_the_server_log_holds_none_of_them(seeded):
    with open(os.environ["CARTELLA_SERVER_LOG"], encoding="utf-8", errors="replace") as f:
        log = f.read()
    # Positive control: our requests were logged.
    assert seeded["request_id"] in log
    leaks = {s: found(log, s) for s in seeded["secrets"] if found(log, s)}
    assert leaks == {}, leaks


def test_the_audit_table_holds_none_of_them(seeded, db):
    ours = db.all("SELECT a::text FROM audit_event a WHERE request_id = %s",
                  (seeded["request_id"],))
    text = "\n".join(r[0] for r in db.all("SELECT a::text FROM audit_event a"))
    # Positive control: the reads and writes of the seeded persons were
    # audited, naming them by id.
    assert len(ours) >= 10, ours
    for pid in seeded["ids"]:
        assert pid in "\n".join(r[0] for r in ours)
    leaks = {s: found(text, s) for s in seeded["secrets"] if found(text, s)}
    assert leaks == {}, leaks
