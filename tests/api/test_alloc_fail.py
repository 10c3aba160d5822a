"""Allocation failure (docs/reliability.md, "Allocation failure"): the
binary built with -Dalloc_fail=true and ASan/UBSan (CARTELLA_ALLOC_BIN,
built by scripts/test) serves representative requests while the Nth
allocation of the request fails (header X-Cartella-Alloc-Fail: N), the way
curl's torture mode and SQLite's OOM tests do it.

A first run without failure counts the allocations K the request makes
before its answer (X-Cartella-Alloc-Count). Then, for N in 1..K+3 (all of
them with CARTELLA_ALLOC_ALL=1, a spread sample otherwise), and for a few N
failing every allocation from the Nth on ("N+"):
  - the answer is the normal one or 500/503 problem+json, never a dropped
    connection, and the server still answers /status;
  - a normal answer carries the same body as without failure (no field lost
    to a failed allocation);
  - nothing half-done: a failed answer leaves the persons, cases and audit
    events as they were; a 201 adds exactly one person and its audit event;
  - at the end the server exits 0 on SIGTERM with no ASan/LSan/UBSan report
    (nothing leaked on any failure path).
Covered: the project's allocations (arena, request body, XML writer, log
line, key cache) and jansson's; libpq's, OpenSSL's, libsodium's and
libmicrohttpd's own allocations are not (they do not go through our
allocator)."""
import glob
import os
import random
import tempfile

import pytest
import requests

import fiscal
from conftest import HTTP_TIMEOUT, SpawnedServer, random_name
from test_waas import OPERATOR_CF, TENANT, new_intervention, new_person

ALLOC_BIN = os.environ.get("CARTELLA_ALLOC_BIN")
ALL_N = os.environ.get("CARTELLA_ALLOC_ALL") == "1"
SAMPLE = 14  # values of N per request in the short mode, besides the edges

@pytest.fixture(scope="module")
def reports_dir():
    with tempfile.TemporaryDirectory(prefix="cartella-alloc-") as d:
        yield d


@pytest.fixture(scope="module")
def server(reports_dir):
    """The allocation-failure build, serving on a free port (its sanitizer
    reports go to reports_dir; test_clean_exit stops it and reads them)."""
    assert ALLOC_BIN and os.path.exists(ALLOC_BIN), \
        "CARTELLA_ALLOC_BIN must name the -Dalloc_fail=true build (scripts/test builds it)"
    saved = os.environ["CARTELLA_BIN"]
    os.environ["CARTELLA_BIN"] = ALLOC_BIN
    try:
        srv = SpawnedServer({
            # The budgets of searches and exports would answer 429 to the
            # many runs of one report: this suite is not about them.
            "CARTELLA_RATE_SEARCH": 0,
            "CARTELLA_RATE_EXPORT": 0,
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:log_path=%s/asan" % reports_dir,
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan"
                             % reports_dir,
        })
    finally:
        os.environ["CARTELLA_BIN"] = saved
    try:
        srv.wait_ready(timeout=60)
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def world(db, make_user, login, make_client):
    """A tenant configured for SIUSS with a person, a case and an
    intervention (so a flow), a member of staff and the INPS client."""
    db.one("UPDATE tenant SET siuss_operator_cf = %s WHERE code = %s RETURNING id",
           (OPERATOR_CF, TENANT))
    u, p = make_user(TENANT, "social_worker", roles=("administrative", "service_manager"))
    s = login(u, p, TENANT)
    person_id, _ = new_person(s)
    r = s.post(s.base_url + "/api/v1/cases", json={"person_id": person_id}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    new_intervention(s, db, person_id)
    inps = make_client(["siuss"], tenant=TENANT)
    tenant_id = db.tenant_id(TENANT)
    return {"staff": s, "inps": inps, "case": case_id, "person": person_id,
            "tenant_id": tenant_id}


def call(srv, s, method, path, fail=None, **kw):
    headers = dict(s.headers)
    if fail is not None:
        headers["X-Cartella-Alloc-Fail"] = str(fail)
    return requests.request(method, srv.url + path, headers=headers, auth=s.auth,
                            timeout=HTTP_TIMEOUT, **kw)


def counts(db, tenant_id):
    return db.all(
        "SELECT (SELECT count(*) FROM person WHERE tenant_id = %s),"
        "       (SELECT count(*) FROM social_case WHERE tenant_id = %s),"
        "       (SELECT count(*) FROM audit_event WHERE tenant_id = %s)",
        (tenant_id, tenant_id, tenant_id))[0]


def values_of_n(k):
    """Every N from 1 to k+3, or the edges and a spread sample of them."""
    every = list(range(1, k + 4))
    if ALL_N or len(every) <= SAMPLE + 8:
        return every
    rng = random.Random(k)
    return sorted(set(every[:4] + every[-6:] + rng.sample(every, SAMPLE)))


def comparable(body, volatile):
    if isinstance(body, dict):
        return {k: comparable(v, volatile) for k, v in body.items() if k not in volatile}
    if isinstance(body, list):
        return [comparable(v, volatile) for v in body]
    return body


def torture(srv, db, world, s, method, path, ok, volatile=(), body=None, writes=None,
            **kw):
    """Runs the request once without failure, then with each N; see the
    module's docstring for what is checked. body() gives a fresh body."""
    tid = world["tenant_id"]
    first = call(srv, s, method, path, json=body() if body else None, **kw)
    assert first.status_code == ok, first.text
    k = int(first.headers["X-Cartella-Alloc-Count"])
    assert k > 0
    want = comparable(first.json(), volatile)
    tried = failed = 0
    plan = [str(n) for n in values_of_n(k)] + ["1+", "%d+" % max(1, k // 2), "%d+" % k]
    for n in plan:
        before = counts(db, tid)
        try:
            r = call(srv, s, method, path, fail=n, json=body() if body else None, **kw)
        except requests.ConnectionError as e:
            raise AssertionError("N=%s: connection dropped (%s)\n%s" % (n, e, srv.log()[-3000:]))
        after = counts(db, tid)
        tried += 1
        assert r.status_code in (ok, 500, 503), (n, r.status_code, r.text)
        assert requests.get(srv.url + "/status", timeout=HTTP_TIMEOUT).status_code == 200, n
        if r.status_code == ok:
            assert comparable(r.json(), volatile) == want, (n, r.text)
            if writes is not None:
                assert after[writes] == before[writes] + 1, (n, before, after)
            assert after[2] > before[2], (n, "a 2xx answer without its audit event")
        else:
            failed += 1
            assert r.headers["Content-Type"].startswith("application/problem+json"), n
            assert r.json()["status"] == r.status_code, (n, r.text)
            assert after == before, (n, "a failed request changed", before, after)
    assert failed > 0, "no N made %s %s fail: is the allocation-failure build in use?" % (
        method, path)
    if os.environ.get("CARTELLA_ALLOC_REPORT"):  # figures for docs/reliability.md
        with open(os.environ["CARTELLA_ALLOC_REPORT"], "a") as f:
            f.write("%s %s: %d allocations, %d runs, %d answered 500/503\n"
                    % (method, path, k, tried, failed))


def test_create_person(server, db, world):
    def body():
        b = fiscal.person()
        b["fiscal_code"] = None  # a fresh person every time, never a conflict
        b["surname"] = random_name("Rossi")
        return b

    torture(server, db, world, world["staff"], "POST", "/api/v1/persons", 201, body=body,
            writes=0, volatile=("id", "created_at", "updated_at", "fiscal_code", "surname",
                                "given_name", "contacts", "address"))


def test_read_case(server, db, world):
    torture(server, db, world, world["staff"], "GET", "/api/v1/cases/" + world["case"], 200)


def test_list_interventions(server, db, world):
    torture(server, db, world, world["staff"], "GET", "/api/v1/interventions", 200,
            params={"beneficiary_id": world["person"], "limit": 5})


def test_regional_report(server, db, world):
    torture(server, db, world, world["staff"], "GET", "/api/v1/reports/regional-spending",
            200, params={"year": 2024})


def test_waas_flows(server, db, world):
    torture(server, db, world, world["inps"], "GET", "/waas/v1/flussi", 200,
            params={"since": 0, "limit": 3})


def test_clean_exit(server, reports_dir):
    """Last: SIGTERM → exit 0, and no sanitizer report from any failure path."""
    rc = server.terminate()
    reports = glob.glob(os.path.join(reports_dir, "asan.*")) + \
        glob.glob(os.path.join(reports_dir, "ubsan.*"))
    text = "".join(open(p, errors="replace").read()[:4000] for p in reports)
    assert not reports, text
    assert rc == 0, server.log()[-3000:]
