"""Measurements of the benchmark: pgbench (the ceiling), wrk (throughput at
fixed concurrency), h2load --rps (latency at a fixed offered rate), CPU from
/proc/<pid>/stat and memory from /proc/<pid>/status; and the correctness
checks the smoke mode asserts (never timings)."""

import base64
import json
import os
import re
import statistics
import subprocess
import tempfile
import time

import requests

import capture

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")
CONNECTIONS = 16
RATE_CONNECTIONS = 8


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def postgres_cpu_seconds():
    """CPU seconds of the whole PostgreSQL cluster so far: the postmaster,
    its live children (backends, autovacuum, checkpointer, ...) and the
    children that have exited (the postmaster's cutime + cstime)."""
    import psycopg2
    c = psycopg2.connect(os.environ["CARTELLA_PG_SUPERUSER_URL"])
    try:
        with c.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backend = cur.fetchone()[0]
        with open("/proc/%d/stat" % backend) as f:
            master = int(f.read().rsplit(")", 1)[1].split()[1])
    finally:
        c.close()
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(d), int(fields[1])
        if pid == master:
            total += sum(int(x) for x in fields[11:15]) / TICK  # own + exited children
        elif ppid == master:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def memory_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _body_file(ctx, w):
    if not w.body:
        return ""
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=os.environ["BENCH_TMP"])
    json.dump(w.body(ctx), f)
    f.close()
    return f.name


# ---------------------------------------------------------------- load generators

def wrk(load_cpu, url, ctx, w, seconds, connections=CONNECTIONS, pid=None):
    """Closed loop at fixed concurrency. Returns the wrk summary plus the
    server's CPU seconds over the run (when pid is given)."""
    env = dict(os.environ, BENCH_PATHS=" ".join(w.paths(ctx)), BENCH_METHOD=w.method,
               BENCH_AUTH=ctx[w.auth], BENCH_BODY_FILE=_body_file(ctx, w))
    cpu0 = cpu_seconds(pid) if pid else 0
    res = subprocess.run(["taskset", "-c", load_cpu, "wrk", "-t1", "-c%d" % connections,
                          "-d%ds" % max(1, round(seconds)), "--timeout", "10s",
                          "-s", os.path.join(HERE, "wrk.lua"), url],
                         env=env, capture_output=True, text=True, check=True)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    out["rps"] = out["requests"] / out["seconds"]
    if pid:
        out["cpu_s"] = cpu_seconds(pid) - cpu0
        out["cpu_s_per_1k"] = out["cpu_s"] / max(out["requests"], 1) * 1000
    return out


def h2load(load_cpu, url, ctx, w, seconds, rate):
    """Fixed offered rate (h2load --rps per connection, HTTP/1.1): latency
    percentiles from its per-request log."""
    conns = max(1, min(RATE_CONNECTIONS, int(rate)))
    per = max(1, int(rate / conns))
    log = tempfile.NamedTemporaryFile(suffix=".log", delete=False, dir=os.environ["BENCH_TMP"])
    log.close()
    argv = ["taskset", "-c", load_cpu, "h2load", "--h1", "-c", str(conns), "-m", "1",
            "--rps", str(per), "-D", str(max(1, round(seconds))), "--log-file", log.name,
            "-H", "Authorization: " + ctx[w.auth]]
    body = _body_file(ctx, w)
    if body:
        argv += ["-d", body, "-H", "Content-Type: application/json"]
    argv += [url + p for p in w.paths(ctx)]
    subprocess.run(argv, capture_output=True, text=True, check=True)
    lat, bad = [], 0
    with open(log.name) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) < 3:
                continue
            if not cols[1].startswith("2"):
                bad += 1
            lat.append(int(cols[2]) / 1000)
    os.unlink(log.name)
    lat.sort()
    pct = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None)
    return {"rate": conns * per, "requests": len(lat), "non2xx": bad, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99)}


def pgbench(load_cpu, script, seconds, clients, extra=()):
    argv = ["taskset", "-c", load_cpu, "pgbench", "-n", "-M", "prepared", "-c", str(clients),
            "-j", "1", "-T", str(max(1, round(seconds)))] + list(extra) + script.pgbench_args()
    argv.append(os.environ["DATABASE_URL"])
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit("pgbench %s: %s" % (script.path, res.stderr[-2000:]))
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", res.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", res.stdout)
    return {"tps": float(m.group(1)), "failed": int(failed.group(1)) if failed else 0}


def bare_aggregate(script, outdir):
    """The spending report's aggregate alone (the statement that reads the
    facts), as a pgbench script of its own; the tenant context is set by
    set_config inside the same statement's transaction."""
    st = next(s for s in script.statements if "spending_facts" in s.sql)
    path = os.path.join(outdir, "spending_aggregate.sql")
    with open(path, "w") as f:
        f.write("BEGIN;\nSELECT set_config('app.tenant', :t, true);\n")
        f.write(capture.DOLLAR_RE.sub(lambda m: ":a%s" % m.group(1), st.sql) + ";\nCOMMIT;\n")
    defines = {"t": st.params[1]}
    defines.update({"a%d" % k: v for k, v in st.params.items()})
    return capture.Script(path, defines, [st], None)


# ---------------------------------------------------------------- SIUSS flows

def pending_flows(tenant_code):
    """How many interventions of the tenant wait for their flow (the
    condition of the server's waas_changed statement); those of sealed cases
    are hidden from the SIUSS client, so never wait."""
    import psycopg2
    c = psycopg2.connect(os.environ["CARTELLA_PG_SUPERUSER_URL"])
    try:
        with c.cursor() as cur:
            cur.execute("SELECT count(*) FROM intervention i JOIN tenant t ON t.id = i.tenant_id "
                        "JOIN person p ON p.tenant_id = i.tenant_id AND p.id = i.beneficiary_id "
                        "LEFT JOIN flow_state st "
                        "ON st.tenant_id = i.tenant_id AND st.intervention_id = i.id "
                        "WHERE t.code = %s AND NOT EXISTS (SELECT FROM social_case c "
                        "WHERE c.tenant_id = i.tenant_id AND c.id = i.case_id AND c.sealed) "
                        "AND (st.intervention_id IS NULL "
                        "OR st.intervention_version <> i.version "
                        "OR st.person_version <> p.version)", (tenant_code,))
            return cur.fetchone()[0]
    finally:
        c.close()


def drain_flows(url, ctx, pid):
    """Lets Cartella turn every changed intervention into its flow (each
    flows request makes up to 1,000; the count of those left, a scan of the
    Comune's interventions, is taken again only after enough requests for
    them all). Returns (interventions, CPU seconds of the server, CPU seconds
    of the PostgreSQL cluster, wall seconds)."""
    before, cpu0 = pending_flows(ctx["tenant"]), cpu_seconds(pid)
    pg0, t0 = postgres_cpu_seconds(), time.time()
    left = before
    for _ in range(1000):
        for _ in range(max(1, -(-left // 1000))):
            r = requests.get(url + "/waas/v1/flussi?since=99999999999999&limit=1",
                             headers={"Authorization": ctx["basic"]}, timeout=600)
            if r.status_code != 200:
                raise SystemExit("flows: %d %s" % (r.status_code, r.text[:300]))
        left = pending_flows(ctx["tenant"])
        if left == 0:
            break
    return (before, cpu_seconds(pid) - cpu0, postgres_cpu_seconds() - pg0,
            time.time() - t0)


# ---------------------------------------------------------------- correctness

def check_correctness(url, peer_url, ctx, workloads, scripts):
    """Every workload answers 2xx from both servers, the peer decrypts the
    same person as Cartella and renders the same SIUSS flows, and every
    pgbench script runs. Raises SystemExit on the first failure."""
    out = {}
    for w in workloads:
        got = {}
        for who, base in (("cartella", url), ("peer", peer_url)):
            r = capture.request(base, ctx, w, w.paths(ctx)[0])
            if r.status_code // 100 != 2:
                raise SystemExit("%s %s: HTTP %d %s" % (who, w.name, r.status_code, r.text[:300]))
            got[who] = r.json()
        out[w.name] = "2xx from both"
        if w.name == "person_read":
            t = ctx["targets"][0]
            names = {k: (v["surname"], v["fiscal_code"]) for k, v in got.items()}
            if names["cartella"] != names["peer"] or names["peer"] != (t.surname, t.fiscal_code):
                raise SystemExit("the peer decrypts %s, Cartella %s" % (names["peer"],
                                                                        names["cartella"]))
            out[w.name] += "; the peer decrypts the same name and fiscal code"
        if w.name == "person_search":
            ids = {k: [p["id"] for p in v["items"]] for k, v in got.items()}
            if ids["cartella"] != ids["peer"] or not ids["peer"]:
                raise SystemExit("person search: peer %s, Cartella %s" % (ids["peer"],
                                                                          ids["cartella"]))
        if w.name == "siuss_flows":
            xml = {k: [base64.b64decode(f["flusso"]) for f in v["elenco_flussi"]]
                   for k, v in got.items()}
            if xml["cartella"] != xml["peer"]:
                raise SystemExit("the peer's SIUSS flows differ from Cartella's:\n%s\n%s" % (
                    xml["cartella"][:1], xml["peer"][:1]))
            out[w.name] += "; the same %d flows, byte for byte" % len(xml["peer"])
    for name, script in scripts.items():
        argv = ["pgbench", "-n", "-M", "prepared", "-c", "1", "-t", "1"] + script.pgbench_args()
        res = subprocess.run(argv + [os.environ["DATABASE_URL"]], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit("pgbench %s: %s" % (name, res.stderr[-1500:]))
        out[name] += "; pgbench script runs"
    return out


def smoke(url, peer_url, ctx, workloads, scripts, cpid, ppid, load_cpu):
    """One short run of every load generator against every workload: the
    harness works end to end (no timing is judged)."""
    out = {}
    for w in workloads:
        for who, base, pid in (("cartella", url, cpid), ("peer", peer_url, ppid)):
            if w.name == "siuss_flows":
                drain_flows(url, ctx, cpid)
            r = wrk(load_cpu, base, ctx, w, 1, connections=2, pid=pid)
            if r["requests"] == 0 or r["non2xx"] or r["errors"]:
                raise SystemExit("wrk %s %s: %s" % (who, w.name, r))
            if w.name == "siuss_flows":
                drain_flows(url, ctx, cpid)
            h = h2load(load_cpu, base, ctx, w, 1, 4)
            if h["requests"] == 0 or h["non2xx"]:
                raise SystemExit("h2load %s %s: %s" % (who, w.name, h))
        pg = pgbench(load_cpu, scripts[w.name], 1, 1)
        if pg["tps"] <= 0 or pg["failed"]:
            raise SystemExit("pgbench %s: %s" % (w.name, pg))
        out[w.name] = "wrk, h2load and pgbench ran"
    return out


# ---------------------------------------------------------------- the full run

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run_all(a, url, peer_url, ctx, workloads, scripts, cpid, ppid, load_cpu):
    d, runs = a.duration, []
    outdir = os.path.dirname(scripts[workloads[0].name].path)
    aggregate = (bare_aggregate(scripts["spending_report"], outdir)
                 if "spending_report" in scripts else None)
    for run in range(a.runs):
        res = {}
        for w in workloads:
            m = {}
            if w.name == "siuss_flows":
                drain_flows(url, ctx, cpid)
            m["ceiling"] = pgbench(load_cpu, scripts[w.name], d, 4)
            m["cartella"] = wrk(load_cpu, url, ctx, w, d, connections=a.connections, pid=cpid)
            if w.name == "siuss_flows":
                drain_flows(url, ctx, cpid)
            m["peer"] = wrk(load_cpu, peer_url, ctx, w, d, connections=a.connections, pid=ppid)
            rate = max(10, 0.5 * min(m["cartella"]["rps"], m["peer"]["rps"]))
            if w.name == "siuss_flows":
                drain_flows(url, ctx, cpid)
            m["cartella_lat"] = h2load(load_cpu, url, ctx, w, d, rate)
            if w.name == "siuss_flows":
                drain_flows(url, ctx, cpid)
            m["peer_lat"] = h2load(load_cpu, peer_url, ctx, w, d, rate)
            if w.name == "spending_report":
                m["aggregate_c1"] = pgbench(load_cpu, aggregate, d, 1)
                m["cartella_c1"] = wrk(load_cpu, url, ctx, w, d, connections=1)
            res[w.name] = m
            print("run %d %s: ceiling %.0f tx/s, cartella %.0f req/s, peer %.0f req/s" % (
                run + 1, w.name, m["ceiling"]["tps"], m["cartella"]["rps"], m["peer"]["rps"]),
                flush=True)
        runs.append(res)
    mem = {}
    w = next((w for w in workloads if w.name == "person_read"), None)
    for who, base, pid in (("cartella", url, cpid), ("peer", peer_url, ppid)) if w else ():
        env = dict(os.environ, BENCH_PATHS=" ".join(w.paths(ctx)), BENCH_METHOD="GET",
                   BENCH_AUTH=ctx[w.auth], BENCH_BODY_FILE="")
        p = subprocess.Popen(["taskset", "-c", load_cpu, "wrk", "-t1", "-c256", "-d6s",
                              "-s", os.path.join(HERE, "wrk.lua"), base], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4)
        rss = memory_kib(pid, "VmRSS")
        p.wait()
        mem[who] = {"rss_256_kib": rss, "hwm_kib": memory_kib(pid, "VmHWM")}
    return {"runs": runs, "memory": mem, "summary": summarise(runs, workloads)}


def report_c1(a, url, ctx, w, scripts, load_cpu):
    """The spending report (workload w) at concurrency 1 against its bare
    aggregate, a.runs times (medians): what run_all measures as
    vs_aggregate."""
    aggregate = bare_aggregate(scripts["spending_report"],
                               os.path.dirname(scripts["spending_report"].path))
    runs = []
    for _ in range(a.runs):
        agg = pgbench(load_cpu, aggregate, a.duration, 1)
        c1 = wrk(load_cpu, url, ctx, w, a.duration, connections=1)
        runs.append({"aggregate_tps": agg["tps"], "cartella_rps": c1["rps"],
                     "cartella_non2xx": c1["non2xx"],
                     "ratio": agg["tps"] / c1["rps"] if c1["rps"] else None})
        print("report c1: aggregate %.3f tx/s, cartella %.3f req/s" % (
            agg["tps"], c1["rps"]), flush=True)
    return {"runs": runs, "aggregate_tps": med(r["aggregate_tps"] for r in runs),
            "cartella_rps": med(r["cartella_rps"] for r in runs),
            "vs_aggregate": med(r["ratio"] for r in runs)}


def summarise(runs, workloads):
    out = {}
    for w in workloads:
        rs = [r[w.name] for r in runs]
        s = {
            "ceiling_tps": med(r["ceiling"]["tps"] for r in rs),
            "cartella_rps": med(r["cartella"]["rps"] for r in rs),
            "peer_rps": med(r["peer"]["rps"] for r in rs),
            "vs_ceiling": med(r["cartella"]["rps"] / r["ceiling"]["tps"] for r in rs),
            "vs_peer": med(r["cartella"]["rps"] / r["peer"]["rps"] for r in rs),
            "rate": med(r["cartella_lat"]["rate"] for r in rs),
            "cartella_p50": med(r["cartella_lat"]["p50_ms"] for r in rs),
            "cartella_p99": med(r["cartella_lat"]["p99_ms"] for r in rs),
            "peer_p50": med(r["peer_lat"]["p50_ms"] for r in rs),
            "peer_p99": med(r["peer_lat"]["p99_ms"] for r in rs),
            "p99_vs_peer": med(r["cartella_lat"]["p99_ms"] / r["peer_lat"]["p99_ms"]
                               for r in rs if r["peer_lat"]["p99_ms"]),
            "cartella_cpu_1k": med(r["cartella"]["cpu_s_per_1k"] for r in rs),
            "peer_cpu_1k": med(r["peer"]["cpu_s_per_1k"] for r in rs),
            "non2xx": sum(r["cartella"]["non2xx"] + r["peer"]["non2xx"] +
                          r["cartella_lat"]["non2xx"] + r["peer_lat"]["non2xx"] for r in rs),
        }
        if w.items > 1:
            s["flows_per_cpu_s"] = med(r["cartella"]["requests"] * w.items / r["cartella"]["cpu_s"]
                                       for r in rs if r["cartella"]["cpu_s"])
        if w.name == "spending_report":
            s["vs_aggregate"] = med(r["aggregate_c1"]["tps"] / r["cartella_c1"]["rps"] for r in rs)
        out[w.name] = s
    return out


def markdown(results):
    def f(x, fmt="%.0f"):
        return "–" if x is None else fmt % x

    lines = []
    data = results.get("data", {})
    lines.append("Data: %s persons (%s in the Comune measured, %s), %s interventions (%s in the "
                 "Comune), %s SIUSS flow records, database %s. Pool %d, server and peer on CPU %s, "
                 "load generators on CPU %s." % (
                     data.get("persons"), data.get("tenant_persons"), results["args"]["tenant"],
                     data.get("interventions"), data.get("tenant_interventions"),
                     data.get("flow_records"), data.get("db_size"),
                     results["pool"], results["pinning"]["server"], results["pinning"]["load"]))
    if "summary" not in results:
        lines.append("")
        for k, v in results.get("correctness", {}).items():
            lines.append("- %s: %s" % (k, v))
        for k, v in results.get("smoke", {}).items():
            lines.append("- %s: %s" % (k, v))
        return "\n".join(lines) + "\n"
    lines += ["", "| workload | ceiling tx/s | Cartella req/s | peer req/s | Cartella/ceiling | "
              "Cartella/peer | rate req/s | Cartella p50/p99 ms | peer p50/p99 ms | p99 Cartella/peer"
              " | CPU-s/1k Cartella | CPU-s/1k peer |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in results["summary"].items():
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s | %s |" % (
            name, f(s["ceiling_tps"]), f(s["cartella_rps"]), f(s["peer_rps"]),
            f(s["vs_ceiling"], "%.2f"), f(s["vs_peer"], "%.2f"), f(s["rate"]),
            f(s["cartella_p50"], "%.2f"), f(s["cartella_p99"], "%.2f"),
            f(s["peer_p50"], "%.2f"), f(s["peer_p99"], "%.2f"), f(s["p99_vs_peer"], "%.2f"),
            f(s["cartella_cpu_1k"], "%.3f"), f(s["peer_cpu_1k"], "%.3f")))
    s = results["summary"]
    mem = results["memory"]
    gen = results.get("flow_generation")
    lines.append("")
    if mem:
        lines.append(
            "- RSS at 256 keep-alive connections: Cartella %.1f MiB, peer %.1f MiB; peak RSS "
            "(VmHWM) over the whole run: Cartella %.1f MiB, peer %.1f MiB." % (
                mem["cartella"]["rss_256_kib"] / 1024, mem["peer"]["rss_256_kib"] / 1024,
                mem["cartella"]["hwm_kib"] / 1024, mem["peer"]["hwm_kib"] / 1024))
    if "spending_report" in s:
        lines.append(
            "- Regional spending report at concurrency 1: Cartella takes %s× the time of the "
            "bare SQL aggregate (app.spending_facts in its own transaction)." % f(
                s["spending_report"].get("vs_aggregate"), "%.2f"))
    if "siuss_flows" in s and gen:
        lines.append(
            "- SIUSS flows handed out (decrypt snapshot, render XML, base64, audit): %s flows "
            "per CPU-second of the server; flows generated from interventions (snapshot, "
            "encrypt, insert): %s interventions in %.1f CPU-s = %s per CPU-second." % (
                f(s["siuss_flows"].get("flows_per_cpu_s")), gen["interventions"], gen["cpu_s"],
                f(gen["interventions"] / gen["cpu_s"] if gen["cpu_s"] else None)))
    lines += [
        "- Medians of %d runs of %.0f s each; %d non-2xx answers in all." % (
            results["args"]["runs"], results["args"]["duration"],
            sum(x["non2xx"] for x in s.values())),
    ]
    return "\n".join(lines) + "\n"


def profile(a, url, ctx, w, pid, load_cpu):
    """perf record -g of the server during a wrk run of w; the report (by
    symbol, children included) goes to OUT/perf-<workload>.txt."""
    data = os.path.join(a.out, "perf-%s.data" % w.name)
    rec = subprocess.Popen(["perf", "record", "-g", "-o", data, "-p", str(pid), "--",
                            "sleep", str(max(2, round(a.duration)))],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if w.name == "siuss_flows":
        drain_flows(url, ctx, pid)
    wrk(load_cpu, url, ctx, w, a.duration)
    rec.wait()
    with open(os.path.join(a.out, "perf-%s.txt" % w.name), "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                        "--percent-limit", "0.5", "-g", "none"], stdout=f,
                       stderr=subprocess.DEVNULL)
