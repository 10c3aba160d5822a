"""Login, the current session, logout, expiry, throttling, token storage."""

import base64
import binascii
import datetime
import os
import secrets
import statistics
import string
import threading
import time
import uuid

import requests

from conftest import (AMBITO, ASSAGO, CORSICO, HTTP_TIMEOUT, fresh_client, is_problem,
                      login_body,
                      random_loopback, random_name, random_password, session_from,
                      without_instance)

SESSIONS = "/api/v1/sessions"
CURRENT = "/api/v1/sessions/current"


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def post_login(url, u, p, tenant=CORSICO, http=None):
    http = http or fresh_client(url)
    return http.post(url + SESSIONS, json=login_body(u, p, tenant), timeout=HTTP_TIMEOUT)


def get_current(url, token):
    headers = {} if token is None else {"Authorization": "Bearer " + token}
    return requests.get(url + CURRENT, headers=headers, timeout=HTTP_TIMEOUT)


def retry_after_seconds(resp):
    v = resp.headers.get("Retry-After")
    assert v is not None, dict(resp.headers)
    assert v.isdigit(), v
    return int(v)


# ---------------------------------------------------------------- login

def test_login_returns_token_location_and_context(base_url, make_user, db):
    u, p = make_user(CORSICO, "social_worker")
    before = datetime.datetime.now(datetime.timezone.utc)
    r = post_login(base_url, u, p)
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(CURRENT), r.headers.get("Location")
    assert "no-store" in r.headers["Cache-Control"]
    b = r.json()
    assert isinstance(b["token"], str) and len(b["token"]) >= 32
    assert b["token_type"] == "Bearer"
    assert parse_time(b["expires_at"]) > before
    assert isinstance(b["idle_timeout_seconds"], int) and b["idle_timeout_seconds"] > 0
    assert b["user"]["username"] == u
    assert str(uuid.UUID(b["user"]["id"])) == b["user"]["id"].lower()
    assert b["tenant"]["code"] == CORSICO
    assert b["tenant"]["name"] == "Corsico"
    assert b["tenant"]["kind"] == "comune"
    uuid.UUID(str(b["tenant"]["id"]))
    assert b["roles"] == ["social_worker"]
    assert db.session_count(u) == 1


def test_login_carries_every_role_of_the_tenant_only(base_url, make_user):
    u, p = make_user(CORSICO, "social_worker", roles=["service_manager"],
                     grants=[(ASSAGO, "admin")])
    b = post_login(base_url, u, p, CORSICO).json()
    assert sorted(b["roles"]) == ["service_manager", "social_worker"]
    b = post_login(base_url, u, p, ASSAGO).json()
    assert b["roles"] == ["admin"]
    assert b["tenant"]["code"] == ASSAGO and b["tenant"]["name"] == "Assago"


def test_login_to_the_ambito(base_url, make_user):
    u, p = make_user(AMBITO, "planning_office")
    r = post_login(base_url, u, p, AMBITO)
    assert r.status_code == 201, r.text
    t = r.json()["tenant"]
    assert t["code"] == AMBITO and t["kind"] == "ambito"


def test_two_logins_give_two_tokens(base_url, make_user, db):
    u, p = make_user()
    t1 = post_login(base_url, u, p).json()["token"]
    t2 = post_login(base_url, u, p).json()["token"]
    assert t1 != t2
    assert db.session_count(u) == 2


def test_concurrent_logins_all_succeed(base_url, make_user, db):
    """Password hashing runs under a concurrency cap: a burst of logins
    queues, it does not fail."""
    u, p = make_user()
    results = []

    def one():
        r = post_login(base_url, u, p)
        results.append((r.status_code, r.json().get("token")))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [s for s, _ in results] == [201] * 12, results
    assert len({t for _, t in results}) == 12
    assert db.session_count(u) == 12


# ---------------------------------------------------------------- current session, logout

def test_current_session_has_the_login_shape_without_token(base_url, make_user, login):
    u, p = make_user()
    s = login(u, p)
    r = s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    b = r.json()
    assert "token" not in b
    for k in ("user", "tenant", "roles", "idle_timeout_seconds"):
        assert b[k] == s.login_body[k], k
    assert "expires_at" in b
    assert s.token not in r.text


def test_logout_ends_the_session(base_url, make_user, login, db):
    u, p = make_user()
    s = login(u, p)
    assert s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT).status_code == 200
    r = s.delete(base_url + CURRENT, timeout=HTTP_TIMEOUT)
    assert r.status_code == 204
    assert r.content == b""
    is_problem(s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)
    is_problem(s.delete(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)


def test_logout_ends_only_that_session(base_url, make_user, login):
    u, p = make_user()
    s1 = login(u, p)
    s2 = login(u, p)
    assert s1.delete(base_url + CURRENT, timeout=HTTP_TIMEOUT).status_code == 204
    assert s2.get(base_url + CURRENT, timeout=HTTP_TIMEOUT).status_code == 200
    is_problem(s1.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)


# ---------------------------------------------------------------- failed logins

def test_wrong_password_unknown_user_and_disabled_user_look_the_same(base_url, make_user, cli, db):
    http = session_from(random_loopback())
    u, p = make_user()
    d, dp = make_user()
    res = cli("user", "disable", "--username", d)
    assert res.returncode == 0, res.stderr
    answers = [
        post_login(base_url, u, p + "x", http=http),                # wrong password
        post_login(base_url, random_name(), p, http=http),          # unknown user
        post_login(base_url, d, dp, http=http),                     # disabled, right password
        post_login(base_url, u, p + "x", ASSAGO, http=http),        # wrong password, no role there
        post_login(base_url, random_name(), p, ASSAGO, http=http),  # unknown user, other tenant
    ]
    bodies = [is_problem(r, 401) for r in answers]
    first = without_instance(bodies[0])
    for b in bodies[1:]:
        assert without_instance(b) == first, (first, b)
    assert len({b["instance"] for b in bodies}) == len(bodies)
    for r in answers:
        assert "token" not in r.text
    assert db.session_count(u) == 0 and db.session_count(d) == 0


def test_unknown_user_takes_about_as_long_as_wrong_password(base_url, make_user):
    """The answer time does not tell whether the user exists (a hash is
    computed either way)."""
    http = session_from(random_loopback())
    u, p = make_user()

    def timed(name):
        t0 = time.monotonic()
        r = post_login(base_url, name, "Wrong-password-123", http=http)
        assert r.status_code == 401
        return time.monotonic() - t0

    known = statistics.median(timed(u) for _ in range(3))
    unknown = statistics.median(timed(random_name()) for _ in range(3))
    assert unknown >= 0.4 * known, (known, unknown)


def test_no_role_in_tenant_is_403_and_creates_no_session(base_url, make_user, db):
    u, p = make_user(CORSICO, "admin")
    r = post_login(base_url, u, p, ASSAGO)
    b = is_problem(r, 403)
    assert "token" not in b
    assert db.session_count(u) == 0


def test_unknown_tenant_creates_no_session(base_url, make_user, db):
    u, p = make_user()
    r = post_login(base_url, u, p, "999999")
    assert r.status_code in (400, 401, 403), r.text
    assert db.session_count(u) == 0


# ---------------------------------------------------------------- tokens

def same_alphabet_random(token):
    if all(c in string.hexdigits for c in token):
        alphabet = "0123456789abcdef" if token.lower() == token else string.hexdigits
    else:
        alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(secrets.choice(alphabet) for _ in token)


def test_missing_garbage_and_forged_tokens_are_401_without_detail(base_url, make_user, login):
    u, p = make_user()
    s = login(u, p)
    real = s.token
    flipped = real[:-1] + ("A" if real[-1] != "A" else "B")
    variants = {
        "missing": None,
        "empty": "",
        "garbage": "garbage",
        "forged": same_alphabet_random(real),
        "flipped": flipped,
        "prefix": real[:-4],
        "longer": real + "00",
        "sql": "' OR 1=1 --",
    }
    bodies = {}
    for name, tok in variants.items():
        r = get_current(base_url, tok)
        b = is_problem(r, 401)
        assert b["type"] == "/problems/unauthorized", (name, b)
        assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), name
        bodies[name] = without_instance(b)
    r = requests.get(base_url + CURRENT, headers={"Authorization": "Basic " + real},
                     timeout=HTTP_TIMEOUT)
    bodies["basic"] = without_instance(is_problem(r, 401))
    assert len({repr(sorted(b.items())) for b in bodies.values()}) == 1, bodies
    detail = str(bodies["missing"].get("detail", "")).lower()
    for word in ("expired", "missing", "invalid", "forged", "revoked", "unknown"):
        assert word not in detail
    # The real token still works: none of the above damaged it.
    assert get_current(base_url, real).status_code == 200


def test_tokens_are_stored_hashed(base_url, make_user, login, db):
    u, p = make_user()
    s = login(u, p)
    rows = db.session_rows_text(u)
    assert len(rows) == 1
    token = s.token
    raw = None
    for decode in (binascii.unhexlify,
                   lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))):
        try:
            raw = decode(token)
            break
        except (binascii.Error, ValueError):
            continue
    for row in rows:
        assert token not in row
        assert token.lower() not in row.lower()
        if raw:
            assert raw.hex() not in row.lower()


def test_log_never_contains_password_token_or_username(base_url, make_user, login):
    u, p = make_user()
    s = login(u, p)
    s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT)
    bad = random_password()
    post_login(base_url, u, bad, http=session_from(random_loopback()))
    s.get(base_url + "/api/v1/users", timeout=HTTP_TIMEOUT)
    s.delete(base_url + CURRENT, timeout=HTTP_TIMEOUT)
    get_current(base_url, s.token)
    time.sleep(0.3)
    with open(os.environ["CARTELLA_SERVER_LOG"], encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert s.token not in text
    assert p not in text
    assert bad not in text
    assert u not in text


# ---------------------------------------------------------------- expiry

def test_idle_session_expires(spawn_server, make_user):
    # Small timeouts, but with room for a loaded machine (a login under
    # AddressSanitizer may take a second).
    u, p = make_user()
    with spawn_server(CARTELLA_SESSION_IDLE=3) as srv:
        r = post_login(srv.url, u, p)
        assert r.status_code == 201, r.text
        b = r.json()
        assert b["idle_timeout_seconds"] == 3
        token = b["token"]
        assert get_current(srv.url, token).status_code == 200
        time.sleep(5)
        expired = is_problem(get_current(srv.url, token), 401)
        missing = is_problem(get_current(srv.url, None), 401)
        assert without_instance(expired) == without_instance(missing)
        # A fresh login works again.
        assert post_login(srv.url, u, p).status_code == 201
        log = srv.log()
        assert token not in log and p not in log


def test_idle_timeout_is_extended_by_use(spawn_server, make_user):
    u, p = make_user()
    with spawn_server(CARTELLA_SESSION_IDLE=5) as srv:
        token = post_login(srv.url, u, p).json()["token"]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8:
            assert get_current(srv.url, token).status_code == 200, time.monotonic() - t0
            time.sleep(0.5)


def test_a_request_does_not_wait_for_another_holding_the_session_row(
        base_url, make_user, login, db, db_super):
    # A long request that refreshed the idle clock holds the session row's
    # lock until it commits. Another request of the same session whose clock
    # is also due must not wait for it (migration 029): before, it waited
    # for the lock until the statement timeout and answered 503.
    u, p = make_user()
    s = login(u, p)
    where = "FROM app_user u WHERE u.id = session.user_id AND u.username = %s"
    seen_sql = ("SELECT s.last_seen_at > now() - interval '30 seconds' FROM session s"
                " JOIN app_user u ON u.id = s.user_id WHERE u.username = %s")
    c = db_super()
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("UPDATE session SET last_seen_at = now() - interval '1 minute' " + where,
                    (u,))
        assert cur.rowcount == 1
    holder = db_super()
    with holder.cursor() as cur:
        # The same lock the refresh takes, held as a long request would.
        cur.execute("SELECT s.id FROM session s JOIN app_user u ON u.id = s.user_id"
                    " WHERE u.username = %s FOR NO KEY UPDATE OF s", (u,))
        assert cur.rowcount == 1
        r = s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        # The lock was still held throughout: the request did not write.
        cur.execute("SELECT pg_backend_pid() = ANY (SELECT pid FROM pg_locks"
                    " WHERE relation = 'session'::regclass AND granted)")
        assert cur.fetchone()[0]
    holder.rollback()
    # It went on without refreshing the clock ...
    assert db.one(seen_sql, (u,)) is False
    # ... and once the row is free, the next request refreshes the clock as before.
    assert s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT).status_code == 200
    assert db.one(seen_sql, (u,)) is True


def test_absolute_expiry_ends_a_session_in_use(spawn_server, make_user):
    u, p = make_user()
    with spawn_server(CARTELLA_SESSION_IDLE=60, CARTELLA_SESSION_ABSOLUTE=4) as srv:
        t0 = time.monotonic()
        now = datetime.datetime.now(datetime.timezone.utc)
        b = post_login(srv.url, u, p).json()
        assert parse_time(b["expires_at"]) <= now + datetime.timedelta(seconds=6), b
        token = b["token"]
        statuses = []
        while time.monotonic() - t0 < 7:
            statuses.append((round(time.monotonic() - t0, 1), get_current(srv.url, token).status_code))
            time.sleep(0.5)
        early = [s for t, s in statuses if t < 2.5]
        late = [s for t, s in statuses if t > 5.5]
        assert early and all(s == 200 for s in early), statuses
        assert late and all(s == 401 for s in late), statuses


# ---------------------------------------------------------------- throttling

def attempts_until_429(url, username, http, limit, password="Wrong-password-123"):
    """Fails logins until 429; returns (attempt number of the first 429, response)."""
    for i in range(1, limit + 1):
        r = post_login(url, username, password, http=http)
        if r.status_code == 429:
            return i, r
        assert r.status_code == 401, (i, r.status_code, r.text)
    return None, None


def test_failed_logins_for_one_account_are_throttled(spawn_server, make_user):
    u, p = make_user()
    other, other_p = make_user()
    with spawn_server(CARTELLA_LOGIN_MAX_FAILURES=3) as srv:
        http = session_from(random_loopback())
        n, r = attempts_until_429(srv.url, u, http, 6)
        assert n is not None, "no 429 after 6 failures with a limit of 3"
        assert n >= 3, n
        b_known = is_problem(r, 429)
        assert retry_after_seconds(r) > 0
        # The right password is refused while throttled, from any address.
        r = post_login(srv.url, u, p, http=http)
        is_problem(r, 429)
        r = post_login(srv.url, u, p, http=session_from(random_loopback()))
        is_problem(r, 429)
        # Another account from the same address is not affected.
        r = post_login(srv.url, other, other_p, http=http)
        assert r.status_code == 201, r.text

        # An unknown username is throttled the same way: no existence leak.
        http2 = session_from(random_loopback())
        n2, r2 = attempts_until_429(srv.url, random_name(), http2, 6)
        assert n2 == n, (n, n2)
        assert without_instance(is_problem(r2, 429)) == without_instance(b_known)
        assert retry_after_seconds(r2) > 0


def test_failed_logins_from_one_address_are_throttled(spawn_server, make_user):
    u, p = make_user()
    with spawn_server(CARTELLA_LOGIN_MAX_FAILURES=3) as srv:
        addr = random_loopback()
        http = session_from(addr)
        n = None
        for i in range(1, 20):
            # A different account each time: only the per-address limit applies.
            r = post_login(srv.url, random_name(), "Wrong-password-123", http=http)
            if r.status_code == 429:
                n = i
                break
            assert r.status_code == 401, (i, r.text)
        assert n is not None, "no 429 after 19 failures from one address (limit 4 x 3)"
        assert n > 4, n
        assert retry_after_seconds(r) > 0
        # Right credentials from that address are refused too...
        is_problem(post_login(srv.url, u, p, http=http), 429)
        # ...but not from another address.
        r = post_login(srv.url, u, p, http=session_from(random_loopback()))
        assert r.status_code == 201, r.text


def test_successful_login_is_not_counted_as_failure(spawn_server, make_user):
    u, p = make_user()
    with spawn_server(CARTELLA_LOGIN_MAX_FAILURES=3) as srv:
        http = session_from(random_loopback())
        for _ in range(6):
            assert post_login(srv.url, u, p, http=http).status_code == 201
        # Two failures, still under the limit: the right password works.
        for _ in range(2):
            assert post_login(srv.url, u, p + "x", http=http).status_code == 401
        assert post_login(srv.url, u, p, http=http).status_code == 201
