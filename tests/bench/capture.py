"""The database ceiling's SQL: what the server really ran.

For each workload, one request per target (each distinct path the load
generators cycle through) is sent to Cartella while PostgreSQL logs every
statement (log_statement = all, CSV log); the statements of the application
role, with their parameters, become one pgbench script per target, run
together with -M prepared (pgbench picks one at random per transaction, as
the load generators cycle through the targets; a case with thirty
interventions costs more than one with none, so one target alone would not
stand for the workload):
the same SQL, the same parameters, the same transaction (BEGIN ... COMMIT,
set_config('app.tenant', ...), the session lookup, the audit insert). Only
what must differ per run differs: the id of a row the request created is
derived from a pgbench random number (md5(:rid)), so that every transaction
inserts a new row."""

import csv
import io
import json
import os
import re
import time

import requests

PG_LOG = os.environ.get("BENCH_PG_LOG", "")
APP_ROLE = "cartella_app"
PARAM_RE = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')")
DOLLAR_RE = re.compile(r"\$(\d+)\b")


class Statement:
    def __init__(self, name, sql, params):
        self.name, self.sql, self.params = name, sql, params


class Script:
    """The pgbench scripts of a workload (one per target): their paths, the
    defines (-D name=value) of them all, and the first one's statements."""

    def __init__(self, path, defines, statements, created_id):
        self.path, self.defines = path, defines
        self.paths = [path]
        self.statements, self.created_id = statements, created_id

    def add(self, other):
        """Adds another target's script (same workload, own variables)."""
        self.paths.append(other.path)
        self.defines.update(other.defines)

    def pgbench_args(self):
        out = []
        for p in self.paths:
            out += ["-f", p]
        for k, v in self.defines.items():
            out += ["-D", "%s=%s" % (k, v)]
        return out


def _superuser(sql):
    import psycopg2
    c = psycopg2.connect(os.environ["CARTELLA_PG_SUPERUSER_URL"])
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(sql)
    finally:
        c.close()


def _set_logging(on):
    _superuser("ALTER SYSTEM SET log_statement = 'all'" if on
               else "ALTER SYSTEM RESET log_statement")
    _superuser("SELECT pg_reload_conf()")
    time.sleep(0.5)


def _parse_params(detail):
    out = {}
    if not detail or not detail.startswith("parameters: "):
        return out
    for m in PARAM_RE.finditer(detail):
        out[int(m.group(1))] = None if m.group(2) == "NULL" else m.group(3).replace("''", "'")
    return out


def _read_statements(offset):
    with open(PG_LOG, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8")
    by_pid = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 15 or row[1] != APP_ROLE:
            continue
        msg, detail, out = row[13], row[14], by_pid.setdefault(row[3], [])
        if msg.startswith("statement: "):
            out.append(Statement(None, msg[len("statement: "):], {}))
        elif msg.startswith("execute "):
            name, _, sql = msg[len("execute "):].partition(": ")
            out.append(Statement(name, sql, _parse_params(detail)))
    # The request's connection is the one that authenticated a caller; the
    # others (the audit sealer's) are background work, not the request.
    for statements in by_pid.values():
        if any("app.resolve_" in st.sql for st in statements):
            return statements
    return []


def request(url, ctx, w, path):
    headers = {"Authorization": ctx[w.auth]}
    body = w.body(ctx) if w.body else None
    return requests.request(w.method, url + path, json=body, headers=headers, timeout=120)


def _one(url, ctx, w, path):
    """Sends one request of w to path (after one to warm it up) and returns
    (response, statements it ran)."""
    request(url, ctx, w, path)
    time.sleep(0.3)
    offset = os.path.getsize(PG_LOG)
    r = request(url, ctx, w, path)
    time.sleep(0.6)  # the logging collector writes asynchronously
    return r, _read_statements(offset)


def _expr(value, created_id, defines, var):
    """The pgbench text standing for one parameter value."""
    if value is None:
        return "NULL"
    fresh = "md5(:rid::text)::uuid"
    if created_id and value == created_id:
        return fresh
    defines[var] = value
    if created_id and created_id in value:
        return "(replace(:%s::text, '%s', %s::text))" % (var, created_id, fresh)
    return ":" + var


def _hide_literal_colons(sql):
    """pgbench reads ":name" as a variable even inside a string literal (the
    to_char formats' HH24:MI:SS): such a colon becomes chr(58), folded back
    into the same constant when the statement is planned."""
    out, quoted = [], False
    for i, ch in enumerate(sql):
        if ch == "'":
            quoted = not quoted
        if quoted and ch == ":" and i + 1 < len(sql) and (sql[i + 1].isalnum() or
                                                          sql[i + 1] == "_"):
            out.append("' || chr(58) || '")
            continue
        out.append(ch)
    return "".join(out)


def to_script(path, w, statements, created_id, tag=""):
    defines, lines = {}, []
    if created_id:
        lines.append("\\set rid random(1, 9000000000000000000)")
    # The server sends BEGIN with the first statement and the audit insert
    # with COMMIT, each pair in one libpq pipeline (server/db.c); it sent them
    # with the extended protocol (a name, "<unnamed>", in the log) where the
    # old server used a simple query. The ceiling pipelines the same pairs,
    # so that it makes the same round trips.
    pipe_open, pipe_close = set(), set()
    if len(statements) >= 4 and statements[0].name and statements[0].sql.startswith("BEGIN"):
        pipe_open.add(0)
        pipe_close.add(1)
    if (len(statements) >= 4 and statements[-1].name and statements[-1].sql == "COMMIT"
            and statements[-2].name == "audit_insert"):
        pipe_open.add(len(statements) - 2)
        pipe_close.add(len(statements) - 1)
    for i, st in enumerate(statements):
        if i in pipe_open:
            lines.append("\\startpipeline")
        def sub(m, i=i, st=st):
            n = int(m.group(1))
            return _expr(st.params.get(n), created_id, defines,
                         "%s%s_%d_%d" % (w.name, tag, i, n))
        lines.append(DOLLAR_RE.sub(sub, _hide_literal_colons(st.sql)) + ";")
        if i in pipe_close:
            lines.append("\\endpipeline")
    with open(path, "w") as f:
        f.write("-- %s: the statements Cartella ran for one request (captured)\n" % w.title)
        f.write("\n".join(lines) + "\n")
    with open(path[:-len(".sql")] + ".json", "w") as f:
        json.dump({"statements": [{"name": st.name, "sql": st.sql, "params": st.params}
                                  for st in statements],
                   "created_id": created_id, "defines": defines}, f, indent=1)
    return Script(path, defines, statements, created_id)


def capture_all(url, ctx, workloads, outdir):
    """Returns {workload name: Script}."""
    os.makedirs(outdir, exist_ok=True)
    scripts = {}
    _set_logging(True)
    try:
        for w in workloads:
            for k, path in enumerate(dict.fromkeys(w.paths(ctx))):
                r, statements = _one(url, ctx, w, path)
                if r.status_code // 100 != 2 or not statements:
                    raise SystemExit("capture %s: HTTP %d, %d statements: %s" % (
                        w.name, r.status_code, len(statements), r.text[:300]))
                created = r.json().get("id") if w.method == "POST" else None
                tag = "" if k == 0 else "_t%d" % k
                one = to_script(os.path.join(outdir, w.name + tag + ".sql"), w, statements,
                                created, tag)
                if k == 0:
                    scripts[w.name] = one
                else:
                    scripts[w.name].add(one)
    finally:
        _set_logging(False)
    return scripts
