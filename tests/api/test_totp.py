"""The TOTP second factor: enrolment through the session, the ±1 step
window, replay refusal, recovery codes, the enrolment-only session, the
admin and command-line reset, bad input and throttling."""

import base64
import os
import re
import time

import requests

from conftest import (ASSAGO, CORSICO, ENROLLED, HTTP_TIMEOUT, error_fields, fresh_client,
                      is_problem, login_body, random_loopback, random_name, session_from,
                      totp_code, totp_step, without_instance)

SESSIONS = "/api/v1/sessions"
CURRENT = "/api/v1/sessions/current"
TOTP = CURRENT + "/totp"
CONFIRM = TOTP + "/confirmation"
ENROLMENT_PROBLEM = "/problems/second-factor-enrolment-required"
RECOVERY_SHAPE = re.compile(r"^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$")


def settle():
    """Waits, when the clock is near the end of a 30-second step, until the
    next one has begun, so that a code computed for "now ± d" is still that
    far from the server's step when it arrives. Not a timing assertion."""
    t = time.time() % 30
    if t > 24:
        time.sleep(30 - t + 1)


def post_login(url, u, p, tenant=CORSICO, http=None, **factor):
    """Logs in with exactly the second factor given (none when empty)."""
    body = login_body(u, p, tenant, second_factor=False)
    body.update(factor)
    return (http or fresh_client(url)).post(url + SESSIONS, json=body, timeout=HTTP_TIMEOUT)


def bearer(url, token):
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + token
    return s


def step_code(username, delta=0):
    return totp_code(ENROLLED[username].secret, totp_step() + delta)


def factor_row(db, username):
    return db.all("SELECT t.tenant_id::text, t.confirmed_at IS NOT NULL, t.last_step, t.secret"
                  " FROM user_totp t JOIN app_user u ON u.id = t.user_id"
                  " WHERE u.username = %s", (username,))


def recovery_rows(db, username):
    return db.all("SELECT r.code_hash, r.used_at FROM user_recovery_code r"
                  " JOIN app_user u ON u.id = r.user_id WHERE u.username = %s", (username,))


def enrol_over_http(base_url, s):
    """Enrols the session's user: returns (secret, recovery codes)."""
    r = s.post(base_url + TOTP, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    settle()
    r = s.post(base_url + CONFIRM, json={"totp": totp_code(secret, totp_step())},
               timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return secret, r.json()["recovery_codes"]


# ---------------------------------------------------------------- enrolment

def test_unenrolled_worker_gets_a_session_for_enrolment_only(base_url, make_user, db):
    u, p = make_user(CORSICO, "social_worker", enrol=False)
    r = post_login(base_url, u, p)
    assert r.status_code == 201, r.text
    assert r.json()["second_factor"] == "enrolment_required"
    s = bearer(base_url, r.json()["token"])
    cur = s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT)
    assert cur.status_code == 200 and cur.json()["second_factor"] == "enrolment_required"
    for path in ("/api/v1/persons", "/api/v1/cases", "/api/v1/tenants", "/api/v1/catalogue"):
        b = is_problem(s.get(base_url + path, timeout=HTTP_TIMEOUT), 403)
        assert b["type"] == ENROLMENT_PROBLEM, b
    b = is_problem(s.post(base_url + "/api/v1/persons", json={}, timeout=HTTP_TIMEOUT), 403)
    assert b["type"] == ENROLMENT_PROBLEM
    assert factor_row(db, u) == []
    # Logging out is allowed.
    assert s.delete(base_url + CURRENT, timeout=HTTP_TIMEOUT).status_code == 204


def test_enrolment_flow(base_url, make_user, db, admin):
    u, p = make_user(CORSICO, "administrative", enrol=False)
    s = bearer(base_url, post_login(base_url, u, p).json()["token"])
    r = s.post(base_url + TOTP, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    b = r.json()
    secret = b["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    assert (b["algorithm"], b["digits"], b["period"]) == ("SHA1", 6, 30)
    assert b["otpauth_uri"] == ("otpauth://totp/Cartella:%s%%3A%s?secret=%s&issuer=Cartella"
                                "&algorithm=SHA1&digits=6&period=30" % (CORSICO, u, secret))
    # Pending, encrypted at rest: the stored value holds neither the key nor its base32.
    rows = factor_row(db, u)
    assert len(rows) == 1 and rows[0][0] == str(db.tenant_id(CORSICO)) and rows[0][1] is False
    stored = bytes(rows[0][3])
    assert base64.b32decode(secret) not in stored and secret.encode() not in stored
    # The admin sees the enrolment waiting for its first code.
    adm, _ = admin(CORSICO)
    account = base_url + "/api/v1/users/" + str(db.user_id(u))
    assert adm.get(account, timeout=HTTP_TIMEOUT).json()["second_factor"] == "pending"
    # Still restricted until confirmed.
    is_problem(s.get(base_url + "/api/v1/persons", timeout=HTTP_TIMEOUT), 403)
    # A wrong code does not confirm.
    settle()
    wrong = "%06d" % ((int(totp_code(secret, totp_step())) + 1) % 1000000)
    b = is_problem(s.post(base_url + CONFIRM, json={"totp": wrong}, timeout=HTTP_TIMEOUT), 400)
    assert error_fields(b) == ["totp"]
    assert factor_row(db, u)[0][1] is False
    # The right one does, lifts the restriction and shows ten recovery codes once.
    code = totp_code(secret, totp_step())
    r = s.post(base_url + CONFIRM, json={"totp": code}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert r.json()["second_factor"] == "totp"
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(RECOVERY_SHAPE.match(c) for c in codes), codes
    assert s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT).json()["second_factor"] == "totp"
    assert s.get(base_url + "/api/v1/persons", timeout=HTTP_TIMEOUT).status_code == 200
    # Recovery codes are stored as keyed hashes only.
    rec = recovery_rows(db, u)
    assert len(rec) == 10 and all(used is None for _, used in rec)
    for h, _ in rec:
        for c in codes:
            assert c.encode() not in bytes(h) and c.replace("-", "").encode() not in bytes(h)
    # Enrolling again is refused while active; confirming again too.
    is_problem(s.post(base_url + TOTP, timeout=HTTP_TIMEOUT), 409)
    is_problem(s.post(base_url + CONFIRM, json={"totp": code}, timeout=HTTP_TIMEOUT), 409)
    # The code used to confirm cannot log in (replay); a login without a code fails.
    is_problem(post_login(base_url, u, p, totp=code), 401)
    is_problem(post_login(base_url, u, p), 401)
    # The next step's code logs in with a full session.
    r = post_login(base_url, u, p, totp=totp_code(secret, totp_step() + 1))
    assert r.status_code == 201, r.text
    assert r.json()["second_factor"] == "totp"
    # The secret never reaches the log.
    with open(os.environ["CARTELLA_SERVER_LOG"], encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert secret not in log and codes[0] not in log


def test_restarting_a_pending_enrolment_replaces_the_secret(base_url, make_user):
    u, p = make_user(CORSICO, "social_worker", enrol=False)
    s = bearer(base_url, post_login(base_url, u, p).json()["token"])
    first = s.post(base_url + TOTP, timeout=HTTP_TIMEOUT).json()["secret"]
    # An Idempotency-Key is ignored here: the answer holds a secret shown once.
    second = s.post(base_url + TOTP, headers={"Idempotency-Key": "enrol-0001"},
                    timeout=HTTP_TIMEOUT).json()["secret"]
    third = s.post(base_url + TOTP, headers={"Idempotency-Key": "enrol-0001"},
                   timeout=HTTP_TIMEOUT).json()["secret"]
    assert len({first, second, third}) == 3
    settle()
    b = is_problem(s.post(base_url + CONFIRM, json={"totp": totp_code(first, totp_step())},
                          timeout=HTTP_TIMEOUT), 400)
    assert error_fields(b) == ["totp"]
    r = s.post(base_url + CONFIRM, json={"totp": totp_code(third, totp_step())},
               timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text


def test_enrolment_from_another_tenant_lives_in_the_home_tenant(base_url, make_user, db):
    u, p = make_user(CORSICO, "social_worker", grants=[(ASSAGO, "administrative")], enrol=False)
    s = bearer(base_url, post_login(base_url, u, p, ASSAGO).json()["token"])
    secret, _ = enrol_over_http(base_url, s)
    assert factor_row(db, u)[0][0] == str(db.tenant_id(CORSICO))
    assert s.get(base_url + "/api/v1/persons", timeout=HTTP_TIMEOUT).status_code == 200
    r = post_login(base_url, u, p, CORSICO, totp=totp_code(secret, totp_step() + 1))
    assert r.status_code == 201 and r.json()["second_factor"] == "totp", r.text


def test_roles_without_personal_data_need_no_second_factor(base_url, make_user):
    for role in ("planning_office", "admin"):
        u, p = make_user(CORSICO if role == "admin" else "corsichese", role, enrol=False)
        tenant = CORSICO if role == "admin" else "corsichese"
        r = post_login(base_url, u, p, tenant)
        assert r.status_code == 201, r.text
        assert r.json()["second_factor"] == "none"
        s = bearer(base_url, r.json()["token"])
        assert s.get(base_url + "/api/v1/tenants", timeout=HTTP_TIMEOUT).status_code == 200
    # The DPO reads personal data: enrolment is required.
    u, p = make_user(CORSICO, "dpo", enrol=False)
    assert post_login(base_url, u, p).json()["second_factor"] == "enrolment_required"


def test_enrolled_admin_must_present_the_code(base_url, make_user):
    u, p = make_user(CORSICO, "admin")
    is_problem(post_login(base_url, u, p), 401)
    r = post_login(base_url, u, p, totp=step_code(u))
    assert r.status_code == 201 and r.json()["second_factor"] == "totp", r.text


# ---------------------------------------------------------------- window and replay

def test_window_is_one_step_either_side_and_each_step_counts_once(base_url, make_user):
    u, p = make_user(CORSICO, "social_worker")
    settle()
    now = totp_step()
    secret = ENROLLED[u].secret
    for d in (-2, 2, -3, 3):
        is_problem(post_login(base_url, u, p, totp=totp_code(secret, now + d)), 401)
    for d in (-1, 0, 1):
        r = post_login(base_url, u, p, totp=totp_code(secret, now + d))
        assert r.status_code == 201, (d, r.text)
    # Every step up to now+1 is used: the same codes again are replays.
    for d in (1, 0, -1):
        is_problem(post_login(base_url, u, p, totp=totp_code(secret, now + d)), 401)


def test_replayed_code_is_refused_and_steps_count_once_in_any_order(base_url, make_user, db):
    u, p = make_user(CORSICO, "social_worker")
    settle()
    code = step_code(u)
    assert post_login(base_url, u, p, totp=code).status_code == 201
    before = db.session_count(u)
    replay = is_problem(post_login(base_url, u, p, totp=code), 401)
    wrong = is_problem(post_login(base_url, u, p + "x", totp=step_code(u, 1)), 401)
    assert without_instance(replay) == without_instance(wrong)
    assert db.session_count(u) == before
    # The previous step was not used yet: it is accepted once, after the later one
    # (two logins at once may arrive out of order), then it is a replay too.
    assert post_login(base_url, u, p, totp=step_code(u, -1)).status_code == 201
    is_problem(post_login(base_url, u, p, totp=step_code(u, -1)), 401)
    assert post_login(base_url, u, p, totp=step_code(u, 1)).status_code == 201
    for d in (1, 0, -1):
        is_problem(post_login(base_url, u, p, totp=step_code(u, d)), 401)


# ---------------------------------------------------------------- recovery codes

def test_recovery_code_is_single_use(base_url, make_user, db):
    u, p = make_user(CORSICO, "service_manager")
    codes = ENROLLED[u].recovery_codes
    c1, c2 = codes.pop(), codes.pop()
    r = post_login(base_url, u, p, recovery_code=c1)
    assert r.status_code == 201, r.text
    assert r.json()["second_factor"] == "recovery_code"
    s = bearer(base_url, r.json()["token"])
    assert s.get(base_url + "/api/v1/persons", timeout=HTTP_TIMEOUT).status_code == 200
    is_problem(post_login(base_url, u, p, recovery_code=c1), 401)
    # Case, dashes and spaces do not matter.
    r = post_login(base_url, u, p, recovery_code=c2.upper().replace("-", " "))
    assert r.status_code == 201, r.text
    used = [row for row in recovery_rows(db, u) if row[1] is not None]
    assert len(used) == 2
    # Another user's code, and a made-up one, are wrong codes.
    v, vp = make_user(CORSICO, "social_worker")
    is_problem(post_login(base_url, v, vp, recovery_code=codes[0]), 401)
    is_problem(post_login(base_url, u, p, recovery_code="aaaa-bbbb-cccc"), 401)


# ---------------------------------------------------------------- reset

def test_admin_resets_the_second_factor_and_revokes_sessions(base_url, admin, make_user, login, db):
    s, _ = admin(CORSICO)
    u, p = make_user(CORSICO, "social_worker")
    victim = login(u, p)
    uid = victim.login_body["user"]["id"]
    url = base_url + "/api/v1/users/" + uid + "/totp"
    r = s.get(base_url + "/api/v1/users/" + uid, timeout=HTTP_TIMEOUT)
    etag = r.headers["ETag"]
    assert r.json()["second_factor"] == "totp"
    is_problem(s.delete(url, timeout=HTTP_TIMEOUT), 428)
    is_problem(s.delete(url, headers={"If-Match": '"999"'}, timeout=HTTP_TIMEOUT), 412)
    assert len(factor_row(db, u)) == 1
    # A non-admin may not.
    is_problem(victim.delete(url, headers={"If-Match": etag}, timeout=HTTP_TIMEOUT), 403)
    r = s.delete(url, headers={"If-Match": etag}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 204, r.text
    assert factor_row(db, u) == [] and recovery_rows(db, u) == []
    is_problem(victim.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)
    r = s.get(base_url + "/api/v1/users/" + uid, timeout=HTTP_TIMEOUT)
    assert r.headers["ETag"] != etag and r.json()["second_factor"] == "none"
    # The next login enrols again.
    del ENROLLED[u]
    r = post_login(base_url, u, p)
    assert r.status_code == 201 and r.json()["second_factor"] == "enrolment_required"


def test_reset_is_for_the_home_tenant_admin_only(base_url, admin, make_user, db):
    s, _ = admin(ASSAGO)
    u, _ = make_user(CORSICO, "social_worker", grants=[(ASSAGO, "social_worker")])
    uid = str(db.user_id(u))
    r = s.get(base_url + "/api/v1/users/" + uid, timeout=HTTP_TIMEOUT)
    etag = r.headers["ETag"]
    assert r.json()["second_factor"] is None  # Corsico's account: Corsico manages its factor
    is_problem(s.delete(base_url + "/api/v1/users/" + uid + "/totp", headers={"If-Match": etag},
                        timeout=HTTP_TIMEOUT), 403)
    assert len(factor_row(db, u)) == 1
    # A user with no role in the admin's tenant does not exist for it.
    w, _ = make_user(CORSICO, "social_worker")
    wid = str(db.user_id(w))
    is_problem(s.delete(base_url + "/api/v1/users/" + wid + "/totp", headers={"If-Match": '"1"'},
                        timeout=HTTP_TIMEOUT), 404)
    assert len(factor_row(db, w)) == 1


def test_cli_totp_reset(base_url, make_user, login, cli, db):
    u, p = make_user(CORSICO, "social_worker")
    s = login(u, p)
    res = cli("user", "totp-reset", u, "--tenant", ASSAGO)
    assert res.returncode == 1 and "home tenant" in res.stderr, res.stderr
    assert len(factor_row(db, u)) == 1
    res = cli("user", "totp-reset", u, "--tenant", CORSICO)
    assert res.returncode == 0, res.stderr
    assert factor_row(db, u) == []
    is_problem(s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)
    res = cli("user", "totp-reset", random_name(), "--tenant", CORSICO)
    assert res.returncode == 1
    del ENROLLED[u]


# ---------------------------------------------------------------- bad input

def test_bad_second_factor_input_is_400_and_changes_nothing(base_url, make_user, db):
    u, p = make_user(CORSICO, "social_worker")
    before = (db.session_count(u), factor_row(db, u)[0][2])
    cases = [
        ({"totp": "12345"}, "totp"),
        ({"totp": "1234567"}, "totp"),
        ({"totp": "12345a"}, "totp"),
        ({"totp": " 123456"}, "totp"),
        ({"totp": 123456}, "totp"),
        ({"totp": ""}, "totp"),
        ({"recovery_code": "abc"}, "recovery_code"),
        ({"recovery_code": "abcd-efgh-2341"}, "recovery_code"),
        ({"recovery_code": ["abcd-efgh-2345"]}, "recovery_code"),
        ({"totp": "123456", "recovery_code": "abcd-efgh-2345"}, "recovery_code"),
        ({"totp_code": "123456"}, "totp_code"),
    ]
    for extra, field in cases:
        r = post_login(base_url, u, p, **extra)
        b = is_problem(r, 400)
        assert field in error_fields(b), (extra, b)
    assert (db.session_count(u), factor_row(db, u)[0][2]) == before


def test_bad_enrolment_input(base_url, make_user, db):
    u, p = make_user(CORSICO, "social_worker", enrol=False)
    s = bearer(base_url, post_login(base_url, u, p).json()["token"])
    b = is_problem(s.post(base_url + TOTP, json={"secret": "AAAA"}, timeout=HTTP_TIMEOUT), 400)
    assert error_fields(b) == ["secret"]
    assert factor_row(db, u) == []
    # Nothing pending yet.
    is_problem(s.post(base_url + CONFIRM, json={"totp": "123456"}, timeout=HTTP_TIMEOUT), 409)
    assert s.post(base_url + TOTP, timeout=HTTP_TIMEOUT).status_code == 201
    for body, field in (({}, "totp"), ({"totp": "12345"}, "totp"), ({"totp": 123456}, "totp"),
                        ({"totp": "123456", "extra": 1}, "extra")):
        b = is_problem(s.post(base_url + CONFIRM, json=body, timeout=HTTP_TIMEOUT), 400)
        assert field in error_fields(b), (body, b)
    b = is_problem(s.post(base_url + CONFIRM, data="[1]", timeout=HTTP_TIMEOUT,
                          headers={"Content-Type": "application/json"}), 400)
    assert factor_row(db, u)[0][1] is False


# ---------------------------------------------------------------- throttling, enumeration

def test_wrong_codes_count_toward_throttling(spawn_server, make_user):
    u, p = make_user(CORSICO, "social_worker")
    with spawn_server(CARTELLA_LOGIN_MAX_FAILURES=3) as srv:
        http = session_from(random_loopback())
        statuses = []
        for _ in range(6):
            r = post_login(srv.url, u, p, http=http, totp="000000" if step_code(u) != "000000"
                           else "111111")
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        assert statuses[-1] == 429 and set(statuses[:-1]) == {401}, statuses
        assert len(statuses) >= 3, statuses
        # The right code is refused while throttled.
        settle()
        is_problem(post_login(srv.url, u, p, http=session_from(random_loopback()),
                              totp=step_code(u, 1)), 429)


def test_wrong_code_looks_like_a_wrong_password(base_url, make_user):
    u, p = make_user(CORSICO, "social_worker")
    http = session_from(random_loopback())
    bodies = [
        is_problem(post_login(base_url, u, p, http=http), 401),                      # missing
        is_problem(post_login(base_url, u, p, http=http, totp="000001"), 401),       # wrong
        is_problem(post_login(base_url, u, p + "x", http=http), 401),                # password
        is_problem(post_login(base_url, random_name(), p, http=http,
                              totp="123456"), 401),                                  # no user
    ]
    assert len({str(sorted(without_instance(b).items())) for b in bodies}) == 1, bodies


def test_required_can_be_switched_off_for_development(spawn_server, make_user):
    u, p = make_user(CORSICO, "social_worker", enrol=False)
    e, ep = make_user(CORSICO, "social_worker")
    with spawn_server(CARTELLA_TOTP_REQUIRED=0) as srv:
        r = post_login(srv.url, u, p)
        assert r.status_code == 201 and r.json()["second_factor"] == "none", r.text
        s = bearer(srv.url, r.json()["token"])
        assert s.get(srv.url + "/api/v1/persons", timeout=HTTP_TIMEOUT).status_code == 200
        # An enrolled account still needs its code.
        is_problem(post_login(srv.url, e, ep), 401)
        assert "CARTELLA_TOTP_REQUIRED=0" in srv.log()
