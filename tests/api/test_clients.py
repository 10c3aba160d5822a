"""Integration clients: administration (admin only), HTTP Basic
authentication with a client secret shown once, scopes enforced by the
policy, tenant isolation, the audit trail, throttling."""

import base64
import hashlib
import json
import re
import time
import uuid

import pytest

import fiscal
from conftest import (ASSAGO, CORSICO, HTTP_TIMEOUT, error_fields, free_port, fresh_client,
                      is_problem, random_name)

CLIENTS = "/api/v1/clients"
SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


def get(s, path, **kw):
    return s.get(s.base_url + path, timeout=HTTP_TIMEOUT, **kw)


def patch(adm, cid, body, etag):
    h = {} if etag is None else {"If-Match": etag}
    return adm.patch(adm.base_url + CLIENTS + "/" + cid, json=body, headers=h,
                     timeout=HTTP_TIMEOUT)


def etag_of(adm, cid):
    r = get(adm, CLIENTS + "/" + cid)
    assert r.status_code == 200, r.text
    return r.headers["ETag"]


def basic(cid, secret):
    raw = ("%s:%s" % (cid, secret)).encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def client_row(db, cid):
    rows = db.all("SELECT name, scopes, enabled, version, encode(secret_hash, 'hex') "
                  "FROM api_client WHERE id = %s", (cid,))
    assert len(rows) == 1
    return rows[0]


def test_create_shows_the_secret_once_and_stores_only_a_keyed_hash(admin, db):
    adm, _ = admin()
    name = random_name("Anagrafe ")
    r = adm.post(adm.base_url + CLIENTS, json={"name": name, "scopes": ["persons.read",
                                                                        "catalogue.read"]},
                 timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["Location"] == CLIENTS + "/" + body["id"]
    assert r.headers["ETag"] == '"1"'
    assert SECRET.match(body["secret"])
    assert body["name"] == name and body["enabled"] is True and body["version"] == 1
    assert body["scopes"] == ["persons.read", "catalogue.read"]
    assert body["last_used_at"] is None and body["created_by"]
    again = get(adm, r.headers["Location"])
    assert again.status_code == 200 and "secret" not in again.json()
    listed = [c for c in get(adm, CLIENTS, params={"limit": 200}).json()["items"]
              if c["id"] == body["id"]]
    assert len(listed) == 1 and "secret" not in listed[0]
    row = client_row(db, body["id"])
    raw = base64.urlsafe_b64decode(body["secret"] + "=")
    assert body["secret"] not in str(row) and raw.hex() not in str(row)
    assert len(row[4]) == 64
    assert row[4] != hashlib.blake2b(body["secret"].encode(), digest_size=32).hexdigest()
    assert row[:4] == (name, ["persons.read", "catalogue.read"], True, 1)


def test_a_client_reaches_what_its_scopes_allow_and_nothing_else(make_client, db):
    c = make_client(["catalogue.read"])
    assert get(c, "/api/v1/catalogue").status_code == 200
    assert get(c, "/api/v1/tenants").status_code == 200
    assert is_problem(get(c, "/api/v1/persons"), 403)
    assert is_problem(get(c, "/api/v1/interventions"), 403)
    every = make_client(["siuss", "persons.read", "interventions.read", "interventions.write",
                         "catalogue.read"])
    assert get(every, "/api/v1/persons").status_code == 200
    assert get(every, "/api/v1/interventions").status_code == 200
    # Staff-only routes stay closed whatever the scopes.
    for path in ("/api/v1/users", "/api/v1/sessions/current", CLIENTS, "/api/v1/audit/events",
                 "/api/v1/cases", "/api/v1/households", "/api/v1/isee",
                 "/api/v1/access-contacts"):
        assert is_problem(get(every, path), 403), path
    r = every.post(every.base_url + "/api/v1/persons", json=fiscal.person(),
                   timeout=HTTP_TIMEOUT)
    assert is_problem(r, 403)
    r = every.post(every.base_url + CLIENTS, json={"name": "x", "scopes": ["siuss"]},
                   timeout=HTTP_TIMEOUT)
    assert is_problem(r, 403)
    used = get(every.admin, CLIENTS + "/" + every.client_id).json()
    assert used["last_used_at"] is not None


@pytest.mark.parametrize("how", ["wrong secret", "unknown id", "not base64", "no colon",
                                 "short secret", "id not a uuid", "empty"])
def test_bad_credentials_are_a_bare_401(make_client, base_url, how):
    c = make_client(["catalogue.read"])
    bad = {
        "wrong secret": basic(c.client_id, "A" * 43),
        "unknown id": basic(str(uuid.uuid4()), c.secret),
        "not base64": {"Authorization": "Basic !!!notbase64!!!"},
        "no colon": {"Authorization": "Basic " + base64.b64encode(
            (c.client_id + c.secret).encode()).decode()},
        "short secret": basic(c.client_id, c.secret[:-1]),
        "id not a uuid": basic("corsico-anagrafe", c.secret),
        "empty": {"Authorization": "Basic "},
    }[how]
    r = fresh_client(base_url).get(base_url + "/api/v1/catalogue", headers=bad,
                                   timeout=HTTP_TIMEOUT)
    assert is_problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert "detail" not in r.json() or c.client_id not in r.json()["detail"]


def test_disable_rotate_and_rescope(make_client, db):
    c = make_client(["catalogue.read"])
    adm, cid = c.admin, c.client_id
    etag = etag_of(adm, cid)
    r = patch(adm, cid, {"enabled": False}, etag)
    assert r.status_code == 200 and r.json()["enabled"] is False, r.text
    assert is_problem(get(c, "/api/v1/catalogue"), 401)
    r = patch(adm, cid, {"enabled": True, "scopes": ["persons.read"]}, r.headers["ETag"])
    assert r.status_code == 200 and r.json()["scopes"] == ["persons.read"], r.text
    assert is_problem(get(c, "/api/v1/catalogue"), 403)
    assert get(c, "/api/v1/persons").status_code == 200
    old = c.secret
    r = patch(adm, cid, {"rotate_secret": True}, r.headers["ETag"])
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert SECRET.match(new) and new != old
    assert r.json()["version"] == 4
    assert "secret" not in get(adm, CLIENTS + "/" + cid).json()
    assert is_problem(get(c, "/api/v1/persons"), 401)
    c.auth = (cid, new)
    assert get(c, "/api/v1/persons").status_code == 200


def test_if_match_and_bad_input_change_nothing(make_client, db):
    c = make_client(["catalogue.read"])
    adm, cid = c.admin, c.client_id
    before = client_row(db, cid)
    assert is_problem(patch(adm, cid, {"enabled": False}, None), 428)
    assert is_problem(patch(adm, cid, {"enabled": False}, '"7"'), 412)
    etag = etag_of(adm, cid)
    for body, field in [({}, ""), ({"scopes": []}, "scopes"), ({"scopes": ["admin"]}, "scopes[0]"),
                        ({"scopes": ["siuss", "siuss"]}, "scopes[1]"),
                        ({"enabled": "no"}, "enabled"), ({"rotate_secret": False}, "rotate_secret"),
                        ({"name": ""}, "name"), ({"name": "x" * 101}, "name"),
                        ({"secret": "mine"}, "secret"), ({"scopes": "siuss"}, "scopes")]:
        r = patch(adm, cid, body, etag)
        assert is_problem(r, 400), (body, r.text)
        assert field in error_fields(r.json()), (body, r.json())
    r = adm.patch(adm.base_url + CLIENTS + "/" + cid, data="{not json",
                  headers={"If-Match": etag, "Content-Type": "application/json"},
                  timeout=HTTP_TIMEOUT)
    assert is_problem(r, 400)
    assert client_row(db, cid) == before
    # Creation: the same rules, a duplicate name (any case) is 409.
    for body, field in [({"scopes": ["siuss"]}, "name"), ({"name": "x"}, "scopes"),
                        ({"name": "x", "scopes": ["siuss"], "enabled": True}, "enabled"),
                        ({"name": 5, "scopes": ["siuss"]}, "name")]:
        r = adm.post(adm.base_url + CLIENTS, json=body, timeout=HTTP_TIMEOUT)
        assert is_problem(r, 400), (body, r.text)
        assert field in error_fields(r.json()), (body, r.json())
    name = c.client_body["name"]
    r = adm.post(adm.base_url + CLIENTS, json={"name": name.upper(), "scopes": ["siuss"]},
                 timeout=HTTP_TIMEOUT)
    assert is_problem(r, 409)
    assert client_row(db, cid) == before


def test_only_admins_manage_clients(make_client, make_user, login):
    c = make_client(["siuss"])
    for role in ("social_worker", "service_manager", "dpo", "planning_office", "administrative"):
        u, p = make_user(CORSICO, role)
        s = login(u, p, CORSICO)
        assert is_problem(get(s, CLIENTS), 403), role
        assert is_problem(get(s, CLIENTS + "/" + c.client_id), 403), role
        r = s.post(s.base_url + CLIENTS, json={"name": random_name(), "scopes": ["siuss"]},
                   timeout=HTTP_TIMEOUT)
        assert is_problem(r, 403), role


def test_tenant_isolation(make_client, make_user, login, db):
    corsico = make_client(["persons.read"])
    worker_u, worker_p = make_user(CORSICO, "social_worker")
    w = login(worker_u, worker_p, CORSICO)
    person = w.post(w.base_url + "/api/v1/persons", json=fiscal.person(), timeout=HTTP_TIMEOUT)
    assert person.status_code == 201, person.text
    pid = person.json()["id"]
    assert get(corsico, "/api/v1/persons/" + pid).status_code == 200
    assago = make_client(["persons.read"], tenant=ASSAGO)
    assert is_problem(get(assago, "/api/v1/persons/" + pid), 404)
    assert pid not in str(get(assago, "/api/v1/persons").json())
    # The other tenant's admin does not see, change or rotate the client.
    assago_admin = assago.admin
    assert is_problem(get(assago_admin, CLIENTS + "/" + corsico.client_id), 404)
    before = client_row(db, corsico.client_id)
    r = patch(assago_admin, corsico.client_id, {"enabled": False}, '"1"')
    assert is_problem(r, 404)
    assert client_row(db, corsico.client_id) == before
    assert corsico.client_id not in str(get(assago_admin, CLIENTS, params={"limit": 200}).json())


def test_rls_as_the_application_role(make_client, db_app, db):
    c = make_client(["siuss"])
    conn = db_app()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM api_client")
        assert cur.fetchone()[0] == 0
    conn = db_app(db.tenant_id(ASSAGO))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM api_client WHERE id = %s", (c.client_id,))
        assert cur.fetchone()[0] == 0
    conn = db_app(db.tenant_id(CORSICO))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM api_client WHERE id = %s", (c.client_id,))
        assert cur.fetchone()[0] == 1


def test_client_reads_are_audited_with_the_client_as_principal(make_client, make_user, login,
                                                               db):
    u, p = make_user(CORSICO, "social_worker")
    w = login(u, p, CORSICO)
    pid = w.post(w.base_url + "/api/v1/persons", json=fiscal.person(),
                 timeout=HTTP_TIMEOUT).json()["id"]
    c = make_client(["persons.read"])
    assert get(c, "/api/v1/persons/" + pid).status_code == 200
    rows = db.all("SELECT user_id, client, roles, action, outcome FROM audit_event "
                  "WHERE object_id = %s AND client IS NOT NULL", (pid,))
    assert rows == [(None, "api:" + c.client_id, [], "person.read", 200)]
    assert is_problem(get(c, "/api/v1/interventions"), 403)
    denied = db.all("SELECT action, outcome FROM audit_event WHERE client = %s AND outcome = 403",
                    ("api:" + c.client_id,))
    assert ("intervention.read", 403) in denied
    # The DPO sees the client in the trail.
    du, dp = make_user(CORSICO, "dpo")
    dpo = login(du, dp, CORSICO)
    ev = get(dpo, "/api/v1/audit/events", params={"object_id": pid}).json()["items"]
    assert any(e["client"] == "api:" + c.client_id and e["user_id"] is None for e in ev)
    assert all(e["client"] is None for e in ev if e["user_id"] is not None)


def test_repeated_bad_secrets_are_throttled(make_client, base_url):
    c = make_client(["catalogue.read"])
    s = fresh_client(base_url)
    codes = [s.get(base_url + "/api/v1/catalogue", headers=basic(c.client_id, "B" * 43),
                   timeout=HTTP_TIMEOUT).status_code for _ in range(5)]
    assert codes == [401] * 5
    r = s.get(base_url + "/api/v1/catalogue", headers=basic(c.client_id, c.secret),
              timeout=HTTP_TIMEOUT)
    assert is_problem(r, 429)
    assert int(r.headers["Retry-After"]) > 0
    # Another address is throttled too: the count is per client id.
    r = fresh_client(base_url).get(base_url + "/api/v1/catalogue",
                                   headers=basic(c.client_id, c.secret), timeout=HTTP_TIMEOUT)
    assert is_problem(r, 429)


def test_a_client_with_interventions_write_records_one_idempotently(make_client, make_user,
                                                                    login, db):
    u, p = make_user(CORSICO, "social_worker")
    w = login(u, p, CORSICO)
    pid = w.post(w.base_url + "/api/v1/persons", json=fiscal.person(),
                 timeout=HTTP_TIMEOUT).json()["id"]
    c = make_client(["interventions.write", "interventions.read"])
    body = {"beneficiary_id": pid, "service": "EMERG-ABIT", "nature": "one_off",
            "delivery_date": "2024-03-15", "total_amount": "300.00", "means_test": 4,
            "funding": [{"channel": "comune", "amount": "300.00"}], "in_charge": False}
    key = "client-" + uuid.uuid4().hex[:16]
    r = c.post(c.base_url + "/api/v1/interventions", json=body,
               headers={"Idempotency-Key": key}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    again = c.post(c.base_url + "/api/v1/interventions", json=body,
                   headers={"Idempotency-Key": key}, timeout=HTTP_TIMEOUT)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == iid
    assert db.one("SELECT count(*) FROM intervention WHERE beneficiary_id = %s", (pid,)) == 1
    assert db.one("SELECT created_by FROM intervention WHERE id = %s", (iid,)) is None
    assert db.one("SELECT user_id IS NULL AND client = %s FROM idempotency_key WHERE key = %s",
                  ("api:" + c.client_id, key)) is True
    # The same key is the client's own: a staff user may use it for something else.
    r = w.post(w.base_url + "/api/v1/persons", json=fiscal.person(),
               headers={"Idempotency-Key": key}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201 and r.headers.get("Idempotent-Replayed") is None
    ev = db.all("SELECT action, outcome FROM audit_event WHERE client = %s AND object_id = %s",
                ("api:" + c.client_id, iid))
    assert ("intervention.write", 201) in ev


# ---------------------------------------------------------------- PDND vouchers

@pytest.fixture
def pdnd_server(pdnd, spawn_server):
    """A server with a PDND e-service whose purposes are: "persons" (Corsico,
    persons.read) and "catalogue" (Assago, catalogue.read)."""
    purposes = {"persons": pdnd.purpose(CORSICO, ["persons.read"]),
                "catalogue": pdnd.purpose(ASSAGO, ["catalogue.read"])}
    with spawn_server(CARTELLA_PDND_CONFIG=pdnd.config(list(purposes.values()))) as srv:
        srv.purposes = purposes
        yield srv


def vget(srv, path, headers):
    return fresh_client(srv.url).get(srv.url + path, headers=headers, timeout=HTTP_TIMEOUT)


def test_a_pdnd_voucher_is_a_client_of_its_purposes_tenant(pdnd, pdnd_server, make_user,
                                                          login, db):
    u, p = make_user(CORSICO, "social_worker")
    w = login(u, p, CORSICO)
    pid = w.post(w.base_url + "/api/v1/persons", json=fiscal.person(),
                 timeout=HTTP_TIMEOUT).json()["id"]
    persons = pdnd_server.purposes["persons"]
    h = pdnd.bearer(persons)
    r = vget(pdnd_server, "/api/v1/persons/" + pid, h)
    assert r.status_code == 200, r.text
    assert is_problem(vget(pdnd_server, "/api/v1/catalogue", h), 403)
    assert is_problem(vget(pdnd_server, "/api/v1/users", h), 403)
    assert is_problem(vget(pdnd_server, "/api/v1/sessions/current", h), 403)
    ref = "pdnd:%s:%s:%s" % (pdnd.eservice_id, persons["consumer_id"], persons["purpose_id"])
    rows = db.all("SELECT user_id, client, action, outcome FROM audit_event "
                  "WHERE object_id = %s AND client IS NOT NULL", (pid,))
    assert rows == [(None, ref, "person.read", 200)]
    # The other purpose belongs to Assago: its catalogue, not Corsico's people.
    h2 = pdnd.bearer(pdnd_server.purposes["catalogue"])
    assert vget(pdnd_server, "/api/v1/catalogue", h2).status_code == 200
    assert is_problem(vget(pdnd_server, "/api/v1/persons/" + pid, h2), 403)
    assert db.one("SELECT count(*) FROM audit_event e JOIN tenant t ON t.id = e.tenant_id "
                  "WHERE e.client LIKE %s AND t.code = %s",
                  ("pdnd:%%:%s" % pdnd_server.purposes["catalogue"]["purpose_id"], ASSAGO)) >= 1


def other_key():
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("case", [
    "alg none", "HS256 with the public key", "unknown kid", "another key, same kid", "wrong aud",
    "expired", "not yet valid", "wrong iss", "typ JWT", "wrong eserviceId", "wrong producerId",
    "unknown purposeId", "consumerId not the purpose's", "no consumerId", "tampered payload",
    "two parts only"])
def test_bad_vouchers_are_a_bare_401(pdnd, pdnd_server, case):
    p = pdnd_server.purposes["persons"]
    now = int(time.time())
    tok = {
        "alg none": lambda: pdnd.voucher(p, header={"alg": "none"}, alg="none"),
        "HS256 with the public key": lambda: pdnd.voucher(p, header={"alg": "HS256"},
                                                          alg="HS256"),
        "unknown kid": lambda: pdnd.voucher(p, header={"kid": "nobody"}),
        "another key, same kid": lambda: pdnd.voucher(p, key=other_key()),
        "wrong aud": lambda: pdnd.voucher(p, aud="https://elsewhere.example/api"),
        "expired": lambda: pdnd.voucher(p, iat=now - 1200, nbf=now - 1200, exp=now - 300),
        "not yet valid": lambda: pdnd.voucher(p, nbf=now + 600),
        "wrong iss": lambda: pdnd.voucher(p, iss="evil.example"),
        "typ JWT": lambda: pdnd.voucher(p, header={"typ": "JWT"}),
        "wrong eserviceId": lambda: pdnd.voucher(p, eserviceId=str(uuid.uuid4())),
        "wrong producerId": lambda: pdnd.voucher(p, producerId=str(uuid.uuid4())),
        "unknown purposeId": lambda: pdnd.voucher(p, purposeId=str(uuid.uuid4())),
        "consumerId not the purpose's": lambda: pdnd.voucher(p, consumerId=str(uuid.uuid4())),
        "no consumerId": lambda: pdnd.voucher(p, consumerId=None),
        "tampered payload": lambda: tamper(pdnd.voucher(p)),
        "two parts only": lambda: pdnd.voucher(p).rsplit(".", 1)[0],
    }[case]()
    r = vget(pdnd_server, "/api/v1/persons", {"Authorization": "Bearer " + tok})
    body = is_problem(r, 401)
    assert "detail" not in body
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "PDND voucher refused" in pdnd_server.log()


def tamper(token):
    h, p, s = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["purposeId"] = str(uuid.uuid4())
    return h + "." + base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(
        b"=").decode() + "." + s


def test_a_voucher_without_pdnd_configured_is_401(pdnd, base_url):
    r = fresh_client(base_url).get(base_url + "/api/v1/persons",
                                   headers=pdnd.bearer(pdnd.purpose()), timeout=HTTP_TIMEOUT)
    assert is_problem(r, 401)


@pytest.mark.parametrize("change, message", [
    ({"scopes": ["root"]}, "scopes[0] is not a scope"),
    ({"tenant": ""}, "tenant must be a non-empty string"),
    ({"extra": 1}, "unknown member extra"),
])
def test_a_bad_pdnd_configuration_stops_the_server(pdnd, cli, change, message):
    p = pdnd.purpose()
    p.update(change)
    res = cli("serve", env={"CARTELLA_PDND_CONFIG": pdnd.config([p]),
                            "PORT": str(free_port())}, timeout=60)
    assert res.returncode != 0
    assert message in res.stderr + res.stdout


def test_a_missing_jwks_file_stops_the_server(pdnd, cli):
    res = cli("serve", env={"CARTELLA_PDND_CONFIG": pdnd.config([pdnd.purpose()],
                                                                jwks_file="absent.json"),
                            "PORT": str(free_port())}, timeout=60)
    assert res.returncode != 0 and "absent.json" in res.stderr + res.stdout
