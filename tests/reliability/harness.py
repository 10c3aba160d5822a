"""Shared machinery of the reliability and security suites (tests/reliability,
tests/security): PostgreSQL clusters and server processes of their own that a
test may kill, users on such a cluster, and the checks every response must
pass. The API suite's helpers (tests/api/conftest.py) are loaded under the
name api_conftest and reused, not copied.

The shared server and database of scripts/test (CARTELLA_URL, DATABASE_URL)
are only read and written through the API like any client would; anything
that kills, stops or breaks a process does it to a process of its own.

CARTELLA_RELIABILITY=long selects the long mode (more iterations, more
endpoints, higher sqlmap level); anything else is the short mode CI runs.
"""

import contextlib
import importlib.util
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse

import psycopg2
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
API_DIR = os.path.join(os.path.dirname(HERE), "api")


def _load_api_conftest():
    spec = importlib.util.spec_from_file_location("api_conftest",
                                                  os.path.join(API_DIR, "conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


api = _load_api_conftest()

LONG = os.environ.get("CARTELLA_RELIABILITY", "short") == "long"
REPO = os.environ.get("CARTELLA_REPO", os.path.dirname(os.path.dirname(HERE)))
HTTP_TIMEOUT = api.HTTP_TIMEOUT


def mode(short, long):
    """The figure of the current mode."""
    return long if LONG else short


def report(name, **figures):
    """Prints a figure line (pytest -s or the JUnit output keep it) and appends
    it to $CARTELLA_RELIABILITY_REPORT when set, for docs/reliability.md."""
    line = "%s: %s" % (name, ", ".join("%s=%s" % kv for kv in figures.items()))
    print("FIGURES " + line)
    path = os.environ.get("CARTELLA_RELIABILITY_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


# ---------------------------------------------------------------- response hygiene

SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

# What no answer may ever carry: SQL text, PostgreSQL or libpq messages, source
# or file paths, stack traces.
LEAK_PATTERNS = [
    re.compile(p, re.I) for p in (
        r"\bselect\b.*\bfrom\b", r"\binsert into\b", r"\bupdate\b.*\bset\b", r"\bsyntax error\b",
        r"\bSQLSTATE\b", r"invalid input syntax", r"\bpq[A-Z]\w+", r"\bpostgres", r"\blibpq\b",
        r"\.c:\d+", r"\.py\b", r"/work/", r"/home/", r"/usr/", r"/tmp/", r"/var/", r"backtrace",
        r"Traceback", r"#\d+ 0x[0-9a-f]+", r"relation \"", r"violates", r"permission denied",
        r"terminating connection", r"server closed the connection", r"AddressSanitizer",
    )
]


def assert_security_headers(resp):
    """The headers server/http.c puts on every answer, errors included."""
    h = resp.headers
    where = (resp.request.method, resp.url, resp.status_code)
    assert "no-store" in h.get("Cache-Control", ""), (where, dict(h))
    assert h.get("X-Content-Type-Options") == "nosniff", (where, dict(h))
    assert h.get("X-Frame-Options") == "DENY", (where, dict(h))
    assert "default-src 'none'" in h.get("Content-Security-Policy", ""), (where, dict(h))
    assert h.get("Referrer-Policy") == "no-referrer", (where, dict(h))
    rid = h.get("X-Request-Id")
    assert rid and SAFE_ID.match(rid), (where, dict(h))


def assert_no_leak(resp):
    for pat in LEAK_PATTERNS:
        assert not pat.search(resp.text), (pat.pattern, resp.status_code, resp.text[:500])


def assert_generic_problem(resp, status):
    """An RFC 7807 body of the given status that names nothing internal."""
    body = api.is_problem(resp, status)
    assert_security_headers(resp)
    assert_no_leak(resp)
    return body


def assert_unavailable(resp):
    """503 with Retry-After and a generic problem body: no data returned."""
    body = assert_generic_problem(resp, 503)
    ra = resp.headers.get("Retry-After", "")
    assert ra.isdigit() and int(ra) > 0, dict(resp.headers)
    assert set(body) <= {"type", "title", "status", "detail", "instance"}, body
    return body


# ---------------------------------------------------------------- processes

def binary_env(extra=None, drop=("CARTELLA_PG_SUPERUSER_URL", "CARTELLA_OWNER_DATABASE_URL")):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if extra:
        env.update({k: str(v) for k, v in extra.items() if v is not None})
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
    return env


def run_cli(*args, env=None, input=None, timeout=120):
    """Runs the binary with the given environment overrides (text mode)."""
    return subprocess.run([os.environ["CARTELLA_BIN"], *args], input=input,
                          env=binary_env(env, drop=()), capture_output=True, text=True,
                          timeout=timeout)


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid, encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Server:
    """One `cartella serve` of a test's own, on a free port, with its log in a
    file that outlives restarts. start() may be called again after kill9() or
    terminate(): the same port and log are used."""

    def __init__(self, workdir, env=None, binary=None):
        self.port = api.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.env = dict(env or {})
        self.binary = binary or os.environ["CARTELLA_BIN"]
        self.logpath = os.path.join(workdir, "server-%d.log" % self.port)
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, wait=True, timeout=60):
        env = {"PORT": self.port, "CARTELLA_BIND": "127.0.0.1"}
        env.update(self.env)
        log = open(self.logpath, "ab")
        try:
            self.proc = subprocess.Popen([self.binary, "serve"], env=binary_env(env),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def log(self):
        with open(self.logpath, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited with %s before ready:\n%s"
                                     % (self.proc.returncode, self.log()[-3000:]))
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/status", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError("server not ready after %ss:\n%s" % (timeout, self.log()[-3000:]))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout=30):
        """SIGTERM; returns the exit status (kills and fails after timeout)."""
        if not self.running():
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("server did not stop within %ss of SIGTERM" % timeout)


@contextlib.contextmanager
def server(workdir, env=None, binary=None):
    """A started Server; on leaving, SIGTERM must end it with status 0."""
    srv = Server(workdir, env, binary).start()
    try:
        yield srv
    except BaseException:
        srv.kill9()
        raise
    rc = srv.terminate()
    assert rc == 0, "exit status %s after SIGTERM:\n%s" % (rc, srv.log()[-3000:])


# ---------------------------------------------------------------- PostgreSQL

def _lib(script, env=None, check=True):
    """Runs bash with scripts/lib/common.sh sourced (the same code scripts/test
    uses to make its cluster)."""
    full = 'set -euo pipefail; source "%s/scripts/lib/common.sh"; %s' % (REPO, script)
    res = subprocess.run(["bash", "-c", full], env=dict(os.environ, **(env or {})),
                         capture_output=True, text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError("%s\n%s%s" % (script, res.stdout[-2000:], res.stderr[-2000:]))
    return res


class Cluster:
    """A PostgreSQL cluster of a test's own, made by scripts/lib/common.sh.
    durable=True keeps PostgreSQL's default durability (fsync, synchronous
    commit, full page writes), which the crash tests need; scripts/test's own
    cluster trades them for speed."""

    def __init__(self, workdir, durable=True):
        self.dir = os.path.join(workdir, "pg-" + secrets.token_hex(3))
        self.port = api.free_port()
        self.durable = durable
        self.envfile = self.dir + ".env"
        self.urls = {}

    @staticmethod
    def q(name):
        """Quotes name for bash."""
        return "'%s'" % name.replace("'", "'\\''")

    def create(self, migrate=True):
        _lib("pg_cluster_init %s %d %s && pg_cluster_start %s && pg_cluster_bootstrap %s %d %s"
             % (self.q(self.dir), self.port, "" if self.durable else "fast", self.q(self.dir),
                self.q(self.dir), self.port, self.q(self.envfile)))
        with open(self.envfile, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"export (\w+)='?(.*?)'?$", line.strip())
                if m:
                    self.urls[m.group(1)] = m.group(2)
        if migrate:
            res = run_cli("migrate", env=self.env(owner=True))
            assert res.returncode == 0, res.stdout + res.stderr
        return self

    def env(self, owner=False):
        """Environment overrides for the binary against this cluster."""
        e = {"DATABASE_URL": self.urls["DATABASE_URL"]}
        e["CARTELLA_OWNER_DATABASE_URL"] = self.urls["CARTELLA_OWNER_DATABASE_URL"] if owner else None
        return e

    @property
    def superuser_url(self):
        return self.urls["CARTELLA_PG_SUPERUSER_URL"]

    def db(self):
        return api.Db(self.superuser_url)

    def connect(self):
        c = psycopg2.connect(self.superuser_url)
        c.autocommit = True
        return c

    def start(self):
        _lib("pg_cluster_start %s" % self.q(self.dir))

    def stop(self, how="fast"):
        _lib('as_pg "$PG_BIN/pg_ctl" -D "$(pg_cluster_path %s)/data" -m %s -w -t 60 stop'
             ' >/dev/null' % (self.q(self.dir), how))

    def destroy(self):
        _lib("pg_cluster_destroy %s" % self.q(self.dir), check=False)
        with contextlib.suppress(OSError):
            os.unlink(self.envfile)

    def pg_log(self):
        real = os.path.realpath(self.dir)
        with open(os.path.join(real, "postgres.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def as_pg(self, *args, **kw):
        """Runs a PostgreSQL client tool as the cluster's OS account."""
        cmd = " ".join(self.q(a) for a in args)
        return _lib('as_pg "$PG_BIN"/%s' % cmd, **kw)

    @property
    def socket_dir(self):
        return os.path.join(os.path.realpath(self.dir), "run")


def shared_cluster_socket():
    """(socket directory, port) of scripts/test's cluster, from its superuser URL."""
    url = os.environ["CARTELLA_PG_SUPERUSER_URL"]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return q["host"][0], int(q["port"][0])


# ---------------------------------------------------------------- users

def make_user_on(cluster_env, tenant=api.CORSICO, role="social_worker", roles=()):
    """A user (enrolled second factor) in the database cluster_env points at
    (None: the shared one). Returns (username, password)."""
    username, password = api.random_name(), api.random_password()
    env = cluster_env or {}
    for r in (role, *roles):
        res = run_cli("user", "add", "--tenant", tenant, "--role", r, "--username", username,
                      input=password + "\n", env=env)
        assert res.returncode == 0, res.stdout + res.stderr
    api.enrol_with_cli(lambda *a: run_cli(*a, env=env), username)
    return username, password


def login_on(url, username, password, tenant=api.CORSICO, source_ip=None):
    """A requests.Session logged in on the server at url."""
    s = api.session_from(source_ip) if source_ip else api.fresh_client(url)
    r = s.post(url + "/api/v1/sessions", json=api.login_body(username, password, tenant),
               timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, (r.status_code, r.text)
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    s.base_url = url
    s.token = r.json()["token"]
    return s


# ---------------------------------------------------------------- a steady client

class SteadyClient:
    """A well-behaved client: one request at a time, at a modest rate, on its
    own source address, recording each status and latency. Runs in a thread
    between start() and stop()."""

    def __init__(self, session, path, period=0.1):
        self.s, self.path, self.period = session, path, period
        self.samples = []  # (status, seconds)
        self.errors = []
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                r = self.s.get(self.s.base_url + self.path, timeout=HTTP_TIMEOUT)
                self.samples.append((r.status_code, time.monotonic() - t))
            except requests.RequestException as e:
                self.errors.append(repr(e))
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self._thread.join(HTTP_TIMEOUT + 5)
        return self

    def take(self, wait=HTTP_TIMEOUT + 1):
        """Returns and forgets the samples so far. An abuse can be over in
        less than the client's period, so this first waits (up to wait
        seconds) for the client to finish at least one request: a client
        that is stuck or failing still yields none, or errors."""
        deadline = time.monotonic() + wait
        while not self.samples and not self.errors and time.monotonic() < deadline:
            time.sleep(0.02)
        out, self.samples = self.samples, []
        return out


def median_ms(samples):
    return round(statistics.median(t for _, t in samples) * 1000, 1) if samples else None


def workdir():
    d = tempfile.mkdtemp(prefix="cartella-rel-")
    return d


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
