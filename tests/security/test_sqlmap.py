"""sqlmap (Debian's) against parameterised endpoints of a server of the test's
own (on the shared database, with the login throttle loosened so that sqlmap
is not simply refused), with a valid session: it must find no injectable
parameter. Short mode: a few endpoints at --level 1 --risk 1 with the
boolean, error and union techniques; long mode: every endpoint in the list at
--level 3 --risk 2 with every technique (time-based included)."""
import json
import os
import shutil
import subprocess

import pytest

import fiscal
import harness
from harness import HTTP_TIMEOUT, api, mode

INJECTABLE_MARKS = ("is vulnerable", "appears to be injectable", "might be injectable",
                    "sqlmap identified the following injection point",
                    "back-end DBMS is")


def endpoints(s, base):
    """(name, sqlmap arguments) of the endpoints to probe, with real ids."""
    r = s.post(base + "/api/v1/persons", json=fiscal.person(), timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    short = [
        ("person search", ["-u", base + "/api/v1/persons?q=Rossi&fiscal_code=RSSMRA80A01F205X"
                           "&limit=10"]),
        ("person read (path)", ["-u", base + "/api/v1/persons/%s*" % pid]),
        ("person create (JSON body)", ["-u", base + "/api/v1/persons", "--data",
                                       json.dumps(fiscal.person())]),
        ("login (JSON body)", ["-u", base + "/api/v1/sessions", "--data",
                               '{"username":"mario.rossi","password":"abcdefghijklmn",'
                               '"tenant":"015093"}', "--ignore-code", "401"]),
    ]
    longer = [
        ("interventions list", ["-u", base + "/api/v1/interventions?beneficiary_id=%s"
                                "&limit=5" % pid]),
        ("cases list", ["-u", base + "/api/v1/cases?person_id=%s&limit=5" % pid]),
        ("services list", ["-u", base + "/api/v1/services?limit=5&active=true"]),
        ("catalogue list", ["-u", base + "/api/v1/catalogue/household-relations*"]),
        ("person history", ["-u", base + "/api/v1/persons/%s*/history?limit=5" % pid]),
        ("person update", ["-u", base + "/api/v1/persons/%s" % pid, "--method", "PATCH",
                           "--data", '{"surname":"Bianchi","reason":"rettifica"}',
                           "-H", "If-Match: \"1\""]),
    ]
    chosen = short + (longer if harness.LONG else [])
    only = os.environ.get("CARTELLA_SQLMAP_ENDPOINTS")
    if only:  # to finish an interrupted long run: names separated by commas
        chosen = [e for e in chosen if e[0] in only.split(",")]
        assert chosen, only
    return chosen


def assert_answers(s, name, args):
    """sqlmap gives up on an endpoint whose own answer is an error (it saw a
    404 for a code list that does not exist): each GET must answer 200 as
    given, before sqlmap probes it."""
    if "--data" in args:
        return
    url = args[args.index("-u") + 1].replace("*", "")
    r = s.get(url, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (name, r.status_code, r.text[:300])


@pytest.mark.skipif(shutil.which("sqlmap") is None, reason="sqlmap is not installed")
def test_sqlmap_finds_no_injection(shared, workdir):
    env = {"CARTELLA_LOGIN_MAX_FAILURES": 1000, "CARTELLA_LOGIN_WINDOW": 1,
           "CARTELLA_RATE_SEARCH": 0, "CARTELLA_RATE_EXPORT": 0}
    level, risk = mode("1", "3"), mode("1", "2")
    technique = mode("BEU", "BEUSTQ")
    found = []
    with harness.server(workdir, env) as srv:
        u, p = shared.user(api.CORSICO, "social_worker")
        s = harness.login_on(srv.url, u, p)
        probed = 0
        for name, args in endpoints(s, srv.url):
            assert_answers(s, name, args)
            headers = [] if name.startswith("login") else ["-H", "Authorization: Bearer " + s.token]
            cmd = ["sqlmap", "--batch", "--disable-coloring", "--flush-session",
                   "--output-dir", os.path.join(workdir, "sqlmap"), "--level", level, "--risk",
                   risk, "--technique", technique, "--dbms", "PostgreSQL", "--timeout", "30",
                   "--retries", "1", "--threads", "2", *headers, *args]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=mode(300, 3600),
                                 stdin=subprocess.DEVNULL)
            out = res.stdout + res.stderr
            probed += 1
            assert "connection refused" not in out.lower(), out[-2000:]
            tested = ("do not appear to be injectable" in out
                      or "does not seem to be injectable" in out)
            assert tested, (name, out[-3000:])
            if any(m in out for m in INJECTABLE_MARKS):
                found.append((name, out[-3000:]))
        # The session still works: sqlmap changed nothing it could reach.
        r = s.get(srv.url + "/api/v1/sessions/current", timeout=HTTP_TIMEOUT)
        assert r.status_code == 200
    harness.report("sqlmap", endpoints=probed, level=level, risk=risk, technique=technique,
                   injectable=len(found))
    assert not found, found
