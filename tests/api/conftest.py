"""Fixtures for the black-box API tests.

The suite runs against the real binary and a real PostgreSQL, set up by
scripts/test, which exports:

  CARTELLA_URL                  base URL of the running server
  CARTELLA_BIN                  path of the cartella binary
  DATABASE_URL                  libpq URL as the application role
  CARTELLA_OWNER_DATABASE_URL   libpq URL as the owner role
  CARTELLA_PG_SUPERUSER_URL     libpq URL as the cluster superuser
  CARTELLA_KEK_FILE             key-encryption key file
  CARTELLA_SERVER_LOG           the running server's stderr (JSON lines)
  CARTELLA_REPO                 the repository root

Every test makes its own users (random names) so tests are independent of
each other, of their order, and of anything else using the same server.

The server requires a TOTP second factor (CARTELLA_TOTP_REQUIRED stays on):
make_user enrols every user it makes (`cartella user totp-enrol`) and
remembers the secret and recovery codes here, and login_body adds the next
unused code, so tests log in as they did before the second factor.
The few facts about table and column names live in this file only
(`Db` below), so a schema rename is one edit.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import psycopg2
import pytest
import requests
from requests.adapters import HTTPAdapter

from pdnd_voucher import Pdnd

REQUIRED_ENV = [
    "CARTELLA_URL",
    "CARTELLA_BIN",
    "DATABASE_URL",
    "CARTELLA_OWNER_DATABASE_URL",
    "CARTELLA_PG_SUPERUSER_URL",
    "CARTELLA_SERVER_LOG",
    "CARTELLA_REPO",
]

ROLES = ["social_worker", "administrative", "service_manager",
         "planning_office", "dpo", "admin"]

# Tenants seeded by the migrations.
CORSICO = "015093"
ASSAGO = "015011"
AMBITO = "corsichese"

PROBLEM_JSON = "application/problem+json"
HTTP_TIMEOUT = 30


def pytest_configure(config):
    missing = [k for k in REQUIRED_ENV if not os.environ.get(k)]
    if missing:
        raise pytest.UsageError(
            "tests/api needs the environment set by scripts/test; missing: "
            + ", ".join(missing))


# ---------------------------------------------------------------- helpers

def random_name(prefix="t_"):
    return prefix + secrets.token_hex(6)


def random_password():
    # Letters and digits only, 20 characters: well above the 12 minimum.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def is_problem(resp, status):
    """Asserts resp is an RFC 7807 problem with the given status; returns its body."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == PROBLEM_JSON, ctype
    body = resp.json()
    assert body.get("status") == status, body
    assert isinstance(body.get("type"), str) and body["type"].startswith("/problems/"), body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert body.get("instance") == resp.headers.get("X-Request-Id"), (body, resp.headers)
    return body


def without_instance(body):
    return {k: v for k, v in body.items() if k != "instance"}


def error_fields(body):
    return [e.get("field") for e in body.get("errors", [])]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- second factor

TOTP_PERIOD = 30


def totp_step(t=None):
    return int(time.time() if t is None else t) // TOTP_PERIOD


def totp_code(secret_b32, step):
    """RFC 6238 TOTP (HMAC-SHA-1, 6 digits) of a base32 secret for a time step."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return "%06d" % (value % 1000000)


class Enrolment:
    """What a user enrolled by the fixtures can present: the secret, the last
    step used, and the recovery codes not used yet."""

    def __init__(self, secret, recovery_codes):
        self.secret = secret
        self.last_step = None
        self.recovery_codes = list(recovery_codes)


ENROLLED = {}
_ENROLLED_LOCK = threading.Lock()


def enrol_with_cli(cli, username):
    """Enrols username with `cartella user totp-enrol` and remembers it."""
    res = cli("user", "totp-enrol", username)
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    secret, codes = None, []
    for line in res.stdout.splitlines():
        kind, _, value = line.partition(" ")
        if kind == "secret":
            secret = value
        elif kind == "recovery":
            codes.append(value)
    assert secret and len(codes) == 10, res.stdout
    with _ENROLLED_LOCK:
        ENROLLED[username] = Enrolment(secret, codes)
    return ENROLLED[username]


def second_factor_fields(username):
    """The login body fields that pass the second factor of a user the
    fixtures enrolled ({} for anyone else). The server accepts a code of the
    steps now-1, now and now+1, each once: this hands out the earliest step
    not used yet (now-1 only early in a step, so that the code is not two
    steps old when it arrives), then recovery codes, then waits for a step."""
    while True:
        with _ENROLLED_LOCK:
            e = ENROLLED.get(username)
            if e is None:
                return {}
            t = time.time()
            now = totp_step(t)
            first = now - 1 if t % TOTP_PERIOD < 15 else now
            step = first if e.last_step is None else max(first, e.last_step + 1)
            if step <= now + 1:
                e.last_step = step
                return {"totp": totp_code(e.secret, step)}
            if e.recovery_codes:
                return {"recovery_code": e.recovery_codes.pop()}
            wait = TOTP_PERIOD - t % TOTP_PERIOD + 0.2
        time.sleep(wait)


def login_body(username, password, tenant, second_factor=True):
    """A login body; for a user the fixtures enrolled it carries the next
    unused code (second_factor=False leaves it out)."""
    body = {"username": username, "password": password, "tenant": tenant}
    if second_factor:
        body.update(second_factor_fields(username))
    return body


class SourceAddressAdapter(HTTPAdapter):
    """Makes requests from a chosen local address (any of 127.0.0.0/8), so
    tests that trip per-address limits use an address of their own."""

    def __init__(self, source_ip, **kw):
        self._source = (source_ip, 0)
        super().__init__(**kw)

    def init_poolmanager(self, connections, maxsize, block=False, **kw):
        kw["source_address"] = self._source
        super().init_poolmanager(connections, maxsize, block, **kw)


def session_from(source_ip):
    s = requests.Session()
    adapter = SourceAddressAdapter(source_ip)
    s.mount("http://", adapter)
    return s


def random_loopback():
    return "127.%d.%d.%d" % (secrets.randbelow(200) + 20,
                             secrets.randbelow(254) + 1,
                             secrets.randbelow(253) + 2)


def fresh_client(url):
    """A requests.Session from an address of its own when the server is on the
    loopback, so that login failures counted per client address by one test
    never throttle another (the counters live in the shared database)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host.startswith("127."):
        return session_from(random_loopback())
    return requests.Session()


def url_with_db(url, dbname):
    """Same libpq URL, other database."""
    parts = urllib.parse.urlsplit(url)
    # Not urlunsplit: it drops the empty host of "postgresql:///db?host=/socket".
    text = "%s://%s/%s" % (parts.scheme, parts.netloc, urllib.parse.quote(dbname))
    if parts.query:
        text += "?" + parts.query
    return text


def url_with_port(url, host, port):
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    userinfo = ""
    if "@" in netloc:
        userinfo, _ = netloc.rsplit("@", 1)
        userinfo += "@"
    return urllib.parse.urlunsplit(parts._replace(netloc="%s%s:%d" % (userinfo, host, port)))


# ---------------------------------------------------------------- database

class Db:
    """Schema facts used by the tests, queried as the cluster superuser
    (which bypasses row-level security)."""

    MIGRATION_TABLE = "schema_migration"

    def __init__(self, url):
        self.url = url

    def _q(self, sql, args=()):
        conn = psycopg2.connect(self.url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            conn.close()

    def one(self, sql, args=()):
        rows = self._q(sql, args)
        return rows[0][0] if rows else None

    def all(self, sql, args=()):
        return self._q(sql, args)

    def user_id(self, username):
        return self.one("SELECT id FROM app_user WHERE username = %s", (username,))

    def user_exists(self, username):
        return self.one("SELECT count(*) FROM app_user WHERE username = %s", (username,)) > 0

    def tenant_id(self, code):
        return self.one("SELECT id FROM tenant WHERE code = %s", (code,))

    def session_count(self, username):
        return self.one(
            "SELECT count(*) FROM session s JOIN app_user u ON u.id = s.user_id"
            " WHERE u.username = %s", (username,))

    def session_rows_text(self, username):
        """Every session row of the user, as text (bytea shown as hex)."""
        rows = self.all(
            "SELECT s::text FROM session s JOIN app_user u ON u.id = s.user_id"
            " WHERE u.username = %s", (username,))
        return [r[0] for r in rows]


def create_scratch_database(name):
    """Creates database name owned by the owner role and prepares it as
    scripts/lib/common.sh prepares the real one. Returns (owner_url,
    app_url, Db as superuser); drop it with drop_scratch_database."""
    su_url = os.environ["CARTELLA_PG_SUPERUSER_URL"]
    owner_url = os.environ["CARTELLA_OWNER_DATABASE_URL"]
    owner = urllib.parse.unquote(urllib.parse.urlsplit(owner_url).username)
    su = psycopg2.connect(su_url)
    try:
        su.autocommit = True
        with su.cursor() as cur:
            cur.execute('CREATE DATABASE "%s" OWNER "%s"' % (name, owner))
    finally:
        su.close()
    sc = psycopg2.connect(url_with_db(su_url, name))
    try:
        sc.autocommit = True
        with sc.cursor() as cur:
            cur.execute('ALTER SCHEMA public OWNER TO "%s"' % owner)
            cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            cur.execute("GRANT USAGE ON SCHEMA public TO cartella_app")
    finally:
        sc.close()
    return (url_with_db(owner_url, name), url_with_db(os.environ["DATABASE_URL"], name),
            Db(url_with_db(su_url, name)))


def drop_scratch_database(name):
    su = psycopg2.connect(os.environ["CARTELLA_PG_SUPERUSER_URL"])
    try:
        su.autocommit = True
        with su.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    finally:
        su.close()


def pg_dump(url=None, data_only=False, timeout=600):
    """The text of a pg_dump of the database at url (the superuser's URL by
    default). pg_dump 15.14 and later frame the dump with "\\restrict KEY"
    and "\\unrestrict KEY", KEY 64 random letters and digits: not data, and
    a short name ("Li") may occur in it by chance, so those lines are left
    out."""
    exe = shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"
    args = [exe] + (["--data-only"] if data_only else []) + [
        "--dbname", url or os.environ["CARTELLA_PG_SUPERUSER_URL"]]
    res = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-2000:]
    return "".join(line for line in res.stdout.splitlines(keepends=True)
                   if not line.startswith(("\\restrict ", "\\unrestrict ")))


def fresh_report_year(db):
    """A year Y for a report test such that nothing in the database touches
    Y-2 .. Y+1 (open-ended periodic interventions run into every later year,
    so only a year before all other data is fresh); skips when there is none."""
    for y in range(2019, 2002, -1):
        busy = db.one(
            "SELECT (SELECT count(*) FROM intervention WHERE"
            " (nature = 'one_off' AND delivery_date BETWEEN make_date(%s - 2, 1, 1)"
            "  AND make_date(%s + 1, 12, 31))"
            " OR (nature = 'periodic' AND start_date <= make_date(%s + 1, 12, 31)"
            "  AND (end_date IS NULL OR end_date >= make_date(%s - 2, 1, 1))))"
            " + (SELECT count(*) FROM expenditure WHERE year BETWEEN %s - 2 AND %s + 1)",
            (y, y, y, y, y, y))
        if busy == 0:
            return y
    pytest.skip("no year free of other tests' data")


@pytest.fixture(scope="session")
def db():
    return Db(os.environ["CARTELLA_PG_SUPERUSER_URL"])


@pytest.fixture
def db_super():
    conns = []

    def connect(dbname=None):
        url = os.environ["CARTELLA_PG_SUPERUSER_URL"]
        if dbname:
            url = url_with_db(url, dbname)
        c = psycopg2.connect(url)
        conns.append(c)
        return c

    yield connect
    for c in conns:
        c.close()


@pytest.fixture
def db_app():
    """db_app(tenant_id=None) -> psycopg2 connection as the application role,
    in an open transaction; with tenant_id, app.tenant is set for that
    transaction (set_config(..., true))."""
    conns = []

    def connect(tenant_id=None):
        c = psycopg2.connect(os.environ["DATABASE_URL"])
        conns.append(c)
        if tenant_id is not None:
            with c.cursor() as cur:
                cur.execute("SELECT set_config('app.tenant', %s, true)", (str(tenant_id),))
        return c

    yield connect
    for c in conns:
        c.close()


@pytest.fixture
def db_owner():
    c = psycopg2.connect(os.environ["CARTELLA_OWNER_DATABASE_URL"])
    yield c
    c.close()


# ---------------------------------------------------------------- binary

def _binary_env(extra=None, drop=("CARTELLA_PG_SUPERUSER_URL",)):
    """The environment for the binary: ours, less the superuser URL (the
    server never needs it), plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture(scope="session")
def base_url():
    return os.environ["CARTELLA_URL"].rstrip("/")


@pytest.fixture(scope="session")
def cli():
    """cli(*args, input=None, env=None) -> CompletedProcess (text mode)."""

    def run(*args, input=None, env=None, timeout=60):
        return subprocess.run(
            [os.environ["CARTELLA_BIN"], *args],
            input=input, env=_binary_env(env), capture_output=True, text=True,
            timeout=timeout)

    return run


@pytest.fixture(scope="session")
def make_user(cli):
    """make_user(tenant, role, ...) -> (username, password).

    roles: more roles in the same tenant; grants: extra (tenant, role) pairs;
    enrol=False leaves the user without a second factor."""

    def make(tenant=CORSICO, role="social_worker", roles=(), grants=(),
             username=None, password=None, enrol=True):
        username = username or random_name()
        password = password or random_password()
        pairs = [(tenant, role)] + [(tenant, r) for r in roles] + list(grants)
        for t, r in pairs:
            res = cli("user", "add", "--tenant", t, "--role", r, "--username", username,
                      input=password + "\n")
            assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
        if enrol and username not in ENROLLED:
            enrol_with_cli(cli, username)
        return username, password

    return make


@pytest.fixture(scope="session")
def login(base_url):
    """login(username, password, tenant) -> requests.Session with the bearer
    token set; the login response is kept as .login_response / .login_body."""

    def do(username, password, tenant=CORSICO, url=None):
        s = fresh_client(url or base_url)
        r = s.post((url or base_url) + "/api/v1/sessions",
                   json=login_body(username, password, tenant), timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, (r.status_code, r.text)
        body = r.json()
        s.headers["Authorization"] = "Bearer " + body["token"]
        s.login_response = r
        s.login_body = body
        s.token = body["token"]
        s.base_url = url or base_url
        return s

    return do


@pytest.fixture(scope="module")
def staff(make_user, login):
    """staff(tenant, role) -> a logged-in session of a fresh user with that
    role, one per (tenant, role) and module."""
    cache = {}

    def get(tenant, role):
        if (tenant, role) not in cache:
            u, p = make_user(tenant, role)
            cache[(tenant, role)] = login(u, p, tenant)
        return cache[(tenant, role)]

    return get


def api_call(s, method, path, body=None, **kw):
    """s.request against s.base_url + path with a JSON body and the timeout."""
    return s.request(method, s.base_url + path, json=body, timeout=HTTP_TIMEOUT, **kw)


@pytest.fixture(scope="session")
def admin(make_user, login):
    """A fresh admin of Corsico, logged in: admin() -> (session, username)."""

    def make(tenant=CORSICO):
        u, p = make_user(tenant, "admin")
        return login(u, p, tenant), u

    return make


@pytest.fixture(scope="session")
def make_client(admin, base_url):
    """make_client(scopes, tenant=CORSICO, name=None, url=None) -> a
    requests.Session that authenticates as a new integration client of the
    tenant (HTTP Basic client_id:secret), created by a fresh admin through
    POST /api/v1/clients. Attributes: .client_id, .secret, .client_body (the
    201 body), .base_url, .admin (the admin's session)."""

    def make(scopes, tenant=CORSICO, name=None, url=None):
        url = url or base_url
        adm, _ = admin(tenant)
        r = adm.post(url + "/api/v1/clients",
                     json={"name": name or random_name("client "), "scopes": list(scopes)},
                     timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, (r.status_code, r.text)
        body = r.json()
        s = fresh_client(url)
        s.auth = (body["id"], body["secret"])
        s.client_id, s.secret, s.client_body = body["id"], body["secret"], body
        s.base_url, s.admin = url, adm
        return s

    return make


# ---------------------------------------------------------------- PDND

@pytest.fixture(scope="session")
def pdnd():
    """A Pdnd (tests/api/pdnd_voucher.py) with its files in a temporary
    directory, purposes for Corsico unless told otherwise."""
    with tempfile.TemporaryDirectory(prefix="cartella-pdnd-") as d:
        yield Pdnd(d, CORSICO)


# ---------------------------------------------------------------- servers

class SpawnedServer:
    def __init__(self, env_overrides):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        env = {"PORT": self.port, "CARTELLA_BIND": "127.0.0.1"}
        env.update(env_overrides)
        self.logfile = tempfile.NamedTemporaryFile(
            prefix="cartella-spawned-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [os.environ["CARTELLA_BIN"], "serve"],
            env=_binary_env(env, drop=("CARTELLA_PG_SUPERUSER_URL", "CARTELLA_OWNER_DATABASE_URL")),
            stdin=subprocess.DEVNULL, stdout=self.logfile, stderr=self.logfile)

    def log(self):
        with open(self.logfile.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited with %s before ready:\n%s"
                                     % (self.proc.returncode, self.log()[-3000:]))
            try:
                r = requests.get(self.url + "/status", timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready after %ss:\n%s" % (timeout, self.log()[-3000:]))

    def terminate(self, timeout=20):
        """Sends SIGTERM (if still running) and returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not stop within %ss of SIGTERM:\n%s"
                                 % (timeout, self.log()[-3000:]))

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logfile.close()
        with contextlib.suppress(OSError):
            os.unlink(self.logfile.name)


@pytest.fixture
def spawn_server():
    """with spawn_server(CARTELLA_CONN_TIMEOUT=2) as srv: ... srv.url ...

    Starts another instance of the binary on a free port with extra
    environment, waits for /status 200, and on leaving stops it with SIGTERM
    and asserts it exits 0."""

    @contextlib.contextmanager
    def spawn(**env_overrides):
        srv = SpawnedServer(env_overrides)
        try:
            srv.wait_ready()
            yield srv
        except BaseException:
            srv.cleanup()
            raise
        else:
            try:
                rc = srv.terminate()
                assert rc == 0, "exit status %s after SIGTERM:\n%s" % (rc, srv.log()[-3000:])
            finally:
                srv.cleanup()

    return spawn


class TcpProxy:
    """A TCP relay on a free port; stop() closes the listener and every
    relayed connection (the far end looks unreachable), start() reopens it."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._socks = []
        self._listener = None
        self._running = False

    def start(self):
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self._listener = lst
        self._running = True
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def _accept(self, lst):
        while self._running:
            try:
                c, _ = lst.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self._lock:
                self._socks += [c, u]
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stop(self):
        self._running = False
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


@pytest.fixture
def tcp_proxy():
    proxies = []

    def make(host, port):
        p = TcpProxy(host, port)
        p.start()
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        p.stop()


# ---------------------------------------------------------------- raw HTTP

def raw_connect(url, timeout=10):
    parts = urllib.parse.urlsplit(url)
    s = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    return s


def read_http_response(sock, timeout=10):
    """Reads one HTTP/1.1 response (headers and a Content-Length body, or until
    close). Returns (status, headers dict lower-cased, body bytes)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if b"\r\n\r\n" not in data:
        raise AssertionError("no complete HTTP response, got %r" % data[:500])
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        want = int(headers["content-length"])
        while len(body) < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body


def read_json_log(path):
    """Parses a JSON-lines log; returns (objects, raw text). A last line still
    being written is ignored."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    objs = []
    lines = text.split("\n")
    for line in lines[:-1]:
        if line.strip():
            objs.append(json.loads(line))
    return objs, text
