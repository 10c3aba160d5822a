"""The server log never holds personal data: persons with canary names and
fiscal codes are written, read, searched (the fiscal code and the name in the
query string), updated and sent in invalid bodies; then the shared server's
whole log (everything the API suite did before, too) is scanned for the
canaries, for anything shaped like a fiscal code, and for bearer tokens."""
import os
import re
import secrets
import time

import fiscal
from harness import HTTP_TIMEOUT

# Sixteen-character personal fiscal code (omocodia letters allowed).
CF_SHAPE = re.compile(r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z]"
                      r"[0-9LMNPQRSTUV]{3}[A-Z]\b")


def canary_person():
    tag = secrets.token_hex(4).upper()
    return fiscal.person(surname="Canarino" + tag, given_name="Pettirosso" + tag)


def test_logs_hold_no_personal_data_or_tokens(shared):
    s = shared.worker
    base = shared.base_url
    seeded = []
    for _ in range(3):
        body = canary_person()
        r = s.post(base + "/api/v1/persons", json=body, timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, r.text
        pid, etag = r.json()["id"], r.headers["ETag"]
        seeded += [body["surname"], body["given_name"], body["fiscal_code"],
                   body["address"]["line"], body["contacts"][0]["value"]]
        assert s.get(base + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT).status_code == 200
        assert s.get(base + "/api/v1/persons", params={"fiscal_code": body["fiscal_code"]},
                     timeout=HTTP_TIMEOUT).status_code == 200
        assert s.get(base + "/api/v1/persons", params={"q": body["surname"]},
                     timeout=HTTP_TIMEOUT).status_code == 200
        new_surname = body["surname"] + "Bis"
        seeded.append(new_surname)
        r = s.patch(base + "/api/v1/persons/" + pid, json={"surname": new_surname, "reason": "rettifica " + new_surname},
                    headers={"If-Match": etag}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        # Invalid bodies carrying the data: 400, and the log must not echo them.
        bad = dict(body, birth_date="31/02/1980", fiscal_code=body["fiscal_code"][:15] + "!")
        seeded.append(bad["fiscal_code"])
        r = s.post(base + "/api/v1/persons", json=bad, timeout=HTTP_TIMEOUT)
        assert r.status_code == 400, r.text
        r = s.post(base + "/api/v1/persons", json=body, timeout=HTTP_TIMEOUT)
        assert r.status_code in (201, 409), r.text
    time.sleep(0.5)  # the completion log line is written after the answer

    with open(os.environ["CARTELLA_SERVER_LOG"], encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert log.count("\n") > 20, "the server log is unexpectedly empty"
    for value in seeded:
        assert value not in log, "personal data in the server log: %r" % value
    shaped = CF_SHAPE.findall(log)
    assert not shaped, "fiscal-code-shaped strings in the server log: %r" % shaped[:5]
    assert s.token not in log, "a bearer token in the server log"
