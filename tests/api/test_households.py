"""Households (nucleo familiare), their members over time, and ISEE
attestations: registered through the API alone, read back decrypted, the
label and address never stored in clear, bad input refused with nothing
stored, and another Comune's ids answered 404 wherever they appear."""
import datetime
import random
import uuid

import pytest

import fiscal
from conftest import ASSAGO, CORSICO, HTTP_TIMEOUT, error_fields, is_problem

HOUSEHOLDS = "/api/v1/households"
ISEE = "/api/v1/isee"
DSU_EXAMPLE = "INPS-ISEE-2024-12345678A-01"


# ---------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def worker(make_user, login):
    """A logged-in social worker of Corsico."""
    u, p = make_user(CORSICO, "social_worker")
    return login(u, p, CORSICO)


@pytest.fixture(scope="module")
def clerk(make_user, login):
    """A logged-in administrative employee of Corsico (registers ISEE)."""
    u, p = make_user(CORSICO, "administrative")
    return login(u, p, CORSICO)


@pytest.fixture(scope="module")
def assago(make_user, login):
    """A logged-in social worker of another Comune (Assago)."""
    u, p = make_user(ASSAGO, "social_worker")
    return login(u, p, ASSAGO)


def post(s, path, body, **kw):
    return s.post(s.base_url + path, json=body, timeout=HTTP_TIMEOUT, **kw)


def get(s, path, **kw):
    return s.get(s.base_url + path, timeout=HTTP_TIMEOUT, **kw)


def patch(s, path, body, etag=None):
    headers = {"If-Match": etag} if etag is not None else {}
    return s.patch(s.base_url + path, json=body, headers=headers, timeout=HTTP_TIMEOUT)


def new_person(s, sex="M", birth="1980-01-01", **kw):
    r = post(s, "/api/v1/persons", fiscal.person(sex=sex, birth=birth, **kw))
    assert r.status_code == 201, r.text
    return r.json()


def new_household(s, label=None, address=None):
    body = {}
    if label is not None:
        body["label"] = label
    if address is not None:
        body["address"] = address
    r = post(s, HOUSEHOLDS, body)
    assert r.status_code == 201, r.text
    return r.json()


def add_member(s, hid, person_id, relation, valid_from, valid_to=None, head=None):
    body = {"person_id": person_id, "relation": relation, "valid_from": valid_from}
    if valid_to is not None:
        body["valid_to"] = valid_to
    if head is not None:
        body["head"] = head
    return post(s, "%s/%s/members" % (HOUSEHOLDS, hid), body)


def random_dsu(year=2024):
    return "INPS-ISEE-%d-%08d%s-%02d" % (year, random.randint(0, 99999999),
                                        random.choice("ABCDEFGHJKLMNPRSTUVZ"),
                                        random.randint(0, 99))


def isee_body(**kw):
    body = {"dsu_protocol": random_dsu(), "year": 2024, "signed_on": "2024-02-15",
            "indicator_type": "ordinario", "value": "12345.67"}
    body.update(kw)
    return body


def count(db, table, where="true", args=()):
    return db.one("SELECT count(*) FROM %s WHERE %s" % (table, where), args)


def member_count(db, hid):
    return count(db, "household_member", "household_id = %s", (hid,))


def isee_count(db):
    return count(db, "isee")


def rule_of(body, field):
    rules = [e["rule"] for e in body.get("errors", []) if e["field"] == field]
    assert rules, (field, body)
    return rules[0]


def today():
    return datetime.date.today()


# ---------------------------------------------------------------- done-when

def test_register_a_household_of_four_with_isee(worker, clerk, db):
    father = new_person(worker, "M", "1978-03-12")
    mother = new_person(worker, "F", "1981-07-04")
    son = new_person(worker, "M", "2010-09-21")
    daughter = new_person(worker, "F", "2014-12-01")
    address = {"line": "Via Cavour 12", "postal_code": "20094", "istat_code": "015093"}
    h = new_household(worker, "Famiglia Brambilla", address)
    assert h["label"] == "Famiglia Brambilla" and h["address"] == address
    assert h["members"] == [] and h["latest_isee"] is None and h["version"] == 1

    since = "2015-01-01"
    for person, relation in ((father, "1"), (mother, "2"), (son, "3"), (daughter, "3")):
        start = since if person is not daughter else "2014-12-01"
        r = add_member(worker, h["id"], person["id"], relation, start)
        assert r.status_code == 201, r.text
        m = r.json()
        assert r.headers["Location"] == "%s/%s/members/%s" % (HOUSEHOLDS, h["id"], m["id"])
        assert r.headers["ETag"] == '"1"'
        assert m["person_id"] == person["id"] and m["relation"] == relation
        assert m["head"] == (relation == "1") and m["current"] is True
        assert m["valid_to"] is None

    # The administrative employee registers the household's ISEE, and the
    # ISEE minorenni of the son (per person, same DSU).
    r = post(clerk, ISEE, {"household_id": h["id"], "dsu_protocol": DSU_EXAMPLE, "year": 2024,
                           "signed_on": "2024-02-15", "indicator_type": "ordinario",
                           "value": "12345.67"})
    if r.status_code == 409:  # the example protocol was registered by an earlier run
        r = post(clerk, ISEE, isee_body(household_id=h["id"]))
    assert r.status_code == 201, r.text
    isee = r.json()
    assert r.headers["Location"] == "%s/%s" % (ISEE, isee["id"])
    assert isee["value"] == "12345.67" and isee["household_id"] == h["id"]
    assert isee["person_id"] is None and isee["year"] == 2024
    assert isee["valid_from"] == "2024-02-15" and isee["valid_to"] == "2024-12-31"
    r = post(clerk, ISEE, {"household_id": h["id"], "person_id": son["id"],
                           "dsu_protocol": isee["dsu_protocol"], "signed_on": "2024-02-15",
                           "indicator_type": "minorenni", "value": "9800.00"})
    assert r.status_code == 201, r.text
    assert r.json()["year"] == 2024

    # Read it all back, decrypted, through the API.
    r = get(worker, "%s/%s" % (HOUSEHOLDS, h["id"]))
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"1"'
    full = r.json()
    assert full["label"] == "Famiglia Brambilla" and full["address"] == address
    assert full["current_member_count"] == 4
    got = {(m["person_id"], m["relation"], m["head"]) for m in full["members"]}
    assert got == {(father["id"], "1", True), (mother["id"], "2", False),
                   (son["id"], "3", False), (daughter["id"], "3", False)}
    assert full["latest_isee"]["dsu_protocol"] == isee["dsu_protocol"]
    for p in (father, mother, son, daughter):
        back = get(worker, "/api/v1/persons/" + p["id"]).json()
        assert back["surname"] == p["surname"]
    r = get(clerk, ISEE, params={"household_id": h["id"]})
    assert r.status_code == 200
    assert {i["indicator_type"] for i in r.json()["items"]} == {"ordinario", "minorenni"}
    r = get(clerk, ISEE, params={"person_id": son["id"]})
    assert [i["indicator_type"] for i in r.json()["items"]] == ["minorenni"]
    r = get(worker, HOUSEHOLDS, params={"person_id": daughter["id"]})
    assert [i["id"] for i in r.json()["items"]] == [h["id"]]

    # The label and the address are ciphertext at rest.
    row = db.one("SELECT h::text FROM household h WHERE id = %s", (h["id"],))
    for secret in ("Brambilla", "BRAMBILLA", "Cavour", "20094"):
        assert secret not in row


# ---------------------------------------------------------------- households

def test_household_without_label_and_list_pages(worker):
    ids = {new_household(worker)["id"] for _ in range(3)}
    seen, cursor = [], None
    for _ in range(1000):
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = get(worker, HOUSEHOLDS, params=params)
        assert r.status_code == 200, r.text
        seen += [i["id"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen))
    assert ids <= set(seen)


def test_patch_household_needs_if_match(worker, db):
    h = new_household(worker, "Famiglia Uno")
    url = "%s/%s" % (HOUSEHOLDS, h["id"])
    is_problem(patch(worker, url, {"label": "Famiglia Due"}), 428)
    is_problem(patch(worker, url, {"label": "Famiglia Due"}, '"9"'), 412)
    assert get(worker, url).json()["label"] == "Famiglia Uno"
    r = patch(worker, url, {"label": "Famiglia Due",
                            "address": {"line": "Via Dante 3", "postal_code": None}}, '"1"')
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    assert r.json()["label"] == "Famiglia Due"
    assert r.json()["address"]["line"] == "Via Dante 3"
    r = patch(worker, url, {"label": None}, '"2"')
    assert r.status_code == 200 and r.json()["label"] is None
    assert r.json()["address"]["line"] == "Via Dante 3"
    body = is_problem(patch(worker, url, {}, '"3"'), 400)
    assert rule_of(body, "") == "min_properties"


@pytest.mark.parametrize("body,field,rule", [
    ({"label": ""}, "label", "min_length"),
    ({"label": "   "}, "label", "format"),
    ({"label": 7}, "label", "type"),
    ({"colour": "red"}, "colour", "unknown"),
    ({"address": {"line": "Via Roma 1", "postal_code": "2009A"}}, "address.postal_code",
     "format"),
    ({"address": {"postal_code": "20094"}}, "address.line", "required"),
    ({"address": {"line": "Via Roma 1", "istat_code": "99999"}}, "address.istat_code",
     "min_length"),
    ({"address": "Via Roma 1"}, "address", "type"),
])
def test_bad_household_bodies_store_nothing(worker, db, body, field, rule):
    before = count(db, "household")
    r = post(worker, HOUSEHOLDS, body)
    b = is_problem(r, 400)
    assert rule_of(b, field) == rule
    assert count(db, "household") == before


# ---------------------------------------------------------------- members

def test_second_head_is_refused_until_the_first_leaves(worker, db):
    a, b = new_person(worker), new_person(worker, "F")
    h = new_household(worker)
    first = add_member(worker, h["id"], a["id"], "1", "2020-01-01").json()
    r = add_member(worker, h["id"], b["id"], "1", "2023-05-01")
    body = is_problem(r, 409)
    assert body["existing_member_id"] == first["id"]
    assert member_count(db, h["id"]) == 1
    # head true with another relation is a contradiction, not a second head
    r = add_member(worker, h["id"], b["id"], "2", "2023-05-01", head=True)
    assert rule_of(is_problem(r, 400), "head") == "mismatch"
    # The first head leaves on 2023-04-30: the second becomes head from 05-01.
    url = "%s/%s/members/%s" % (HOUSEHOLDS, h["id"], first["id"])
    r = patch(worker, url, {"valid_to": "2023-04-30"}, '"1"')
    assert r.status_code == 200, r.text
    assert r.json()["valid_to"] == "2023-04-30" and r.json()["current"] is False
    r = add_member(worker, h["id"], b["id"], "1", "2023-05-01")
    assert r.status_code == 201, r.text
    second = r.json()
    # Reopening the first head's membership would give two heads again.
    r = patch(worker, url, {"valid_to": None}, '"2"')
    assert is_problem(r, 409)["existing_member_id"] == second["id"]
    assert get(worker, url).json()["valid_to"] == "2023-04-30"


def test_overlapping_membership_is_refused_naming_the_other_household(worker, db):
    p = new_person(worker, "F", "1990-05-05")
    home, other = new_household(worker), new_household(worker)
    m = add_member(worker, home["id"], p["id"], "1", "2019-06-01").json()
    r = add_member(worker, other["id"], p["id"], "2", "2024-01-01")
    body = is_problem(r, 409)
    assert body["existing_household_id"] == home["id"]
    assert body["existing_member_id"] == m["id"]
    assert member_count(db, other["id"]) == 0
    # Twice in the same household over overlapping periods: refused too.
    r = add_member(worker, home["id"], p["id"], "1", "2020-01-01", "2020-12-31")
    assert is_problem(r, 409)["existing_household_id"] == home["id"]
    # Once she has left, she may join the other household the next day.
    url = "%s/%s/members/%s" % (HOUSEHOLDS, home["id"], m["id"])
    assert patch(worker, url, {"valid_to": "2023-12-31"}, '"1"').status_code == 200
    r = add_member(worker, other["id"], p["id"], "2", "2024-01-01")
    assert r.status_code == 201, r.text
    # ...but not from the day she left.
    r = add_member(worker, new_household(worker)["id"], p["id"], "2", "2023-12-31",
                   "2023-12-31")
    assert is_problem(r, 409)["existing_household_id"] == home["id"]
    # Past and current memberships are both listed.
    r = get(worker, "%s/%s/members" % (HOUSEHOLDS, home["id"]))
    assert [x["valid_to"] for x in r.json()["items"]] == ["2023-12-31"]
    r = get(worker, HOUSEHOLDS, params={"person_id": p["id"]})
    assert {i["id"] for i in r.json()["items"]} == {home["id"], other["id"]}


def test_members_at_a_date_and_pages(worker):
    h = new_household(worker)
    people = [new_person(worker, birth="1970-01-01") for _ in range(3)]
    add_member(worker, h["id"], people[0]["id"], "1", "2010-01-01", "2015-12-31")
    add_member(worker, h["id"], people[1]["id"], "2", "2012-01-01")
    add_member(worker, h["id"], people[2]["id"], "9", "2016-01-01")
    url = "%s/%s/members" % (HOUSEHOLDS, h["id"])
    r = get(worker, url, params={"on": "2014-06-01"})
    assert {m["person_id"] for m in r.json()["items"]} == {people[0]["id"], people[1]["id"]}
    r = get(worker, url, params={"on": "2020-06-01"})
    assert {m["person_id"] for m in r.json()["items"]} == {people[1]["id"], people[2]["id"]}
    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        body = get(worker, url, params=params).json()
        seen += [m["person_id"] for m in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [p["id"] for p in people]
    is_problem(get(worker, url, params={"on": "2020-02-30"}), 400)
    is_problem(get(worker, url, params={"cursor": "nonsense"}), 400)
    h_full = get(worker, "%s/%s" % (HOUSEHOLDS, h["id"])).json()
    assert h_full["current_member_count"] == 2 and len(h_full["members"]) == 3


@pytest.mark.parametrize("change,field,rule", [
    ({"valid_to": "2009-12-31"}, "valid_to", "order"),
    ({"valid_from": "2024-02-30"}, "valid_from", "calendar"),
    ({"relation": "99"}, "relation", "unknown"),
    ({"relation": 3}, "relation", "type"),
    ({"head": "yes"}, "head", "type"),
    ({"person_id": "not-a-uuid"}, "person_id", "format"),
    ({"nickname": "x"}, "nickname", "unknown"),
    ({"valid_from": None}, "valid_from", "type"),
    ({"relation": "1", "head": False}, "head", "mismatch"),
    ({"valid_from": "1950-01-01"}, "valid_from", "before_birth"),
])
def test_bad_memberships_are_refused_and_nothing_is_stored(worker, db, change, field, rule):
    p = new_person(worker, birth="1960-01-01")
    h = new_household(worker)
    body = {"person_id": p["id"], "relation": "2", "valid_from": "2010-01-01"}
    body.update(change)
    r = post(worker, "%s/%s/members" % (HOUSEHOLDS, h["id"]), body)
    assert rule_of(is_problem(r, 400), field) == rule
    assert member_count(db, h["id"]) == 0


def test_patch_member_checks_if_match_dates_and_fixed_person(worker):
    p = new_person(worker)
    h = new_household(worker)
    m = add_member(worker, h["id"], p["id"], "2", "2020-01-01").json()
    url = "%s/%s/members/%s" % (HOUSEHOLDS, h["id"], m["id"])
    is_problem(patch(worker, url, {"valid_to": "2021-01-01"}), 428)
    is_problem(patch(worker, url, {"valid_to": "2021-01-01"}, '"5"'), 412)
    r = patch(worker, url, {"valid_to": "2019-12-31"}, '"1"')
    assert rule_of(is_problem(r, 400), "valid_to") == "order"
    r = patch(worker, url, {"person_id": new_person(worker)["id"]}, '"1"')
    assert rule_of(is_problem(r, 400), "person_id") == "unknown"
    r = patch(worker, url, {"head": True}, '"1"')
    assert rule_of(is_problem(r, 400), "head") == "mismatch"
    r = patch(worker, url, {"relation": "1"}, '"1"')  # becomes the head
    assert r.status_code == 200, r.text
    assert r.json()["head"] is True and r.json()["version"] == 2
    assert r.headers["ETag"] == '"2"'
    assert get(worker, url).json() == r.json()


# ---------------------------------------------------------------- ISEE

def test_dsu_protocol_example_is_accepted(clerk, worker):
    p = new_person(worker)
    r = post(clerk, ISEE, isee_body(person_id=p["id"], dsu_protocol=DSU_EXAMPLE))
    assert r.status_code == 201, r.text
    assert r.json()["dsu_protocol"] == DSU_EXAMPLE
    assert r.headers["ETag"] == '"1"'
    assert get(clerk, r.headers["Location"]).json() == r.json()
    # The same DSU and indicator for the same person again: 409 naming it.
    again = post(clerk, ISEE, isee_body(person_id=p["id"], dsu_protocol=DSU_EXAMPLE,
                                        value="1.00"))
    assert is_problem(again, 409)["existing_id"] == r.json()["id"]


@pytest.mark.parametrize("dsu", [
    "INPS-ISEE-2024-1234567A-01",     # seven digits
    "INPS-ISEE-2024-12345678a-01",    # lower-case check letter
    "inps-isee-2024-12345678A-01",
    "INPS-ISEE-2024-12345678A-1",
    "INPS-ISEE-2024-12345678A",
    "INPS-ISE-2024-12345678A-01",
    "INPS-ISEE-1999-12345678A-01",    # year out of range
    "",
])
def test_malformed_dsu_protocols_are_refused(clerk, worker, db, dsu):
    p = new_person(worker)
    before = isee_count(db)
    r = post(clerk, ISEE, isee_body(person_id=p["id"], dsu_protocol=dsu))
    assert "dsu_protocol" in error_fields(is_problem(r, 400))
    assert isee_count(db) == before


@pytest.mark.parametrize("change,field,rule", [
    ({"value": "-1"}, "value", "positive"),
    ({"value": "1.234"}, "value", "decimals"),
    ({"value": 1234}, "value", "type"),
    ({"value": "12,50"}, "value", "format"),
    ({"year": 2010}, "year", "range"),
    ({"year": 2023}, "year", "mismatch"),
    ({"year": "2024"}, "year", "type"),
    ({"signed_on": "2024-02-30"}, "signed_on", "calendar"),
    ({"signed_on": "2023-12-31"}, "signed_on", "mismatch"),
    ({"indicator_type": "speciale"}, "indicator_type", "enum"),
    ({"valid_from": "2024-02-14"}, "valid_from", "order"),
    ({"valid_from": "2024-03-01", "valid_to": "2024-02-28"}, "valid_to", "order"),
    ({"person_id": "123"}, "person_id", "format"),
    ({"colour": "red"}, "colour", "unknown"),
    ({"person_id": None}, "household_id", "required"),
])
def test_bad_isee_is_refused_and_nothing_is_stored(clerk, worker, db, change, field, rule):
    p = new_person(worker)
    before = isee_count(db)
    body = isee_body(person_id=p["id"])
    body.update(change)
    r = post(clerk, ISEE, body)
    assert rule_of(is_problem(r, 400), field) == rule
    assert isee_count(db) == before


def test_isee_in_the_future_and_every_failing_field_at_once(clerk, worker, db):
    p = new_person(worker)
    year = today().year
    tomorrow = (today() + datetime.timedelta(days=1)).isoformat()
    before = isee_count(db)
    r = post(clerk, ISEE, {"person_id": p["id"], "dsu_protocol": random_dsu(year),
                           "signed_on": tomorrow, "indicator_type": "ordinario",
                           "value": "5.00"})
    if tomorrow.startswith(str(year)):
        assert rule_of(is_problem(r, 400), "signed_on") == "range"
    r = post(clerk, ISEE, {"person_id": p["id"], "dsu_protocol": "X", "signed_on": "nope",
                           "indicator_type": "x", "value": "-3"})
    fields = set(error_fields(is_problem(r, 400)))
    assert {"dsu_protocol", "signed_on", "indicator_type", "value"} <= fields
    assert isee_count(db) == before


def test_isee_corrente_lasts_six_months(clerk, worker):
    p = new_person(worker)
    r = post(clerk, ISEE, isee_body(person_id=p["id"], indicator_type="corrente",
                                    signed_on="2024-08-31"))
    assert r.status_code == 201, r.text
    assert r.json()["valid_from"] == "2024-08-31" and r.json()["valid_to"] == "2025-02-27"


def test_isee_person_must_belong_to_the_household(clerk, worker, db):
    h = new_household(worker)
    stranger = new_person(worker)
    before = isee_count(db)
    r = post(clerk, ISEE, isee_body(household_id=h["id"], person_id=stranger["id"],
                                    indicator_type="minorenni"))
    assert rule_of(is_problem(r, 400), "person_id") == "not_member"
    assert isee_count(db) == before


def test_latest_isee_is_the_most_recent_dsu(clerk, worker):
    h = new_household(worker)
    old = post(clerk, ISEE, isee_body(household_id=h["id"], dsu_protocol=random_dsu(2023),
                                      year=2023, signed_on="2023-03-01", value="0.00"))
    assert old.status_code == 201, old.text
    assert old.json()["value"] == "0.00"
    new = post(clerk, ISEE, isee_body(household_id=h["id"], signed_on="2024-01-20",
                                      value="20000.5"))
    assert new.status_code == 201, new.text
    assert new.json()["value"] == "20000.50"
    latest = get(worker, "%s/%s" % (HOUSEHOLDS, h["id"])).json()["latest_isee"]
    assert latest["id"] == new.json()["id"]
    items = get(clerk, ISEE, params={"household_id": h["id"], "limit": 1}).json()
    assert items["items"][0]["id"] == new.json()["id"] and items["next_cursor"]
    rest = get(clerk, ISEE, params={"household_id": h["id"], "cursor": items["next_cursor"]})
    assert [i["id"] for i in rest.json()["items"]] == [old.json()["id"]]
    assert rest.json()["next_cursor"] is None


# ---------------------------------------------------------------- tenancy

def test_another_comunes_ids_are_404_in_path_body_and_filter(worker, clerk, assago, db):
    theirs = new_household(assago, "Famiglia di Assago")
    their_person = new_person(assago)
    tm = add_member(assago, theirs["id"], their_person["id"], "1", "2020-01-01").json()
    mine = new_household(worker)
    my_person = new_person(worker)

    # path
    base = "%s/%s" % (HOUSEHOLDS, theirs["id"])
    is_problem(get(worker, base), 404)
    is_problem(patch(worker, base, {"label": "presa"}, '"1"'), 404)
    is_problem(get(worker, base + "/members"), 404)
    is_problem(get(worker, base + "/members/" + tm["id"]), 404)
    is_problem(add_member(worker, theirs["id"], my_person["id"], "1", "2021-01-01"), 404)
    is_problem(patch(worker, base + "/members/" + tm["id"], {"valid_to": "2021-01-01"}, '"1"'),
               404)
    # their membership id under my household
    is_problem(get(worker, "%s/%s/members/%s" % (HOUSEHOLDS, mine["id"], tm["id"])), 404)
    # unknown and malformed ids
    is_problem(get(worker, "%s/%s" % (HOUSEHOLDS, uuid.uuid4())), 404)
    is_problem(get(worker, "%s/not-a-uuid" % HOUSEHOLDS), 404)
    isee = post(assago, ISEE, isee_body(household_id=theirs["id"])).json()
    is_problem(get(worker, "%s/%s" % (ISEE, isee["id"])), 404)

    # body
    before = member_count(db, mine["id"])
    r = add_member(worker, mine["id"], their_person["id"], "1", "2021-01-01")
    assert is_problem(r, 404)["errors"][0]["field"] == "person_id"
    assert member_count(db, mine["id"]) == before
    n = isee_count(db)
    r = post(clerk, ISEE, isee_body(household_id=theirs["id"]))
    assert is_problem(r, 404)["errors"][0]["field"] == "household_id"
    r = post(clerk, ISEE, isee_body(person_id=their_person["id"]))
    assert is_problem(r, 404)["errors"][0]["field"] == "person_id"
    assert isee_count(db) == n

    # filter
    r = get(clerk, ISEE, params={"household_id": theirs["id"]})
    assert "household_id" in is_problem(r, 404)["detail"]
    r = get(clerk, ISEE, params={"person_id": their_person["id"]})
    assert "person_id" in is_problem(r, 404)["detail"]
    is_problem(get(worker, HOUSEHOLDS, params={"person_id": their_person["id"]}), 404)
    is_problem(get(clerk, ISEE, params={"household_id": "zzz"}), 400)

    # and Assago's lists show nothing of Corsico's
    ids = [i["id"] for i in get(assago, HOUSEHOLDS, params={"limit": 500}).json()["items"]]
    assert mine["id"] not in ids and theirs["id"] in ids


def test_roles_without_case_access_are_refused(make_user, login):
    for role in ("planning_office", "dpo", "admin"):
        u, p = make_user(CORSICO, role)
        s = login(u, p, CORSICO)
        is_problem(get(s, HOUSEHOLDS), 403)
        is_problem(post(s, HOUSEHOLDS, {}), 403)
        is_problem(get(s, ISEE), 403)
        is_problem(post(s, ISEE, isee_body()), 403)


# ---------------------------------------------------------------- races

def test_concurrent_joins_leave_one_household_per_person(worker, db):
    """The handler's check and the exclusion constraint together: of many
    simultaneous requests adding one person to different households, one
    wins and the others get 409 naming the winner's household."""
    import concurrent.futures

    p = new_person(worker)
    households = [new_household(worker)["id"] for _ in range(6)]

    def join(hid):
        return add_member(worker, hid, p["id"], "2", "2022-01-01")

    with concurrent.futures.ThreadPoolExecutor(len(households)) as pool:
        results = list(pool.map(join, households))
    won = [hid for hid, r in zip(households, results) if r.status_code == 201]
    assert len(won) == 1, [(r.status_code, r.text[:200]) for r in results]
    for r in results:
        if r.status_code != 201:
            assert is_problem(r, 409)["existing_household_id"] == won[0]
    assert count(db, "household_member", "person_id = %s", (p["id"],)) == 1


def test_the_database_refuses_overlaps_itself(worker, db_app, db):
    """Even a writer that skipped the handler's checks cannot store a second
    household or a second head for the same period."""
    import psycopg2

    a, b = new_person(worker), new_person(worker)
    h1, h2 = new_household(worker), new_household(worker)
    assert add_member(worker, h1["id"], a["id"], "1", "2020-01-01").status_code == 201
    tenant = db.tenant_id(CORSICO)
    rows = [
        (h2["id"], a["id"], "2", False),  # a second household for a
        (h1["id"], b["id"], "1", True),   # a second head for h1
    ]
    for hid, pid, relation, head in rows:
        conn = db_app(tenant)
        with pytest.raises(psycopg2.errors.ExclusionViolation):
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO household_member (tenant_id, id, household_id, person_id,"
                    " relation, head, valid_from) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (tenant, str(uuid.uuid4()), hid, pid, relation, head, "2021-06-01"))
        conn.rollback()
