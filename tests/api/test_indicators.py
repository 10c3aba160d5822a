"""The Piano di Zona indicators added beside the spending ones
(GET /api/v1/reports/indicators): emergency interventions (services flagged
emergency in the catalogue), social workers per 4,000 inhabitants (the FTE an
administrator records with PUT /api/v1/staffing/{tenant}/{year}), take-up by
age band, several years side by side (years=), and the plan's impact
indicators from care-plan outcomes (family projects out of poverty 6 months
after their end; life projects that improved the quality of life). Data
recorded through the API in a fresh year; restricted persons are left out."""
import pytest

import fiscal
from conftest import AMBITO, api_call, ASSAGO, CORSICO, HTTP_TIMEOUT, fresh_report_year, is_problem

REPORT = "/api/v1/reports/indicators"


call = api_call


def ok(r, status=201):
    assert r.status_code == status, r.text
    return r.json()


def population(s, comune, year, bands):
    rows = [{"sex": sex, "age_band": b, "residents": n} for b, n in bands for sex in "FM"]
    return ok(call(s, "PUT", "/api/v1/population/%s/%d" % (comune, year), {"rows": rows}), 200)


@pytest.fixture(scope="module")
def recorded(db, staff):
    year = fresh_report_year(db)
    w = staff(CORSICO, "social_worker")

    def person(age, sex="F"):
        return ok(call(w, "POST", "/api/v1/persons",
                       fiscal.person(sex=sex, birth="%d-02-02" % (year - age))))["id"]

    def one_off(pid, service, day):
        ok(call(w, "POST", "/api/v1/interventions", {
            "beneficiary_id": pid, "service": service, "nature": "one_off",
            "delivery_date": "%d-%s" % (year, day), "total_amount": "100.00",
            "means_test": 4, "in_charge": False,
            "funding": [{"channel": "comune", "amount": "100.00"}]}))

    old1, old2, adult = person(80), person(81, "M"), person(40)
    one_off(old1, "EMERG-ABIT", "02-01")
    one_off(old1, "EMERG-ABIT", "05-01")
    one_off(adult, "EMERG-ABIT", "07-01")
    one_off(old2, "CONTR-ECON", "03-01")
    restricted = person(30)
    one_off(restricted, "EMERG-ABIT", "08-01")

    # Care plans ending in the year.
    def plan(pid, kind, end, follow=None, outcome=None):
        case = ok(call(w, "POST", "/api/v1/cases",
                       {"person_id": pid, "opened_on": "%d-01-02" % (year - 1)}))["id"]
        body = {"kind": kind, "goals": [{"text": "obiettivo"}], "start_on": "%d-01-03" % (year - 1),
                "end_on": end, "outcome": "achieved"}
        if follow:
            body.update(follow_up_on=follow, follow_up_outcome=outcome)
        ok(call(w, "POST", "/api/v1/cases/%s/plans" % case, body))

    y = year
    plan(person(35), "family_project", "%d-03-31" % y, "%d-10-31" % y, "out_of_poverty")
    plan(person(36), "family_project", "%d-06-30" % y, "%d-08-31" % y, "out_of_poverty")
    plan(person(37), "family_project", "%d-05-31" % y, "%d-12-31" % y, "no_change")
    plan(person(38), "family_project", "%d-09-30" % y)
    plan(person(39), "family_project", "%d-12-31" % (y - 1), "%d-07-31" % y, "out_of_poverty")
    plan(person(50), "life_project", "%d-04-30" % y, "%d-11-30" % y,
         "improved_quality_of_life")
    plan(person(51), "life_project", "%d-04-30" % y, "%d-11-30" % y, "no_change")
    plan(restricted, "life_project", "%d-04-30" % y, "%d-11-30" % y,
         "improved_quality_of_life")
    db.one("UPDATE person SET restricted = true WHERE id = %s RETURNING id", (restricted,))

    admin = staff(AMBITO, "admin")
    population(admin, CORSICO, year, [("0-17", 1000), ("18-64", 6000), ("65-74", 1500),
                                       ("75+", 1500)])
    population(admin, ASSAGO, year, [("0-64", 3000), ("65+", 1000)])
    ok(call(staff(CORSICO, "admin"), "PUT", "/api/v1/staffing/%s/%d" % (CORSICO, year),
            {"social_workers_fte": "3.50"}), 200)
    return year


def get(s, **params):
    return s.get(s.base_url + REPORT, params=params, timeout=HTTP_TIMEOUT)


def test_new_indicators_of_a_comune(staff, recorded):
    year = recorded
    body = ok(get(staff(CORSICO, "service_manager"), years=str(year)), 200)
    (y,) = body["years"]
    assert y["emergency_interventions"] == 3 and y["emergency_users"] == 2
    assert y["social_workers_fte"] == "3.50"
    # 3.5 FTE x 4000 / 20000 residents
    assert y["social_workers_per_4000"] == "0.70"
    ages = y["take_up_by_age"]
    assert ages["75+"] == {"users": 2, "population": 3000, "take_up_per_thousand": "0.7"}
    assert ages["18-64"] == {"users": 1, "population": 12000, "take_up_per_thousand": "0.1"}
    assert ages["0-17"]["users"] == 0 and ages["0-17"]["take_up_per_thousand"] == "0.0"
    assert ages["unknown"] == {"users": 0, "population": None, "take_up_per_thousand": None}
    # Family projects ended in the year: 4 (the one ended the year before is
    # not counted); followed up at 6 months or more: 2; out of poverty then: 1.
    assert y["family_projects"] == {"ended": 4, "followed_up": 2, "out_of_poverty": 1,
                                    "share_percent": "25.0"}
    # Life projects: the restricted person's is left out.
    assert y["life_projects"] == {"ended": 2, "followed_up": 2, "improved_quality_of_life": 1,
                                  "share_percent": "50.0"}


def test_csv_carries_the_new_rows(staff, recorded):
    year = recorded
    r = get(staff(CORSICO, "service_manager"), years=str(year), tenant=CORSICO)
    text = staff(CORSICO, "service_manager").get(
        r.url, headers={"Accept": "text/csv"}, timeout=HTTP_TIMEOUT).text
    rows = {line.split(",")[0]: line.split(",")[1:] for line in text.strip().split("\r\n")}
    assert rows["interventi_emergenza"] == ["3"]
    assert rows["assistenti_sociali_ogni_4000_abitanti"] == ["0.70"]
    assert rows["tasso_per_mille_eta_75+"] == ["0.7"]
    assert rows["quota_nuclei_fuori_poverta"] == ["25.0"]
    assert rows["quota_qualita_vita_migliorata"] == ["50.0"]


def test_ambito_needs_every_comune(staff, recorded):
    """Assago's bands do not align with 0-17 and its staff is not recorded:
    the Ambito's take-up of 0-17 and its social workers are unknown."""
    year = recorded
    (y,) = ok(get(staff(AMBITO, "planning_office"), years=str(year)), 200)["years"]
    assert y["take_up_by_age"]["0-17"]["population"] is None
    assert y["social_workers_fte"] is None and y["social_workers_per_4000"] is None
    assert y["emergency_interventions"] == 3


def test_years_side_by_side(staff, recorded):
    year = recorded
    s = staff(CORSICO, "service_manager")
    body = ok(get(s, years="%d,%d" % (year, year - 3)), 200)
    assert [y["year"] for y in body["years"]] == [year - 3, year]
    assert body["from"] == year - 3 and body["to"] == year
    assert body["years"][0]["emergency_interventions"] == 0
    for bad in ({"years": "%d,%d" % (year, year)}, {"years": "abcd"}, {"years": ""},
                {"years": "%d," % year}, {"years": str(year), "from": str(year)},
                {"years": ",".join(str(2000 + i) for i in range(11))}, {"years": "1999"}):
        is_problem(get(s, **bad), 400)


def test_staffing_resource(staff, recorded):
    year = recorded
    admin = staff(CORSICO, "admin")
    path = "/api/v1/staffing/%s/%d" % (CORSICO, year)
    r = call(admin, "GET", path)
    assert r.status_code == 200 and r.json() == {"tenant": CORSICO, "year": year,
                                                 "social_workers_fte": "3.50"}
    etag = r.headers["ETag"]
    is_problem(call(admin, "PUT", path, {"social_workers_fte": "4.00"}), 428)
    for bad in ("3.555", "-1", "abc", "12345", ""):
        r = call(admin, "PUT", path, {"social_workers_fte": bad}, headers={"If-Match": etag})
        is_problem(r, 400)
    is_problem(call(admin, "PUT", path, {"social_workers_fte": 3}, headers={"If-Match": etag}),
               400)
    is_problem(call(admin, "GET", "/api/v1/staffing/%s/%d" % (ASSAGO, year)), 404)
    is_problem(call(admin, "GET", "/api/v1/staffing/%s/1999" % CORSICO), 400)
    is_problem(call(admin, "GET", "/api/v1/staffing/%s/2095" % CORSICO), 404)
    is_problem(call(staff(CORSICO, "planning_office"), "PUT", path,
                    {"social_workers_fte": "1.00"}, headers={"If-Match": etag}), 403)
    assert call(admin, "GET", path).json()["social_workers_fte"] == "3.50"
