"""Expenditures (spending that is not one beneficiary's) and the resident
population: create/read/update with ETag/If-Match, validation that names the
failing field and stores nothing, roles, and tenant isolation (another
Comune's ids are 404, another Comune's population is out of reach)."""
import uuid

import pytest

from conftest import AMBITO, ASSAGO, CORSICO, HTTP_TIMEOUT, error_fields, is_problem

URL = "/api/v1/expenditures"


@pytest.fixture(scope="module")
def staff(make_user, login):
    cache = {}

    def get(tenant=CORSICO, role="administrative"):
        if (tenant, role) not in cache:
            u, p = make_user(tenant, role)
            cache[(tenant, role)] = login(u, p, tenant)
        return cache[(tenant, role)]

    return get


def body(**over):
    b = {"year": 2023, "regional_area": "servizio_sociale_professionale", "channel": "comune",
         "management": "single", "kind": "staff", "amount": "185000.5",
         "description": "Assistenti sociali", "budget_chapter": "12041.01"}
    b.update(over)
    return b


def post(s, b, **kw):
    return s.post(s.base_url + URL, json=b, timeout=HTTP_TIMEOUT, **kw)


def count(db, tenant=CORSICO):
    return db.one("SELECT count(*) FROM expenditure e JOIN tenant t ON t.id = e.tenant_id"
                  " WHERE t.code = %s", (tenant,))


def test_create_read_update(staff):
    s = staff()
    r = post(s, body())
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["amount"] == "185000.50" and e["year"] == 2023 and e["version"] == 1
    assert r.headers["Location"] == URL + "/" + e["id"]
    got = s.get(s.base_url + URL + "/" + e["id"], timeout=HTTP_TIMEOUT)
    assert got.status_code == 200 and got.json() == e
    assert got.headers["ETag"] == '"1"'
    listed = s.get(s.base_url + URL, params={"year": 2023, "channel": "comune"},
                   timeout=HTTP_TIMEOUT).json()
    assert e["id"] in [x["id"] for x in listed["items"]]
    url = s.base_url + URL + "/" + e["id"]
    is_problem(s.patch(url, json={"amount": "1.00"}, timeout=HTTP_TIMEOUT), 428)
    is_problem(s.patch(url, json={"amount": "1.00"}, headers={"If-Match": '"7"'},
                       timeout=HTTP_TIMEOUT), 412)
    r = s.patch(url, json={"amount": "1.00", "budget_chapter": None, "management": "associated"},
                headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == "1.00" and r.json()["budget_chapter"] is None
    assert r.json()["management"] == "associated" and r.json()["version"] == 2
    assert r.json()["description"] == "Assistenti sociali"


@pytest.mark.parametrize("bad, field", [
    ({"year": 1999}, "year"), ({"year": "2023"}, "year"), ({"regional_area": "nope"}, "regional_area"),
    ({"channel": "banca"}, "channel"), ({"management": "mixed"}, "management"),
    ({"kind": "salary"}, "kind"), ({"amount": "0"}, "amount"), ({"amount": "-5.00"}, "amount"),
    ({"amount": "1.234"}, "amount"), ({"amount": 12}, "amount"), ({"description": ""}, "description"),
    ({"surprise": 1}, "surprise"), ({"year": None}, "year")])
def test_bad_input_names_the_field_and_stores_nothing(staff, db, bad, field):
    before = count(db)
    r = post(staff(), body(**bad))
    assert field in error_fields(is_problem(r, 400)), r.text
    assert count(db) == before


def test_malformed_and_missing(staff, db):
    s = staff()
    before = count(db)
    r = s.post(s.base_url + URL, data="{", headers={"Content-Type": "application/json"},
               timeout=HTTP_TIMEOUT)
    is_problem(r, 400)
    b = body()
    del b["amount"]
    assert "amount" in error_fields(is_problem(post(s, b), 400))
    assert count(db) == before


def test_roles_and_tenants(staff, db):
    e = post(staff(CORSICO, "service_manager"), body()).json()
    # The planning office reads, does not write; social workers neither.
    planning = staff(CORSICO, "planning_office")
    assert planning.get(planning.base_url + URL + "/" + e["id"],
                        timeout=HTTP_TIMEOUT).status_code == 200
    is_problem(post(planning, body()), 403)
    is_problem(post(staff(CORSICO, "social_worker"), body()), 403)
    # Another Comune: 404 on read and update, nothing changed.
    other = staff(ASSAGO, "administrative")
    url = other.base_url + URL + "/" + e["id"]
    is_problem(other.get(url, timeout=HTTP_TIMEOUT), 404)
    is_problem(other.patch(url, json={"amount": "2.00"}, headers={"If-Match": '"1"'},
                           timeout=HTTP_TIMEOUT), 404)
    assert e["id"] not in [x["id"] for x in other.get(
        other.base_url + URL, timeout=HTTP_TIMEOUT).json()["items"]]
    assert db.one("SELECT amount_cents FROM expenditure WHERE id = %s", (e["id"],)) == 18500050
    is_problem(other.get(other.base_url + URL + "/" + str(uuid.uuid4()), timeout=HTTP_TIMEOUT),
               404)
    is_problem(other.get(other.base_url + URL + "/not-a-uuid", timeout=HTTP_TIMEOUT), 404)


# ---------------------------------------------------------------- population

POP = "/api/v1/population/%s/%s"
ROWS = [{"sex": "F", "age_band": "0-17", "residents": 100},
        {"sex": "F", "age_band": "18+", "residents": 400},
        {"sex": "M", "age_band": "0-17", "residents": 110},
        {"sex": "M", "age_band": "18+", "residents": 380}]


def put(s, tenant, year, rows, etag=None):
    return s.put(s.base_url + POP % (tenant, year), json={"rows": rows},
                 headers={"If-Match": etag} if etag else {}, timeout=HTTP_TIMEOUT)


def test_population_load_and_replace(staff):
    admin = staff(CORSICO, "admin")
    r = put(admin, CORSICO, 2031, ROWS)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 990 and len(r.json()["rows"]) == 4
    etag = r.headers["ETag"]
    # Once loaded, the year is replaced only with If-Match.
    is_problem(put(admin, CORSICO, 2031, ROWS[:2]), 428)
    is_problem(put(admin, CORSICO, 2031, ROWS[:2], '"99"'), 412)
    r = put(admin, CORSICO, 2031, ROWS[:2], etag)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 500 and r.headers["ETag"] != etag
    reader = staff(CORSICO, "social_worker")
    got = reader.get(reader.base_url + POP % (CORSICO, 2031), timeout=HTTP_TIMEOUT)
    assert got.status_code == 200 and got.json()["total"] == 500
    # The Ambito's administrator loads a member Comune; the Ambito itself has none.
    ambito_admin = staff(AMBITO, "admin")
    assert put(ambito_admin, ASSAGO, 2031, ROWS).status_code == 200
    is_problem(put(ambito_admin, AMBITO, 2031, ROWS), 400)


def test_population_bad_input_and_scope(staff, db):
    admin = staff(CORSICO, "admin")
    put(admin, CORSICO, 2032, ROWS)
    for rows, field in (([{"sex": "X", "age_band": "0-17", "residents": 1}], "rows[0].sex"),
                        ([{"sex": "F", "age_band": "17-0", "residents": 1}], "rows[0].age_band"),
                        ([{"sex": "F", "age_band": "0-17", "residents": -1}], "rows[0].residents"),
                        (ROWS + [{"sex": "F", "age_band": "10-20", "residents": 1}],
                         "rows[4].age_band"),
                        ([{"sex": "F", "age_band": "0-17", "residents": 1, "x": 1}], "rows[0].x"),
                        ([], "rows")):
        assert field in error_fields(is_problem(put(admin, CORSICO, 2032, rows), 400)), rows
    is_problem(put(admin, CORSICO, 1999, ROWS), 400)
    # Another Comune's population is out of reach of a Comune's admin.
    is_problem(put(admin, ASSAGO, 2032, ROWS, '"1"'), 404)
    is_problem(put(staff(CORSICO, "administrative"), CORSICO, 2032, ROWS, '"1"'), 403)
    assert db.one("SELECT sum(residents) FROM population p JOIN tenant t ON t.id = p.tenant_id"
                  " WHERE t.code = %s AND year = 2032", (CORSICO,)) == 990
