"""Regional spending report (Regione Lombardia): the 2019 figures of the
Ambito del Corsichese (../shared/fixtures/spending-2019-ambito-corsichese.json,
Tabella 2.4 of the Piano di Zona) recorded THROUGH THE API as interventions
(periodic and one-off, several Comuni, single and associated management) and
expenditures, for a year no other data touches; the report reproduces every
cell, total and percentage to the cent in JSON, CSV and XLSX. Cancelled
interventions, those of restricted persons and those outside the year are
left out; a year with no data is a well-formed empty report; bad year or
tenant is 400; another Comune's staff is 403; the planning office sees no
identifying field."""
import csv
import datetime
import io
import json
import os
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest

import fiscal
from conftest import (AMBITO, ASSAGO, CORSICO, HTTP_TIMEOUT, fresh_report_year, is_problem,
                      random_name)

REPORT = "/api/v1/reports/regional-spending"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COMUNI = ["015011", "015036", "015074", "015093", "015097", "015220"]
FIXTURE = os.path.join(os.environ.get("CARTELLA_REPO", "."), "..", "shared", "fixtures",
                       "spending-2019-ambito-corsichese.json")

# Per channel, the monthly funding of the three periodic interventions of an
# area (6 months, 2 months and 1 month active in the year) and the funding of
# its one-off intervention, in euro.
PERIODIC_PARTS = [("%d-03-15", "%d-08-10", 0, 100, 6), ("%d-11-01", "%d-02-15", -1, 10, 2),
                  ("%d-12-31", None, 0, 1, 1)]
ONE_OFF_PART = 50
ASSOCIATED_EXPENDITURE = Decimal("1000.00")
# Areas whose spending comes partly from interventions (the rest: expenditures).
INTERVENTION_AREAS = ["minori_famiglia", "disabili", "anziani", "emarginazione_poverta",
                      "compartecipazione_sociosanitaria"]


def cents(s):
    return int((Decimal(s) * 100).to_integral_value())


def money(c):
    return "%s.%02d" % (c // 100, c % 100) if c >= 0 else "-" + money(-c)


def percent(part, whole):
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def per_unit(c, n):
    return money(int((Decimal(c) / Decimal(n)).quantize(Decimal("1"), ROUND_HALF_UP)))


@pytest.fixture(scope="module")
def fixture_data():
    with open(FIXTURE) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def staff(make_user, login):
    cache = {}

    def get(tenant, role):
        if (tenant, role) not in cache:
            u, p = make_user(tenant, role)
            cache[(tenant, role)] = login(u, p, tenant)
        return cache[(tenant, role)]

    return get


def call(s, method, path, body=None, **kw):
    return s.request(method, s.base_url + path, json=body, timeout=HTTP_TIMEOUT, **kw)


def new_person(s):
    r = call(s, "POST", "/api/v1/persons", fiscal.person(birth="1970-05-05"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_service(s, area):
    body = {"code": random_name("RS").upper().replace("_", "-"), "name": "Servizio " + area,
            "inps_code": "A2.07", "istat_area": "MULBEN", "regional_area": area,
            "nature": "both", "isee_linked": False}
    r = call(s, "POST", "/api/v1/services", body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def intervention(s, person, service, funding, **over):
    """Records an intervention; funding is [(channel, cents)]; returns the body."""
    body = {"beneficiary_id": person, "service": service, "means_test": 4,
            "in_charge": False,
            "funding": [{"channel": c, "amount": money(v)} for c, v in funding]}
    total = sum(v for _, v in funding)
    if "delivery_date" in over:
        body.update(nature="one_off", total_amount=money(total))
    else:
        body.update(nature="periodic", monthly_amount=money(total))
    body.update(over)
    r = call(s, "POST", "/api/v1/interventions", body)
    assert r.status_code == 201, r.text
    return r


class Ledger:
    """What the test recorded, to compute the expected figures: entries of
    (tenant, area, channel, management, cents) and users per (tenant, area)."""

    def __init__(self):
        self.entries = []
        self.users = {}

    def add(self, tenant, area, channel, management, c):
        self.entries.append((tenant, area, channel, management, c))

    def user(self, tenant, area, person):
        self.users.setdefault((tenant, area), set()).add(person)

    def cell(self, tenants, area, channel):
        return sum(e[4] for e in self.entries
                   if e[0] in tenants and e[1] == area and e[2] == channel)

    def management(self, tenants, area, m):
        return sum(e[4] for e in self.entries if e[0] in tenants and e[1] == area and e[3] == m)


@pytest.fixture(scope="module")
def recorded(db, staff, fixture_data):
    """Records the fixture for a fresh year through the API; returns
    (year, ledger, person ids)."""
    year = fresh_report_year(db)
    ledger = Ledger()
    worker = staff(CORSICO, "social_worker")
    worker_assago = staff(ASSAGO, "social_worker")
    corsico_admin = staff(CORSICO, "admin")
    assago_admin = staff(ASSAGO, "admin")
    persons = []
    shared = new_person(worker)  # one Corsico user of every area
    persons.append(shared)
    for area in INTERVENTION_AREAS:
        channels = [(c, cents(v)) for c, v in fixture_data["rows"][area].items()]
        svc = new_service(corsico_admin, area)
        svc_assago = new_service(assago_admin, area)
        other = new_person(worker)
        persons.append(other)
        owners = [shared, other, other]
        for (start, end, shift, euro, months), person in zip(PERIODIC_PARTS, owners):
            over = {"start_date": start % (year + shift)}
            if end is not None:
                over["end_date"] = end % year
            intervention(worker, person, svc, [(c, euro * 100) for c, _ in channels], **over)
            for c, _ in channels:
                ledger.add(CORSICO, area, c, "single", euro * 100 * months)
        ledger.user(CORSICO, area, shared)
        ledger.user(CORSICO, area, other)
        p_assago = new_person(worker_assago)
        persons.append(p_assago)
        intervention(worker_assago, p_assago, svc_assago,
                     [(c, ONE_OFF_PART * 100) for c, _ in channels],
                     delivery_date="%d-06-30" % year, management="associated")
        for c, _ in channels:
            ledger.add(ASSAGO, area, c, "associated", ONE_OFF_PART * 100)
        ledger.user(ASSAGO, area, p_assago)

        # Left out: outside the year, cancelled, a restricted person's.
        noise = new_person(worker)
        persons.append(noise)
        parts = [(c, 777) for c, _ in channels]
        intervention(worker, noise, svc, parts, delivery_date="%d-12-31" % (year - 1))
        intervention(worker, noise, svc, parts, delivery_date="%d-01-01" % (year + 1))
        intervention(worker, noise, svc, parts, start_date="%d-01-01" % (year - 1),
                     end_date="%d-12-31" % (year - 1))
        r = intervention(worker, noise, svc, parts, start_date="%d-01-01" % year)
        r = call(worker, "PATCH", "/api/v1/interventions/" + r.json()["id"],
                 {"status": "cancelled"}, headers={"If-Match": r.headers["ETag"]})
        assert r.status_code == 200, r.text
        restricted = new_person(worker)
        persons.append(restricted)
        intervention(worker, restricted, svc, parts, delivery_date="%d-05-05" % year)
        db.one("UPDATE person SET restricted = true WHERE id = %s RETURNING id", (restricted,))

    # The rest of every cell as expenditures: 1000.00 of associated spending
    # recorded by the Ambito, the remainder by Corsico.
    manager = staff(CORSICO, "service_manager")
    ambito_admin = staff(AMBITO, "administrative")
    for area, row in fixture_data["rows"].items():
        for channel, amount in row.items():
            rest = cents(amount) - ledger.cell({CORSICO, ASSAGO}, area, channel)
            assoc = cents(ASSOCIATED_EXPENDITURE)
            kind = "staff" if area == "servizio_sociale_professionale" else "grants"
            for s, tenant, m, c in ((ambito_admin, AMBITO, "associated", assoc),
                                    (manager, CORSICO, "single", rest - assoc)):
                r = call(s, "POST", "/api/v1/expenditures",
                         {"year": year, "regional_area": area, "channel": channel,
                          "management": m, "kind": kind, "amount": money(c),
                          "description": "Spesa %s %s" % (area, channel),
                          "budget_chapter": "12041.03"})
                assert r.status_code == 201, r.text
                ledger.add(tenant, area, channel, m, c)

    # Population of the six Comuni, loaded by the Ambito's administrator.
    pop_admin = staff(AMBITO, "admin")
    for i, comune in enumerate(COMUNI):
        rows = [{"sex": "F", "age_band": "0-64", "residents": 10000 + i},
                {"sex": "F", "age_band": "65+", "residents": 3000},
                {"sex": "M", "age_band": "0-64", "residents": 9000},
                {"sex": "M", "age_band": "65+", "residents": 2500 + i}]
        r = call(pop_admin, "PUT", "/api/v1/population/%s/%d" % (comune, year), {"rows": rows})
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 24500 + 2 * i
    return year, ledger, persons


def population_total():
    return sum(24500 + 2 * i for i in range(len(COMUNI)))


def get_report(s, year, tenant=None, accept=None):
    params = {"year": year}
    if tenant is not None:
        params["tenant"] = tenant
    headers = {"Accept": accept} if accept else {}
    return s.get(s.base_url + REPORT, params=params, headers=headers, timeout=HTTP_TIMEOUT)


# ---------------------------------------------------------------- the fixture

def test_ambito_report_reproduces_the_fixture(staff, recorded, fixture_data):
    year, ledger, persons = recorded
    r = get_report(staff(AMBITO, "planning_office"), year)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["year"] == year and body["tenant"]["code"] == AMBITO
    assert [c["code"] for c in body["channels"]] == list(fixture_data["column_totals"])
    rows = {row["area"]: row for row in body["rows"]}
    assert set(rows) == set(fixture_data["rows"])
    for area, row in rows.items():
        for channel in fixture_data["column_totals"]:
            want = fixture_data["rows"][area].get(channel, "0.00")
            assert row["cells"][channel] == want, (area, channel)
        assert row["total"] == fixture_data["row_totals"][area], area
    assert body["column_totals"] == fixture_data["column_totals"]
    assert body["grand_total"] == fixture_data["grand_total"]
    assert body["composition_percent"] == fixture_data["composition_percent_one_decimal"]
    grand = cents(fixture_data["grand_total"])
    everyone = {CORSICO, ASSAGO, AMBITO}
    for area, row in rows.items():
        assert row["percent"] == percent(cents(row["total"]), grand)
        assert row["management"] == {
            "single": money(ledger.management(everyone, area, "single")),
            "associated": money(ledger.management(everyone, area, "associated"))}
        users = sum(len(ledger.users.get((t, area), ())) for t in everyone)
        assert row["users"] == users, area
        assert row["spending_per_user"] == (per_unit(cents(row["total"]), users)
                                            if users else None)
    assert body["management_totals"]["single"] == money(
        sum(e[4] for e in ledger.entries if e[3] == "single"))
    # Distinct users within each Comune: the Corsico person of every area counts once.
    users_total = sum(len(set().union(*(v for (t, _), v in ledger.users.items() if t == ten)))
                      for ten in (CORSICO, ASSAGO))
    assert body["users"] == users_total == 1 + 2 * len(INTERVENTION_AREAS)
    assert body["spending_per_user"] == per_unit(grand, users_total)
    assert body["population"] == population_total()
    assert body["per_capita"] == per_unit(grand, population_total())


def test_planning_office_sees_no_identifying_field(staff, recorded):
    year, _, persons = recorded
    s = staff(AMBITO, "planning_office")
    for accept in (None, "text/csv"):
        text = get_report(s, year, accept=accept).text
        for pid in persons:
            assert pid not in text
    body = get_report(s, year).json()

    def keys(v):
        if isinstance(v, dict):
            return set(v) | set().union(*(keys(x) for x in v.values()))
        if isinstance(v, list):
            return set().union(set(), *(keys(x) for x in v))
        return set()
    assert not keys(body) & {"id", "beneficiary_id", "person_id", "fiscal_code", "surname",
                             "given_name", "birth_date", "address"}
    # The planning office still has no row access to the persons or interventions.
    is_problem(s.get(s.base_url + "/api/v1/interventions", timeout=HTTP_TIMEOUT), 403)
    is_problem(s.get(s.base_url + "/api/v1/persons", timeout=HTTP_TIMEOUT), 403)


def test_csv_matches_the_fixture(staff, recorded, fixture_data):
    year, _, _ = recorded
    r = get_report(staff(AMBITO, "planning_office"), year, accept="text/csv")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8"))))
    header = table[0]
    by_code = {row[0]: dict(zip(header, row)) for row in table[1:]}
    for area, cells in fixture_data["rows"].items():
        for channel in fixture_data["column_totals"]:
            assert by_code[area][channel] == cells.get(channel, "0.00"), (area, channel)
        assert by_code[area]["totale"] == fixture_data["row_totals"][area]
    for channel, total in fixture_data["column_totals"].items():
        assert by_code["totale"][channel] == total
        assert by_code["composizione_percentuale"][channel] == \
            fixture_data["composition_percent_one_decimal"][channel]
    assert by_code["totale"]["totale"] == fixture_data["grand_total"]
    assert by_code["popolazione"]["totale"] == str(population_total())
    assert by_code["spesa_pro_capite"]["totale"] == per_unit(
        cents(fixture_data["grand_total"]), population_total())


def test_xlsx_matches_the_fixture(staff, recorded, fixture_data):
    year, _, _ = recorded
    r = get_report(staff(AMBITO, "planning_office"), year, accept=XLSX)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    by_code = {row[0]: dict(zip(header, row)) for row in rows[1:]}

    def as_money(v):
        return money(int(round(v * 100)))
    for area, cells in fixture_data["rows"].items():
        for channel in fixture_data["column_totals"]:
            assert as_money(by_code[area][channel]) == cells.get(channel, "0.00")
        assert as_money(by_code[area]["totale"]) == fixture_data["row_totals"][area]
    for channel, total in fixture_data["column_totals"].items():
        assert as_money(by_code["totale"][channel]) == total
        assert "%.1f" % by_code["composizione_percentuale"][channel] == \
            fixture_data["composition_percent_one_decimal"][channel]
    assert as_money(by_code["totale"]["totale"]) == fixture_data["grand_total"]


def test_comune_report_is_its_own_share(staff, recorded, fixture_data):
    """Corsico's own report: its interventions and expenditures only, no
    population of the other Comuni."""
    year, ledger, _ = recorded
    for role in ("service_manager", "administrative"):
        r = get_report(staff(CORSICO, role), year)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tenant"]["code"] == CORSICO
        for row in body["rows"]:
            for channel, value in row["cells"].items():
                assert value == money(ledger.cell({CORSICO}, row["area"], channel))
            assert row["users"] == len(ledger.users.get((CORSICO, row["area"]), ()))
        assert body["population"] == 24500 + 2 * COMUNI.index(CORSICO)
    # The Ambito's planning office may ask for a member Comune: same figures.
    member = get_report(staff(AMBITO, "planning_office"), year, tenant=CORSICO)
    assert member.status_code == 200
    assert member.json()["rows"] == body["rows"]


# ---------------------------------------------------------------- the edges

def test_year_without_data_is_an_empty_report(staff, recorded, fixture_data):
    year, _, _ = recorded
    r = get_report(staff(AMBITO, "planning_office"), year - 2)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grand_total"] == "0.00" and body["users"] == 0
    assert len(body["rows"]) == len(fixture_data["rows"])
    assert all(v == "0.00" for row in body["rows"] for v in row["cells"].values())
    assert all(row["spending_per_user"] is None and row["percent"] is None
               for row in body["rows"])
    assert set(body["composition_percent"].values()) == {None}
    assert body["population"] is None and body["per_capita"] is None
    r = get_report(staff(AMBITO, "planning_office"), year - 2, accept="text/csv")
    assert r.status_code == 200 and len(list(csv.reader(io.StringIO(r.text)))) == \
        len(fixture_data["rows"]) + 5


@pytest.mark.parametrize("params", [{"year": ""}, {"year": "abc"}, {"year": "19"}, {"year": "1999"},
                                    {"year": "2019", "tenant": "NOPE!"},
                                    {"year": "2019", "tenant": "999999"}])
def test_bad_year_or_tenant_is_400(staff, params):
    s = staff(CORSICO, "service_manager")
    is_problem(s.get(s.base_url + REPORT, params=params, timeout=HTTP_TIMEOUT), 400)


def test_year_defaults_to_the_last_complete_year(staff):
    s = staff(CORSICO, "service_manager")
    r = s.get(s.base_url + REPORT, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["year"] == datetime.datetime.now(datetime.timezone.utc).year - 1


def test_other_comune_and_roles_are_refused(staff, recorded):
    year, _, _ = recorded
    is_problem(get_report(staff(ASSAGO, "service_manager"), year, tenant=CORSICO), 403)
    is_problem(get_report(staff(CORSICO, "service_manager"), year, tenant=AMBITO), 403)
    is_problem(get_report(staff(CORSICO, "planning_office"), year, tenant=ASSAGO), 403)
    # The Ambito's report aggregates several Comuni: planning office only.
    is_problem(get_report(staff(AMBITO, "administrative"), year), 403)
    # Roles without the action.
    is_problem(get_report(staff(CORSICO, "social_worker"), year), 403)
    is_problem(get_report(staff(CORSICO, "dpo"), year), 403)


# ---------------------------------------------------------------- indicators

def test_indicators_agree_with_the_regional_report_year_by_year(staff, recorded):
    year, _, persons = recorded
    s = staff(AMBITO, "planning_office")
    r = s.get(s.base_url + "/api/v1/reports/indicators",
              params={"from": year - 2, "to": year}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [y["year"] for y in body["years"]] == [year - 2, year - 1, year]
    for y in body["years"]:
        rep = get_report(s, y["year"]).json()
        assert y["spending"] == rep["grand_total"]
        assert y["users"] == rep["users"]
        assert y["population"] == rep["population"]
        assert y["per_capita"] == rep["per_capita"]
        assert y["spending_per_user"] == rep["spending_per_user"]
        assert y["users_by_area"] == {row["area"]: row["users"] for row in rep["rows"]}
    last = body["years"][-1]
    assert last["spending"] == "19165895.00"
    assert last["take_up_per_thousand"] == str(
        (Decimal(last["users"]) * 1000 / Decimal(population_total())).quantize(
            Decimal("0.1"), ROUND_HALF_UP))
    assert body["years"][0]["spending"] == "0.00"
    assert body["years"][0]["take_up_per_thousand"] is None
    csv_text = s.get(s.base_url + "/api/v1/reports/indicators",
                     params={"from": year - 2, "to": year}, headers={"Accept": "text/csv"},
                     timeout=HTTP_TIMEOUT).text
    table = {row[0]: row[1:] for row in csv.reader(io.StringIO(csv_text))}
    assert table["indicatore"] == [str(year - 2), str(year - 1), str(year)]
    assert table["spesa"][2] == "19165895.00"
    assert not any(p in csv_text + r.text for p in persons)


@pytest.mark.parametrize("params", [{"from": "2019", "to": "2018"}, {"from": "2000", "to": "2015"},
                                    {"from": "abc"}, {"to": "1999"}])
def test_indicators_bad_years_are_400(staff, params):
    s = staff(CORSICO, "service_manager")
    is_problem(s.get(s.base_url + "/api/v1/reports/indicators", params=params,
                     timeout=HTTP_TIMEOUT), 400)


def test_indicators_scope(staff, recorded):
    year, _, _ = recorded
    s = staff(ASSAGO, "service_manager")
    is_problem(s.get(s.base_url + "/api/v1/reports/indicators",
                     params={"tenant": CORSICO}, timeout=HTTP_TIMEOUT), 403)
    r = s.get(s.base_url + "/api/v1/reports/indicators", params={"to": year},
              timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.json()["tenant"]["code"] == ASSAGO
