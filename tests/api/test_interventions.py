"""Interventions (erogazioni): periodic and one-off, funding split by channel
that must add up to the cost, the SIUSS flow fields, validation that names
every failing field and stores nothing, ETag/If-Match, cancellation that
keeps the row, and tenant isolation (another Comune's ids are 404)."""
import datetime
import uuid

import psycopg2
import pytest

import fiscal
from conftest import (AMBITO, ASSAGO, CORSICO, HTTP_TIMEOUT, error_fields, is_problem,
                      random_name)

URL = "/api/v1/interventions"
DSU = "INPS-ISEE-2024-12345678A-01"


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def users(make_user, login):
    """Logged-in sessions by (tenant, role), made once for the module."""
    cache = {}

    def get(tenant=CORSICO, role="social_worker"):
        if (tenant, role) not in cache:
            u, p = make_user(tenant, role)
            cache[(tenant, role)] = login(u, p, tenant)
        return cache[(tenant, role)]

    return get


@pytest.fixture(scope="module")
def worker(users):
    return users(CORSICO, "social_worker")


def new_person(s, birth="1980-01-01", sex="F"):
    r = s.post(s.base_url + "/api/v1/persons", json=fiscal.person(sex=sex, birth=birth),
               timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def ambito_service(db, code):
    return str(db.one("SELECT s.id FROM service_catalogue s JOIN tenant t ON t.id = s.tenant_id"
                      " WHERE t.code = %s AND s.code = %s", (AMBITO, code)))


def own_service(db, tenant_code, nature="periodic", active=True):
    """A service of a Comune's own catalogue, written as the superuser."""
    code = random_name("S").upper().replace("_", "-")
    return str(db.one(
        "INSERT INTO service_catalogue (tenant_id, code, name, inps_code, istat_area,"
        " regional_area, nature, active) SELECT id, %s, 'Servizio di prova', 'A2.07', 'ELD',"
        " 'anziani', %s, %s FROM tenant WHERE code = %s RETURNING id",
        (code, nature, active, tenant_code)))


def new_provider(users, tenant=CORSICO):
    s = users(tenant, "administrative")
    body = {"name": "Cooperativa " + random_name(""),
            "tax_code": "%011d" % (uuid.uuid4().int % 10**11), "kind": "cooperative"}
    r = s.post(s.base_url + "/api/v1/providers", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_case(s, db, person_id, tenant=CORSICO, area="2"):
    """A case of person_id: through the API when the cases route answers,
    else written as the superuser (the case API is another resource)."""
    r = s.post(s.base_url + "/api/v1/cases",
               json={"person_id": person_id, "area": area, "opened_on": "2020-01-01"},
               timeout=HTTP_TIMEOUT)
    if r.status_code == 201:
        return r.json()["id"]
    case_id = str(uuid.uuid4())
    db.one("INSERT INTO social_case (tenant_id, id, person_id, area, opened_on)"
           " SELECT id, %s, %s, %s, '2020-01-01' FROM tenant WHERE code = %s RETURNING id",
           (case_id, person_id, area, tenant))
    return case_id


def periodic(person_id, db, **over):
    body = {
        "beneficiary_id": person_id,
        "service": ambito_service(db, "SAD"),
        "nature": "periodic",
        "start_date": "2024-01-01",
        "end_date": "2024-12-31",
        "monthly_amount": "350.00",
        "hours_per_month": "20.50",
        "means_test": 1,
        "dsu": DSU,
        "shares": {"tenant": "300.00", "user": "50.00", "health": None},
        "funding": [{"channel": "comune", "amount": "200.00"},
                    {"channel": "fondo_non_autosufficienze", "amount": "100.00"},
                    {"channel": "utenza", "amount": "50.00"}],
        "management": "associated",
        "in_charge": True,
        "user_area": 2,
        "application_protocol": "PROT-2024-0001",
    }
    body.update(over)
    return body


def one_off(person_id, **over):
    body = {
        "beneficiary_id": person_id,
        "service": "EMERG-ABIT",
        "nature": "one_off",
        "delivery_date": "2024-03-15",
        "total_amount": "1200.50",
        "means_test": 4,
        "funding": [{"channel": "comune", "amount": "700.50"},
                    {"channel": "fondo_sociale_regionale", "amount": "400.00"},
                    {"channel": "fnps", "amount": "100.00"}],
        "in_charge": False,
    }
    body.update(over)
    return body


def post(s, body, **kw):
    return s.post(s.base_url + URL, json=body, timeout=HTTP_TIMEOUT, **kw)


def get(s, path="", **params):
    return s.get(s.base_url + URL + path, params=params, timeout=HTTP_TIMEOUT)


def patch(s, iid, body, etag=None, **kw):
    headers = {"If-Match": etag} if etag else {}
    return s.patch(s.base_url + URL + "/" + iid, json=body, headers=headers,
                   timeout=HTTP_TIMEOUT, **kw)


def count(db):
    return (db.one("SELECT count(*) FROM intervention"),
            db.one("SELECT count(*) FROM intervention_funding"))


def pairs(resp):
    return [(e["field"], e["rule"]) for e in resp.json().get("errors", [])]


@pytest.fixture(scope="module")
def person(worker):
    return new_person(worker)


# ---------------------------------------------------------------- happy paths

def test_periodic_with_funding_across_channels(worker, db, person):
    body = periodic(person, db)
    r = post(worker, body)
    assert r.status_code == 201, r.text
    iv = r.json()
    assert r.headers["Location"] == URL + "/" + iv["id"]
    assert r.headers["ETag"] == '"1"'
    for k in ("beneficiary_id", "nature", "start_date", "end_date", "monthly_amount",
              "hours_per_month", "means_test", "dsu", "management", "in_charge", "user_area",
              "application_protocol"):
        assert iv[k] == body[k], k
    assert iv["service"]["id"] == body["service"] and iv["service"]["code"] == "SAD"
    assert iv["service"]["inps_code"] == "A2.07"
    assert iv["delivery_date"] is None and iv["total_amount"] is None
    assert iv["case_id"] is None and iv["provider_id"] is None
    assert iv["shares"] == {"tenant": "300.00", "user": "50.00", "health": None}
    assert sorted(iv["funding"], key=lambda f: f["channel"]) == sorted(
        body["funding"], key=lambda f: f["channel"])
    assert iv["status"] == "active" and iv["version"] == 1
    g = worker.get(worker.base_url + r.headers["Location"], timeout=HTTP_TIMEOUT)
    assert g.status_code == 200 and g.json() == iv and g.headers["ETag"] == '"1"'

    # The stored row holds cents; the funding rows too.
    row = db.all("SELECT monthly_amount_cents, total_amount_cents, share_tenant_cents,"
                 " share_user_cents, share_health_cents, hours_per_month::text, means_test,"
                 " dsu_protocol, nature, status FROM intervention WHERE id = %s", (iv["id"],))[0]
    assert row == (35000, None, 30000, 5000, None, "20.50", 1, DSU, "periodic", "active")
    funding = dict(db.all("SELECT channel, amount_cents FROM intervention_funding"
                          " WHERE intervention_id = %s", (iv["id"],)))
    assert funding == {"comune": 20000, "fondo_non_autosufficienze": 10000, "utenza": 5000}


def test_one_off_with_funding_and_service_by_code(worker, db, person, users):
    provider = new_provider(users)
    r = post(worker, one_off(person, provider_id=provider))
    assert r.status_code == 201, r.text
    iv = r.json()
    assert iv["nature"] == "one_off" and iv["delivery_date"] == "2024-03-15"
    assert iv["total_amount"] == "1200.50" and iv["monthly_amount"] is None
    assert iv["start_date"] is None and iv["end_date"] is None
    assert iv["service"]["code"] == "EMERG-ABIT" and iv["service"]["id"] == ambito_service(
        db, "EMERG-ABIT")
    assert iv["provider_id"] == provider and iv["management"] == "single"
    assert iv["dsu"] is None and iv["user_area"] is None
    assert iv["shares"] == {"tenant": None, "user": None, "health": None}
    assert [f["channel"] for f in iv["funding"]] == ["comune", "fondo_sociale_regionale", "fnps"]
    assert db.one("SELECT total_amount_cents FROM intervention WHERE id = %s", (iv["id"],)) == 120050
    assert db.one("SELECT sum(amount_cents) FROM intervention_funding WHERE intervention_id = %s",
                  (iv["id"],)) == 120050


def test_means_tests_without_isee_need_no_dsu(worker, db, person):
    for means in (2, 3, 4):
        r = post(worker, periodic(person, db, means_test=means, dsu=None))
        assert r.status_code == 201, r.text
        assert r.json()["means_test"] == means and r.json()["dsu"] is None


def test_a_case_of_the_beneficiary_and_its_area(worker, db):
    who = new_person(worker)
    case_id = new_case(worker, db, who, area="3")
    # In charge without user_area: the case's area of presa in carico.
    body = periodic(who, db, case_id=case_id)
    del body["user_area"]
    r = post(worker, body)
    assert r.status_code == 201, r.text
    assert r.json()["case_id"] == case_id and r.json()["user_area"] == 3
    # A case of somebody else is refused, naming case_id.
    other = new_person(worker)
    before = count(db)
    r = post(worker, periodic(other, db, case_id=case_id))
    assert is_problem(r, 400) and ("case_id", "mismatch") in pairs(r)
    assert count(db) == before
    # Filter by case.
    items = get(worker, case_id=case_id).json()["items"]
    assert [i["case_id"] for i in items] == [case_id]


def test_administrative_staff_record_interventions(users, db, person):
    s = users(CORSICO, "administrative")
    assert post(s, periodic(person, db)).status_code == 201
    assert get(s, beneficiary_id=person).status_code == 200


@pytest.mark.parametrize("role", ["planning_office", "dpo", "admin"])
def test_roles_without_case_access_are_refused(users, db, person, role):
    s = users(CORSICO, role)
    before = count(db)
    is_problem(get(s), 403)
    is_problem(post(s, periodic(person, db)), 403)
    assert count(db) == before


# ---------------------------------------------------------------- bad input

def _fund(*parts):
    return [{"channel": c, "amount": a} for c, a in parts]


BAD = [
    # (id, changes to the periodic body, (field, rule))
    ("funding-not-summing", {"funding": _fund(("comune", "200.00"), ("utenza", "100.00"))},
     ("funding", "sum")),
    ("negative-amount", {"monthly_amount": "-350.00"}, ("monthly_amount", "positive")),
    ("zero-amount", {"monthly_amount": "0.00"}, ("monthly_amount", "positive")),
    ("three-decimals", {"monthly_amount": "350.005"}, ("monthly_amount", "decimals")),
    ("amount-as-number", {"monthly_amount": 350}, ("monthly_amount", "type")),
    ("funding-three-decimals", {"funding": _fund(("comune", "349.999"), ("utenza", "0.001"))},
     ("funding[0].amount", "decimals")),
    ("funding-negative", {"funding": _fund(("comune", "400.00"), ("utenza", "-50.00"))},
     ("funding[1].amount", "positive")),
    ("funding-empty", {"funding": []}, ("funding", "items")),
    ("unknown-channel", {"funding": _fund(("comune", "300.00"), ("lotteria", "50.00"))},
     ("funding[1].channel", "unknown")),
    ("duplicate-channel", {"funding": _fund(("comune", "300.00"), ("comune", "50.00"))},
     ("funding[1].channel", "duplicate")),
    ("end-before-start", {"end_date": "2023-12-31"}, ("end_date", "order")),
    ("impossible-date", {"start_date": "2024-02-30"}, ("start_date", "calendar")),
    ("bad-date-format", {"end_date": "31/12/2024"}, ("end_date", "format")),
    ("periodic-with-delivery-date", {"delivery_date": "2024-01-10"},
     ("delivery_date", "not_allowed")),
    ("periodic-with-total", {"total_amount": "350.00"}, ("total_amount", "not_allowed")),
    ("periodic-without-start", {"start_date": None}, ("start_date", "required")),
    ("periodic-without-monthly", {"monthly_amount": None}, ("monthly_amount", "required")),
    ("missing-dsu-when-isee", {"dsu": None}, ("dsu", "required")),
    ("bad-dsu", {"dsu": "ISEE-2024-1"}, ("dsu", "format")),
    ("means-test-5", {"means_test": 5}, ("means_test", "enum")),
    ("means-test-string", {"means_test": "1"}, ("means_test", "type")),
    ("unknown-service-code", {"service": "NO-SUCH-SERVICE"}, ("service", "unknown")),
    ("service-nature-mismatch", {"service": "EMERG-ABIT"}, ("nature", "mismatch")),
    ("unknown-nature", {"nature": "weekly"}, ("nature", "enum")),
    ("unknown-management", {"management": "outsourced"}, ("management", "enum")),
    ("shares-over-cost", {"shares": {"tenant": "300.00", "user": "100.00"}}, ("shares", "sum")),
    ("share-three-decimals", {"shares": {"user": "1.001"}}, ("shares.user", "decimals")),
    ("unknown-share", {"shares": {"region": "1.00"}}, ("shares.region", "unknown")),
    ("in-charge-without-area", {"user_area": None}, ("user_area", "required")),
    ("unknown-user-area", {"user_area": 4}, ("user_area", "unknown")),
    ("hours-out-of-range", {"hours_per_month": "800.00"}, ("hours_per_month", "range")),
    ("bad-beneficiary-id", {"beneficiary_id": "42"}, ("beneficiary_id", "format")),
    ("unknown-property", {"colour": "blue"}, ("colour", "unknown")),
    ("new-and-cancelled", {"status": "cancelled"}, ("status", "enum")),
    ("ended-without-end-date", {"status": "ended", "end_date": None}, ("end_date", "required")),
]


@pytest.mark.parametrize("changes,expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_periodic_input_is_named_and_nothing_is_stored(worker, db, person, changes,
                                                           expected):
    body = periodic(person, db)
    for k, v in changes.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    before = count(db)
    r = post(worker, body)
    body = is_problem(r, 400)
    assert body["type"] == "/problems/validation"
    assert expected in pairs(r), r.text
    assert count(db) == before


BAD_ONE_OFF = [
    ("one-off-with-start", {"start_date": "2024-03-01"}, ("start_date", "not_allowed")),
    ("one-off-with-end", {"end_date": "2024-03-01"}, ("end_date", "not_allowed")),
    ("one-off-with-monthly", {"monthly_amount": "10.00"}, ("monthly_amount", "not_allowed")),
    ("one-off-without-delivery", {"delivery_date": None}, ("delivery_date", "required")),
    ("one-off-without-total", {"total_amount": None}, ("total_amount", "required")),
    ("one-off-funding-over", {"funding": _fund(("comune", "1300.00"))}, ("funding", "sum")),
    ("one-off-impossible-date", {"delivery_date": "2023-02-29"},
     ("delivery_date", "calendar")),
    ("one-off-periodic-service", {"service": "SAD"}, ("nature", "mismatch")),
]


@pytest.mark.parametrize("changes,expected", [b[1:] for b in BAD_ONE_OFF],
                         ids=[b[0] for b in BAD_ONE_OFF])
def test_bad_one_off_input_is_named_and_nothing_is_stored(worker, db, person, changes,
                                                          expected):
    body = one_off(person)
    for k, v in changes.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    before = count(db)
    r = post(worker, body)
    is_problem(r, 400)
    assert expected in pairs(r), r.text
    assert count(db) == before


def test_every_failing_field_is_listed_at_once(worker, db, person):
    body = periodic(person, db, delivery_date="2024-01-01", end_date="2023-01-01",
                    monthly_amount="1.005", means_test=9, colour="red")
    r = post(worker, body)
    is_problem(r, 400)
    assert {"delivery_date", "end_date", "monthly_amount", "means_test", "colour"} <= set(
        error_fields(r.json()))


def test_inactive_service_is_refused(worker, db, person):
    svc = own_service(db, CORSICO, active=False)
    before = count(db)
    r = post(worker, periodic(person, db, service=svc))
    is_problem(r, 400)
    assert ("service", "unknown") in pairs(r)
    assert count(db) == before


def test_the_comunes_own_service_is_accepted(worker, db, person):
    svc = own_service(db, CORSICO)
    r = post(worker, periodic(person, db, service=svc))
    assert r.status_code == 201, r.text
    assert r.json()["service"]["id"] == svc


def test_birth_after_intervention_names_the_date(worker, db):
    baby = new_person(worker, birth="2024-05-10")
    before = count(db)
    r = post(worker, periodic(baby, db, start_date="2024-05-09"))
    is_problem(r, 400)
    assert ("start_date", "before_birth") in pairs(r), r.text
    r = post(worker, one_off(baby, delivery_date="2023-12-31"))
    is_problem(r, 400)
    assert ("delivery_date", "before_birth") in pairs(r), r.text
    assert count(db) == before
    # From the day of birth on it is fine.
    assert post(worker, one_off(baby, delivery_date="2024-05-10")).status_code == 201
    assert post(worker, periodic(baby, db, start_date="2024-05-10")).status_code == 201


def test_another_tenants_ids_in_the_body_are_404(worker, users, db, person):
    other = users(ASSAGO, "social_worker")
    their_person = new_person(other)
    their_case = new_case(other, db, their_person, tenant=ASSAGO)
    their_provider = new_provider(users, ASSAGO)
    their_service = own_service(db, ASSAGO)
    cases = [
        ("beneficiary_id", periodic(their_person, db)),
        ("case_id", periodic(person, db, case_id=their_case)),
        ("provider_id", periodic(person, db, provider_id=their_provider)),
        ("service", periodic(person, db, service=their_service)),
        ("beneficiary_id", periodic(str(uuid.uuid4()), db)),
    ]
    before = count(db)
    for field, body in cases:
        r = post(worker, body)
        problem = is_problem(r, 404)
        assert ("%s" % field, "not_found") in pairs(r), (field, r.text)
        assert field in problem.get("detail", "")
    assert count(db) == before


def test_another_tenants_intervention_is_404_in_path_and_filters(worker, users, db, person):
    other = users(ASSAGO, "social_worker")
    their_person = new_person(other)
    theirs = post(other, periodic(their_person, db)).json()
    is_problem(get(worker, "/" + theirs["id"]), 404)
    is_problem(patch(worker, theirs["id"], {"status": "suspended"}, '"1"'), 404)
    is_problem(get(worker, "/not-a-uuid"), 404)
    for name, value in (("beneficiary_id", their_person),
                        ("service_id", own_service(db, ASSAGO)),
                        ("case_id", new_case(other, db, their_person, tenant=ASSAGO))):
        r = get(worker, **{name: value})
        is_problem(r, 404)
        assert (name, "not_found") in pairs(r)
    # Their list does not show ours, ours does not show theirs.
    mine = post(worker, periodic(person, db)).json()
    their_ids = [i["id"] for i in get(other, limit=500).json()["items"]]
    assert mine["id"] not in their_ids and theirs["id"] in their_ids
    assert theirs["id"] not in [i["id"] for i in get(worker, limit=500).json()["items"]]
    assert db.one("SELECT version FROM intervention WHERE id = %s", (theirs["id"],)) == 1


# ---------------------------------------------------------------- changes

def test_patch_needs_if_match(worker, db, person):
    iv = post(worker, periodic(person, db)).json()
    is_problem(patch(worker, iv["id"], {"status": "suspended"}), 428)
    is_problem(patch(worker, iv["id"], {"status": "suspended"}, '"7"'), 412)
    assert db.one("SELECT status FROM intervention WHERE id = %s", (iv["id"],)) == "active"
    r = patch(worker, iv["id"], {"status": "suspended"}, '"1"')
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"' and r.json()["status"] == "suspended"
    # The old ETag is stale now.
    is_problem(patch(worker, iv["id"], {"status": "active"}, '"1"'), 412)


def test_patch_amounts_dates_and_funding(worker, db, person):
    iv = post(worker, periodic(person, db)).json()
    # A new amount with the old split does not add up.
    r = patch(worker, iv["id"], {"monthly_amount": "400.00"}, '"1"')
    is_problem(r, 400)
    assert ("funding", "sum") in pairs(r)
    # Amount and split together; the split replaces the whole funding.
    r = patch(worker, iv["id"], {"monthly_amount": "400.00", "end_date": "2024-06-30",
                                 "funding": _fund(("fnps", "400.00")),
                                 "shares": {"user": "0.00"}}, '"1"')
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["monthly_amount"] == "400.00" and got["end_date"] == "2024-06-30"
    assert got["funding"] == [{"channel": "fnps", "amount": "400.00"}]
    assert got["shares"] == {"tenant": "300.00", "user": "0.00", "health": None}
    assert got["version"] == 2
    assert db.all("SELECT channel, amount_cents FROM intervention_funding"
                  " WHERE intervention_id = %s", (iv["id"],)) == [("fnps", 40000)]
    # Dates stay ordered; nothing changes on a refusal.
    r = patch(worker, iv["id"], {"end_date": "2023-01-01"}, '"2"')
    is_problem(r, 400)
    assert ("end_date", "order") in pairs(r)
    r = patch(worker, iv["id"], {"delivery_date": "2024-01-01"}, '"2"')
    is_problem(r, 400)
    assert ("delivery_date", "not_allowed") in pairs(r)
    assert db.one("SELECT version FROM intervention WHERE id = %s", (iv["id"],)) == 2


def test_patch_cannot_change_identity_or_unknown_properties(worker, db, person):
    iv = post(worker, periodic(person, db)).json()
    other = new_person(worker)
    for body, field, rule in (({"nature": "one_off"}, "nature", "immutable"),
                              ({"beneficiary_id": other}, "beneficiary_id", "immutable"),
                              ({"service": "PASTI"}, "service", "immutable"),
                              ({"id": iv["id"]}, "id", "unknown"),
                              ({}, "", "min_properties"),
                              ({"monthly_amount": 400}, "monthly_amount", "type")):
        r = patch(worker, iv["id"], body, '"1"')
        is_problem(r, 400)
        assert (field, rule) in pairs(r), r.text
    # Echoing the same identity is fine.
    r = patch(worker, iv["id"], {"nature": "periodic", "service": "SAD",
                                 "beneficiary_id": person, "hours_per_month": None}, '"1"')
    assert r.status_code == 200, r.text
    assert r.json()["hours_per_month"] is None


def test_cancellation_keeps_the_row(worker, db, person):
    iv = post(worker, one_off(person)).json()
    r = patch(worker, iv["id"], {"status": "cancelled"}, '"1"')
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert db.one("SELECT status FROM intervention WHERE id = %s", (iv["id"],)) == "cancelled"
    assert db.one("SELECT count(*) FROM intervention_funding WHERE intervention_id = %s",
                  (iv["id"],)) == 3
    g = get(worker, "/" + iv["id"])
    assert g.status_code == 200 and g.json()["status"] == "cancelled"
    assert g.json()["total_amount"] == "1200.50"
    # Cancelled is final; there is no DELETE.
    is_problem(patch(worker, iv["id"], {"status": "active"}, '"2"'), 409)
    r = worker.delete(worker.base_url + URL + "/" + iv["id"], timeout=HTTP_TIMEOUT)
    is_problem(r, 405)
    assert db.one("SELECT count(*) FROM intervention WHERE id = %s", (iv["id"],)) == 1
    assert iv["id"] in [i["id"] for i in get(worker, beneficiary_id=person,
                                              status="cancelled").json()["items"]]


def test_ending_a_periodic_intervention_needs_its_end_date(worker, db, person):
    iv = post(worker, periodic(person, db, end_date=None)).json()
    r = patch(worker, iv["id"], {"status": "ended"}, '"1"')
    is_problem(r, 400)
    assert ("end_date", "required") in pairs(r)
    r = patch(worker, iv["id"], {"status": "ended", "end_date": "2024-02-29"}, '"1"')
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- lists

def test_list_filters_and_cursor(worker, db):
    who = new_person(worker)
    made = []
    for start in ("2021-01-01", "2022-01-01", "2023-01-01"):
        made.append(post(worker, periodic(who, db, start_date=start, end_date=start[:4] + "-12-31")).json())
    made.append(post(worker, one_off(who, delivery_date="2022-06-15")).json())
    pasti = post(worker, periodic(who, db, service="PASTI", start_date="2020-01-01",
                                  end_date=None)).json()
    made.append(pasti)

    # Walk every page of the beneficiary's interventions.
    seen, cursor = [], None
    while True:
        params = {"beneficiary_id": who, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = get(worker, **params).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(i["id"] for i in seen) == sorted(i["id"] for i in made)
    firsts = [i["start_date"] or i["delivery_date"] for i in seen]
    assert firsts == sorted(firsts, reverse=True)

    def ids(**params):
        return {i["id"] for i in get(worker, beneficiary_id=who, limit=500, **params).json()["items"]}

    # Period overlap: 2022 holds the 2022 periodic, the one-off and the open PASTI.
    assert ids(**{"from": "2022-01-01", "to": "2022-12-31"}) == {
        made[1]["id"], made[3]["id"], pasti["id"]}
    assert ids(service_id=pasti["service"]["id"]) == {pasti["id"]}
    assert ids(status="active") == {i["id"] for i in made}
    assert ids(status="ended") == set()

    for params in ({"status": "open"}, {"from": "2022-13-01"}, {"from": "2023-01-01",
                                                                "to": "2022-01-01"},
                   {"beneficiary_id": "x"}, {"cursor": "!!"}, {"limit": 0}):
        r = get(worker, **params)
        assert is_problem(r, 400)["type"] == "/problems/bad-parameter", params


# ---------------------------------------------------------------- database

def test_database_refuses_funding_that_does_not_add_up(worker, db, person, db_app):
    """The deferred constraint catches a writer that bypasses the API."""
    iv = post(worker, one_off(person)).json()
    tenant = str(db.tenant_id(CORSICO))
    conn = db_app(tenant)
    with conn.cursor() as cur:
        cur.execute("UPDATE intervention SET total_amount_cents = 1 WHERE id = %s", (iv["id"],))
        assert cur.rowcount == 1
    with pytest.raises(psycopg2.Error) as e:
        conn.commit()
    assert e.value.pgcode == "23514"
    assert db.one("SELECT total_amount_cents FROM intervention WHERE id = %s",
                  (iv["id"],)) == 120050


def test_the_application_role_cannot_delete(worker, db, person, db_app):
    iv = post(worker, one_off(person)).json()
    conn = db_app(str(db.tenant_id(CORSICO)))
    with pytest.raises(psycopg2.Error) as e, conn.cursor() as cur:
        cur.execute("DELETE FROM intervention WHERE id = %s", (iv["id"],))
    assert e.value.pgcode == "42501"  # insufficient_privilege


def test_rls_hides_other_tenants_rows(worker, db, person, db_app):
    iv = post(worker, one_off(person)).json()
    conn = db_app(str(db.tenant_id(ASSAGO)))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM intervention WHERE id = %s", (iv["id"],))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM intervention_funding WHERE intervention_id = %s",
                    (iv["id"],))
        assert cur.fetchone()[0] == 0


def test_a_comune_that_left_its_ambito_keeps_its_interventions(users, db):
    """Membership of an Ambito is data: when it ends, the Comune's
    interventions on the Ambito's services stay readable and changeable."""
    cusago = "015097"
    s = users(cusago, "social_worker")
    who = new_person(s)
    iv = post(s, periodic(who, db)).json()
    parent = db.one("SELECT parent_id FROM tenant WHERE code = %s", (cusago,))
    try:
        db.one("UPDATE tenant SET parent_id = NULL WHERE code = %s RETURNING 1", (cusago,))
        g = get(s, "/" + iv["id"])
        assert g.status_code == 200, g.text
        assert g.json()["service"] == {"id": iv["service"]["id"], "code": None, "name": None,
                                       "inps_code": None}
        r = patch(s, iv["id"], {"status": "suspended"}, '"1"')
        assert r.status_code == 200, r.text
        # A new intervention cannot pick a service the Comune no longer sees.
        is_problem(post(s, periodic(who, db)), 404)
    finally:
        db.one("UPDATE tenant SET parent_id = %s WHERE code = %s RETURNING 1", (parent, cusago))
