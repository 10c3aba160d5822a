"""Cases (cartelle) and what hangs off them: the life cycle with its history,
assignments, the diary, SINA/SINBA/generic assessments, care plans and
front-office contacts. Free text is encrypted at rest, the administrative
role never reads notes or assessment free text, other Comuni's ids are 404."""
import datetime
import uuid

import pytest

import fiscal
from conftest import ASSAGO, CORSICO, error_fields, is_problem

CASES = "/api/v1/cases"
CONTACTS = "/api/v1/access-contacts"
T = 30


def today():
    return datetime.datetime.now(datetime.timezone.utc).date()


def iso(d):
    return d.isoformat()


class Team:
    """Logged-in staff of Corsico (and one of Assago), shared by the module:
    every test works on people and cases of its own."""

    def __init__(self, make_user, login):
        def session(tenant, role):
            u, p = make_user(tenant, role)
            s = login(u, p, tenant)
            s.username = u
            s.user_id = s.login_body["user"]["id"]
            return s

        self.sw = session(CORSICO, "social_worker")
        self.sw2 = session(CORSICO, "social_worker")
        self.sm = session(CORSICO, "service_manager")
        self.adm = session(CORSICO, "administrative")
        self.foreign = session(ASSAGO, "social_worker")


@pytest.fixture(scope="module")
def team(make_user, login):
    return Team(make_user, login)


def url(s, path):
    return s.base_url + path


def new_person(s, birth="1980-01-01", sex="M"):
    r = s.post(url(s, "/api/v1/persons"), json=fiscal.person(sex=sex, birth=birth), timeout=T)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def open_case(s, person_id=None, **body):
    body.setdefault("person_id", person_id or new_person(s))
    r = s.post(url(s, CASES), json=body, timeout=T)
    assert r.status_code == 201, r.text
    return r.json()


def patch(s, path, body, etag=None):
    headers = {"If-Match": etag} if etag else {}
    return s.patch(url(s, path), json=body, headers=headers, timeout=T)


def etag_of(s, path):
    r = s.get(url(s, path), timeout=T)
    assert r.status_code == 200, r.text
    return r.headers["ETag"]


def move(s, case_id, body):
    """PATCH the case with its current ETag; returns the response."""
    path = CASES + "/" + case_id
    return patch(s, path, body, etag_of(s, path))


def case_rows(db, person_id):
    return db.one("SELECT count(*) FROM social_case WHERE person_id = %s", (person_id,))


# ---------------------------------------------------------------- life cycle

def test_open_a_case_and_walk_every_state(team):
    s = team.sw
    pid = new_person(s)
    r = s.post(url(s, CASES), json={"person_id": pid}, timeout=T)
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["Location"] == CASES + "/" + c["id"]
    assert r.headers["ETag"] == '"1"'
    assert c["status"] == "access" and c["opened_on"] == iso(today())
    assert c["next_statuses"] == ["assessment", "closed"]
    assert c["closed_on"] is None and c["closure_reason"] is None and c["sealed"] is False
    assert [(h["from"], h["to"]) for h in c["status_history"]] == [(None, "access")]

    r = move(s, c["id"], {"status": "assessment"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "assessment" and r.headers["ETag"] == '"2"'
    r = move(s, c["id"], {"status": "in_charge", "area": "2"})
    assert r.status_code == 200, r.text
    assert r.json()["area"] == "2" and r.json()["next_statuses"] == ["closed"]
    r = move(s, c["id"], {"status": "closed", "closure_reason": "obiettivi_raggiunti"})
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["closed_on"] == iso(today())
    assert closed["closure_reason"] == "obiettivi_raggiunti"
    assert closed["next_statuses"] == ["assessment", "in_charge"]

    # Reopen: the closure is cleared from the case, kept in the history.
    r = move(s, c["id"], {"status": "in_charge"})
    assert r.status_code == 200, r.text
    reopened = r.json()
    assert reopened["closed_on"] is None and reopened["closure_reason"] is None
    history = reopened["status_history"]
    assert [(h["from"], h["to"]) for h in history] == [
        (None, "access"), ("access", "assessment"), ("assessment", "in_charge"),
        ("in_charge", "closed"), ("closed", "in_charge")]
    assert history[3]["closure_reason"] == "obiettivi_raggiunti"
    assert all(h["changed_by"]["username"] == s.username for h in history)
    assert all(h["changed_at"].endswith("Z") for h in history)


def test_a_case_may_close_before_the_presa_in_carico_and_reopen_to_assessment(team):
    s = team.sm
    c = open_case(s, new_person(team.sw))
    r = move(s, c["id"], {"status": "closed", "closure_reason": "rinuncia",
                          "closed_on": iso(today())})
    assert r.status_code == 200, r.text
    r = move(s, c["id"], {"status": "assessment"})
    assert r.status_code == 200 and r.json()["status"] == "assessment"


@pytest.mark.parametrize("path, body, allowed", [
    ([], {"status": "in_charge", "area": "1"}, ["assessment", "closed"]),
    (["assessment", "in_charge"], {"status": "access"}, ["closed"]),
    (["assessment", "in_charge"], {"status": "assessment"}, ["closed"]),
    (["closed"], {"status": "access"}, ["assessment", "in_charge"]),
])
def test_transitions_outside_the_life_cycle_are_409_naming_status(team, path, body, allowed):
    s = team.sw
    c = open_case(s, area="1")
    for st in path:
        extra = {"closure_reason": "altro"} if st == "closed" else {}
        assert move(s, c["id"], dict(status=st, **extra)).status_code == 200
    before = s.get(url(s, CASES + "/" + c["id"]), timeout=T).json()
    r = move(s, c["id"], body)
    problem = is_problem(r, 409)
    assert problem["errors"][0]["field"] == "status"
    assert problem["errors"][0]["rule"] == "transition"
    assert problem["allowed_statuses"] == allowed
    for a in allowed:
        assert a in problem["errors"][0]["message"]
    assert s.get(url(s, CASES + "/" + c["id"]), timeout=T).json() == before


def test_closing_needs_a_known_reason_and_a_date_not_before_the_opening(team, db):
    s = team.sw
    opened = today() - datetime.timedelta(days=10)
    c = open_case(s, opened_on=iso(opened))
    for body, field, rule in [
        ({"status": "closed"}, "closure_reason", "required"),
        ({"status": "closed", "closure_reason": None}, "closure_reason", "required"),
        ({"status": "closed", "closure_reason": "stanco"}, "closure_reason", "unknown"),
        ({"status": "closed", "closure_reason": "altro",
          "closed_on": iso(opened - datetime.timedelta(days=1))}, "closed_on", "range"),
        ({"status": "closed", "closure_reason": "altro",
          "closed_on": iso(today() + datetime.timedelta(days=1))}, "closed_on", "range"),
        ({"status": "closed", "closure_reason": "altro", "closed_on": "2024-02-30"},
         "closed_on", "calendar"),
        ({"closure_reason": "altro"}, "closure_reason", "state"),
        ({"status": "assessment", "closed_on": iso(today())}, "closed_on", "state"),
    ]:
        r = move(s, c["id"], body)
        p = is_problem(r, 400)
        assert (field, rule) in [(e["field"], e["rule"]) for e in p["errors"]], (body, p)
    assert db.one("SELECT status || version FROM social_case WHERE id = %s", (c["id"],)) == "access1"
    assert db.one("SELECT count(*) FROM case_status_history WHERE case_id = %s", (c["id"],)) == 1
    r = move(s, c["id"], {"status": "closed", "closure_reason": "trasferimento",
                          "closed_on": iso(opened)})
    assert r.status_code == 200 and r.json()["closed_on"] == iso(opened)


def test_the_presa_in_carico_needs_a_siuss_user_area(team):
    s = team.sw
    c = open_case(s)
    assert move(s, c["id"], {"status": "assessment"}).status_code == 200
    p = is_problem(move(s, c["id"], {"status": "in_charge"}), 400)
    assert ("area", "required") in [(e["field"], e["rule"]) for e in p["errors"]]
    p = is_problem(move(s, c["id"], {"status": "in_charge", "area": "FAM"}), 400)
    assert ("area", "unknown") in [(e["field"], e["rule"]) for e in p["errors"]]
    r = move(s, c["id"], {"status": "in_charge", "area": "3"})
    assert r.status_code == 200 and r.json()["area"] == "3"
    p = is_problem(move(s, c["id"], {"area": None}), 400)
    assert "area" in error_fields(p)


def test_one_open_case_per_person(team):
    s = team.sw
    pid = new_person(s)
    first = open_case(s, pid)
    r = s.post(url(s, CASES), json={"person_id": pid}, timeout=T)
    p = is_problem(r, 409)
    assert p["existing_id"] == first["id"]
    assert move(s, first["id"], {"status": "closed", "closure_reason": "altro"}).status_code == 200
    second = open_case(s, pid)
    p = is_problem(move(s, first["id"], {"status": "assessment"}), 409)
    assert p["existing_id"] == second["id"]


def test_patch_needs_if_match(team):
    s = team.sw
    c = open_case(s)
    path = CASES + "/" + c["id"]
    assert is_problem(patch(s, path, {"status": "assessment"}), 428)
    assert is_problem(patch(s, path, {"status": "assessment"}, '"7"'), 412)
    assert s.get(url(s, path), timeout=T).json()["status"] == "access"
    assert patch(s, path, {"status": "assessment"}, '"1"').status_code == 200
    assert is_problem(patch(s, path, {"status": "in_charge", "area": "1"}, '"1"'), 412)


@pytest.mark.parametrize("body, field, rule", [
    ({"colour": "red"}, "colour", "unknown"),
    ({"status": "closed"}, "status", "enum"),
    ({"status": 3}, "status", "type"),
    ({"opened_on": "2025-13-01"}, "opened_on", "calendar"),
    ({"opened_on": "2999-01-01"}, "opened_on", "range"),
    ({"area": "9"}, "area", "unknown"),
    ({"status": "in_charge"}, "area", "required"),
    ({"household_id": "not-a-uuid"}, "household_id", "format"),
    ({"sealed": "yes"}, "sealed", "type"),
])
def test_bad_case_bodies_are_400_and_store_nothing(team, db, body, field, rule):
    s = team.sw
    pid = new_person(s)
    r = s.post(url(s, CASES), json=dict(body, person_id=pid), timeout=T)
    p = is_problem(r, 400)
    assert (field, rule) in [(e["field"], e["rule"]) for e in p["errors"]], p
    assert case_rows(db, pid) == 0


def test_every_failing_field_is_listed_at_once(team):
    s = team.sw
    r = s.post(url(s, CASES), json={"status": "closed", "opened_on": "x", "x": 1}, timeout=T)
    p = is_problem(r, 400)
    assert {"person_id", "status", "opened_on", "x"} <= set(error_fields(p))


def test_another_comunes_ids_are_404_in_path_body_and_filter(team, db):
    mine = open_case(team.sw)
    theirs = open_case(team.foreign)
    foreign_person = theirs["person_id"]
    s = team.sw
    for path in ("", "/assignments", "/notes", "/assessments", "/plans"):
        assert is_problem(s.get(url(s, CASES + "/" + theirs["id"] + path), timeout=T), 404), path
    assert is_problem(patch(s, CASES + "/" + theirs["id"], {"status": "assessment"}, '"1"'), 404)
    assert is_problem(s.post(url(s, CASES + "/" + theirs["id"] + "/notes"),
                             json={"body": "x"}, timeout=T), 404)
    # Body.
    p = is_problem(s.post(url(s, CASES), json={"person_id": foreign_person}, timeout=T), 404)
    assert "person_id" in error_fields(p)
    assert case_rows(db, foreign_person) == 1
    r = s.post(url(s, CONTACTS), json={"channel": "phone", "outcome": "information",
                                        "case_id": theirs["id"]}, timeout=T)
    assert "case_id" in error_fields(is_problem(r, 404))
    # Filter.
    r = s.get(url(s, CASES), params={"person_id": foreign_person}, timeout=T)
    assert "person_id" in error_fields(is_problem(r, 404))
    r = s.get(url(s, CONTACTS), params={"case_id": theirs["id"]}, timeout=T)
    assert "case_id" in error_fields(is_problem(r, 404))
    # And the other way round, by id and by list.
    f = team.foreign
    assert is_problem(f.get(url(f, CASES + "/" + mine["id"]), timeout=T), 404)
    listed = f.get(url(f, CASES), params={"limit": 500}, timeout=T).json()["items"]
    assert mine["id"] not in [c["id"] for c in listed]
    assert is_problem(s.get(url(s, CASES + "/" + str(uuid.uuid4())), timeout=T), 404)
    assert is_problem(s.get(url(s, CASES + "/nope"), timeout=T), 404)


def test_list_filters_and_pagination(team):
    s = team.sw
    a = open_case(s, area="1")
    b = open_case(s, area="2", status="assessment")
    c = open_case(s, area="2", opened_on=iso(today() - datetime.timedelta(days=400)))
    r = s.get(url(s, CASES), params={"person_id": b["person_id"]}, timeout=T)
    assert [x["id"] for x in r.json()["items"]] == [b["id"]]
    r = s.get(url(s, CASES), params={"status": "assessment", "area": "2", "limit": 500},
              timeout=T)
    ids = [x["id"] for x in r.json()["items"]]
    assert b["id"] in ids and a["id"] not in ids and c["id"] not in ids
    assert all(x["status"] == "assessment" and x["area"] == "2" for x in r.json()["items"])
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "area": "2"}
        if cursor:
            params["cursor"] = cursor
        page = s.get(url(s, CASES), params=params, timeout=T).json()
        assert len(page["items"]) <= 3
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and {b["id"], c["id"]} <= set(seen)
    for bad in ({"status": "open"}, {"area": "FAM"}, {"cursor": "zzz"}, {"limit": 0},
                {"person_id": "nope"}):
        assert is_problem(s.get(url(s, CASES), params=bad, timeout=T), 400), bad


def test_roles_without_case_access_are_refused(make_user, login, team):
    c = open_case(team.sw)
    for tenant, role in ((CORSICO, "dpo"), (CORSICO, "admin"), ("corsichese", "planning_office")):
        u, p = make_user(tenant, role)
        s = login(u, p, tenant)
        assert is_problem(s.get(url(s, CASES), timeout=T), 403), role
        assert is_problem(s.get(url(s, CASES + "/" + c["id"]), timeout=T), 403), role
        assert is_problem(s.get(url(s, CONTACTS), timeout=T), 403), role
    adm = team.adm
    assert adm.get(url(adm, CASES + "/" + c["id"]), timeout=T).status_code == 200
    assert is_problem(adm.post(url(adm, CASES), json={"person_id": c["person_id"]},
                               timeout=T), 403)


# ---------------------------------------------------------------- assignments

def test_assignments(team):
    sw, sw2, sm, adm = team.sw, team.sw2, team.sm, team.adm
    c = open_case(sw)
    base = CASES + "/" + c["id"] + "/assignments"
    items = sw.get(url(sw, base), timeout=T).json()["items"]
    assert [(i["user"]["username"], i["role_in_case"], i["active"]) for i in items] == [
        (sw.username, "case_manager", True)]

    # A social worker not assigned to the case may not assign on it.
    r = sw2.post(url(sw2, base), json={"user_id": sw2.user_id, "role_in_case": "co_worker"},
                 timeout=T)
    assert is_problem(r, 403)
    # The service manager may; the assigned worker may too.
    r = sm.post(url(sm, base), json={"user_id": sw2.user_id, "role_in_case": "co_worker"},
                timeout=T)
    assert r.status_code == 201, r.text
    co = r.json()
    assert r.headers["Location"] == base + "/" + co["id"]
    assert co["valid_from"] == iso(today()) and co["valid_to"] is None and co["active"]
    r = sw.post(url(sw, base), json={"user_id": adm.user_id, "role_in_case": "administrative"},
                timeout=T)
    assert r.status_code == 201, r.text
    # The same role twice over overlapping periods.
    r = sm.post(url(sm, base), json={"user_id": sw2.user_id, "role_in_case": "co_worker",
                                     "valid_from": iso(today() + datetime.timedelta(days=5))},
                timeout=T)
    assert is_problem(r, 409)["existing_id"] == co["id"]
    # Roles that do not fit, users of other Comuni, bad dates.
    for body, status, field in [
        ({"user_id": adm.user_id, "role_in_case": "case_manager"}, 400, "user_id"),
        ({"user_id": team.foreign.user_id, "role_in_case": "co_worker"}, 404, "user_id"),
        ({"user_id": str(uuid.uuid4()), "role_in_case": "co_worker"}, 404, "user_id"),
        ({"user_id": sw2.user_id, "role_in_case": "boss"}, 400, "role_in_case"),
        ({"user_id": sw2.user_id, "role_in_case": "case_manager", "valid_from": "2025-05-05",
          "valid_to": "2025-05-04"}, 400, "valid_to"),
        ({"role_in_case": "co_worker"}, 400, "user_id"),
    ]:
        p = is_problem(sm.post(url(sm, base), json=body, timeout=T), status)
        if field:
            assert field in error_fields(p), (body, p)
    assert len(sw.get(url(sw, base), timeout=T).json()["items"]) == 3
    assert adm.get(url(adm, base), timeout=T).status_code == 200
    assert is_problem(adm.post(url(adm, base), json={"user_id": adm.user_id,
                                                     "role_in_case": "administrative"},
                               timeout=T), 403)

    # End the co-worker's assignment: not before it began; today it is still active.
    path = base + "/" + co["id"]
    assert is_problem(patch(sm, path, {"valid_to": iso(today())}), 428)
    assert is_problem(patch(sm, path, {"valid_to": iso(today())}, '"9"'), 412)
    p = is_problem(patch(sm, path, {"valid_to": iso(today() - datetime.timedelta(days=3))},
                         '"1"'), 400)
    assert ("valid_to", "range") in [(e["field"], e["rule"]) for e in p["errors"]]
    r = patch(sm, path, {"valid_to": iso(today())}, '"1"')
    assert r.status_code == 200 and r.json()["valid_to"] == iso(today()) and r.json()["active"]
    assert r.headers["ETag"] == '"2"'


def test_assignments_on_a_closed_case_are_refused(team):
    c = open_case(team.sm, new_person(team.sw))
    assert move(team.sm, c["id"], {"status": "closed", "closure_reason": "decesso"}).status_code == 200
    r = team.sm.post(url(team.sm, CASES + "/" + c["id"] + "/assignments"),
                     json={"user_id": team.sw2.user_id, "role_in_case": "co_worker"}, timeout=T)
    assert is_problem(r, 409)


# ---------------------------------------------------------------- diary

def test_notes_are_stored_encrypted_and_read_back(team, db):
    s = team.sw
    c = open_case(s)
    base = CASES + "/" + c["id"] + "/notes"
    text = "Colloquio con la signora Zebedea Fantoccini: riferisce difficoltà col figlio."
    r = s.post(url(s, base), json={"body": text}, timeout=T)
    assert r.status_code == 201, r.text
    n = r.json()
    assert r.headers["Location"] == base + "/" + n["id"]
    assert n["body"] == text and n["confidentiality"] == "normal"
    assert n["author"]["username"] == s.username and n["written_on"].endswith("Z")
    assert s.get(url(s, base + "/" + n["id"]), timeout=T).json() == n
    assert s.get(url(s, base), timeout=T).json()["items"] == [n]
    # A retried POST with the same Idempotency-Key writes nothing more.
    key = "note-" + uuid.uuid4().hex
    first = s.post(url(s, base), json={"body": "bis"}, headers={"Idempotency-Key": key},
                   timeout=T)
    again = s.post(url(s, base), json={"body": "bis"}, headers={"Idempotency-Key": key},
                   timeout=T)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert db.one("SELECT count(*) FROM case_note WHERE case_id = %s", (c["id"],)) == 2
    row = db.all("SELECT n::text FROM case_note n WHERE id = %s", (n["id"],))[0][0]
    assert "Zebedea" not in row and "Fantoccini" not in row and "Colloquio" not in row
    assert db.one("SELECT length(body_enc) > %s FROM case_note WHERE id = %s",
                  (len(text.encode()), n["id"]))


def test_administrative_never_reads_notes(team):
    c = open_case(team.sw)
    base = CASES + "/" + c["id"] + "/notes"
    n = team.sw.post(url(team.sw, base), json={"body": "riservato"}, timeout=T).json()
    adm = team.adm
    assert is_problem(adm.get(url(adm, base), timeout=T), 403)
    assert is_problem(adm.get(url(adm, base + "/" + n["id"]), timeout=T), 403)
    assert is_problem(adm.post(url(adm, base), json={"body": "x"}, timeout=T), 403)


def test_confidential_notes_are_for_author_assigned_workers_and_managers(team):
    sw, sw2, sm = team.sw, team.sw2, team.sm
    c = open_case(sw)
    base = CASES + "/" + c["id"] + "/notes"
    secret = sw.post(url(sw, base), json={"body": "segreto", "confidentiality": "confidential"},
                     timeout=T).json()
    plain = sw.post(url(sw, base), json={"body": "ordinario"}, timeout=T).json()
    assert [i["id"] for i in sw2.get(url(sw2, base), timeout=T).json()["items"]] == [plain["id"]]
    assert is_problem(sw2.get(url(sw2, base + "/" + secret["id"]), timeout=T), 404)
    assert {i["id"] for i in sm.get(url(sm, base), timeout=T).json()["items"]} == {
        secret["id"], plain["id"]}
    # Once assigned, the colleague sees it.
    r = sm.post(url(sm, CASES + "/" + c["id"] + "/assignments"),
                json={"user_id": sw2.user_id, "role_in_case": "co_worker"}, timeout=T)
    assert r.status_code == 201
    assert sw2.get(url(sw2, base + "/" + secret["id"]), timeout=T).json()["body"] == "segreto"


def test_bad_notes_are_refused(team, db):
    s = team.sw
    c = open_case(s)
    base = CASES + "/" + c["id"] + "/notes"
    for body, field in [({}, "body"), ({"body": "   "}, "body"), ({"body": 3}, "body"),
                        ({"body": "x", "confidentiality": "secret"}, "confidentiality"),
                        ({"body": "x", "written_on": "2025-01-01"}, "written_on"),
                        ({"body": "x" * 20001}, "body")]:
        assert field in error_fields(is_problem(s.post(url(s, base), json=body, timeout=T),
                                                400)), body
    assert db.one("SELECT count(*) FROM case_note WHERE case_id = %s", (c["id"],)) == 0


def test_notes_page_newest_first(team):
    s = team.sw
    c = open_case(s)
    base = CASES + "/" + c["id"] + "/notes"
    ids = [s.post(url(s, base), json={"body": "nota %d" % i}, timeout=T).json()["id"]
           for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = s.get(url(s, base), params=params, timeout=T).json()
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    assert seen[0] == ids[-1]


# ---------------------------------------------------------------- assessments

SINA = {
    "mobilita": "2", "attivita_vita_quotidiana": "3", "disturbi_area_cognitiva": "1",
    "disturbi_comportamentali": "1", "area_reddituale": "2", "area_supporto": "3",
    "fonte_derivazione_valutazione": "1", "strumento_valutazione": "1",
    "invalidita_civile": ["2", "6"], "necessita_interventi_sociali": ["A1.01"],
}

SINBA = {
    "minore_straniero_non_accompagnato": "2", "condizione_minore": "1", "luogo_vita": "1",
    "scuola_frequentata": "2", "condizione_lavoro": "1", "disabilita": "2",
    "data_prima_segnalazione": "2024-03", "fonte_segnalazione": "1",
    "valutazione_minore": "1", "valutazione_famiglia_minore": "2",
    "segnalazione_autorita_giudiziaria": "2", "provvedimento_giudiziario": "2",
    "composizione_famiglia": ["1", "3"], "cittadinanza_madre": "380",
    "numero_componenti_isee": 3,
}


def assess(s, case_id, **body):
    return s.post(url(s, CASES + "/" + case_id + "/assessments"), json=body, timeout=T)


def assessment_count(db, case_id):
    return db.one("SELECT count(*) FROM assessment WHERE case_id = %s", (case_id,))


def test_generic_assessment_free_text_is_encrypted_and_hidden_from_administrative(team, db):
    sw, adm = team.sw, team.adm
    c = open_case(sw)
    free = "La madre, Ottorina Sgargabonzi, riferisce episodi di violenza."
    r = assess(sw, c["id"], kind="generic", assessed_on=iso(today()),
               answers={"rete_familiare": "assente", "punteggio": 7}, free_text=free)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["free_text"] == free and a["version"] == 1
    assert a["answers"] == {"rete_familiare": "assente", "punteggio": 7}
    row = db.all("SELECT a::text FROM assessment a WHERE id = %s", (a["id"],))[0][0]
    assert "Sgargabonzi" not in row and "violenza" not in row
    # Administrative: the assessment without its free text.
    base = CASES + "/" + c["id"] + "/assessments"
    seen = adm.get(url(adm, base + "/" + a["id"]), timeout=T).json()
    assert "free_text" not in seen and seen["answers"] == a["answers"]
    listed = adm.get(url(adm, base), timeout=T).json()["items"]
    assert [("free_text" in i) for i in listed] == [False]
    assert is_problem(assess(adm, c["id"], kind="generic", assessed_on=iso(today()),
                             answers={}), 403)
    assert sw.get(url(sw, base), timeout=T).json()["items"][0]["free_text"] == free


def test_sina_answers_are_validated_against_the_xsd_enumerations(team, db):
    s = team.sw
    c = open_case(s, new_person(s, birth="1940-05-05"))
    r = assess(s, c["id"], kind="sina", assessed_on=iso(today()), answers=SINA)
    assert r.status_code == 201, r.text
    assert r.json()["answers"] == SINA
    r = assess(s, c["id"], kind="sina", assessed_on=iso(today()),
               answers=dict(SINA, mobilita="1", necessita_cure_sanitarie=None))
    assert r.status_code == 201 and r.json()["version"] == 2
    assert "necessita_cure_sanitarie" not in r.json()["answers"]
    before = assessment_count(db, c["id"])
    bad = [
        (dict(SINA, colore="blu"), "answers.colore", "unknown"),
        (dict(SINA, mobilita="9"), "answers.mobilita", "unknown"),
        (dict(SINA, strumento_valutazione="8"), "answers.strumento_valutazione", "unknown"),
        (dict(SINA, mobilita=1), "answers.mobilita", "type"),
        ({k: v for k, v in SINA.items() if k != "area_supporto"}, "answers.area_supporto",
         "required"),
        (dict(SINA, invalidita_civile=["1", "99"]), "answers.invalidita_civile[1]", "unknown"),
        (dict(SINA, invalidita_civile=["1", "1"]), "answers.invalidita_civile[1]", "unique"),
        (dict(SINA, necessita_interventi_sociali=["A9.99"]),
         "answers.necessita_interventi_sociali[0]", "unknown"),
        (dict(SINA, data_prima_segnalazione="2024-01"), "answers.data_prima_segnalazione",
         "unknown"),
    ]
    for answers, field, rule in bad:
        p = is_problem(assess(s, c["id"], kind="sina", assessed_on=iso(today()),
                              answers=answers), 400)
        assert (field, rule) in [(e["field"], e["rule"]) for e in p["errors"]], (field, p)
    assert assessment_count(db, c["id"]) == before


def test_sinba_is_for_minors_only_and_validated(team, db):
    s = team.sw
    born = today().replace(year=today().year - 10, month=1, day=15)
    minor = open_case(s, new_person(s, birth=iso(born)))
    r = assess(s, minor["id"], kind="sinba", assessed_on=iso(today()), answers=SINBA)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "sinba" and r.json()["answers"]["composizione_famiglia"] == ["1", "3"]
    for answers, field, rule in [
        (dict(SINBA, luogo_vita="42"), "answers.luogo_vita", "unknown"),
        (dict(SINBA, scuola_frequentata="9"), "answers.scuola_frequentata", "unknown"),
        (dict(SINBA, composizione_famiglia=["7"]), "answers.composizione_famiglia[0]", "unknown"),
        (dict(SINBA, data_prima_segnalazione="03/2024"), "answers.data_prima_segnalazione",
         "format"),
        (dict(SINBA, data_prima_segnalazione="2999-01"), "answers.data_prima_segnalazione",
         "format"),
        (dict(SINBA, data_prima_segnalazione="%d-01" % (today().year + 1)),
         "answers.data_prima_segnalazione", "range"),
        (dict(SINBA, cittadinanza_madre="999"), "answers.cittadinanza_madre", "unknown"),
        (dict(SINBA, numero_componenti_isee=12), "answers.numero_componenti_isee", "range"),
        (dict(SINBA, mobilita="1"), "answers.mobilita", "unknown"),
        ({k: v for k, v in SINBA.items() if k != "valutazione_minore"},
         "answers.valutazione_minore", "required"),
    ]:
        p = is_problem(assess(s, minor["id"], kind="sinba", assessed_on=iso(today()),
                              answers=answers), 400)
        assert (field, rule) in [(e["field"], e["rule"]) for e in p["errors"]], (field, p)
    # An adult, and an assessment dated before the person was born.
    adult = open_case(s, new_person(s, birth="1980-01-01"))
    p = is_problem(assess(s, adult["id"], kind="sinba", assessed_on=iso(today()),
                          answers=SINBA), 400)
    assert ("kind", "minor") in [(e["field"], e["rule"]) for e in p["errors"]]
    eighteen = today().replace(year=today().year - 18) - datetime.timedelta(days=1)
    just_adult = open_case(s, new_person(s, birth=iso(eighteen)))
    p = is_problem(assess(s, just_adult["id"], kind="sinba", assessed_on=iso(today()),
                          answers=SINBA), 400)
    assert "kind" in error_fields(p)
    p = is_problem(assess(s, minor["id"], kind="sinba",
                          assessed_on=iso(born - datetime.timedelta(days=1)),
                          answers=dict(SINBA, data_prima_segnalazione="2000-01")), 400)
    assert "assessed_on" in error_fields(p)
    assert assessment_count(db, adult["id"]) == 0 and assessment_count(db, minor["id"]) == 1


@pytest.mark.parametrize("body, field, rule", [
    ({"kind": "other", "assessed_on": "2025-01-01", "answers": {}}, "kind", "enum"),
    ({"kind": "generic", "assessed_on": "2025-02-29", "answers": {}}, "assessed_on", "calendar"),
    ({"kind": "generic", "assessed_on": "2999-01-01", "answers": {}}, "assessed_on", "range"),
    ({"kind": "generic", "assessed_on": "2025-01-01", "answers": []}, "answers", "type"),
    ({"kind": "generic", "assessed_on": "2025-01-01", "answers": {"a": {"b": 1}}},
     "answers.a", "type"),
    ({"kind": "generic", "assessed_on": "2025-01-01", "answers": {"a": "x" * 201}},
     "answers.a", "max_length"),
    ({"kind": "generic", "assessed_on": "2025-01-01", "answers": {"Bad Key": 1}},
     "answers.Bad Key", "format"),
    ({"kind": "generic", "assessed_on": "2025-01-01", "answers": {}, "score": 1},
     "score", "unknown"),
])
def test_bad_assessments_are_400(team, db, body, field, rule):
    s = team.sw
    c = open_case(s)
    p = is_problem(s.post(url(s, CASES + "/" + c["id"] + "/assessments"), json=body,
                          timeout=T), 400)
    assert (field, rule) in [(e["field"], e["rule"]) for e in p["errors"]], p
    assert assessment_count(db, c["id"]) == 0


def test_assessments_and_plans_need_an_open_case(team):
    s = team.sw
    c = open_case(s)
    assert move(s, c["id"], {"status": "closed", "closure_reason": "altro"}).status_code == 200
    r = assess(s, c["id"], kind="generic", assessed_on=iso(today()), answers={})
    assert is_problem(r, 409)["errors"][0]["field"] == "status"
    r = s.post(url(s, CASES + "/" + c["id"] + "/plans"),
               json={"kind": "personalised", "goals": [{"text": "x"}],
                     "start_on": iso(today())}, timeout=T)
    assert is_problem(r, 409)
    # Notes may still be written after the closure.
    r = s.post(url(s, CASES + "/" + c["id"] + "/notes"), json={"body": "dopo"}, timeout=T)
    assert r.status_code == 201


# ---------------------------------------------------------------- plans

def test_plans_with_outcome_and_follow_up(team, db):
    s, adm = team.sw, team.adm
    c = open_case(s)
    base = CASES + "/" + c["id"] + "/plans"
    start = today() - datetime.timedelta(days=300)
    goals = [{"text": "Trovare lavoro per Gervasio Pappalardini", "target_on": iso(start + datetime.timedelta(days=90))},
             {"text": "Regolarizzare l'affitto", "target_on": None}]
    r = s.post(url(s, base), json={"kind": "family_project", "goals": goals,
                                   "start_on": iso(start)}, timeout=T)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["goals"] == goals and plan["outcome"] is None and r.headers["ETag"] == '"1"'
    row = db.all("SELECT p::text FROM care_plan p WHERE id = %s", (plan["id"],))[0][0]
    assert "Pappalardini" not in row and "affitto" not in row
    path = base + "/" + plan["id"]
    assert is_problem(patch(s, path, {"outcome": "achieved"}), 428)
    assert is_problem(patch(s, path, {"outcome": "achieved"}, '"5"'), 412)
    end = start + datetime.timedelta(days=180)
    for body, field, rule in [
        ({"outcome": "achieved"}, "outcome", "required_with"),
        ({"outcome": "great", "end_on": iso(end)}, "outcome", "enum"),
        ({"end_on": iso(start - datetime.timedelta(days=1))}, "end_on", "range"),
        ({"end_on": iso(end), "follow_up_on": iso(end - datetime.timedelta(days=1))},
         "follow_up_on", "range"),
        ({"follow_up_outcome": "out_of_poverty"}, "follow_up_outcome", "required_with"),
        ({"end_on": iso(end), "follow_up_on": iso(today() + datetime.timedelta(days=30)),
          "follow_up_outcome": "no_change"}, "follow_up_outcome", "range"),
        ({"goals": []}, "goals", "items"),
        ({"goals": [{"text": ""}]}, "goals[0].text", "min_length"),
        ({"kind": "life_project"}, "kind", "unknown"),
    ]:
        p = is_problem(patch(s, path, body, '"1"'), 400)
        assert (field, rule) in [(e["field"], e["rule"]) for e in p["errors"]], (body, p)
    r = patch(s, path, {"end_on": iso(end), "outcome": "partly_achieved"}, '"1"')
    assert r.status_code == 200, r.text
    follow = end + datetime.timedelta(days=100)
    r = patch(s, path, {"follow_up_on": iso(follow), "follow_up_outcome": "out_of_poverty"},
              r.headers["ETag"])
    assert r.status_code == 200, r.text
    final = r.json()
    assert (final["end_on"], final["outcome"], final["follow_up_on"],
            final["follow_up_outcome"], final["version"]) == (
        iso(end), "partly_achieved", iso(follow), "out_of_poverty", 3)
    assert final["goals"] == goals
    # Administrative reads plans, does not write them.
    assert adm.get(url(adm, path), timeout=T).json() == final
    assert is_problem(patch(adm, path, {"outcome": "achieved"}, '"3"'), 403)
    assert [p["id"] for p in s.get(url(s, base), timeout=T).json()["items"]] == [plan["id"]]
    # The follow-up happens after the case is closed, too.
    assert move(s, c["id"], {"status": "closed", "closure_reason": "obiettivi_raggiunti"}).status_code == 200
    r = patch(s, path, {"follow_up_outcome": "improved_quality_of_life"}, '"3"')
    assert r.status_code == 200 and r.json()["follow_up_outcome"] == "improved_quality_of_life"


@pytest.mark.parametrize("body, field, rule", [
    ({"goals": [{"text": "x"}], "start_on": "2025-01-01"}, "kind", "required"),
    ({"kind": "plan", "goals": [{"text": "x"}], "start_on": "2025-01-01"}, "kind", "enum"),
    ({"kind": "personalised", "start_on": "2025-01-01"}, "goals", "required"),
    ({"kind": "personalised", "goals": ["x"], "start_on": "2025-01-01"}, "goals[0]", "type"),
    ({"kind": "personalised", "goals": [{"text": "x", "who": 1}], "start_on": "2025-01-01"},
     "goals[0].who", "unknown"),
    ({"kind": "personalised", "goals": [{"text": "x", "target_on": "2025-02-31"}],
      "start_on": "2025-01-01"}, "goals[0].target_on", "calendar"),
    ({"kind": "personalised", "goals": [{"text": "x"}], "start_on": "2025-01-01",
      "end_on": "2024-12-31"}, "end_on", "range"),
])
def test_bad_plans_are_400(team, db, body, field, rule):
    s = team.sw
    c = open_case(s)
    p = is_problem(s.post(url(s, CASES + "/" + c["id"] + "/plans"), json=body, timeout=T), 400)
    assert (field, rule) in [(e["field"], e["rule"]) for e in p["errors"]], p
    assert db.one("SELECT count(*) FROM care_plan WHERE case_id = %s", (c["id"],)) == 0


# ---------------------------------------------------------------- access contacts

def test_access_contacts_anonymous_and_linked(team, db):
    adm, sw = team.adm, team.sw
    request = "Chiede informazioni per il padre, Sigismondo Vattelapesca, non autosufficiente"
    r = adm.post(url(adm, CONTACTS), json={"channel": "phone", "outcome": "information",
                                            "request": request, "area": "2"}, timeout=T)
    assert r.status_code == 201, r.text
    anon = r.json()
    assert r.headers["Location"] == CONTACTS + "/" + anon["id"]
    assert anon["person_id"] is None and anon["case_id"] is None
    assert anon["request"] == request and anon["contact_on"] == iso(today())
    row = db.all("SELECT a::text FROM access_contact a WHERE id = %s", (anon["id"],))[0][0]
    assert "Vattelapesca" not in row and "informazioni" not in row

    c = open_case(sw)
    r = sw.post(url(sw, CONTACTS), json={"channel": "front_office", "outcome": "case_opened",
                                          "case_id": c["id"],
                                          "contact_on": iso(today() - datetime.timedelta(days=2))},
                timeout=T)
    assert r.status_code == 201, r.text
    linked = r.json()
    assert linked["person_id"] == c["person_id"] and linked["case_id"] == c["id"]
    assert linked["request"] is None
    r = sw.get(url(sw, CONTACTS), params={"case_id": c["id"]}, timeout=T)
    assert [x["id"] for x in r.json()["items"]] == [linked["id"]]
    r = sw.get(url(sw, CONTACTS), params={"person_id": c["person_id"]}, timeout=T)
    assert [x["id"] for x in r.json()["items"]] == [linked["id"]]
    assert adm.get(url(adm, CONTACTS + "/" + anon["id"]), timeout=T).json() == anon

    other = new_person(sw)
    count = db.one("SELECT count(*) FROM access_contact")
    for body, status, field in [
        ({"channel": "phone", "outcome": "case_opened"}, 400, "case_id"),
        ({"channel": "fax", "outcome": "none"}, 400, "channel"),
        ({"channel": "phone", "outcome": "maybe"}, 400, "outcome"),
        ({"channel": "phone", "outcome": "none", "contact_on": "2999-01-01"}, 400, "contact_on"),
        ({"channel": "phone", "outcome": "none", "area": "ELD"}, 400, "area"),
        ({"channel": "phone", "outcome": "referral", "person_id": other, "case_id": c["id"]},
         400, "case_id"),
        ({"channel": "phone", "outcome": "none", "person_id": team_foreign_person(team)}, 404,
         "person_id"),
        ({"outcome": "none", "nome": "Mario"}, 400, "nome"),
    ]:
        p = is_problem(sw.post(url(sw, CONTACTS), json=body, timeout=T), status)
        assert field in error_fields(p), (body, p)
    assert db.one("SELECT count(*) FROM access_contact") == count
    assert is_problem(sw.get(url(sw, CONTACTS), params={"outcome": "x"}, timeout=T), 400)


def team_foreign_person(team):
    return new_person(team.foreign)
