"""GET /api/v1/reports/data-quality: the records each flow (siuss, sinba,
regional-spending) would refuse or mis-report, one row per record and rule,
named by id; the refusals are the flow's own (the same message the flow keeps
on the intervention); JSON and CSV; only administrative staff and service
managers, only their own Comune; restricted persons and sealed cases are not
listed; bad parameters are 400 problems that change nothing.

Cesano Boscone (015074) like test_sinba: its flows are configured there."""
import csv
import io

import pytest

from conftest import HTTP_TIMEOUT, is_problem
from test_sinba import (SINBA, TENANT, assess, configured, inps, minor_in_charge,  # noqa: F401
                        new_case, new_intervention, new_person, pull_here, staff)
from test_waas import omocodic

URL = "/api/v1/reports/data-quality"


def report(s, flow, year=2024, **headers):
    r = s.get(s.base_url + URL, params={"flow": flow, "year": year}, headers=headers,
              timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return r


def rules_of(body, record_id):
    return sorted(i["rule"] for i in body["items"] if i["record_id"] == record_id)


@pytest.fixture(scope="module")
def manager(make_user, login, configured):  # noqa: F811
    u, p = make_user(TENANT, "service_manager")
    return login(u, p, TENANT)


def test_siuss_lists_refusals_and_misreports_by_record(staff, manager, inps, db):  # noqa: F811
    bad_cf, _ = new_person(staff, birth="1980-01-01", cf=omocodic())
    refused = new_intervention(staff, db, bad_cf, code="SAD", user_area=2, means_test=1,
                               dsu="INPS-ISEE-2024-12345678A-01")
    clean_p, _ = new_person(staff, birth="1970-01-01")
    clean = new_intervention(staff, db, clean_p,
                             shares={"tenant": "300.00", "user": "100.00", "health": None},
                             funding=[{"channel": "comune", "amount": "300.00"},
                                      {"channel": "utenza", "amount": "100.00"}])
    shares = new_intervention(staff, db, clean_p,
                              shares={"tenant": "200.00", "user": "50.00", "health": None})
    no_res, _ = new_person(staff, birth="1970-01-01", residence=None)
    homeless = new_intervention(staff, db, no_res)
    ended = new_intervention(staff, db, clean_p, end_date=None)
    linked = new_intervention(staff, db, clean_p, code="SAD", user_area=2)
    r = staff.patch(staff.base_url + "/api/v1/interventions/" + ended["id"],
                     json={"status": "suspended"},
                     headers={"If-Match": '"%d"' % ended["version"]},
                     timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    body = report(manager, "siuss").json()
    assert body["flow"] == "siuss" and body["year"] == 2024
    assert body["tenant"]["code"] == TENANT and body["count"] == len(body["items"])
    # area 2 in charge without a sina assessment: sent without the SINA section
    assert rules_of(body, refused["id"]) == ["fiscal_code_invalid", "isee_missing",
                                             "sina_assessment_missing"]
    assert rules_of(body, clean["id"]) == []
    assert rules_of(body, shares["id"]) == ["shares_not_adding_up"]
    assert rules_of(body, homeless["id"]) == ["residence_missing"]
    assert rules_of(body, ended["id"]) == ["periodic_without_end_date"]
    assert rules_of(body, linked["id"]) == ["isee_linked_without_means_test",
                                            "sina_assessment_missing"]
    row = [i for i in body["items"] if i["record_id"] == refused["id"]][0]
    assert (row["record_type"], row["person_id"], row["severity"]) == \
        ("intervention", bad_cf, "refusal")
    assert [i["severity"] for i in body["items"] if i["record_id"] == shares["id"]] == \
        ["misreport"]
    # the refusal is the flow's own: the same message the pull keeps on the intervention
    pull_here(inps)
    r = staff.get(staff.base_url + "/api/v1/interventions/" + refused["id"],
                   timeout=HTTP_TIMEOUT)
    assert r.json()["siuss"]["refusal"] == row["message"]
    # no names, no fiscal codes: ids only
    assert set(row) == {"record_type", "record_id", "person_id", "case_id", "rule",
                        "severity", "message"}


def test_sinba_lists_minors_in_charge_without_assessment_and_stale_flows(staff, inps, db):  # noqa: F811,E501
    pid, _ = new_person(staff)
    cid = new_case(staff, pid)
    unassessed = new_intervention(staff, db, pid, cid)
    no_case = new_intervention(staff, db, new_person(staff)[0])
    nores, _ = new_person(staff, residence=None)
    ncid = new_case(staff, nores)
    assess(staff, ncid)
    homeless = new_intervention(staff, db, nores, ncid)
    _, _, _, ok = minor_in_charge(staff, db)
    _, _, _, gone = minor_in_charge(staff, db)
    pull_here(inps)
    r = staff.patch(staff.base_url + "/api/v1/interventions/" + gone["id"],
                     json={"status": "cancelled"}, headers={"If-Match": '"%d"' % gone["version"]},
                     timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    pull_here(inps)
    body = report(staff, "sinba").json()
    assert rules_of(body, unassessed["id"]) == ["sinba_assessment_missing"]
    assert rules_of(body, no_case["id"]) == ["sinba_assessment_missing"]
    assert rules_of(body, homeless["id"]) == ["residence_missing"]
    assert rules_of(body, ok["id"]) == []
    assert rules_of(body, gone["id"]) == ["sinba_stale_flow"]
    # the refusal is what the flow keeps
    assert db.one("SELECT refusal FROM sinba_state WHERE intervention_id = %s",
                  (unassessed["id"],)) == \
        [i for i in body["items"] if i["record_id"] == unassessed["id"]][0]["message"]


def test_regional_spending_lists_what_the_report_would_misstate(staff, db):  # noqa: F811
    pid, _ = new_person(staff, birth="1970-01-01")
    mismatch = new_intervention(staff, db, pid, code="SAD", user_area=2,
                                start_date="2023-01-01", end_date="2023-06-30",
                                shares={"tenant": "300.00", "user": "100.00", "health": None})
    fine = new_intervention(staff, db, pid, code="SAD", user_area=2,
                            start_date="2023-01-01", end_date="2023-06-30",
                            shares={"tenant": "300.00", "user": "100.00", "health": None},
                            funding=[{"channel": "comune", "amount": "300.00"},
                                     {"channel": "utenza", "amount": "100.00"}])
    open_ended = new_intervention(staff, db, pid, code="SAD", user_area=2,
                                  start_date="2023-01-01", end_date=None)
    r = staff.patch(staff.base_url + "/api/v1/interventions/" + open_ended["id"],
                     json={"status": "suspended"},
                     headers={"If-Match": '"%d"' % open_ended["version"]}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    body = report(staff, "regional-spending", 2023).json()
    assert rules_of(body, mismatch["id"]) == ["user_share_vs_utenza"]
    assert rules_of(body, fine["id"]) == []
    assert rules_of(body, open_ended["id"]) == ["periodic_without_end_date"]
    # another year: not there
    assert rules_of(report(staff, "regional-spending", 2021).json(), mismatch["id"]) == []


def test_csv_has_one_line_per_row(staff, db):  # noqa: F811
    pid, _ = new_person(staff)
    new_intervention(staff, db, pid, new_case(staff, pid))
    r = report(staff, "sinba", **{"Accept": "text/csv"})
    assert r.headers["Content-Type"].startswith("text/csv")
    assert 'filename="qualita-dati-sinba-2024-015074.csv"' in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["record_type", "record_id", "person_id", "case_id", "rule", "severity",
                       "message"]
    assert len(rows) - 1 == report(staff, "sinba").json()["count"] >= 1


def test_restricted_persons_and_sealed_cases_are_not_listed(staff, manager, db):  # noqa: F811
    rp, _ = new_person(staff)
    restricted = new_intervention(staff, db, rp, new_case(staff, rp))
    db.one("UPDATE person SET restricted = true WHERE id = %s RETURNING id", (rp,))
    sp, _ = new_person(staff)
    scid = new_case(staff, sp)
    sealed = new_intervention(staff, db, sp, scid)
    db.one("UPDATE social_case SET sealed = true WHERE id = %s RETURNING id", (scid,))
    for s in (staff, manager):
        for flow in ("sinba", "siuss"):
            ids = {i["record_id"] for i in report(s, flow).json()["items"]}
            assert restricted["id"] not in ids and sealed["id"] not in ids


def test_every_listed_person_is_audited(manager, staff, db):  # noqa: F811
    pid, _ = new_person(staff)
    new_intervention(staff, db, pid, new_case(staff, pid))
    r = report(manager, "sinba")
    assert pid in {i["person_id"] for i in r.json()["items"]}
    assert db.one("SELECT count(*) FROM audit_event WHERE request_id = %s AND object_id = %s",
                  (r.headers["X-Request-Id"], pid)) >= 1


def test_an_unconfigured_comune_is_told_so(make_user, login):
    u, p = make_user("015011", "administrative")
    s = login(u, p, "015011")
    body = report(s, "siuss").json()
    assert [(i["record_type"], i["rule"]) for i in body["items"]][:1] == \
        [("tenant", "ente_not_configured")]
    assert report(s, "regional-spending").json()["flow"] == "regional-spending"


@pytest.mark.parametrize("role", ["social_worker", "planning_office", "dpo", "admin"])
def test_other_roles_are_refused(make_user, login, role, configured):  # noqa: F811
    u, p = make_user(TENANT, role)
    s = login(u, p, TENANT)
    r = s.get(s.base_url + URL, params={"flow": "siuss", "year": 2024}, timeout=HTTP_TIMEOUT)
    is_problem(r, 403)


def test_another_comune_sees_none_of_these_records(make_user, login, staff, db):  # noqa: F811
    pid, _ = new_person(staff)
    iv = new_intervention(staff, db, pid, new_case(staff, pid))
    u, p = make_user("015093", "service_manager")
    s = login(u, p, "015093")
    for flow in ("siuss", "sinba", "regional-spending"):
        body = report(s, flow).json()
        assert body["tenant"]["code"] == "015093"
        assert iv["id"] not in {i["record_id"] for i in body["items"]}
        assert pid not in {i["person_id"] for i in body["items"]}


@pytest.mark.parametrize("params", [
    {}, {"year": 2024}, {"flow": "istat", "year": 2024}, {"flow": "SIUSS", "year": 2024},
    {"flow": "siuss"}, {"flow": "siuss", "year": "24"}, {"flow": "siuss", "year": 1999},
    {"flow": "sinba", "year": "2024x"},
])
def test_bad_parameters_are_400_and_change_nothing(manager, db, params):
    before = db.one("SELECT count(*) FROM sinba_state") + db.one("SELECT count(*) FROM flow_record")
    r = manager.get(manager.base_url + URL, params=params, timeout=HTTP_TIMEOUT)
    body = is_problem(r, 400)
    assert "flow" in body["detail"] or "year" in body["detail"]
    assert db.one("SELECT count(*) FROM sinba_state") + \
        db.one("SELECT count(*) FROM flow_record") == before
