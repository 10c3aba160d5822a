"""Issue 3's 'done when', end to end through the API alone: a household of four
with ISEE, a case for one member, assessment, plan, periodic and one-off
interventions with funding, notes, closure — all read back decrypted, none of
it in clear in the database."""
import os
import subprocess
import uuid

import fiscal
from conftest import CORSICO


def ok(r, status):
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:800])
    return r.json() if r.content else None


def test_a_family_from_registration_to_closure(make_user, login):
    u, p = make_user(CORSICO, "social_worker")
    s = login(u, p, CORSICO)
    api = s.base_url + "/api/v1"
    tag = uuid.uuid4().hex[:6]

    # Four people: two parents and two children.
    bodies = [
        fiscal.person("M", "1979-05-12", "F205", surname="Brambilla" + tag, given_name="Carlo"),
        fiscal.person("F", "1982-09-30", "D045", surname="Brambilla" + tag, given_name="Luisa"),
        fiscal.person("F", "2012-01-17", "D045", surname="Brambilla" + tag, given_name="Giada"),
        fiscal.person("M", "2015-11-03", "D045", surname="Brambilla" + tag, given_name="Tommaso"),
    ]
    people = [ok(s.post(api + "/persons", json=b), 201) for b in bodies]
    hh = ok(s.post(api + "/households", json={"label": "Famiglia Brambilla " + tag}), 201)
    for i, (person, relation) in enumerate(zip(people, ("1", "2", "3", "3"))):
        ok(s.post(api + "/households/%s/members" % hh["id"],
                  json={"person_id": person["id"], "relation": relation, "head": i == 0,
                        "valid_from": "2020-01-01"}), 201)
    dsu = "INPS-ISEE-2024-%08dB-01" % (int(tag, 16) % 100000000)
    ok(s.post(api + "/isee", json={
        "household_id": hh["id"], "dsu_protocol": dsu, "year": 2024, "signed_on": "2024-02-10",
        "indicator_type": "ordinario", "value": "9120.55", "valid_from": "2024-02-10",
        "valid_to": "2024-12-31"}), 201)

    # A case for the elder child.
    child = people[2]
    case = ok(s.post(api + "/cases", json={"person_id": child["id"], "household_id": hh["id"],
                                           "area": "1", "opened_on": "2024-03-01"}), 201)
    url = api + "/cases/" + case["id"]
    case = ok(s.patch(url, json={"status": "assessment"},
                      headers={"If-Match": '"%d"' % case["version"]}), 200)
    ok(s.post(url + "/assessments", json={
        "kind": "generic", "assessed_on": "2024-03-15",
        "answers": {"bisogno_principale": "sostegno educativo"},
        "free_text": "Giada fatica a scuola dopo la separazione " + tag}), 201)
    case = ok(s.patch(url, json={"status": "in_charge"},
                      headers={"If-Match": '"%d"' % case["version"]}), 200)
    plan = ok(s.post(url + "/plans", json={
        "kind": "family_project", "goals": [{"text": "Sostegno scolastico per Giada " + tag}],
        "start_on": "2024-04-01", "end_on": "2024-12-31"}), 201)
    assert plan["goals"][0]["text"].endswith(tag)

    services = ok(s.get(api + "/services", params={"limit": 100}), 200)["items"]
    periodic = next(x for x in services if x["nature"] in ("periodic", "both"))
    one_off = next(x for x in services if x["nature"] in ("one_off", "both"))
    iv1 = ok(s.post(api + "/interventions", json={
        "case_id": case["id"], "beneficiary_id": child["id"], "service": periodic["id"],
        "nature": "periodic", "start_date": "2024-04-01", "end_date": "2024-12-31",
        "monthly_amount": "350.00", "hours_per_month": "10.00", "means_test": 1, "dsu": dsu,
        "funding": [{"channel": "comune", "amount": "300.00"},
                    {"channel": "utenza", "amount": "50.00"}],
        "management": "associated", "in_charge": True, "user_area": 1}), 201)
    iv2 = ok(s.post(api + "/interventions", json={
        "case_id": case["id"], "beneficiary_id": child["id"], "service": one_off["id"],
        "nature": "one_off", "delivery_date": "2024-09-01", "total_amount": "480.50",
        "means_test": 1, "dsu": dsu,
        "funding": [{"channel": "comune", "amount": "480.50"}],
        "management": "single", "in_charge": True, "user_area": 1}), 201)
    note_text = "Colloquio con la madre Luisa " + tag
    ok(s.post(url + "/notes", json={"body": note_text, "confidentiality": "normal"}), 201)
    case = ok(s.patch(url, json={"status": "closed", "closure_reason": "obiettivi_raggiunti",
                                 "closed_on": "2025-01-15"},
                      headers={"If-Match": '"%d"' % case["version"]}), 200)
    assert case["status"] == "closed" and case["closed_on"] == "2025-01-15"

    # Everything reads back decrypted.
    for b, person in zip(bodies, people):
        got = ok(s.get(api + "/persons/" + person["id"]), 200)
        assert got["fiscal_code"] == b["fiscal_code"] and got["surname"] == b["surname"]
    notes = ok(s.get(url + "/notes"), 200)["items"]
    assert [n["body"] for n in notes] == [note_text]
    ivs = ok(s.get(api + "/interventions", params={"case_id": case["id"]}), 200)["items"]
    assert {iv["id"] for iv in ivs} == {iv1["id"], iv2["id"]}
    got = next(iv for iv in ivs if iv["id"] == iv1["id"])
    assert got["monthly_amount"] == "350.00"
    assert sorted((f["channel"], f["amount"]) for f in got["funding"]) == \
        [("comune", "300.00"), ("utenza", "50.00")]
    assessments = ok(s.get(url + "/assessments"), 200)["items"]
    assert assessments[0]["free_text"].endswith(tag)

    # The database holds none of it in clear.
    dump = subprocess.run(["pg_dump", "--data-only", "--dbname",
                           os.environ["CARTELLA_PG_SUPERUSER_URL"]],
                          capture_output=True, text=True, timeout=300)
    assert dump.returncode == 0, dump.stderr
    for secret in [b["fiscal_code"] for b in bodies] + ["Brambilla" + tag, note_text,
                                                        "separazione " + tag,
                                                        "Sostegno scolastico per Giada",
                                                        bodies[0]["address"]["line"]]:
        assert secret not in dump.stdout, secret
