"""Pseudonymised extracts (POST /api/v1/extracts): a small population of users
recorded THROUGH THE API in a fresh year (Corsico and Assago, services of the
Ambito's catalogue in three regional areas, four age bands), then every
predefined table is checked cell by cell against what was recorded:
published cells are exact; every count from 1 to under 3 (under 5 for
minors, health and violence) is suppressed, margins included; and no
suppressed cell can be computed back from the published ones and the
totals (exact rational elimination over the table's equations). Microdata:
pseudonyms stable within a purpose, disjoint across purposes, no
identifying value or key anywhere. Restricted persons, sealed persons,
persons with a sealed case and cancelled interventions never appear. Bad
input is 400 and registers nothing; the planning office reaches no
identifying route; every extract is audited with its purpose."""
import csv
import io
from fractions import Fraction

import pytest

import fiscal
from conftest import AMBITO, api_call, ASSAGO, CORSICO, HTTP_TIMEOUT, fresh_report_year, is_problem, random_name

EXTRACTS = "/api/v1/extracts"
SENSITIVE_AREAS = {"minori_famiglia", "dipendenze", "salute_mentale",
                   "compartecipazione_sociosanitaria"}
MICRO_FIELDS = {"pseudonym", "tenant", "age_band", "sex", "regional_area", "istat_area",
                "service", "inps_code", "nature", "months", "in_charge", "user_area",
                "means_test"}
# (tenant, service area, age in the year, sex, how many persons)
POPULATION = [
    (CORSICO, "anziani", 80, "F", 6), (CORSICO, "anziani", 80, "M", 1),
    (CORSICO, "anziani", 70, "F", 4), (CORSICO, "anziani", 70, "M", 3),
    (CORSICO, "disabili", 40, "F", 2), (CORSICO, "disabili", 40, "M", 5),
    (CORSICO, "minori_famiglia", 10, "F", 5), (CORSICO, "minori_famiglia", 10, "M", 4),
    (ASSAGO, "anziani", 80, "F", 3),
    (ASSAGO, "minori_famiglia", 10, "F", 1),
]


def band(age):
    return "0-17" if age < 18 else "18-64" if age < 65 else "65-74" if age < 75 else "75+"


call = api_call


def run(s, table, year, purpose="monitoraggio-pdz", tenant=None, accept=None):
    body = {"table": table, "year": year, "purpose": purpose}
    if tenant is not None:
        body["tenant"] = tenant
    headers = {"Accept": accept} if accept else {}
    return call(s, "POST", EXTRACTS, body, headers=headers)


@pytest.fixture(scope="module")
def recorded(db, staff):
    """Records POPULATION in a fresh year; returns (year, expected users
    [(tenant, area, band, sex, service)] per person, interventions
    [(tenant, service code, sensitive)], identifying values, services)."""
    year = fresh_report_year(db)
    amb = staff(AMBITO, "admin")
    services = {}
    for area in ("anziani", "disabili", "minori_famiglia"):
        code = random_name("EX").upper().replace("_", "-")
        r = call(amb, "POST", "/api/v1/services", {
            "code": code, "name": "Servizio " + area, "inps_code": "A2.07",
            "istat_area": "MULBEN", "regional_area": area, "nature": "both"})
        assert r.status_code == 201, r.text
        services[area] = (r.json()["id"], code)
    users, interventions, identifying, persons = [], [], set(), {}

    def person(s, sex, age):
        body = fiscal.person(sex=sex, birth="%d-03-10" % (year - age))
        r = call(s, "POST", "/api/v1/persons", body)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        identifying.update({pid, body["fiscal_code"], body["surname"], body["given_name"],
                            body["birth_date"], body["address"]["line"]})
        return pid

    def intervene(s, pid, area, day="06-15"):
        r = call(s, "POST", "/api/v1/interventions", {
            "beneficiary_id": pid, "service": services[area][0], "nature": "one_off",
            "delivery_date": "%d-%s" % (year, day), "total_amount": "10.00",
            "means_test": 4, "in_charge": False,
            "funding": [{"channel": "comune", "amount": "10.00"}]})
        assert r.status_code == 201, r.text
        return r

    for tenant, area, age, sex, n in POPULATION:
        w = staff(tenant, "social_worker")
        for _ in range(n):
            pid = person(w, sex, age)
            intervene(w, pid, area)
            users.append((tenant, area, band(age), sex))
            interventions.append((tenant, services[area][1],
                                  age < 18 or area in SENSITIVE_AREAS))
            persons.setdefault((tenant, area), []).append(pid)
    # One Corsico user with a second intervention of the same service.
    twice = persons[(CORSICO, "anziani")][0]
    intervene(staff(CORSICO, "social_worker"), twice, "anziani", "09-01")
    interventions.append((CORSICO, services["anziani"][1], False))

    # Never shown: a restricted person, a sealed person, a person with a
    # sealed case, a cancelled intervention.
    w = staff(CORSICO, "social_worker")
    hidden = [person(w, "F", 80) for _ in range(3)]
    for pid in hidden:
        intervene(w, pid, "disabili")
    db.one("UPDATE person SET restricted = true WHERE id = %s RETURNING id", (hidden[0],))
    db.one("UPDATE person SET sealed = true WHERE id = %s RETURNING id", (hidden[1],))
    db.one("INSERT INTO social_case (tenant_id, id, person_id, opened_on, sealed)"
           " VALUES (%s, gen_random_uuid(), %s, %s, true) RETURNING id",
           (db.tenant_id(CORSICO), hidden[2], "%d-01-10" % year))
    cancelled = person(w, "M", 40)
    r = intervene(w, cancelled, "disabili")
    r = call(w, "PATCH", "/api/v1/interventions/" + r.json()["id"], {"status": "cancelled"},
             headers={"If-Match": r.headers["ETag"]})
    assert r.status_code == 200, r.text
    return year, users, interventions, identifying, services


# ---------------------------------------------------------------- checking a table

def extended(body):
    """The table with its margins as a matrix of values (None = suppressed)."""
    cols = body["columns"]
    m = [[row["cells"][c] for c in cols] + [row["total"]] for row in body["rows"]]
    m.append([body["column_totals"][c] for c in cols] + [body["grand_total"]])
    return m


def rank(rows):
    rows = [list(r) for r in rows]
    rk, col, ncols = 0, 0, len(rows[0]) if rows else 0
    while rk < len(rows) and col < ncols:
        pivot = next((i for i in range(rk, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            col += 1
            continue
        rows[rk], rows[pivot] = rows[pivot], rows[rk]
        for i in range(len(rows)):
            if i != rk and rows[i][col] != 0:
                f = rows[i][col] / rows[rk][col]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[rk])]
        rk += 1
        col += 1
    return rk


def derivable(m):
    """The suppressed cells whose value the published cells and the table's
    equations (each line adds up to its total) determine exactly."""
    R, C = len(m), len(m[0])
    unknown = [(i, j) for i in range(R) for j in range(C) if m[i][j] is None]
    if not unknown:
        return []
    idx = {u: k for k, u in enumerate(unknown)}
    eqs = []
    for i in range(R):
        eqs.append([Fraction(0)] * len(unknown))
        for j in range(C):
            if (i, j) in idx:
                eqs[-1][idx[(i, j)]] += 1 if j < C - 1 else -1
    for j in range(C):
        eqs.append([Fraction(0)] * len(unknown))
        for i in range(R):
            if (i, j) in idx:
                eqs[-1][idx[(i, j)]] += 1 if i < R - 1 else -1
    base = rank(eqs)
    out = []
    for k, u in enumerate(unknown):
        e = [Fraction(1 if x == k else 0) for x in range(len(unknown))]
        if rank(eqs + [e]) == base:
            out.append(u)
    return out


def check_table(body, truth, sensitive):
    """truth[(row key tuple, column)] = count, sensitive[...] = bool; checks
    the published cells, the thresholds (margins too) and that nothing
    suppressed can be derived. Returns the number of suppressed cells."""
    cols, dims = body["columns"], body["row_dimensions"]
    keys = [tuple(row["key"][d] for d in dims) for row in body["rows"]]
    assert sorted(keys) == sorted({k for k, _ in truth}), (keys, truth)
    true = [[truth.get((k, c), 0) for c in cols] for k in keys]
    sens = [[sensitive.get((k, c), False) for c in cols] for k in keys]
    for r, s in zip(true, sens):
        r.append(sum(r))
        s.append(any(s))
    true.append([sum(r[j] for r in true) for j in range(len(cols) + 1)])
    sens.append([any(s[j] for s in sens) for j in range(len(cols) + 1)])
    m = extended(body)
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            limit = 5 if sens[i][j] else 3
            if 0 < true[i][j] < limit:
                assert v is None, ("small cell published", i, j, true[i][j])
            if v is not None:
                assert v == true[i][j], ("wrong cell", i, j, v, true[i][j])
    assert derivable(m) == [], "suppressed cells that can be computed back"
    return sum(v is None for row in m for v in row)


def users_truth(users, tenants):
    truth, sens = {}, {}
    for tenant, area, b, sex in users:
        if tenant in tenants:
            k = ((tenant, area, b), sex)
            truth[k] = truth.get(k, 0) + 1
            sens[k] = b == "0-17" or area in SENSITIVE_AREAS
    return truth, sens


# ---------------------------------------------------------------- tables

def test_derivable_finds_a_lone_suppressed_cell():
    """The checker itself: one suppressed cell in a row is derivable, a
    cycle of four is not."""
    assert derivable([[1, 5, 6], [None, 5, 7], [3, 10, 13]]) == [(1, 0)]
    assert derivable([[None, None, 6], [None, None, 7], [3, 10, 13]]) == []


def test_users_table_of_a_comune(staff, recorded):
    year, users, _, _, _ = recorded
    r = run(staff(CORSICO, "service_manager"), "users_by_area_age_sex", year)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant"]["code"] == CORSICO and body["year"] == year
    assert body["column_dimension"] == "sex" and body["columns"] == ["F", "M"]
    assert body["thresholds"] == {"general": 3, "sensitive": 5}
    truth, sens = users_truth(users, {CORSICO})
    n = check_table(body, truth, sens)
    # Primary: anziani 75+ M=1, disabili F=2, minori M=4 (sensitive: under 5);
    # each needs its row's other cell as a complement.
    assert n == body["suppressed_cells"] == 6
    rows = {tuple(x["key"].values()): x for x in body["rows"]}
    assert rows[(CORSICO, "anziani", "65-74")]["cells"] == {"F": 4, "M": 3}
    assert rows[(CORSICO, "minori_famiglia", "0-17")]["cells"] == {"F": None, "M": None}
    assert rows[(CORSICO, "minori_famiglia", "0-17")]["total"] == 9


def test_users_table_of_the_ambito_and_csv(staff, recorded):
    year, users, _, _, _ = recorded
    s = staff(AMBITO, "planning_office")
    body = run(s, "users_by_area_age_sex", year).json()
    truth, sens = users_truth(users, {CORSICO, ASSAGO})
    assert check_table(body, truth, sens) > 6
    r = run(s, "users_by_area_age_sex", year, accept="text/csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    grid = list(csv.reader(io.StringIO(r.text)))
    assert grid[0] == ["tenant", "regional_area", "age_band", "F", "M", "totale"]
    m = extended(body)
    assert len(grid) == len(m) + 1
    for line, row in zip(grid[1:], m):
        assert line[3:] == ["x" if v is None else str(v) for v in row]


def test_interventions_by_service_and_tenant(staff, recorded):
    year, _, interventions, _, services = recorded
    body = run(staff(AMBITO, "planning_office"), "interventions_by_service_tenant", year).json()
    assert body["row_dimensions"] == ["service"] and body["column_dimension"] == "tenant"
    assert body["columns"] == sorted([ASSAGO, CORSICO])
    truth, sens = {}, {}
    for tenant, code, sensitive in interventions:
        k = ((code,), tenant)
        truth[k] = truth.get(k, 0) + 1
        sens[k] = sens.get(k, False) or sensitive
    assert check_table(body, truth, sens) > 0
    # A Comune's table has the Comune's column only.
    one = run(staff(CORSICO, "service_manager"), "interventions_by_service_tenant", year).json()
    assert one["columns"] == [CORSICO]


def test_sensitive_threshold_and_violence_flag(staff, recorded, db):
    """A service flagged violence raises its cells' threshold to 5: the
    anziani 65-74 cells (4 and 3) are published, then suppressed once the
    service is flagged."""
    year, users, _, _, services = recorded
    s = staff(CORSICO, "service_manager")
    db.one("UPDATE service_catalogue SET sensitivity = 'violence' WHERE id = %s RETURNING id",
           (services["anziani"][0],))
    try:
        body = run(s, "users_by_area_age_sex", year).json()
    finally:
        db.one("UPDATE service_catalogue SET sensitivity = NULL WHERE id = %s RETURNING id",
               (services["anziani"][0],))
    rows = {tuple(x["key"].values()): x for x in body["rows"]}
    assert rows[(CORSICO, "anziani", "65-74")]["cells"] == {"F": None, "M": None}
    truth, sens = users_truth(users, {CORSICO})
    for k in sens:
        sens[k] = sens[k] or k[0][1] == "anziani"
    check_table(body, truth, sens)


# ---------------------------------------------------------------- microdata

def test_microdata_pseudonyms(staff, recorded):
    year, users, _, identifying, _ = recorded
    s = staff(CORSICO, "service_manager")
    a1 = run(s, "users_microdata", year, "valutazione-a").json()
    a2 = run(s, "users_microdata", year, "valutazione-a").json()
    b = run(s, "users_microdata", year, "valutazione-b").json()
    corsico = [u for u in users if u[0] == CORSICO]
    assert len(a1["rows"]) == len(corsico) + 1  # one user has two interventions
    for body in (a1, b):
        ps = [row["pseudonym"] for row in body["rows"]]
        assert len(set(ps)) == len(corsico)
        assert sorted(ps) == ps
        twice = [p for p in set(ps) if ps.count(p) == 2]
        assert len(twice) == 1
    assert [r["pseudonym"] for r in a1["rows"]] == [r["pseudonym"] for r in a2["rows"]]
    assert not {r["pseudonym"] for r in a1["rows"]} & {r["pseudonym"] for r in b["rows"]}
    # Attributes match what was recorded.
    got = sorted((r["tenant"], r["regional_area"], r["age_band"], r["sex"])
                 for r in a1["rows"])
    want = sorted(corsico + [(CORSICO, "anziani", "75+", "F")])
    assert got == want
    for body in (a1, a2, b):
        assert set(body) == {"extract_id", "table", "year", "tenant", "purpose", "fields", "rows"}
        assert set(body["fields"]) == MICRO_FIELDS
        for row in body["rows"]:
            assert set(row) == MICRO_FIELDS
            assert row["months"] == 1 and row["nature"] == "one_off"
            for v in row.values():
                assert not isinstance(v, str) or v not in identifying
        text = str(body)
        assert not any(x in text for x in identifying)


def test_microdata_of_the_ambito_and_csv(staff, recorded):
    year, users, _, identifying, _ = recorded
    s = staff(AMBITO, "planning_office")
    body = run(s, "users_microdata", year, "valutazione-a").json()
    assert len(body["rows"]) == len(users) + 1
    r = run(s, "users_microdata", year, "valutazione-a", accept="text/csv")
    grid = list(csv.reader(io.StringIO(r.text)))
    assert grid[0] == body["fields"]
    assert [line[0] for line in grid[1:]] == [row["pseudonym"] for row in body["rows"]]
    assert not any(x in r.text for x in identifying)
    # The Ambito's pseudonyms are not the Comune's (another tenant's key).
    comune = run(staff(CORSICO, "service_manager"), "users_microdata", year,
                 "valutazione-a").json()
    assert not {x["pseudonym"] for x in comune["rows"]} & {x["pseudonym"] for x in body["rows"]}


# ---------------------------------------------------------------- access, audit, bad input

def test_audited_with_the_purpose_and_registered(staff, recorded, db):
    year = recorded[0]
    s = staff(CORSICO, "service_manager")
    r = run(s, "users_by_area_age_sex", year, "relazione-sociale-2024")
    assert r.status_code == 200, r.text
    eid = r.json()["extract_id"]
    rows = db.all("SELECT action, object_type, purpose, outcome FROM audit_event"
                  " WHERE object_id = %s", (eid,))
    assert rows == [("extract.run", "extract", "relazione-sociale-2024", 200)]
    reg = db.one("SELECT table_name || '/' || year || '/' || purpose || '/' || row_count"
                 " FROM extract_run WHERE id = %s", (eid,))
    assert reg == "users_by_area_age_sex/%d/relazione-sociale-2024/4" % year


def test_who_may_run_extracts(staff, recorded):
    year = recorded[0]
    for tenant, role in ((CORSICO, "social_worker"), (CORSICO, "administrative"),
                         (CORSICO, "dpo"), (AMBITO, "admin")):
        is_problem(run(staff(tenant, role), "users_microdata", year), 403)
    # A Comune's manager: not the Ambito, not another Comune.
    sm = staff(CORSICO, "service_manager")
    is_problem(run(sm, "users_microdata", year, tenant=AMBITO), 403)
    is_problem(run(sm, "users_microdata", year, tenant=ASSAGO), 403)
    # The planning office reaches a member Comune's extract, and nothing that
    # identifies a person.
    po = staff(AMBITO, "planning_office")
    assert run(po, "users_microdata", year, tenant=CORSICO).status_code == 200
    for path in ("/api/v1/persons", "/api/v1/interventions", "/api/v1/cases",
                 "/api/v1/households", "/api/v1/isee", "/api/v1/access-contacts"):
        is_problem(call(po, "GET", path), 403)


@pytest.mark.parametrize("body, field", [
    ({"table": "persons", "year": 2019, "purpose": "abc"}, "table"),
    ({"table": "users_microdata", "year": 1999, "purpose": "abc"}, "year"),
    ({"table": "users_microdata", "year": "2019", "purpose": "abc"}, "year"),
    ({"table": "users_microdata", "year": 2019, "purpose": "Mario Rossi"}, "purpose"),
    ({"table": "users_microdata", "year": 2019}, "purpose"),
    ({"year": 2019, "purpose": "abc"}, "table"),
    ({"table": "users_microdata", "year": 2019, "purpose": "abc", "fiscal_code": "x"},
     "fiscal_code"),
])
def test_bad_input_is_400_and_registers_nothing(staff, db, body, field):
    s = staff(AMBITO, "planning_office")
    before = db.one("SELECT count(*) FROM extract_run")
    r = call(s, "POST", EXTRACTS, body)
    is_problem(r, 400)
    assert field in [e["field"] for e in r.json()["errors"]], r.text
    assert db.one("SELECT count(*) FROM extract_run") == before


def test_unknown_tenant_is_400(staff):
    is_problem(run(staff(AMBITO, "planning_office"), "users_microdata", 2019, tenant="999999"),
               400)


def test_year_without_data_is_an_empty_table(staff):
    body = run(staff(CORSICO, "service_manager"), "users_by_area_age_sex", 2001).json()
    assert body["rows"] == [] and body["grand_total"] == 0 and body["suppressed_cells"] == 0
