"""ISTAT survey report: users and spending by ISTAT user area and service,
with the co-payments of the users and of the health service, from
interventions recorded through the API in two Comuni for a year no other
data touches; periodic interventions count their months active in the year,
cancelled ones and restricted persons' are left out; JSON, CSV and XLSX hold
the same figures; scope and roles as for the regional report."""
import csv
import io

import openpyxl
import pytest

import fiscal
from conftest import (AMBITO, ASSAGO, CORSICO, HTTP_TIMEOUT, fresh_report_year, is_problem,
                      random_name)

REPORT = "/api/v1/reports/istat-survey"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
    r = s.request(method, s.base_url + path, json=body, timeout=HTTP_TIMEOUT, **kw)
    assert r.status_code in (200, 201), r.text
    return r


def service(s, istat_area):
    code = random_name("IS").upper().replace("_", "-")
    call(s, "POST", "/api/v1/services",
         {"code": code, "name": "Servizio " + code, "inps_code": "A2.07",
          "istat_area": istat_area, "regional_area": "anziani", "nature": "both"})
    return code


def person(s):
    return call(s, "POST", "/api/v1/persons", fiscal.person(birth="1950-02-02")).json()["id"]


def intervention(s, person_id, svc, amount, user=None, health=None, **dates):
    body = {"beneficiary_id": person_id, "service": svc, "means_test": 4, "in_charge": False,
            "funding": [{"channel": "comune", "amount": amount}],
            "shares": {"user": user, "health": health}}
    if "delivery_date" in dates:
        body.update(nature="one_off", total_amount=amount)
    else:
        body.update(nature="periodic", monthly_amount=amount)
    body.update(dates)
    return call(s, "POST", "/api/v1/interventions", body)


@pytest.fixture(scope="module")
def recorded(db, staff):
    year = fresh_report_year(db)
    corsico, assago = staff(CORSICO, "social_worker"), staff(ASSAGO, "social_worker")
    fam, eld = service(staff(CORSICO, "admin"), "FAM"), service(staff(CORSICO, "admin"), "ELD")
    eld_assago = service(staff(ASSAGO, "admin"), "ELD")
    a, b, c = person(corsico), person(corsico), person(assago)
    # 3 months (March-May) x 500.00, users 50.00 and health 100.00 a month.
    intervention(corsico, a, fam, "500.00", "50.00", "100.00",
                 start_date="%d-03-01" % year, end_date="%d-05-20" % year)
    intervention(corsico, a, eld, "300.00", "30.00", delivery_date="%d-07-01" % year)
    # 1 month in the year (January).
    intervention(corsico, b, eld, "200.00", None, "20.00",
                 start_date="%d-12-01" % (year - 1), end_date="%d-01-31" % year)
    intervention(assago, c, eld_assago, "100.00", "10.00", delivery_date="%d-02-02" % year)
    # Left out: cancelled, a restricted person's, another year.
    r = intervention(corsico, b, fam, "999.00", start_date="%d-01-01" % year)
    call(corsico, "PATCH", "/api/v1/interventions/" + r.json()["id"], {"status": "cancelled"},
         headers={"If-Match": r.headers["ETag"]})
    hidden = person(corsico)
    intervention(corsico, hidden, fam, "999.00", delivery_date="%d-04-04" % year)
    db.one("UPDATE person SET restricted = true WHERE id = %s RETURNING id", (hidden,))
    intervention(corsico, a, fam, "999.00", delivery_date="%d-12-31" % (year - 1))
    return year, {"fam": fam, "eld": eld, "eld_assago": eld_assago}, [a, b, c, hidden]


def report(s, year, tenant=None, accept=None):
    params = {"year": year}
    if tenant:
        params["tenant"] = tenant
    return s.get(s.base_url + REPORT, params=params,
                 headers={"Accept": accept} if accept else {}, timeout=HTTP_TIMEOUT)


def figures(users, spending, user, health):
    net = "%.2f" % (float(spending) - float(user) - float(health))
    return {"users": users, "spending": spending, "user_copay": user, "health_copay": health,
            "net": net}


def strip(d):
    return {k: d[k] for k in ("users", "spending", "user_copay", "health_copay", "net")}


def test_ambito_survey(staff, recorded):
    year, svc, persons = recorded
    r = report(staff(AMBITO, "planning_office"), year)
    assert r.status_code == 200, r.text
    body = r.json()
    areas = {a["area"]: a for a in body["areas"]}
    assert list(areas) == ["FAM", "DIS", "ELD", "ADD", "IMMNOM", "POV", "MULBEN"]
    fam = {s["code"]: s for s in areas["FAM"]["services"]}
    eld = {s["code"]: s for s in areas["ELD"]["services"]}
    assert set(fam) == {svc["fam"]} and set(eld) == {svc["eld"], svc["eld_assago"]}
    assert strip(fam[svc["fam"]]) == figures(1, "1500.00", "150.00", "300.00")
    assert strip(eld[svc["eld"]]) == figures(2, "500.00", "30.00", "20.00")
    assert strip(eld[svc["eld_assago"]]) == figures(1, "100.00", "10.00", "0.00")
    assert strip(areas["FAM"]) == figures(1, "1500.00", "150.00", "300.00")
    assert strip(areas["ELD"]) == figures(3, "600.00", "40.00", "20.00")
    assert strip(areas["DIS"]) == figures(0, "0.00", "0.00", "0.00")
    assert areas["DIS"]["services"] == []
    # Users across areas: a (FAM and ELD) counts once in Corsico.
    assert strip(body["totals"]) == figures(3, "2100.00", "190.00", "320.00")
    for accept in (None, "text/csv"):
        text = report(staff(AMBITO, "planning_office"), year, accept=accept).text
        assert not any(p in text for p in persons)


def test_csv_and_xlsx_hold_the_same_figures(staff, recorded):
    year, svc, _ = recorded
    s = staff(AMBITO, "planning_office")
    r = report(s, year, accept="text/csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    by = {(x["area"], x["servizio"]): x for x in rows}
    assert by[("ELD", svc["eld"])]["spesa"] == "500.00"
    assert by[("ELD", "totale")]["utenti"] == "3"
    assert by[("totale", "totale")]["spesa_netta"] == "1590.00"
    assert len(rows) == 7 + 3 + 1  # a total per area, three services, the grand total
    r = report(s, year, accept=XLSX)
    assert r.status_code == 200 and r.headers["Content-Type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    values = list(sheet.iter_rows(values_only=True))
    xl = {(v[0], v[2]): dict(zip(values[0], v)) for v in values[1:]}
    assert round(xl[("totale", "totale")]["spesa"] * 100) == 210000
    assert round(xl[("FAM", svc["fam"])]["compartecipazione_ssn"] * 100) == 30000
    assert xl[("ELD", "totale")]["utenti"] == 3


def test_comune_sees_its_own_share(staff, recorded):
    year, svc, _ = recorded
    body = report(staff(CORSICO, "administrative"), year).json()
    assert body["tenant"]["code"] == CORSICO
    eld = {s["code"]: s for a in body["areas"] if a["area"] == "ELD" for s in a["services"]}
    assert set(eld) == {svc["eld"]}
    assert strip(body["totals"]) == figures(2, "2000.00", "180.00", "320.00")


def test_scope_and_bad_input(staff, recorded):
    year, _, _ = recorded
    is_problem(report(staff(ASSAGO, "service_manager"), year, tenant=CORSICO), 403)
    is_problem(report(staff(AMBITO, "service_manager"), year), 403)
    is_problem(report(staff(CORSICO, "social_worker"), year), 403)
    for bad in ("abc", "1999", "20190"):
        is_problem(report(staff(CORSICO, "service_manager"), bad), 400)
    is_problem(report(staff(CORSICO, "service_manager"), year, tenant="000000"), 400)
    empty = report(staff(AMBITO, "planning_office"), year - 2).json()
    assert strip(empty["totals"]) == figures(0, "0.00", "0.00", "0.00")
    assert all(a["services"] == [] for a in empty["areas"])
