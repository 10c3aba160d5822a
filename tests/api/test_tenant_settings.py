"""A Comune's own settings (PATCH /api/v1/tenants/{id}): its admin sets the
fiscal code that signs its SIUSS flows; nobody else can, and bad input
changes nothing. Row-level security (migration 023) backs the rule."""
import pytest

from conftest import AMBITO, ASSAGO, HTTP_TIMEOUT, error_fields, is_problem

T = HTTP_TIMEOUT
COMUNE = "015220"          # a Comune of the Ambito no other test configures
OPERATOR_CF = "80012345676"  # 11 digits, valid check digit (an ente's code)


@pytest.fixture(scope="module")
def own(make_user, login, db):
    u, p = make_user(COMUNE, "admin")
    s = login(u, p, COMUNE)
    s.tenant = str(db.tenant_id(COMUNE))
    s.url = s.base_url + "/api/v1/tenants/" + s.tenant
    return s


def setting(db):
    return db.one("SELECT siuss_operator_cf FROM tenant WHERE code = %s", (COMUNE,))


def patch(s, body, etag):
    headers = {"If-Match": etag} if etag else {}
    return s.patch(s.url, json=body, headers=headers, timeout=T)


def test_the_admin_sets_and_clears_the_operator_fiscal_code(own, db, make_client):
    r = own.get(own.url, timeout=T)
    assert r.status_code == 200 and "siuss_operator_cf" in r.json(), r.text
    etag = r.headers["ETag"]
    inps = make_client(["siuss"], tenant=COMUNE)
    flows = inps.get(inps.base_url + "/waas/v1/flussi", params={"since": 0}, timeout=T)
    if r.json()["siuss_operator_cf"] is None:
        assert flows.status_code == 404      # no operator: this Comune sends no flows
    assert is_problem(patch(own, {"siuss_operator_cf": OPERATOR_CF}, None), 428)
    r = patch(own, {"siuss_operator_cf": " 800 1234 5676 "}, etag)
    assert r.status_code == 200, r.text
    assert r.json()["siuss_operator_cf"] == OPERATOR_CF and setting(db) == OPERATOR_CF
    assert r.headers["ETag"] != etag
    flows = inps.get(inps.base_url + "/waas/v1/flussi", params={"since": 0}, timeout=T)
    assert flows.status_code == 200, flows.text
    # A stale ETag is refused; the write is audited.
    assert is_problem(patch(own, {"siuss_operator_cf": None}, etag), 412)
    assert db.one("SELECT count(*) FROM audit_event WHERE action = 'tenant.update'"
                  " AND object_id = %s AND outcome = 200", (own.tenant,)) >= 1
    r = patch(own, {"siuss_operator_cf": None}, r.headers["ETag"])
    assert r.status_code == 200 and r.json()["siuss_operator_cf"] is None
    assert setting(db) is None


@pytest.mark.parametrize("body, field, rule", [
    ({"siuss_operator_cf": "80012345678"}, "siuss_operator_cf", None),     # check digit
    ({"siuss_operator_cf": "RSSMRA80A01F205Y"}, "siuss_operator_cf", None),  # check letter
    ({"siuss_operator_cf": "STP1234567890123"}, "siuss_operator_cf", "kind"),
    ({"siuss_operator_cf": 80012345676}, "siuss_operator_cf", None),
    ({}, "siuss_operator_cf", "required"),
    ({"siuss_operator_cf": OPERATOR_CF, "name": "Altro nome"}, "name", None),
])
def test_bad_input_changes_nothing(own, db, body, field, rule):
    before = db.one("SELECT version FROM tenant WHERE code = %s", (COMUNE,))
    etag = own.get(own.url, timeout=T).headers["ETag"]
    problem = is_problem(patch(own, body, etag), 400)
    assert field in error_fields(problem), problem
    if rule:
        assert rule in [e["rule"] for e in problem["errors"] if e["field"] == field]
    assert db.one("SELECT version FROM tenant WHERE code = %s", (COMUNE,)) == before


def test_each_comune_configures_only_itself(own, db, make_user, login):
    other = str(db.tenant_id(ASSAGO))
    before = db.one("SELECT version, siuss_operator_cf FROM tenant WHERE id = %s", (other,))
    r = own.patch(own.base_url + "/api/v1/tenants/" + other,
                  json={"siuss_operator_cf": OPERATOR_CF}, headers={"If-Match": '"1"'},
                  timeout=T)
    assert is_problem(r, 403)
    assert db.one("SELECT version, siuss_operator_cf FROM tenant WHERE id = %s",
                  (other,)) == before
    # Another tenant's settings are not shown either.
    assert "siuss_operator_cf" not in own.get(own.base_url + "/api/v1/tenants/" + other,
                                              timeout=T).json()
    # Nor to the Comune's own non-admin staff.
    u, p = make_user(COMUNE, "service_manager")
    sm = login(u, p, COMUNE)
    assert "siuss_operator_cf" not in sm.get(own.url, timeout=T).json()
    # An Ambito sends no flows.
    u, p = make_user(AMBITO, "admin")
    amb = login(u, p, AMBITO)
    url = amb.base_url + "/api/v1/tenants/" + str(db.tenant_id(AMBITO))
    etag = amb.get(url, timeout=T).headers["ETag"]
    r = amb.patch(url, json={"siuss_operator_cf": OPERATOR_CF}, headers={"If-Match": etag},
                  timeout=T)
    assert "siuss_operator_cf" in error_fields(is_problem(r, 400))


def test_row_level_security_lets_the_app_update_only_its_tenant(db, db_app):
    corsico, assago = (str(db.tenant_id(c)) for c in ("015093", ASSAGO))
    c = db_app(corsico)
    with c.cursor() as cur:
        cur.execute("SELECT count(*) FROM tenant")
        assert cur.fetchone()[0] >= 7                 # reference data: every row readable
        cur.execute("UPDATE tenant SET version = version WHERE id = %s", (assago,))
        assert cur.rowcount == 0
        cur.execute("UPDATE tenant SET version = version WHERE id = %s", (corsico,))
        assert cur.rowcount == 1
    c.rollback()
