"""Crash durability. Writers create persons and interventions through the API
of a server of the test's own, on a cluster of its own with PostgreSQL's
default durability, while the test kills the server with SIGKILL at random
moments (and restarts it) and stops PostgreSQL with `pg_ctl -m immediate`
(and starts it again, leaving the server to reconnect by itself).

Afterwards:
- every write answered 2xx is there, with its audit event (same request id,
  same object) and, for an intervention, its funding rows;
- a write that got no 2xx is either wholly there (committed just before the
  crash: then its audit event is there too) or not at all (no audit event,
  no row: a person is searched by its fiscal code through the API, an
  intervention by its amount, unique to the request);
- every person and intervention in the database has its creation audit event;
- `cartella audit verify` verifies every tenant's chain.

Short mode: 8 kills and 2 immediate stops; long mode: 50 and 10."""
import random
import threading
import time
import uuid

import requests

import fiscal
import harness
from harness import api, mode

WRITERS = 3
BASE_CENTS = 100000


class Writers:
    """Threads that write until stopped; each attempt is recorded as
    (kind, request id, key, status or None, object id or None)."""

    def __init__(self, url, session, beneficiary):
        self.url, self.s, self.beneficiary = url, session, beneficiary
        self.records = []
        self.lock = threading.Lock()
        self.counter = 0
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(WRITERS)]

    def next_n(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def attempt(self):
        n = self.next_n()
        rid = "crash-%d-%s" % (n, uuid.uuid4().hex[:12])
        if n % 3 == 0:
            cents = BASE_CENTS + n
            amount = "%d.%02d" % divmod(cents, 100)
            body = {"beneficiary_id": self.beneficiary, "service": "EMERG-ABIT",
                    "nature": "one_off", "delivery_date": "2024-03-15",
                    "total_amount": amount, "means_test": 4, "in_charge": False,
                    "funding": [{"channel": "comune", "amount": amount}]}
            kind, key, path = "intervention", cents, "/api/v1/interventions"
        else:
            body = fiscal.person()
            kind, key, path = "person", body["fiscal_code"], "/api/v1/persons"
        status = oid = None
        try:
            r = self.s.post(self.url + path, json=body, headers={"X-Request-Id": rid}, timeout=15)
            status = r.status_code
            if 200 <= status < 300:
                oid = r.json()["id"]
            elif status != 503:
                raise AssertionError("unexpected answer %s: %s" % (status, r.text[:300]))
            else:
                harness.assert_unavailable(r)
        except requests.RequestException:
            pass
        with self.lock:
            self.records.append((kind, rid, key, status, oid))
        if status is None or status == 503:
            time.sleep(0.05)

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.attempt()
            except AssertionError as e:  # kept for the main thread
                with self.lock:
                    self.records.append(("error", "", str(e), None, None))

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(30)


def wait_writes(writers, since, at_least=3, timeout=30):
    """Waits until at least `at_least` writes were acknowledged after index since."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        acked = sum(1 for r in writers.records[since:] if r[3] is not None and r[3] < 300)
        if acked >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError("no writes acknowledged within %ss" % timeout)


def test_acknowledged_writes_survive_kills_and_immediate_stops(cluster, workdir):
    pg = cluster(durable=True)
    # No search budget: the check afterwards searches every unanswered person.
    env = dict(pg.env(), CARTELLA_THREADS=4, CARTELLA_RATE_SEARCH=0)
    srv = harness.Server(workdir, env).start()
    kills, stops = mode(8, 50), mode(2, 10)
    try:
        u, p = harness.make_user_on(pg.env(), api.CORSICO, "social_worker")
        s = harness.login_on(srv.url, u, p)
        r = s.post(srv.url + "/api/v1/persons", json=fiscal.person(), timeout=30)
        assert r.status_code == 201, r.text
        beneficiary = r.json()["id"]
        writers = Writers(srv.url, s, beneficiary)
        writers.start()
        schedule = ["kill"] * kills + ["stop"] * stops
        random.shuffle(schedule)
        restart_s = []
        for what in schedule:
            mark = len(writers.records)
            wait_writes(writers, mark)
            time.sleep(random.uniform(0.0, 0.8))
            t = time.monotonic()
            if what == "kill":
                srv.kill9()
                srv.start()
            else:
                pg.stop("immediate")
                time.sleep(random.uniform(0.2, 1.0))
                pg.start()
            restart_s.append(time.monotonic() - t)
        mark = len(writers.records)
        wait_writes(writers, mark)  # the service resumed by itself
        writers.stop()
        errors = [r for r in writers.records if r[0] == "error"]
        assert not errors, errors[:3]
        committed_unanswered = verify(pg, srv, writers.records, beneficiary)
        res = harness.run_cli("audit", "verify", env=pg.env())
        assert res.returncode == 0, res.stdout + res.stderr
        records = writers.records
        acked = sum(1 for r in records if r[3] is not None and r[3] < 300)
        harness.report("crash durability", kills=kills, immediate_stops=stops,
                       attempts=len(records), acknowledged=acked,
                       acknowledged_interventions=sum(
                           1 for r in records
                           if r[0] == "intervention" and r[3] is not None and r[3] < 300),
                       committed_unanswered=committed_unanswered,
                       refused_503=sum(1 for r in records if r[3] == 503),
                       no_answer=sum(1 for r in records if r[3] is None),
                       lost=0, max_recovery_s=round(max(restart_s), 1))
        assert srv.terminate() == 0
    finally:
        srv.kill9()


def verify(pg, srv, records, beneficiary):
    db = pg.db()
    audit = {}
    for rid, action, oid in db.all("SELECT request_id, action, object_id FROM audit_event"
                                   " WHERE request_id LIKE 'crash-%%'"):
        audit.setdefault(rid, []).append((action, str(oid) if oid else None))
    persons = {str(r[0]) for r in db.all("SELECT id FROM person")}
    ivs = {}
    for iid, cents, nfund in db.all(
            "SELECT i.id, i.total_amount_cents, (SELECT count(*) FROM intervention_funding f"
            " WHERE f.intervention_id = i.id) FROM intervention i WHERE beneficiary_id = %s",
            (beneficiary,)):
        ivs.setdefault(cents, []).append((str(iid), nfund))
    u, p = harness.make_user_on(pg.env(), api.CORSICO, "service_manager")
    # No second try: a pool thread whose connection broke in the last stop
    # reconnects when it takes it (tests/reliability/test_faults.py).
    manager = harness.login_on(srv.url, u, p)
    committed_unanswered = 0

    for kind, rid, key, status, oid in records:
        events = audit.get(rid, [])
        acked = status is not None and status < 300
        if kind == "person":
            if acked:
                assert oid in persons, ("acknowledged person lost", rid)
                assert ("person.create", oid) in events, ("acknowledged person unaudited", rid)
            elif events:
                (_, eid), = events
                assert eid in persons, ("audited person missing", rid)
                committed_unanswered += 1
            else:
                r = manager.get(srv.url + "/api/v1/persons", params={"fiscal_code": key},
                                timeout=30)
                assert r.status_code == 200, r.text
                assert r.json()["items"] == [], ("unacknowledged person half-applied", rid)
        else:
            rows = ivs.get(key, [])
            assert len(rows) <= 1, rows
            if acked:
                assert rows and rows[0][0] == oid, ("acknowledged intervention lost", rid)
                assert ("intervention.write", oid) in events, ("unaudited intervention", rid)
            elif not events:
                assert not rows, ("unacknowledged intervention half-applied", rid)
            if rows:
                assert rows[0][1] == 1, ("intervention without its funding", rid)
                assert events, ("intervention without its audit event", rid)
                committed_unanswered += not acked

    # Nothing in the database without its creation event.
    unaudited = db.one(
        "SELECT count(*) FROM person p WHERE NOT EXISTS (SELECT 1 FROM audit_event a"
        " WHERE a.object_id = p.id AND a.action = 'person.create')")
    assert unaudited == 0
    unaudited = db.one(
        "SELECT count(*) FROM intervention i WHERE NOT EXISTS (SELECT 1 FROM audit_event a"
        " WHERE a.object_id = i.id AND a.action = 'intervention.write')")
    assert unaudited == 0
    return committed_unanswered
