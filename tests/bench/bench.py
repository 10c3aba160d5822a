#!/usr/bin/env python3
"""The benchmark driver, started by tests/bench/run (which owns the cluster).

Loads the data, logs in, captures the SQL the server runs for one request of
each workload (PostgreSQL's own statement log), turns it into pgbench scripts
(the database ceiling), starts Cartella and the peer pinned to one CPU, and
measures the three with the load generators pinned to the other. Writes
results.md and results.json. See docs/performance.md."""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("CARTELLA_REPO", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(REPO, "tests", "api"))
sys.path.insert(0, HERE)

import fiscal  # noqa: E402  (tests/api/fiscal.py: valid fiscal codes)
from conftest import totp_code, totp_step  # noqa: E402

import capture  # noqa: E402
import measure  # noqa: E402
from workloads import WORKLOADS, Target  # noqa: E402

BIN = os.environ.get("CARTELLA_BIN", os.path.join(REPO, "build", "cartella"))
TMP = os.environ["BENCH_TMP"]
TENANT = "015093"  # Corsico
OPERATOR_CF = "09876543210"
PASSWORD = "cartella-bench-2026"
POOL = 4  # Cartella's pool threads (one connection each) = the peer's pool size
SERVER_CPU, LOAD_CPU = "1", "0"


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(prog="tests/bench/run")
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=1,
                    help="cartella demo --jobs: Comuni loaded at the same time")
    ap.add_argument("--tenant", default=TENANT,
                    help="ISTAT code of the Comune measured (default Corsico, 015093)")
    ap.add_argument("--skip", default="",
                    help="workloads to leave out, comma-separated (e.g. siuss_flows)")
    ap.add_argument("--load-only", action="store_true",
                    help="stop after loading the data (with --data-dir: to use it later)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--connections", type=int, default=16,
                    help="wrk connections of the throughput runs")
    ap.add_argument("--quick", action="store_true", help="2 runs of 3 s")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny data, 1 run of 1 s, correctness only")
    ap.add_argument("--capture-only", action="store_true",
                    help="stop after writing the pgbench scripts")
    ap.add_argument("--profile", metavar="WORKLOAD", default=None,
                    help="also record Cartella with perf (call graphs) during a wrk run of "
                         "WORKLOAD and write perf-WORKLOAD.txt")
    ap.add_argument("--regenerate-flows", action="store_true",
                    help="forget the measured Comune's SIUSS flows first (kept data), so "
                         "that flow generation is measured again")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.quick:
        a.runs, a.duration = min(a.runs, 2), min(a.duration, 3.0)
    if a.smoke:
        a.runs, a.duration, a.persons = 1, 1.0, min(a.persons, 30)
    if a.out is None:
        a.out = os.path.join(REPO, "var", "bench", time.strftime("%Y%m%d-%H%M%S"))
    return a


# ---------------------------------------------------------------- processes

def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + argv


def wait_http(url, proc, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit("%s exited (status %s)" % (what, proc.returncode))
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit("%s did not answer %s" % (what, url))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_env(port):
    env = dict(os.environ)
    for k in ("CARTELLA_OWNER_DATABASE_URL", "CARTELLA_PG_SUPERUSER_URL"):
        env.pop(k, None)
    # One user makes all the load: the per-user budgets for searches and
    # exports (server/ratelimit.c) would answer 429 within seconds.
    env.update(PORT=str(port), CARTELLA_THREADS=str(POOL), CARTELLA_LOG_LEVEL="warn",
               CARTELLA_MAX_CONNECTIONS="2000", CARTELLA_PER_IP_CONNECTIONS="2000",
               CARTELLA_RATE_SEARCH="1000000", CARTELLA_RATE_EXPORT="1000000")
    return env


def start_cartella():
    port = free_port()
    out = open(os.path.join(TMP, "cartella.log"), "ab")
    p = subprocess.Popen(pinned(SERVER_CPU, [BIN, "serve"]), env=server_env(port),
                         stdout=out, stderr=out)
    url = "http://127.0.0.1:%d" % port
    wait_http(url + "/status", p, "cartella")
    return p, url


def start_peer():
    port = free_port()
    env = server_env(port)
    env.update(POOL_SIZE=str(POOL), NODE_ENV="production")
    out = open(os.path.join(TMP, "peer.log"), "ab")
    p = subprocess.Popen(pinned(SERVER_CPU, ["node", os.path.join(HERE, "peer", "server.js")]),
                         env=env, stdout=out, stderr=out)
    url = "http://127.0.0.1:%d" % port
    wait_http(url + "/status", p, "peer")
    return p, url


def stop(p):
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


# ---------------------------------------------------------------- users and data

def cli(*args, stdin=None):
    env = dict(os.environ)
    env["CARTELLA_LOG_LEVEL"] = "warn"
    res = subprocess.run([BIN] + list(args), input=stdin, capture_output=True, text=True,
                         env=env)
    if res.returncode != 0:
        raise SystemExit("cartella %s: %s" % (" ".join(args), res.stderr.strip()))
    return res.stdout


def existing_persons():
    return superuser_sql("SELECT count(*) FROM person")[0][0]


def make_user(username, roles):
    for r in roles:
        cli("user", "add", "--tenant", TENANT, "--role", r, "--username", username,
            stdin=PASSWORD + "\n")
    out = cli("user", "totp-enrol", username)
    return next(line.split()[1] for line in out.splitlines() if line.startswith("secret "))


def login(url, username, secret):
    body = {"username": username, "password": PASSWORD, "tenant": TENANT,
            "totp": totp_code(secret, totp_step())}
    r = requests.post(url + "/api/v1/sessions", json=body, timeout=30)
    if r.status_code != 201:
        raise SystemExit("login %s: %s %s" % (username, r.status_code, r.text))
    return r.json()["token"]


def superuser_sql(sql, args=()):
    import psycopg2
    c = psycopg2.connect(os.environ["CARTELLA_PG_SUPERUSER_URL"])
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        c.close()


def forget_flows():
    """Deletes the measured Comune's SIUSS flows and what the sync saw, and
    queues every intervention of it again (schema/030_flow_change.sql): the
    state of a first sync."""
    where = "WHERE tenant_id = (SELECT id FROM tenant WHERE code = %s)"
    for table in ("flow_outcome", "flow_state", "sinba_state", "flow_record"):
        superuser_sql("DELETE FROM %s %s" % (table, where), (TENANT,))
    superuser_sql("INSERT INTO flow_change (tenant_id, intervention_id) "
                  "SELECT tenant_id, id FROM intervention %s ORDER BY created_at, id "
                  "ON CONFLICT DO NOTHING" % where, (TENANT,))
    superuser_sql("VACUUM ANALYZE flow_record, flow_state, sinba_state, flow_change")


def demo_supports_persons():
    res = subprocess.run([BIN, "demo", "--help"], capture_output=True, text=True)
    return "--persons" in (res.stdout + res.stderr)


class Api:
    def __init__(self, url, auth):
        self.url, self.s = url, requests.Session()
        self.s.headers["Authorization"] = auth

    def call(self, method, path, body=None, want=(200, 201)):
        r = self.s.request(method, self.url + path, json=body, timeout=120)
        if r.status_code not in want:
            raise SystemExit("%s %s: %s %s" % (method, path, r.status_code, r.text[:500]))
        return r.json() if r.content else None


def service_id(code):
    return str(superuser_sql(
        "SELECT s.id FROM service_catalogue s JOIN tenant t ON t.id = s.tenant_id "
        "WHERE t.code = 'corsichese' AND s.code = %s", (code,))[0][0])


def intervention_body(person_id, case_id, sad, year, protocol):
    return {
        "beneficiary_id": person_id, "case_id": case_id, "service": sad, "nature": "periodic",
        "start_date": "%d-03-01" % year, "end_date": "%d-10-31" % year,
        "monthly_amount": "350.00", "hours_per_month": "20.50", "means_test": 4,
        "shares": {"tenant": "300.00", "user": "50.00", "health": None},
        "funding": [{"channel": "comune", "amount": "350.00"}],
        "in_charge": True, "user_area": 2, "application_protocol": protocol,
    }


def load_through_api(api, persons, sad):
    """persons people, each with a case and two interventions, through the API
    (the same validation and encryption as any client's data), POOL at a time."""
    import concurrent.futures
    import threading
    local = threading.local()

    def one(i):
        if not hasattr(local, "api"):
            local.api = Api(api.url, api.s.headers["Authorization"])
        body = fiscal.person(sex=random.choice("MF"),
                             birth="19%02d-0%d-1%d" % (random.randint(30, 99),
                                                       random.randint(1, 9), random.randint(0, 9)))
        body["residence"] = body["address"]["istat_code"] = TENANT
        pid = local.api.call("POST", "/api/v1/persons", body)["id"]
        cid = local.api.call("POST", "/api/v1/cases", {"person_id": pid})["id"]
        for y in (2023, 2024):
            local.api.call("POST", "/api/v1/interventions",
                           intervention_body(pid, cid, sad, y, "P-%d-%d" % (i, y)))
        if (i + 1) % 200 == 0:
            log("loaded %d/%d persons through the API" % (i + 1, persons))

    with concurrent.futures.ThreadPoolExecutor(POOL) as ex:
        for f in [ex.submit(one, i) for i in range(persons)]:
            f.result()


def pick_targets(api, k):
    """k (person, case) pairs of the tenant, chosen at random among its cases."""
    cases, cursor = [], None
    while len(cases) < 2000:
        page = api.call("GET", "/api/v1/cases?limit=100" + ("&cursor=" + cursor if cursor else ""))
        cases += [c for c in page["items"] if c.get("person_id")]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    random.shuffle(cases)
    out = []
    for c in cases[:k]:
        p = api.call("GET", "/api/v1/persons/" + c["person_id"])
        out.append(Target(case_id=c["id"], person_id=p["id"], fiscal_code=p["fiscal_code"],
                          surname=p["surname"]))
    if not out:
        raise SystemExit("no case to read in tenant %s" % TENANT)
    return out


# ---------------------------------------------------------------- main

def main():
    global TENANT
    a = parse_args()
    TENANT = a.tenant
    skip = set(x for x in a.skip.split(",") if x)
    if skip - set(w.name for w in WORKLOADS):
        raise SystemExit("--skip: no workload %s" % ", ".join(sorted(skip)))
    workloads = [w for w in WORKLOADS if w.name not in skip]
    random.seed(7)
    os.makedirs(a.out, exist_ok=True)
    results = {"args": vars(a), "pinning": {"server": SERVER_CPU, "load": LOAD_CPU},
               "pool": POOL}
    procs = []
    try:
        superuser_sql("UPDATE tenant SET siuss_operator_cf = %s WHERE code = %s",
                      (OPERATOR_CF, TENANT))
        # Data loaded by an earlier run (tests/bench/run --data-dir) is used
        # as it is; so each run has users of its own.
        kept = existing_persons()
        t0 = time.time()
        if kept == 0 and demo_supports_persons() and not a.smoke:
            log("cartella demo --persons %d --jobs %d" % (a.persons, a.jobs))
            subprocess.run([BIN, "demo", "--persons", str(a.persons), "--seed", "7",
                            "--jobs", str(a.jobs)], check=True,
                           env=dict(os.environ, CARTELLA_LOG_LEVEL="warn"))
            results["load_seconds"] = round(time.time() - t0, 1)
            superuser_sql("VACUUM ANALYZE")
            log("loaded in %.0f s" % results["load_seconds"])
        elif kept > 0:
            log("using the %d persons already loaded" % kept)
        if a.load_only:
            return
        cartella, url = start_cartella()
        procs.append(cartella)
        suffix = time.strftime(".%H%M%S")
        worker = make_user("bench.worker" + suffix, ["social_worker", "administrative"])
        admin = make_user("bench.admin" + suffix, ["admin"])
        token = login(url, "bench.worker" + suffix, worker)
        api = Api(url, "Bearer " + token)
        adm = Api(url, "Bearer " + login(url, "bench.admin" + suffix, admin))
        client = adm.call("POST", "/api/v1/clients", {"name": "bench siuss" + suffix,
                                                   "scopes": ["siuss"]})
        import base64
        basic = "Basic " + base64.b64encode(
            ("%s:%s" % (client["id"], client["secret"])).encode()).decode()
        sad = service_id("SAD")

        if kept == 0 and (a.smoke or not demo_supports_persons()):
            load_through_api(api, a.persons, sad)
            results["load_seconds"] = round(time.time() - t0, 1)
            superuser_sql("VACUUM ANALYZE")

        targets = pick_targets(api, 1 if a.smoke else 8)
        # The create workload writes into a case of its own, so that the list
        # workload reads the same cases throughout.
        body = fiscal.person()
        body["residence"] = body["address"]["istat_code"] = TENANT
        # (on kept data, the same person as in the run before)
        made = api.call("POST", "/api/v1/persons", body, want=(201, 409))
        pid = made.get("id") or made["existing_id"]
        made = api.call("POST", "/api/v1/cases", {"person_id": pid}, want=(201, 409))
        create_case = made.get("id") or made["existing_id"]
        ctx = {"auth": "Bearer " + token, "basic": basic, "targets": targets, "sad": sad,
               "create_case": create_case, "create_person": pid, "tenant": TENANT}
        # Flows requests first turn every changed intervention into its flow
        # records; the workload then pages through stored flows.
        if "siuss_flows" not in skip:
            if a.regenerate_flows:
                forget_flows()
            gen = measure.drain_flows(url, ctx, cartella.pid)
            results["flow_generation"] = {"interventions": gen[0], "cpu_s": gen[1],
                                          "postgres_cpu_s": gen[2], "wall_s": gen[3]}
            log("flow generation: %s" % results["flow_generation"])
        superuser_sql("VACUUM ANALYZE")
        counts = superuser_sql("SELECT (SELECT count(*) FROM person), "
                               "(SELECT count(*) FROM intervention), "
                               "(SELECT count(*) FROM flow_record), "
                               "(SELECT count(*) FROM person p JOIN tenant t "
                               " ON t.id = p.tenant_id WHERE t.code = %s), "
                               "(SELECT count(*) FROM intervention i JOIN tenant t "
                               " ON t.id = i.tenant_id WHERE t.code = %s), "
                               "pg_size_pretty(pg_database_size(current_database()))",
                               (TENANT, TENANT))[0]
        results["data"] = dict(zip(("persons", "interventions", "flow_records",
                                    "tenant_persons", "tenant_interventions", "db_size"),
                                   counts))
        log("data: %s" % results["data"])

        scripts = capture.capture_all(url, ctx, workloads, os.path.join(a.out, "pgbench"))
        if a.profile:
            measure.profile(a, url, ctx, next(w for w in WORKLOADS if w.name == a.profile),
                            cartella.pid, LOAD_CPU)
        if a.capture_only:
            if "spending_report" in scripts:
                # The report against its bare aggregate at concurrency 1
                # alone, for data where the closed loop at 16 connections
                # and the latency runs would only queue reports.
                results["report_c1"] = measure.report_c1(
                    a, url, ctx, next(w for w in workloads if w.name == "spending_report"),
                    scripts, LOAD_CPU)
                with open(os.path.join(a.out, "results.json"), "w") as f:
                    json.dump(results, f, indent=1, default=str)
            log("pgbench scripts in %s" % os.path.join(a.out, "pgbench"))
            return
        peer, peer_url = start_peer()
        procs.append(peer)
        results["correctness"] = measure.check_correctness(url, peer_url, ctx, workloads, scripts)
        if a.smoke:
            results["smoke"] = measure.smoke(url, peer_url, ctx, workloads, scripts,
                                             cartella.pid, peer.pid, LOAD_CPU)
        else:
            results.update(measure.run_all(a, url, peer_url, ctx, workloads, scripts,
                                           cartella.pid, peer.pid, LOAD_CPU))
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1, default=str)
        md = measure.markdown(results)
        with open(os.path.join(a.out, "results.md"), "w") as f:
            f.write(md)
        print(md)
        log("results in %s" % a.out)
    finally:
        for p in procs:
            stop(p)


if __name__ == "__main__":
    main()
