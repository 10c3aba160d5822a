"""The key lifecycle (`cartella keys`, DESIGN §5.4): status, KEK rotation and
the start-up check, data key rotation and re-encryption under load, a
re-encryption killed with SIGKILL and resumed, and values or key rows that do
not authenticate.

Everything runs on a scratch database of this module with its own KEK, seeded
by `cartella demo` plus the encrypted columns the demo does not fill (a TOTP
secret, a rectification, an idempotent answer, a restriction reason), served
by servers this module spawns (CARTELLA_TOTP_REQUIRED=0). Each test reads the
state it starts from, so the order does not matter."""
import os
import re
import secrets
import signal
import subprocess
import tempfile
import threading
import time

import psycopg2
import pytest
import requests

import fiscal
from conftest import (CORSICO, HTTP_TIMEOUT, SpawnedServer, _binary_env,
                      create_scratch_database, drop_scratch_database, random_name,
                      random_password)

PASSWORD = random_password()


def write_kek(path):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(secrets.token_bytes(32))
    return path


def header_version(value):
    """The key version in a stored value's header (auth/crypt.h)."""
    b = bytes(value)
    assert b[0] == 1, b[:5]
    return int.from_bytes(b[1:5], "big")


class Lab:
    """The scratch database, its current KEK and the binary's environment."""

    def __init__(self, owner_url, app_url, sdb, keydir):
        self.owner_url, self.app_url, self.sdb, self.keydir = owner_url, app_url, sdb, keydir
        self.kek = write_kek(os.path.join(keydir, "kek-1"))
        self.kek_count = 1

    def new_kek(self):
        self.kek_count += 1
        return write_kek(os.path.join(self.keydir, "kek-%d" % self.kek_count))

    def env(self, **extra):
        env = {"CARTELLA_OWNER_DATABASE_URL": self.owner_url, "DATABASE_URL": self.app_url,
               "CARTELLA_KEK_FILE": self.kek, "CARTELLA_TOTP_REQUIRED": "0"}
        env.update(extra)
        return env

    def run(self, *args, timeout=300, **extra):
        return subprocess.run([os.environ["CARTELLA_BIN"], *args], env=_binary_env(self.env(**extra)),
                              capture_output=True, text=True, timeout=timeout)

    def ok(self, *args, **extra):
        res = self.run(*args, **extra)
        assert res.returncode == 0, (args, res.returncode, res.stdout, res.stderr[-3000:])
        return res.stdout

    def server(self, **extra):
        return SpawnedServer(self.env(**extra))

    def tenant_id(self, code=CORSICO):
        return self.sdb.one("SELECT id FROM tenant WHERE code = %s", (code,))

    def encrypted_columns(self):
        """(table, column) of every encrypted column, from the catalogue, by
        the naming rule the commands document (*_enc, and user_totp.secret)."""
        rows = self.sdb.all(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type = 'bytea'"
            " AND (column_name LIKE '%%\\_enc' OR (table_name, column_name) = ('user_totp', 'secret'))")
        return sorted(rows)

    def versions(self, code=CORSICO):
        """{key version: number of values} over every encrypted column of a tenant."""
        out = {}
        tid = self.tenant_id(code)
        for t, c in self.encrypted_columns():
            for v, n in self.sdb.all(
                    'SELECT get_byte("%s", 1) << 24 | get_byte("%s", 2) << 16'
                    ' | get_byte("%s", 3) << 8 | get_byte("%s", 4), count(*) FROM "%s"'
                    ' WHERE tenant_id = %%s AND "%s" IS NOT NULL GROUP BY 1' % (c, c, c, c, t, c),
                    (tid,)):
                out[v] = out.get(v, 0) + n
        return out

    def key_rows(self, code=CORSICO):
        return self.sdb.all(
            "SELECT kind, version, kek_fingerprint, retired_at IS NOT NULL FROM tenant_key"
            " WHERE tenant_id = %s ORDER BY kind, version", (self.tenant_id(code),))

    def active(self, code=CORSICO):
        return max(v for kind, v, _, retired in self.key_rows(code)
                   if kind == "data" and not retired)

    def user(self, role, tenant=CORSICO):
        name = random_name()
        res = subprocess.run(
            [os.environ["CARTELLA_BIN"], "user", "add", "--tenant", tenant, "--role", role,
             "--username", name], input=PASSWORD + "\n", env=_binary_env(self.env()),
            capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return name


def login(url, username, tenant=CORSICO):
    s = requests.Session()
    r = s.post(url + "/api/v1/sessions", json={"username": username, "password": PASSWORD,
                                                "tenant": tenant}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    s.base_url = url
    return s


@pytest.fixture(scope="module")
def lab():
    name = "scratch_keys_" + secrets.token_hex(4)
    keydir = tempfile.mkdtemp(prefix="cartella-keys-")
    try:
        lab = Lab(*create_scratch_database(name), keydir)
        lab.ok("migrate")
        lab.ok("demo")
        seed_extras(lab)
        yield lab
    finally:
        drop_scratch_database(name)
        for f in os.listdir(keydir):
            os.unlink(os.path.join(keydir, f))
        os.rmdir(keydir)


def seed_extras(lab):
    """The encrypted columns the demo leaves empty."""
    enrolled = lab.user("social_worker")
    out = lab.ok("user", "totp-enrol", enrolled)
    assert "secret " in out
    worker, dpo = lab.user("social_worker"), lab.user("dpo")
    srv = lab.server()
    try:
        srv.wait_ready()
        w = login(srv.url, worker)
        r = w.post(srv.url + "/api/v1/persons", json=fiscal.person(),
                   headers={"Idempotency-Key": random_name("idem-")}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = w.patch(srv.url + "/api/v1/persons/" + pid,
                    json={"surname": "Rettificato", "reason": "errore di trascrizione"},
                    headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        d = login(srv.url, dpo)
        r = d.put(srv.url + "/api/v1/persons/%s/restriction" % pid,
                  json={"reason": "contestazione dell'esattezza"}, headers={"If-Match": '"2"'},
                  timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
    finally:
        assert srv.terminate() == 0
        srv.cleanup()
    for table in ("user_totp", "person_version", "idempotency_key"):
        assert lab.sdb.one("SELECT count(*) FROM %s" % table) > 0, table
    assert lab.sdb.one("SELECT count(*) FROM person WHERE restriction_reason_enc IS NOT NULL") > 0


@pytest.fixture
def server(lab):
    """A server on the scratch database with the lab's current KEK."""
    srv = lab.server()
    try:
        srv.wait_ready()
        yield srv
    finally:
        rc = srv.terminate()
        log = srv.log()
        srv.cleanup()
        assert rc == 0, log[-3000:]


def refused_start(lab, **extra):
    """Starts a server that must refuse to start; returns its log."""
    srv = lab.server(**extra)
    try:
        rc = srv.proc.wait(timeout=60)
        log = srv.log()
    finally:
        srv.cleanup()
    assert rc != 0, log[-2000:]
    assert "refusing to start" in log and '"listening"' not in log, log[-2000:]
    return log


def status_lines(lab, **extra):
    res = lab.run("keys", "status", **extra)
    return res, [line.split("\t") for line in res.stdout.splitlines()]


# ---------------------------------------------------------------- status

def test_status_shows_versions_fingerprints_counts_and_schema_warnings(lab):
    res, lines = status_lines(lab)
    assert res.returncode == 0, (res.stdout, res.stderr[-2000:])
    kek = [ln for ln in lines if ln[0] == "kek"]
    assert kek[0][1] == "current" and re.fullmatch(r"[0-9a-f]{16}", kek[0][2]), kek
    fp = kek[0][2]
    assert {fp} == {k[2] for k in lab.key_rows()}

    # Every key row of Corsico, with its state, KEK and the values it encrypts.
    counts = lab.versions()
    rows = [ln for ln in lines if ln[0] == CORSICO]
    assert len(rows) == len(lab.key_rows()), res.stdout
    active = lab.active()
    for ln in rows:
        kind, version = ln[1], int(ln[2][1:])
        assert ln[4] == "kek %s current" % fp, ln
        if kind == "data":
            assert ln[5] == "values %d" % counts.get(version, 0), (ln, counts)
            assert ln[3] == ("active" if version == active else ln[3]), ln
            assert ln[3] in ("active", "retired", "old"), ln
    assert sum(counts.values()) > 300  # the demo and the extras, all encrypted

    # The catalogue: every encrypted column counted, none warned about.
    cols = [ln for ln in lines if ln[0] == "columns"][0]
    n = len(lab.encrypted_columns())
    assert cols[1:] == ["%d encrypted" % n, "%d re-encryptable" % n], (cols, n)
    assert not [ln for ln in lines if ln[0].startswith("warning")], res.stdout

    # A table whose *_enc column the re-encryption cannot address, and a bytea
    # column that is neither encrypted nor a digest, are warned about.
    with psycopg2.connect(lab.owner_url) as c, c.cursor() as cur:
        cur.execute("CREATE TABLE keys_probe (tenant_id uuid, note_enc bytea, blob bytea)")
    try:
        res, lines = status_lines(lab)
        assert res.returncode == 0
        text = res.stdout
        assert re.search(r"warning: encrypted column keys_probe\.note_enc: its table lacks the"
                         r" uuid column id", text), text
        assert "warning: bytea column keys_probe.blob is neither an encrypted column" in text
        assert [ln for ln in lines if ln[0] == "columns"][0][1:] == [
            "%d encrypted" % (n + 1), "%d re-encryptable" % n]
    finally:
        with psycopg2.connect(lab.owner_url) as c, c.cursor() as cur:
            cur.execute("DROP TABLE keys_probe")


def test_bad_invocations_are_refused_with_usage(lab):
    for args in (("keys",), ("keys", "frobnicate"), ("keys", "rotate-kek"),
                 ("keys", "rotate-data-key"), ("keys", "reencrypt", "--batch")):
        res = lab.run(*args)
        assert res.returncode == 2 and "usage: cartella keys" in res.stderr, (args, res.stderr)
    res = lab.run("keys", "reencrypt", "--batch", "0")
    assert res.returncode == 2 and "--batch must be" in res.stderr
    res = lab.run("keys", "rotate-data-key", "--tenant", "999999")
    assert res.returncode == 1 and "no tenant 999999" in res.stderr
    before = lab.key_rows()
    bad = os.path.join(lab.keydir, "loose-kek")
    with open(bad, "wb") as f:
        f.write(secrets.token_bytes(32))
    os.chmod(bad, 0o644)
    res = lab.run("keys", "rotate-kek", "--new-kek-file", bad)
    assert res.returncode == 1 and "chmod 600" in res.stderr and "nothing changed" in res.stderr
    os.unlink(bad)
    assert lab.key_rows() == before


# ---------------------------------------------------------------- KEK

def test_rotate_kek_then_restart_with_the_new_kek_and_refuse_the_old(lab):
    srv = lab.server()
    srv.wait_ready()
    manager = lab.user("service_manager")
    try:
        s = login(srv.url, manager)
        people = s.get(srv.url + "/api/v1/persons", params={"limit": 20},
                       timeout=HTTP_TIMEOUT).json()["items"]
        assert people
    finally:
        assert srv.terminate() == 0
        srv.cleanup()
    old, new = lab.kek, lab.new_kek()
    values_before = lab.sdb.all("SELECT id, surname_enc FROM person ORDER BY id")

    out = lab.ok("keys", "rotate-kek", "--new-kek-file", new)
    n = len(lab.sdb.all("SELECT 1 FROM tenant_key"))
    assert re.search(r"rewrapped %d tenant keys under the key-encryption key ([0-9a-f]{16})"
                     r" \(0 already were\)" % n, out), out
    new_fp = re.search(r"key-encryption key ([0-9a-f]{16})", out).group(1)
    assert {r[0] for r in lab.sdb.all("SELECT kek_fingerprint FROM tenant_key")} == {new_fp}
    # No value was rewritten.
    assert lab.sdb.all("SELECT id, surname_enc FROM person ORDER BY id") == values_before
    # Idempotent: again with the old KEK file, and with the new one in its place.
    assert "rewrapped 0 tenant keys" in lab.ok("keys", "rotate-kek", "--new-kek-file", new)
    assert "(%d already were)" % n in lab.ok("keys", "rotate-kek", "--new-kek-file", new,
                                             CARTELLA_KEK_FILE=new)

    # The old KEK: the server, the key commands and the audit check refuse.
    log = refused_start(lab)
    assert "wrong or lost key-encryption key" in log and new_fp in log, log[-2000:]
    stray = write_kek(os.path.join(lab.keydir, "stray"))
    log = refused_start(lab, CARTELLA_KEK_FILE=stray)
    assert "wrong or lost key-encryption key" in log
    res = lab.run("keys", "reencrypt")
    assert res.returncode == 1 and "wrong or lost key-encryption key" in res.stderr
    res = lab.run("audit", "verify")
    assert res.returncode == 2 and "wrong or lost key-encryption key" in res.stderr
    res, lines = status_lines(lab)
    assert res.returncode == 1 and "UNKNOWN DOES-NOT-UNWRAP" in res.stdout

    # The new KEK: everything readable as before.
    lab.kek = new
    srv = lab.server()
    try:
        srv.wait_ready()
        s = login(srv.url, manager)
        for p in people:
            r = s.get(srv.url + "/api/v1/persons/" + p["id"], timeout=HTTP_TIMEOUT)
            assert r.status_code == 200 and r.json()["surname"] == p["surname"], r.text
    finally:
        assert srv.terminate() == 0
        srv.cleanup()
    # During a swap the previous KEK may be named too (and is reported unused).
    srv = lab.server(CARTELLA_KEK_PREVIOUS_FILE=old)
    try:
        srv.wait_ready()
    finally:
        assert srv.terminate() == 0
        log = srv.log()
        srv.cleanup()
    assert "CARTELLA_KEK_PREVIOUS_FILE wraps no tenant key any more" in log


def test_a_server_with_both_keks_serves_while_the_kek_is_rotated(lab):
    """The swap without downtime: the server runs with the new KEK and the
    previous one, rotate-kek rewraps under it, the server keeps serving."""
    new = lab.new_kek()
    srv = lab.server(CARTELLA_KEK_FILE=new, CARTELLA_KEK_PREVIOUS_FILE=lab.kek)
    try:
        srv.wait_ready()
        s = login(srv.url, lab.user("social_worker"))
        r = s.post(srv.url + "/api/v1/persons", json=fiscal.person(), timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        lab.ok("keys", "rotate-kek", "--new-kek-file", new)
        lab.kek = new
        for _ in range(3):
            r = s.post(srv.url + "/api/v1/persons", json=fiscal.person(), timeout=HTTP_TIMEOUT)
            assert r.status_code == 201, r.text
            assert s.get(srv.url + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT).status_code == 200
    finally:
        assert srv.terminate() == 0
        srv.cleanup()


def test_a_tampered_key_row_stops_the_server_at_start(lab):
    tid = lab.tenant_id()
    v = lab.active()
    original = lab.sdb.one("SELECT wrapped FROM tenant_key WHERE tenant_id = %s AND kind = 'data'"
                           " AND version = %s", (tid, v))
    tampered = bytearray(original)
    tampered[40] ^= 1
    lab.sdb.one("UPDATE tenant_key SET wrapped = %s WHERE tenant_id = %s AND kind = 'data'"
                " AND version = %s RETURNING 1", (bytes(tampered), tid, v))
    try:
        log = refused_start(lab)
        assert ("tenant %s: the data key v%d does not authenticate under the key-encryption key"
                % (CORSICO, v)) in log, log[-2000:]
    finally:
        lab.sdb.one("UPDATE tenant_key SET wrapped = %s WHERE tenant_id = %s AND kind = 'data'"
                    " AND version = %s RETURNING 1", (bytes(original), tid, v))


# ---------------------------------------------------------------- data keys

class Client(threading.Thread):
    """Creates, rectifies and reads persons in a loop; records every answer
    that is not what it should be."""

    def __init__(self, url, session):
        super().__init__(daemon=True)
        self.url, self.s = url, session
        self.stop = threading.Event()
        self.expected = {}  # id -> (surname, version)
        self.errors = []
        self.requests = 0

    def check(self, r, status):
        self.requests += 1
        if r.status_code != status:
            self.errors.append((r.request.method, r.url, r.status_code, r.text[:300]))
            return False
        return True

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                r = self.s.post(self.url + "/api/v1/persons", json=fiscal.person(),
                                timeout=HTTP_TIMEOUT)
                if not self.check(r, 201):
                    continue
                p = r.json()
                self.expected[p["id"]] = (p["surname"], 1)
                for pid, (surname, version) in list(self.expected.items())[-3:]:
                    name = "Rettifica%d" % i
                    r = self.s.patch(self.url + "/api/v1/persons/" + pid,
                                     json={"surname": name, "reason": "correzione"},
                                     headers={"If-Match": '"%d"' % version}, timeout=HTTP_TIMEOUT)
                    if self.check(r, 200):
                        self.expected[pid] = (name, version + 1)
                    r = self.s.get(self.url + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT)
                    if self.check(r, 200) and r.json()["surname"] != self.expected[pid][0]:
                        self.errors.append(("lost update", pid, r.json()["surname"],
                                            self.expected[pid]))
                r = self.s.get(self.url + "/api/v1/persons", params={"limit": 50},
                               timeout=HTTP_TIMEOUT)
                self.check(r, 200)
            except requests.RequestException as e:
                self.errors.append(repr(e))


def test_rotate_data_key_and_reencrypt_while_a_client_reads_and_writes(lab, server):
    old = lab.active()
    client = Client(server.url, login(server.url, lab.user("social_worker")))
    client.start()
    try:
        time.sleep(1.5)
        out = lab.ok("keys", "rotate-data-key", "--tenant", CORSICO)
        assert "%s: data key v%d active for new writes" % (CORSICO, old + 1) in out, out
        new = old + 1
        # New writes use it at once, in the running server.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            newest = lab.sdb.one("SELECT surname_enc FROM person WHERE tenant_id = %s"
                                 " ORDER BY created_at DESC LIMIT 1", (lab.tenant_id(),))
            if header_version(newest) == new:
                break
            time.sleep(0.1)
        else:
            pytest.fail("no write under the new data key version")
        assert lab.versions().get(old, 0) > 0

        res = lab.run("keys", "reencrypt", "--tenant", CORSICO, "--batch", "7")
        assert res.returncode == 0, (res.stdout, res.stderr[-3000:])
        assert re.search(r"%s person\.surname_enc: (\d+) of \1 values re-encrypted" % CORSICO,
                         res.stdout), res.stdout
        assert "%s: data key v%d retired (no value uses it)" % (CORSICO, old) in res.stdout
        assert re.search(r"%s: [1-9][0-9]* values re-encrypted in [0-9]+\.[0-9] s \([0-9]+ "
                         r"values/s\), [0-9]+ left to the server's own writes" % CORSICO,
                         res.stdout), res.stdout
        time.sleep(1.5)
    finally:
        client.stop.set()
        client.join(60)
    assert client.errors == [], client.errors[:5]
    assert client.requests > 30 and len(client.expected) > 5, client.requests

    # Every value under the new version; the old one retired; every row the
    # client wrote reads back as it last wrote it.
    assert set(lab.versions()) == {new}, lab.versions()
    assert ("data", old, lab.key_rows()[old - 1][2], True) in lab.key_rows()
    s = login(server.url, lab.user("service_manager"))
    for pid, (surname, version) in client.expected.items():
        r = s.get(server.url + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200 and r.json()["surname"] == surname, r.text
        assert r.headers["ETag"] == '"%d"' % version
    # A second run finds nothing to do.
    again = lab.ok("keys", "reencrypt", "--tenant", CORSICO)
    assert "%s: 0 values re-encrypted" % CORSICO in again, again
    res, lines = status_lines(lab)
    assert [CORSICO, "data", "v%d" % old, "retired"] == [ln for ln in lines if ln[:3] == [
        CORSICO, "data", "v%d" % old]][0][:4]


def test_reencrypt_killed_with_sigkill_resumes_and_nothing_is_unreadable(lab, server):
    old = lab.active()
    lab.ok("keys", "rotate-data-key", "--tenant", CORSICO)
    new = old + 1
    proc = subprocess.Popen([os.environ["CARTELLA_BIN"], "keys", "reencrypt", "--tenant", CORSICO,
                             "--batch", "1"], env=_binary_env(lab.env()),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = proc.stdout.readline()
        assert "values re-encrypted" in first, first
        for _ in range(20):
            proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    half = lab.versions()
    assert half.get(old, 0) > 0 and half.get(new, 0) > 0, half  # killed half-way

    res = lab.run("keys", "reencrypt", "--tenant", CORSICO)
    assert res.returncode == 0, (res.stdout, res.stderr[-3000:])
    assert "%s: data key v%d retired" % (CORSICO, old) in res.stdout
    assert set(lab.versions()) == {new}
    # Readable through the API: every person of the list pages.
    s = login(server.url, lab.user("service_manager"))
    seen, cursor = 0, None
    while True:
        params = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        r = s.get(server.url + "/api/v1/persons", params=params, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += len(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert seen > 30
    assert "does not authenticate" not in server.log()


def test_a_value_under_a_wrong_key_version_is_a_500_integrity_failure(lab, server):
    s = login(server.url, lab.user("social_worker"))
    body = fiscal.person()
    r = s.post(server.url + "/api/v1/persons", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201
    pid = r.json()["id"]
    lab.ok("keys", "rotate-data-key", "--tenant", CORSICO)  # another version exists
    stored = bytes(lab.sdb.one("SELECT surname_enc FROM person WHERE id = %s", (pid,)))
    v = header_version(stored)
    try:
        for fake, reason in ((v + 1, "authentication failed"), (4242, "no such key version")):
            lab.sdb.one("UPDATE person SET surname_enc = %s WHERE id = %s RETURNING 1",
                        (stored[:1] + fake.to_bytes(4, "big") + stored[5:], pid))
            r = s.get(server.url + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT)
            assert r.status_code == 500, r.text
            assert r.headers["Content-Type"].startswith("application/problem+json")
            for secret in (body["surname"], body["given_name"], body["fiscal_code"]):
                assert secret not in r.text
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                hits = [ln for ln in server.log().splitlines()
                        if "encrypted value does not authenticate" in ln and pid in ln
                        and '"reason":"%s"' % reason in ln]
                if hits:
                    break
                time.sleep(0.1)
            assert hits, server.log()[-2000:]
            assert '"key_version":%d' % fake in hits[-1] and '"column":"surname"' in hits[-1]
            assert body["surname"] not in server.log()
    finally:
        lab.sdb.one("UPDATE person SET surname_enc = %s WHERE id = %s RETURNING 1", (stored, pid))
    assert s.get(server.url + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT).status_code == 200
