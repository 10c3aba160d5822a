"""Jobs (api/jobs.c, api/job_routes.c, schema/019_jobs.sql): reports started
as jobs run on the server's worker pool as their requester; GET
/api/v1/jobs/{id} reports status and progress and answers 303 to the result
once done; the result streams with chunked transfer encoding and its SHA-256
in Repr-Digest and in the job, and equals the synchronous report byte for
byte; only the requester sees a job; expired results answer 410 and are
deleted by the sweeper; a job a crashed process left running is queued again
and completes; bad input and other roles change nothing; every start and
download leaves its audit event."""
import base64
import hashlib
import io
import json
import os
import signal
import time
import uuid
import zipfile

import psycopg2
import pytest

from conftest import ASSAGO, CORSICO, SpawnedServer, error_fields, is_problem

T = 30
YEAR = "2024"


def wait_job(s, job_id, timeout=60, base=None):
    """Polls GET /api/v1/jobs/{id} until it leaves queued/running; returns
    the last response (303 when done)."""
    base = base or s.base_url
    deadline = time.monotonic() + timeout
    while True:
        r = s.get(base + "/api/v1/jobs/" + job_id, allow_redirects=False, timeout=T)
        assert r.status_code in (200, 303), (r.status_code, r.text)
        if r.json()["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def start(s, report, query="", base=None, expect=202):
    r = s.post((base or s.base_url) + "/api/v1/reports/%s/jobs%s" % (report, query),
               timeout=T)
    assert r.status_code == expect, (r.status_code, r.text)
    return r


def job_count(db, user):
    return db.one("SELECT count(*) FROM job j JOIN app_user u ON u.id = j.requested_by"
                  " WHERE u.username = %s", (user,))


@pytest.fixture(scope="module")
def staff(make_user, login):
    out = {}
    for key, tenant, role in (("adm", CORSICO, "administrative"),
                              ("adm2", CORSICO, "administrative"),
                              ("sm", CORSICO, "service_manager"),
                              ("sw", CORSICO, "social_worker"),
                              ("foreign", ASSAGO, "administrative")):
        u, p = make_user(tenant, role)
        out[key] = login(u, p, tenant)
        out[key].username = u
    # Something to report: an expenditure of the year.
    r = out["adm"].post(out["adm"].base_url + "/api/v1/expenditures", json={
        "year": int(YEAR), "regional_area": "anziani", "channel": "comune",
        "management": "single", "kind": "other", "amount": "1234.56",
        "description": "Spesa per i lavori"}, timeout=T)
    assert r.status_code == 201, r.text
    return out


def fetch_result(s, location):
    r = s.get(s.base_url + location, stream=True, timeout=T)
    body = r.raw.read(decode_content=True) if r.status_code == 200 else r.content
    r._content = body
    return r


def test_report_job_lifecycle_303_chunked_checksum_and_same_bytes(staff, db):
    s = staff["adm"]
    r = start(s, "regional-spending", "?year=" + YEAR)
    job = r.json()
    assert r.headers["Location"] == "/api/v1/jobs/" + job["id"]
    assert job["status"] in ("queued", "running") and job["kind"] == "report"
    assert job["parameters"] == {"report": "regional-spending", "query": {"year": YEAR},
                                 "format": "json"}
    done = wait_job(s, job["id"])
    assert done.status_code == 303, done.text
    location = done.headers["Location"]
    assert location == "/api/v1/jobs/%s/result" % job["id"]
    body = done.json()
    assert body["status"] == "done" and body["progress"] == 100
    assert body["result"]["href"] == location and body["result"]["media_type"] == "application/json"
    res = fetch_result(s, location)
    assert res.status_code == 200, res.text
    assert res.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in res.headers
    digest = hashlib.sha256(res.content).digest()
    assert res.headers["Repr-Digest"] == "sha-256=:%s:" % base64.b64encode(digest).decode()
    assert body["result"]["sha256"] == digest.hex() and body["result"]["size"] == len(res.content)
    sync = s.get(s.base_url + "/api/v1/reports/regional-spending?year=" + YEAR, timeout=T)
    assert sync.status_code == 200 and res.content == sync.content
    assert json.loads(res.content)["grand_total"] != "0.00"
    # Stored encrypted: the row holds no plaintext of the result.
    stored = db.one("SELECT result_enc FROM job WHERE id = %s", (job["id"],))
    assert b"grand_total" not in bytes(stored)
    # Audited: the start, the run (as the requester) and the download.
    uid = str(db.user_id(s.username))
    events = db.all("SELECT action, object_type, outcome FROM audit_event WHERE user_id = %s"
                    " AND object_id = %s ORDER BY id", (uid, job["id"]))
    assert ("report.spending", "job", 202) in events and ("job.result", "job", 200) in events
    runs = db.one("SELECT count(*) FROM audit_event WHERE user_id = %s AND action ="
                  " 'report.spending' AND outcome = 200", (uid,))
    assert runs >= 2  # the job's run and the synchronous GET


@pytest.mark.parametrize("report,query,fmt,accept", [
    ("istat-survey", "?year=" + YEAR, "csv", "text/csv"),
    ("indicators", "?from=2022&to=" + YEAR, "json", "application/json"),
    ("indicators", "?years=2021,%s" % YEAR, "json", "application/json"),
    ("regional-spending", "?year=" + YEAR, "csv", "text/csv"),
])
def test_every_report_job_equals_the_synchronous_report(staff, report, query, fmt, accept):
    s = staff["sm"]
    job = start(s, report, query + "&format=" + fmt).json()
    done = wait_job(s, job["id"])
    assert done.status_code == 303, done.text
    res = fetch_result(s, done.headers["Location"])
    sync = s.get(s.base_url + "/api/v1/reports/%s%s" % (report, query),
                 headers={"Accept": accept}, timeout=T)
    assert sync.status_code == 200
    assert res.content == sync.content
    assert res.headers["Content-Type"] == sync.headers["Content-Type"]


def test_xlsx_job_holds_the_same_sheet(staff):
    s = staff["adm"]
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    job = start(s, "regional-spending", "?year=%s&format=xlsx" % YEAR).json()
    done = wait_job(s, job["id"])
    res = fetch_result(s, done.headers["Location"])
    sync = s.get(s.base_url + "/api/v1/reports/regional-spending?year=" + YEAR,
                 headers={"Accept": xlsx}, timeout=T)
    assert res.headers["Content-Type"] == xlsx == sync.headers["Content-Type"]

    def sheet(data):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.read("xl/worksheets/sheet1.xml"), z.read("xl/sharedStrings.xml")
    # The workbook's metadata carries its creation time; the cells are equal.
    assert sheet(res.content) == sheet(sync.content)


def test_a_failed_job_keeps_the_problem(staff):
    s = staff["adm"]
    job = start(s, "siuss-batch", "?from=2001-01-01&to=2001-01-31").json()
    assert job["parameters"]["format"] == "xml"
    r = wait_job(s, job["id"])
    assert r.status_code == 200 and r.json()["status"] == "failed", r.text
    err = r.json()["error"]
    assert err["status"] == 404 and err["type"] == "/problems/not-found" and "instance" not in err
    is_problem(s.get(s.base_url + "/api/v1/jobs/%s/result" % job["id"], timeout=T), 409)


def test_only_the_requester_sees_a_job(staff):
    s = staff["adm"]
    job = start(s, "regional-spending", "?year=" + YEAR).json()
    wait_job(s, job["id"])
    for other in (staff["adm2"], staff["sm"], staff["foreign"]):
        for path in ("", "/result"):
            is_problem(other.get(other.base_url + "/api/v1/jobs/" + job["id"] + path,
                                 timeout=T), 404)
    is_problem(s.get(s.base_url + "/api/v1/jobs/not-a-uuid", timeout=T), 404)
    is_problem(s.get(s.base_url + "/api/v1/jobs/%s" % uuid.uuid4(), timeout=T), 404)


def test_jobs_are_hidden_by_row_level_security(staff, db, db_app):
    s = staff["adm"]
    job = start(s, "regional-spending", "?year=" + YEAR).json()
    tenant = str(db.tenant_id(CORSICO))
    c = db_app(tenant)
    with c.cursor() as cur:
        cur.execute("SELECT count(*) FROM job WHERE id = %s", (job["id"],))
        assert cur.fetchone()[0] == 0  # no app.user: nobody's job
        cur.execute("SELECT set_config('app.user', %s, true)",
                    (str(db.user_id(staff["adm2"].username)),))
        cur.execute("SELECT count(*) FROM job WHERE id = %s", (job["id"],))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT set_config('app.user', %s, true)", (str(db.user_id(s.username)),))
        cur.execute("SELECT count(*) FROM job WHERE id = %s", (job["id"],))
        assert cur.fetchone()[0] == 1


@pytest.mark.parametrize("report,query,field", [
    ("regional-spending", "?year=abc", None),
    ("regional-spending", "?year=2024&format=pdf", None),
    ("regional-spending", "?tenant=zz", None),
    ("indicators", "?from=2024&to=2020", None),
    ("siuss-batch", "?from=2024-02-30&to=2024-03-01", None),
    ("siuss-batch", "?from=2024-01-01&to=2024-01-31&format=csv", None),
])
def test_bad_input_is_400_and_starts_nothing(staff, db, report, query, field):
    s = staff["sm"]
    before = job_count(db, s.username)
    r = s.post(s.base_url + "/api/v1/reports/%s/jobs%s" % (report, query), timeout=T)
    is_problem(r, 400)
    assert job_count(db, s.username) == before


def test_unknown_body_property_is_400(staff, db):
    s = staff["sm"]
    before = job_count(db, s.username)
    r = s.post(s.base_url + "/api/v1/reports/regional-spending/jobs?year=" + YEAR,
               json={"year": 2020}, timeout=T)
    assert error_fields(is_problem(r, 400)) == ["year"]
    assert job_count(db, s.username) == before


def test_roles_the_report_refuses_are_refused(staff, db):
    s = staff["sw"]
    is_problem(s.post(s.base_url + "/api/v1/reports/regional-spending/jobs", timeout=T), 403)
    # The Ambito's report is the planning office's, as for GET.
    is_problem(staff["adm"].post(staff["adm"].base_url +
                                 "/api/v1/reports/regional-spending/jobs?tenant=corsichese",
                                 timeout=T), 403)
    assert job_count(db, s.username) == 0


def test_release_is_only_for_subject_access(staff):
    s = staff["sm"]
    job = start(s, "regional-spending", "?year=" + YEAR).json()
    wait_job(s, job["id"])
    r = s.put(s.base_url + "/api/v1/jobs/%s/release" % job["id"], json={"channel": "post"},
              timeout=T)
    is_problem(r, 409)


def test_expired_result_is_410_and_deleted(spawn_server, staff, db, login):
    with spawn_server(CARTELLA_JOB_TTL=2, CARTELLA_JOB_LEASE=4) as srv:
        s = staff["adm"]
        job = start(s, "regional-spending", "?year=" + YEAR, base=srv.url).json()
        done = wait_job(s, job["id"], base=srv.url)
        assert done.status_code == 303
        assert db.one("SELECT ttl_seconds FROM job WHERE id = %s", (job["id"],)) == 2
        time.sleep(2.5)
        r = s.get(srv.url + "/api/v1/jobs/%s/result" % job["id"], timeout=T)
        is_problem(r, 410)
        r = s.get(srv.url + "/api/v1/jobs/" + job["id"], allow_redirects=False, timeout=T)
        assert r.status_code == 200 and r.json()["status"] == "expired"
        assert r.json()["result"] is None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status, gone = db.all("SELECT status, result_enc IS NULL FROM job WHERE id = %s",
                                  (job["id"],))[0]
            if gone:
                break
            time.sleep(0.2)
        assert (status, gone) == ("expired", True)


def runner_of(srv, timeout=10):
    """The runner id the spawned server's job pool logged at start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in srv.log().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") == "job workers started":
                return rec["runner"]
        time.sleep(0.05)
    return None


def test_a_job_left_running_by_a_crash_is_requeued_and_completes(spawn_server, staff, db):
    """A server dies (SIGKILL) while its worker runs a job: the job stays
    'running' with a heartbeat nobody renews; once the lease has run out a
    server (at start, or its periodic housekeeping) queues it again, and it
    completes on its second attempt with the same bytes as the report."""
    s = staff["adm"]
    sync = s.get(s.base_url + "/api/v1/reports/regional-spending?year=" + YEAR, timeout=T)
    su = psycopg2.connect(os.environ["CARTELLA_PG_SUPERUSER_URL"])
    try:
        # The shared test server's workers compete for the claim: give the
        # server under test more workers and more attempts, so that it wins.
        for _ in range(20):
            a = SpawnedServer({"CARTELLA_JOB_LEASE": 2, "CARTELLA_JOB_WORKERS": 4})
            try:
                a.wait_ready()
                runner = runner_of(a)
                assert runner, a.log()[-2000:]
                # The report reads expenditure: hold it so that the run blocks.
                cur = su.cursor()
                cur.execute("LOCK TABLE expenditure IN ACCESS EXCLUSIVE MODE")
                job = start(s, "regional-spending", "?year=" + YEAR, base=a.url).json()
                deadline = time.monotonic() + 10
                row = None
                while time.monotonic() < deadline:
                    row = db.all("SELECT status, runner::text FROM job WHERE id = %s",
                                 (job["id"],))[0]
                    if row[0] == "running":
                        break
                    time.sleep(0.05)
                if row[1] == runner:
                    a.proc.send_signal(signal.SIGKILL)
                    a.proc.wait()
            finally:
                su.rollback()
                a.cleanup()
            if row[1] == runner:
                break
            wait_job(s, job["id"])  # another server's worker took it: try again
        else:
            pytest.fail("no job was claimed by the server under test")
        assert db.one("SELECT status FROM job WHERE id = %s", (job["id"],)) == "running"
        with spawn_server(CARTELLA_JOB_LEASE=2) as b:
            done = wait_job(s, job["id"], base=b.url)
            assert done.status_code == 303, done.text
            assert db.one("SELECT attempts FROM job WHERE id = %s", (job["id"],)) == 2
            res = fetch_result(s, done.headers["Location"])
            assert res.content == sync.content
    finally:
        su.close()
