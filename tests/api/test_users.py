"""User administration over HTTP (admin only) and with the command line."""

import os
import re
import tempfile
import uuid

import pytest
import requests

from conftest import (ASSAGO, CORSICO, HTTP_TIMEOUT, ROLES, error_fields, fresh_client,
                      is_problem,
                      login_body, random_loopback, random_name, random_password,
                      session_from, without_instance)

USERS = "/api/v1/users"
CURRENT = "/api/v1/sessions/current"


def list_all(s, base_url, limit=None):
    items, cursor, pages = [], None, 0
    while True:
        params = {}
        if cursor:
            params["cursor"] = cursor
        if limit:
            params["limit"] = limit
        r = s.get(base_url + USERS, params=params, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        body = r.json()
        assert "next_cursor" in body
        items += body["items"]
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 1000
        if not cursor:
            return items


def find(items, username):
    found = [i for i in items if i["username"] == username]
    assert len(found) <= 1
    return found[0] if found else None


def try_login(base_url, u, p, tenant=CORSICO):
    return fresh_client(base_url).post(base_url + "/api/v1/sessions", json=login_body(u, p, tenant),
                         timeout=HTTP_TIMEOUT)


def get_user(s, base_url, uid):
    r = s.get(base_url + USERS + "/" + uid, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers.get("ETag"), dict(r.headers)
    return r.json(), r.headers["ETag"]


def patch(s, base_url, uid, body, etag=None, headers=None):
    h = dict(headers or {})
    if etag is not None:
        h["If-Match"] = etag
    return s.patch(base_url + USERS + "/" + uid, json=body, headers=h, timeout=HTTP_TIMEOUT)


def uid_of(admin_session, base_url, username):
    item = find(list_all(admin_session, base_url), username)
    assert item is not None, username
    return item["id"]


# ---------------------------------------------------------------- list, read

def test_admin_lists_the_users_of_their_tenant_only(base_url, admin, make_user):
    s, me = admin(CORSICO)
    here, _ = make_user(CORSICO, "social_worker", roles=["dpo"])
    elsewhere, _ = make_user(ASSAGO, "social_worker")
    items = list_all(s, base_url)
    mine = find(items, here)
    assert mine is not None
    assert sorted(mine["roles"]) == ["dpo", "social_worker"]
    assert mine["disabled"] is False
    uuid.UUID(mine["id"])
    assert "version" in mine
    assert "password" not in str(mine) and "hash" not in str(mine)
    assert find(items, me)["roles"] == ["admin"]
    assert find(items, elsewhere) is None


def test_list_pages_with_a_cursor(base_url, admin, make_user):
    s, me = admin(CORSICO)
    mine = {me, make_user(CORSICO)[0], make_user(CORSICO)[0]}
    r = s.get(base_url + USERS, params={"limit": 1}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    b = r.json()
    assert len(b["items"]) == 1
    assert b["next_cursor"]
    r2 = s.get(base_url + USERS, params={"limit": 1, "cursor": b["next_cursor"]},
               timeout=HTTP_TIMEOUT)
    assert r2.status_code == 200
    assert r2.json()["items"][0]["id"] != b["items"][0]["id"]
    paged = list_all(s, base_url, limit=2)
    ids = [i["id"] for i in paged]
    assert len(ids) == len(set(ids)), "a user appears on two pages"
    assert mine <= {i["username"] for i in paged}


def test_bad_cursor_and_limit_are_400(base_url, admin):
    s, _ = admin(CORSICO)
    for params in ({"limit": "abc"}, {"limit": -1}, {"limit": 0}, {"limit": 501},
                   {"limit": "1e3"}, {"cursor": "not-a-cursor!!"}):
        r = s.get(base_url + USERS, params=params, timeout=HTTP_TIMEOUT)
        is_problem(r, 400)
    # The largest page size is allowed.
    assert s.get(base_url + USERS, params={"limit": 500}, timeout=HTTP_TIMEOUT).status_code == 200


def test_admin_reads_a_user_with_etag(base_url, admin, make_user):
    s, _ = admin(CORSICO)
    u, _ = make_user(CORSICO, "administrative")
    uid = uid_of(s, base_url, u)
    body, etag = get_user(s, base_url, uid)
    assert body["id"] == uid and body["username"] == u
    assert body["roles"] == ["administrative"] and body["disabled"] is False


def test_user_of_another_tenant_is_404(base_url, admin, make_user):
    s_assago, _ = admin(ASSAGO)
    other, op = make_user(ASSAGO, "social_worker")
    uid = uid_of(s_assago, base_url, other)
    _, etag = get_user(s_assago, base_url, uid)
    s, _ = admin(CORSICO)
    is_problem(s.get(base_url + USERS + "/" + uid, timeout=HTTP_TIMEOUT), 404)
    r = patch(s, base_url, uid, {"disabled": True}, etag)
    is_problem(r, 404)
    r = patch(s, base_url, uid, {"password": random_password()}, etag)
    is_problem(r, 404)
    assert try_login(base_url, other, op, ASSAGO).status_code == 201


def test_unknown_user_id_is_404(base_url, admin):
    s, _ = admin(CORSICO)
    is_problem(s.get(base_url + USERS + "/" + str(uuid.uuid4()), timeout=HTTP_TIMEOUT), 404)


# ---------------------------------------------------------------- create

def test_admin_creates_a_user_who_can_log_in(base_url, admin, cli, db):
    s, _ = admin(CORSICO)
    u, p = random_name(), random_password()
    r = s.post(base_url + USERS, json={"username": u, "password": p,
                                        "roles": ["social_worker", "service_manager"]},
               timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    assert r.headers.get("ETag")
    loc = r.headers["Location"]
    body = r.json()
    assert loc.endswith(USERS + "/" + body["id"])
    assert body["username"] == u and body["disabled"] is False
    assert sorted(body["roles"]) == ["service_manager", "social_worker"]
    assert p not in r.text
    # Readable at its Location with the same ETag.
    r2 = s.get(base_url + USERS + "/" + body["id"], timeout=HTTP_TIMEOUT)
    assert r2.status_code == 200 and r2.headers["ETag"] == r.headers["ETag"]
    # Logs in to this tenant with those roles, and to no other.
    r3 = try_login(base_url, u, p, CORSICO)
    assert r3.status_code == 201
    assert sorted(r3.json()["roles"]) == ["service_manager", "social_worker"]
    is_problem(try_login(base_url, u, p, ASSAGO), 403)
    # The command line sees it.
    out = cli("user", "list", "--tenant", CORSICO).stdout
    assert "%s\t%s\tsocial_worker\tactive" % (u, CORSICO) in out.splitlines()


BAD_CREATES = [
    ({"password": "short-pass1", "roles": ["social_worker"]}, "password"),       # 11 chars
    ({"password": None, "roles": ["social_worker"]}, "password"),
    ({"roles": ["social_worker"]}, "password"),                                 # missing
    ({"password": "P", "roles": ["wizard"]}, "roles"),                          # unknown role
    ({"password": "P", "roles": "admin"}, "roles"),                             # not an array
    ({"password": "P", "roles": ["social_worker"], "email": "a@b.it"}, "email"),
    ({"password": "P", "roles": ["social_worker"], "disabled": "no"}, "disabled"),
    ({"password": "P", "roles": ["social_worker"], "tenant": ASSAGO}, "tenant"),
]


@pytest.mark.parametrize("body,field", BAD_CREATES)
def test_create_validation(base_url, admin, db, body, field):
    s, _ = admin(CORSICO)
    u = random_name()
    body = dict(body, username=u)
    if body.get("password") == "P":
        body["password"] = random_password()
    r = s.post(base_url + USERS, json=body, timeout=HTTP_TIMEOUT)
    b = is_problem(r, 400)
    assert b["type"] == "/problems/validation", b
    assert any(f == field or (f or "").startswith(field + "[") or (f or "").startswith(field + "/")
               or (f or "").startswith(field + ".") for f in error_fields(b)), b
    assert not db.user_exists(u)


def test_create_with_bad_username_type(base_url, admin):
    s, _ = admin(CORSICO)
    r = s.post(base_url + USERS, json={"username": 42, "password": random_password(),
                                        "roles": ["dpo"]}, timeout=HTTP_TIMEOUT)
    b = is_problem(r, 400)
    assert "username" in error_fields(b)


def test_create_duplicate_username_is_409_and_changes_nothing(base_url, admin, make_user):
    s, _ = admin(CORSICO)
    u, p = make_user(CORSICO, "social_worker")
    r = s.post(base_url + USERS, json={"username": u, "password": random_password(),
                                        "roles": ["admin"]}, timeout=HTTP_TIMEOUT)
    is_problem(r, 409)
    r = try_login(base_url, u, p, CORSICO)
    assert r.status_code == 201
    assert r.json()["roles"] == ["social_worker"]


# ---------------------------------------------------------------- who may

@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_non_admins_are_refused(base_url, make_user, login, db, role):
    u, p = make_user(CORSICO, role)
    s = login(u, p)
    is_problem(s.get(base_url + USERS, timeout=HTTP_TIMEOUT), 403)
    nu = random_name()
    r = s.post(base_url + USERS, json={"username": nu, "password": random_password(),
                                        "roles": ["admin"]}, timeout=HTTP_TIMEOUT)
    is_problem(r, 403)
    assert not db.user_exists(nu)
    my_id = s.login_body["user"]["id"]
    is_problem(s.get(base_url + USERS + "/" + my_id, timeout=HTTP_TIMEOUT), 403)
    r = patch(s, base_url, my_id, {"roles": ["admin"]}, '"1"')
    assert r.status_code == 403
    assert s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT).json()["roles"] == [role]


def test_admin_of_another_tenant_is_not_admin_here(base_url, make_user, login):
    u, p = make_user(CORSICO, "social_worker", grants=[(ASSAGO, "admin")])
    s = login(u, p, CORSICO)
    is_problem(s.get(base_url + USERS, timeout=HTTP_TIMEOUT), 403)


def test_anonymous_is_401(base_url):
    is_problem(requests.get(base_url + USERS, timeout=HTTP_TIMEOUT), 401)
    r = requests.post(base_url + USERS, json={"username": random_name(),
                                              "password": random_password(),
                                              "roles": ["admin"]}, timeout=HTTP_TIMEOUT)
    is_problem(r, 401)


# ---------------------------------------------------------------- patch

def test_patch_needs_a_current_if_match(base_url, admin, make_user, login):
    s, _ = admin(CORSICO)
    u, p = make_user(CORSICO, "social_worker")
    victim = login(u, p)
    uid = victim.login_body["user"]["id"]
    _, etag1 = get_user(s, base_url, uid)

    r = patch(s, base_url, uid, {"roles": ["dpo"]})
    is_problem(r, 428)
    r = patch(s, base_url, uid, {"roles": ["dpo"]}, '"not-the-etag"')
    is_problem(r, 412)
    # Nothing changed: same ETag, same roles, the session still works.
    body, etag = get_user(s, base_url, uid)
    assert etag == etag1 and body["roles"] == ["social_worker"]
    assert victim.get(base_url + CURRENT, timeout=HTTP_TIMEOUT).status_code == 200

    r = patch(s, base_url, uid, {"roles": ["dpo"]}, etag1)
    assert r.status_code == 200, r.text
    etag2 = r.headers.get("ETag")
    assert etag2 and etag2 != etag1
    assert r.json()["roles"] == ["dpo"]
    now, etag_now = get_user(s, base_url, uid)
    assert etag_now == etag2 and now["roles"] == ["dpo"]
    # The old ETag is now stale.
    r = patch(s, base_url, uid, {"roles": ["social_worker"]}, etag1)
    is_problem(r, 412)
    assert get_user(s, base_url, uid)[0]["roles"] == ["dpo"]


def test_disabling_a_user_revokes_their_session_and_login(base_url, admin, make_user, login):
    s, _ = admin(CORSICO)
    u, p = make_user(CORSICO, "social_worker")
    victim = login(u, p)
    uid = victim.login_body["user"]["id"]
    _, etag = get_user(s, base_url, uid)
    r = patch(s, base_url, uid, {"disabled": True}, etag)
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True
    is_problem(victim.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)
    http = session_from(random_loopback())
    locked = is_problem(http.post(base_url + "/api/v1/sessions", json=login_body(u, p, CORSICO),
                                  timeout=HTTP_TIMEOUT), 401)
    wrong = is_problem(http.post(base_url + "/api/v1/sessions",
                                 json=login_body(u, p + "x", CORSICO), timeout=HTTP_TIMEOUT), 401)
    assert without_instance(locked) == without_instance(wrong)
    # Enabling again lets them in.
    r = patch(s, base_url, uid, {"disabled": False}, r.headers["ETag"])
    assert r.status_code == 200, r.text
    assert try_login(base_url, u, p).status_code == 201


def test_changing_roles_revokes_sessions_in_this_tenant_only_for_roles(base_url, admin, make_user,
                                                                      login):
    s, _ = admin(CORSICO)
    u, p = make_user(CORSICO, "social_worker", grants=[(ASSAGO, "dpo")])
    victim = login(u, p, CORSICO)
    uid = victim.login_body["user"]["id"]
    _, etag = get_user(s, base_url, uid)
    r = patch(s, base_url, uid, {"roles": ["administrative", "planning_office"]}, etag)
    assert r.status_code == 200, r.text
    is_problem(victim.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)
    r = try_login(base_url, u, p, CORSICO)
    assert sorted(r.json()["roles"]) == ["administrative", "planning_office"]
    # Roles in the other tenant are untouched.
    r = try_login(base_url, u, p, ASSAGO)
    assert r.status_code == 201 and r.json()["roles"] == ["dpo"]


def test_password_reset_revokes_sessions(base_url, admin, make_user, login):
    s, _ = admin(CORSICO)
    u, p = make_user(CORSICO, "social_worker")
    victim = login(u, p)
    uid = victim.login_body["user"]["id"]
    _, etag = get_user(s, base_url, uid)
    new = random_password()
    r = patch(s, base_url, uid, {"password": new}, etag)
    assert r.status_code == 200, r.text
    assert new not in r.text
    is_problem(victim.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)
    is_problem(try_login(base_url, u, p), 401)
    assert try_login(base_url, u, new).status_code == 201


@pytest.mark.parametrize("body,field", [
    ({"password": "short-pass1"}, "password"),
    ({"roles": ["wizard"]}, "roles"),
    ({"disabled": "yes"}, "disabled"),
    ({"username": "renamed"}, "username"),
    ({"version": 99}, "version"),
    ({"id": "00000000-0000-0000-0000-000000000000"}, "id"),
])
def test_patch_validation_changes_nothing(base_url, admin, make_user, login, body, field):
    s, _ = admin(CORSICO)
    u, p = make_user(CORSICO, "social_worker")
    victim = login(u, p)
    uid = victim.login_body["user"]["id"]
    before, etag = get_user(s, base_url, uid)
    r = patch(s, base_url, uid, body, etag)
    b = is_problem(r, 400)
    assert any((f or "").split("[")[0].split("/")[0].split(".")[0] == field
               for f in error_fields(b)), b
    assert get_user(s, base_url, uid) == (before, etag)
    assert victim.get(base_url + CURRENT, timeout=HTTP_TIMEOUT).status_code == 200


def test_patch_with_wrong_content_type_is_415(base_url, admin, make_user):
    s, _ = admin(CORSICO)
    u, _ = make_user(CORSICO, "social_worker")
    uid = uid_of(s, base_url, u)
    before, etag = get_user(s, base_url, uid)
    r = s.patch(base_url + USERS + "/" + uid, data='{"disabled": true}',
                headers={"If-Match": etag, "Content-Type": "text/plain"}, timeout=HTTP_TIMEOUT)
    is_problem(r, 415)
    assert get_user(s, base_url, uid) == (before, etag)


# ---------------------------------------------------------------- command line

def test_cli_passwd_revokes_sessions(base_url, make_user, login, cli):
    u, p = make_user()
    s = login(u, p)
    new = random_password()
    res = cli("user", "passwd", "--username", u, input=new + "\n")
    assert res.returncode == 0, res.stderr
    assert new not in res.stdout + res.stderr
    is_problem(s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)
    is_problem(try_login(base_url, u, p), 401)
    assert try_login(base_url, u, new).status_code == 201


def test_cli_passwd_refuses_a_short_password(base_url, make_user, login, cli):
    u, p = make_user()
    s = login(u, p)
    res = cli("user", "passwd", "--username", u, input="short-pass1\n")
    assert res.returncode == 1
    assert res.stderr.strip()
    assert s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT).status_code == 200
    assert try_login(base_url, u, p).status_code == 201


def test_cli_disable_and_enable(base_url, make_user, login, cli):
    u, p = make_user()
    s = login(u, p)
    assert cli("user", "disable", "--username", u).returncode == 0
    is_problem(s.get(base_url + CURRENT, timeout=HTTP_TIMEOUT), 401)
    is_problem(try_login(base_url, u, p), 401)
    assert "%s\t%s\tsocial_worker\tdisabled" % (u, CORSICO) in \
        cli("user", "list", "--tenant", CORSICO).stdout.splitlines()
    assert cli("user", "enable", "--username", u).returncode == 0
    assert try_login(base_url, u, p).status_code == 201


def test_cli_list_format(make_user, cli):
    u, _ = make_user(CORSICO, "social_worker", roles=["admin"], grants=[(ASSAGO, "dpo")])
    res = cli("user", "list")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == 4, line
        assert fields[2] in ROLES, line
        assert fields[3] in ("active", "disabled"), line
    mine = sorted(line for line in lines if line.split("\t")[0] == u)
    assert mine == sorted([
        "%s\t%s\tadmin\tactive" % (u, CORSICO),
        "%s\t%s\tsocial_worker\tactive" % (u, CORSICO),
        "%s\t%s\tdpo\tactive" % (u, ASSAGO),
    ])
    only_assago = cli("user", "list", "--tenant", ASSAGO).stdout.splitlines()
    assert [line for line in only_assago if line.startswith(u + "\t")] == \
        ["%s\t%s\tdpo\tactive" % (u, ASSAGO)]
    assert all(line.split("\t")[1] == ASSAGO for line in only_assago)


def test_cli_add_is_idempotent(make_user, cli, base_url):
    u, p = make_user(CORSICO, "dpo")
    res = cli("user", "add", "--tenant", CORSICO, "--role", "dpo", "--username", u,
              input=p + "\n")
    assert res.returncode == 0, res.stderr
    lines = [line for line in cli("user", "list", "--tenant", CORSICO).stdout.splitlines()
             if line.startswith(u + "\t")]
    assert lines == ["%s\t%s\tdpo\tactive" % (u, CORSICO)]
    assert try_login(base_url, u, p).status_code == 201


def test_cli_add_reads_a_password_file(cli, base_url):
    u, p = random_name(), random_password()
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(p + "\n")
    try:
        res = cli("user", "add", "--tenant", CORSICO, "--role", "administrative",
                  "--username", u, "--password-file", f.name, input="")
    finally:
        os.unlink(f.name)
    assert res.returncode == 0, res.stderr
    assert try_login(base_url, u, p).status_code == 201


@pytest.mark.parametrize("args,password", [
    (["--tenant", CORSICO, "--role", "social_worker"], "short-pass1"),
    (["--tenant", CORSICO, "--role", "wizard"], None),
    (["--tenant", "999999", "--role", "social_worker"], None),
    (["--tenant", CORSICO, "--role", "social_worker"], ""),
])
def test_cli_add_refuses_bad_input(cli, db, args, password):
    u = random_name()
    pw = random_password() if password is None else password
    res = cli("user", "add", *args, "--username", u, input=pw + "\n")
    # The contract says 1 for an error; 2 (usage error) is accepted for a bad argument.
    assert res.returncode in (1, 2), (res.returncode, res.stdout, res.stderr)
    assert res.stderr.strip()
    assert pw not in res.stderr or not pw
    assert not db.user_exists(u)


def test_version(cli):
    res = cli("version")
    assert res.returncode == 0
    assert re.fullmatch(r"cartella \S+ \(schema \d+\)\n?", res.stdout), res.stdout
