"""Sealed cases and break-glass (DESIGN §5.2, schema/012_sealed.sql): a sealed
case and every row hanging off it exist only for the workers assigned to it,
the service managers and the holder of an unexpired break-glass grant; to
anyone else they are 404 and absent from lists, enforced by row-level
security. Grants flag the audit trail and wait for the manager's review."""
import datetime
import uuid

import pytest

import fiscal
from conftest import ASSAGO, CORSICO, error_fields, is_problem

CASES = "/api/v1/cases"
REVIEWS = "/api/v1/break-glass-reviews"
T = 30
REASON = "Pronto soccorso: la persona è arrivata ferita, serve il piano di protezione."
SUBS = ("", "/assignments", "/notes", "/assessments", "/plans")


class Team:
    def __init__(self, make_user, login):
        def session(tenant, role):
            u, p = make_user(tenant, role)
            s = login(u, p, tenant)
            s.username = u
            s.user_id = s.login_body["user"]["id"]
            return s

        self.sw = session(CORSICO, "social_worker")        # opens the cases: assigned
        self.other = session(CORSICO, "social_worker")     # not assigned
        self.sm = session(CORSICO, "service_manager")
        self.sm2 = session(CORSICO, "service_manager")
        self.adm = session(CORSICO, "administrative")
        self.po = session(CORSICO, "planning_office")
        self.admin = session(CORSICO, "admin")
        self.foreign = session(ASSAGO, "social_worker")


@pytest.fixture(scope="module")
def team(make_user, login):
    return Team(make_user, login)


def url(s, path):
    return s.base_url + path


def get(s, path, **params):
    return s.get(url(s, path), params=params, timeout=T)


def post(s, path, body):
    return s.post(url(s, path), json=body, timeout=T)


def today():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def sealed_case(team, sealed=True):
    """A case opened by team.sw with a note, an assessment, a plan and an
    intervention: the ids of everything."""
    s = team.sw
    body = fiscal.person(sex="F", birth="1985-05-05")
    r = post(s, "/api/v1/persons", body)
    assert r.status_code == 201, r.text
    person = r.json()["id"]
    r = post(s, CASES, {"person_id": person, "status": "in_charge", "area": "1",
                        "sealed": sealed})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["sealed"] is sealed
    cid = case["id"]
    ids = {"case": cid, "person": person, "fiscal_code": body["fiscal_code"],
           "person_body": body}
    r = post(s, CASES + "/" + cid + "/notes", {"body": "Colloquio in luogo protetto."})
    assert r.status_code == 201, r.text
    ids["note"] = r.json()["id"]
    r = post(s, CASES + "/" + cid + "/assessments",
             {"kind": "generic", "assessed_on": today(), "answers": {"rischio": "alto"}})
    assert r.status_code == 201, r.text
    ids["assessment"] = r.json()["id"]
    r = post(s, CASES + "/" + cid + "/plans",
             {"kind": "personalised", "goals": [{"text": "Casa rifugio"}], "start_on": today()})
    assert r.status_code == 201, r.text
    ids["plan"] = r.json()["id"]
    r = post(s, "/api/v1/interventions", {
        "beneficiary_id": person, "case_id": cid, "service": "EMERG-ABIT", "nature": "one_off",
        "delivery_date": today(), "total_amount": "300.00", "means_test": 4,
        "funding": [{"channel": "comune", "amount": "300.00"}], "in_charge": False})
    assert r.status_code == 201, r.text
    ids["intervention"] = r.json()["id"]
    assignments = get(s, CASES + "/" + cid + "/assignments").json()["items"]
    ids["assignment"] = assignments[0]["id"]
    return ids


def all_case_ids(s):
    """Every case id the caller finds in the case list (all pages)."""
    seen, cursor = [], None
    while True:
        params = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = get(s, CASES, **params)
        assert r.status_code == 200, r.text
        seen += [c["id"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return seen


def assert_invisible(s, ids):
    cid = ids["case"]
    for sub in SUBS:
        assert is_problem(get(s, CASES + "/" + cid + sub), 404), sub
    for sub, key in (("/notes/", "note"), ("/assessments/", "assessment"),
                     ("/plans/", "plan"), ("/assignments/", "assignment")):
        assert is_problem(get(s, CASES + "/" + cid + sub + ids[key]), 404), sub
    assert cid not in all_case_ids(s)
    assert get(s, CASES, person_id=ids["person"]).json()["items"] == []
    assert is_problem(get(s, "/api/v1/interventions/" + ids["intervention"]), 404)
    items = get(s, "/api/v1/interventions", beneficiary_id=ids["person"]).json().get("items", [])
    assert ids["intervention"] not in [i["id"] for i in items]
    # Filtering by the hidden case finds nothing either (404 naming the filter, as for
    # an id that does not exist).
    for path in ("/api/v1/interventions", "/api/v1/access-contacts"):
        r = get(s, path, case_id=cid)
        assert "case_id" in error_fields(is_problem(r, 404)), (path, r.text)


def assert_visible(s, ids):
    cid = ids["case"]
    for sub in SUBS:
        assert get(s, CASES + "/" + cid + sub).status_code == 200, sub
    assert cid in all_case_ids(s)
    assert get(s, "/api/v1/interventions/" + ids["intervention"]).status_code == 200


def count_rows(db, ids):
    cid = ids["case"]
    return [db.one("SELECT count(*) FROM " + t + " WHERE case_id = %s", (cid,))
            for t in ("case_note", "assessment", "care_plan", "case_assignment",
                      "case_status_history", "intervention", "break_glass_grant")] + [
        db.one("SELECT version FROM social_case WHERE id = %s", (cid,))]


# ---------------------------------------------------------------- visibility

def test_sealed_case_exists_only_for_assigned_workers_and_managers(team, db):
    ids = sealed_case(team)
    assert_visible(team.sw, ids)
    assert_visible(team.sm, ids)
    assert_invisible(team.other, ids)
    # Administrative staff not assigned do not see it either.
    for sub in ("", "/assignments", "/assessments", "/plans"):
        assert is_problem(get(team.adm, CASES + "/" + ids["case"] + sub), 404), sub
    assert ids["case"] not in all_case_ids(team.adm)
    # Roles without case access are refused before the record level.
    for s in (team.po, team.admin):
        assert is_problem(get(s, CASES + "/" + ids["case"]), 403)
    # Another Comune: 404 as for any id of theirs.
    assert is_problem(get(team.foreign, CASES + "/" + ids["case"]), 404)


def test_a_normal_case_stays_visible_to_every_worker(team):
    ids = sealed_case(team, sealed=False)
    assert_visible(team.other, ids)


def test_unassigned_worker_cannot_write_under_a_sealed_case_and_nothing_changes(team, db):
    ids = sealed_case(team)
    s, cid = team.other, ids["case"]
    before = count_rows(db, ids)
    r = s.patch(url(s, CASES + "/" + cid), json={"status": "closed", "closure_reason": "altro"},
                headers={"If-Match": '"1"'}, timeout=T)
    assert is_problem(r, 404)
    assert is_problem(post(s, CASES + "/" + cid + "/notes", {"body": "intrusione"}), 404)
    assert is_problem(post(s, CASES + "/" + cid + "/assignments",
                           {"user_id": s.user_id, "role_in_case": "co_worker",
                            "valid_from": today()}), 404)
    assert is_problem(post(s, CASES + "/" + cid + "/plans",
                           {"kind": "personalised", "goals": [{"text": "x"}],
                            "start_on": today()}), 404)
    assert count_rows(db, ids) == before
    # The denials are in the audit trail, without break-glass.
    rows = db.all("SELECT outcome, break_glass FROM audit_event WHERE user_id = %s "
                  "AND object_id = %s", (s.user_id, cid))
    assert rows and all(o == 404 and not bg for o, bg in rows)


def test_only_assigned_workers_or_managers_change_the_sealed_flag(team, db):
    ids = sealed_case(team, sealed=False)
    cid = ids["case"]
    r = team.other.patch(url(team.other, CASES + "/" + cid), json={"sealed": True},
                         headers={"If-Match": '"1"'}, timeout=T)
    assert "sealed" in error_fields(is_problem(r, 403))
    assert db.one("SELECT sealed FROM social_case WHERE id = %s", (cid,)) is False
    r = team.sw.patch(url(team.sw, CASES + "/" + cid), json={"sealed": True},
                      headers={"If-Match": '"1"'}, timeout=T)
    assert r.status_code == 200 and r.json()["sealed"] is True
    assert is_problem(get(team.other, CASES + "/" + cid), 404)


def test_a_second_open_case_for_the_person_of_a_hidden_one_is_a_conflict(team, db):
    ids = sealed_case(team)
    r = post(team.other, CASES, {"person_id": ids["person"]})
    p = is_problem(r, 409)
    assert "existing_id" not in p
    assert db.one("SELECT count(*) FROM social_case WHERE person_id = %s",
                  (ids["person"],)) == 1


def test_rls_as_the_application_role_hides_the_sealed_case_and_its_rows(team, db, db_app):
    ids = sealed_case(team)
    tenant = db.tenant_id(CORSICO)

    def counts(user):
        c = db_app(tenant)
        with c.cursor() as cur:
            cur.execute("SELECT set_config('app.user', %s, true)", (user,))
            out = []
            for t, col in (("social_case", "id"), ("case_note", "case_id"),
                           ("assessment", "case_id"), ("care_plan", "case_id"),
                           ("case_assignment", "case_id"), ("case_status_history", "case_id"),
                           ("intervention", "case_id")):
                cur.execute("SELECT count(*) FROM " + t + " WHERE " + col + " = %s",
                            (ids["case"],))
                out.append(cur.fetchone()[0])
            # An UPDATE does not reach hidden rows either.
            cur.execute("UPDATE social_case SET version = version WHERE id = %s",
                        (ids["case"],))
            out.append(cur.rowcount)
        c.rollback()
        return out

    assert counts(team.other.user_id) == [0] * 8
    assert counts("") == [0] * 8  # no user: nothing sealed
    assert counts(team.sw.user_id) == [1, 1, 1, 1, 1, 1, 1, 1]
    assert counts(team.sm.user_id) == [1, 1, 1, 1, 1, 1, 1, 1]


def seal_person(s, pid, sealed=True):
    """PATCH the person's sealed flag as s (with the current ETag)."""
    path = url(s, "/api/v1/persons/" + pid)
    etag = s.get(path, timeout=T).headers["ETag"]
    return s.patch(path, json={"sealed": sealed, "reason": "Indirizzo protetto"},
                   headers={"If-Match": etag}, timeout=T)


def test_sealed_person_is_hidden_like_their_sealed_case(team):
    ids = sealed_case(team)
    r = seal_person(team.sm, ids["person"])
    assert r.status_code == 200, r.text
    assert r.json()["sealed"] is True
    path = "/api/v1/persons/" + ids["person"]
    assert get(team.sw, path).status_code == 200      # sees one of their sealed cases
    assert get(team.sm, path).status_code == 200
    assert is_problem(get(team.other, path), 404)
    assert is_problem(get(team.adm, path), 404)
    # Absent from searches too.
    found = get(team.other, "/api/v1/persons", fiscal_code=ids["fiscal_code"])
    assert found.status_code == 200 and found.json()["items"] == []
    found = get(team.sw, "/api/v1/persons", fiscal_code=ids["fiscal_code"])
    assert [p["id"] for p in found.json()["items"]] == [ids["person"]]
    # Registering the same fiscal code again is a conflict that names nobody.
    again = post(team.other, "/api/v1/persons", ids["person_body"])
    assert "existing_id" not in is_problem(again, 409)


def test_only_a_service_manager_seals_or_unseals_a_person(team, db):
    """The sealed flag of a person is the service manager's: anybody else
    setting or lifting it gets 403 naming the property, and nothing is
    written; the manager's change is kept in the rectification history."""
    body = fiscal.person()
    before = db.one("SELECT count(*) FROM person")
    for s in (team.sw, team.adm):
        r = post(s, "/api/v1/persons", dict(body, sealed=True))
        assert "sealed" in error_fields(is_problem(r, 403)), r.text
    assert db.one("SELECT count(*) FROM person") == before
    # sealed: false is what a new person is anyway: allowed to anyone.
    r = post(team.sw, "/api/v1/persons", dict(body, sealed=False))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    version = r.json()["version"]
    r = seal_person(team.sw, pid)
    assert "sealed" in error_fields(is_problem(r, 403))
    assert db.one("SELECT version FROM person WHERE id = %s", (pid,)) == version
    # The manager seals at creation and through a rectification.
    r = post(team.sm, "/api/v1/persons", dict(fiscal.person(), sealed=True))
    assert r.status_code == 201 and r.json()["sealed"] is True, r.text
    assert is_problem(get(team.sw, "/api/v1/persons/" + r.json()["id"]), 404)
    assert seal_person(team.sm, pid).status_code == 200
    assert is_problem(get(team.sw, "/api/v1/persons/" + pid), 404)
    # Hidden from the worker, the person cannot be unsealed by them (404).
    r = team.sw.patch(url(team.sw, "/api/v1/persons/" + pid),
                      json={"sealed": False, "reason": "x" * 5},
                      headers={"If-Match": '"2"'}, timeout=T)
    assert is_problem(r, 404)
    r = seal_person(team.sm, pid, False)
    assert r.status_code == 200 and r.json()["sealed"] is False
    assert get(team.sw, "/api/v1/persons/" + pid).status_code == 200
    history = get(team.sm, "/api/v1/persons/%s/history" % pid).json()["items"]
    assert [h["changed_fields"] for h in history] == [["sealed"], ["sealed"]]
    assert [h["previous"]["sealed"] for h in history] == [True, False]
    # Not a boolean: 400 naming it.
    r = post(team.sm, "/api/v1/persons", dict(fiscal.person(), sealed="yes"))
    assert "sealed" in error_fields(is_problem(r, 400))


def test_list_queries_compute_the_hidden_ids_once(team, db, db_app):
    """The restrictive policies evaluate the SECURITY DEFINER function in an
    uncorrelated subplan (once per statement, probed per row), not per row."""
    sealed_case(team)
    c = db_app(db.tenant_id(CORSICO))
    with c.cursor() as cur:
        cur.execute("SELECT set_config('app.user', %s, true)", (team.other.user_id,))
        cur.execute("EXPLAIN (COSTS OFF) SELECT * FROM case_note")
        plan = "\n".join(r[0] for r in cur.fetchall())
    c.rollback()
    assert "SubPlan" in plan and "NOT (" in plan, plan


# ---------------------------------------------------------------- break-glass

def open_grant(s, case_id, **body):
    body.setdefault("reason", REASON)
    return post(s, CASES + "/" + case_id + "/break-glass", body)


def test_break_glass_opens_the_case_flags_the_audit_and_expires(team, db, db_owner):
    ids = sealed_case(team)
    s, cid = team.other, ids["case"]
    assert_invisible(s, ids)
    r = open_grant(s, cid, minutes=5)
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["case_id"] == cid and g["minutes"] == 5 and g["expires_at"] > g["opened_at"]
    assert r.headers["Location"] == REVIEWS + "/" + g["id"]
    # The reason is stored encrypted.
    row = db.one("SELECT g::text FROM break_glass_grant g WHERE id = %s", (g["id"],))
    assert "Pronto soccorso" not in row
    assert_visible(s, ids)
    assert get(s, CASES + "/" + cid + "/notes/" + ids["note"]).status_code == 200
    events = db.all("SELECT break_glass, purpose, object_type FROM audit_event "
                    "WHERE user_id = %s AND outcome < 400 AND object_id IN (%s, %s)",
                    (s.user_id, cid, ids["intervention"]))
    assert len(events) >= 8
    assert all(bg and p == g["id"] for bg, p, _ in events), events
    assert not any(REASON in str(e) for e in events)
    # Another worker's requests are not flagged nor opened.
    assert is_problem(get(team.adm, CASES + "/" + cid), 404)
    # Expiry closes it at once.
    tenant = db.tenant_id(CORSICO)
    with db_owner.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant', %s, true)", (str(tenant),))
        cur.execute("UPDATE break_glass_grant SET opened_at = now() - interval '10 minutes', "
                    "expires_at = now() - interval '5 minutes' WHERE id = %s", (g["id"],))
    db_owner.commit()
    assert_invisible(s, ids)
    late = db.all("SELECT break_glass FROM audit_event WHERE user_id = %s AND object_id = %s "
                  "AND outcome = 404", (s.user_id, cid))
    assert late and not any(bg for (bg,) in late)


def test_break_glass_bad_input_and_wrong_cases(team, db):
    ids = sealed_case(team)
    s, cid = team.other, ids["case"]
    before = db.one("SELECT count(*) FROM break_glass_grant")
    path = CASES + "/" + cid + "/break-glass"
    for body, field in (({"reason": "troppo breve"}, "reason"),
                        ({}, "reason"),
                        ({"reason": "x" * 1001}, "reason"),
                        ({"reason": " " * 25}, "reason"),
                        ({"reason": REASON, "minutes": 0}, "minutes"),
                        ({"reason": REASON, "minutes": 31}, "minutes"),
                        ({"reason": REASON, "minutes": "x"}, "minutes"),
                        ({"reason": REASON, "case": cid}, "case")):
        r = post(s, path, body)
        assert field in error_fields(is_problem(r, 400)), (body, r.text)
    r = s.post(url(s, path), data="{not json", headers={"Content-Type": "application/json"},
               timeout=T)
    assert is_problem(r, 400)
    assert is_problem(open_grant(s, str(uuid.uuid4())), 404)
    assert is_problem(open_grant(s, "not-a-uuid"), 404)
    foreign = post(team.foreign, "/api/v1/persons", fiscal.person())
    fcase = post(team.foreign, CASES, {"person_id": foreign.json()["id"], "sealed": True})
    assert fcase.status_code == 201
    assert is_problem(open_grant(s, fcase.json()["id"]), 404)
    normal = sealed_case(team, sealed=False)
    assert is_problem(open_grant(s, normal["case"]), 409)
    for who in (team.adm, team.po, team.admin):
        assert is_problem(open_grant(who, cid), 403)
    assert db.one("SELECT count(*) FROM break_glass_grant") == before
    assert_invisible(s, ids)


# ---------------------------------------------------------------- review

def test_review_queue_and_resolution(team, db):
    ids = sealed_case(team)
    r = open_grant(team.other, ids["case"], minutes=10)
    assert r.status_code == 201
    gid = r.json()["id"]
    get(team.other, CASES + "/" + ids["case"] + "/notes")
    # Only service managers read the queue.
    for who in (team.sw, team.other, team.adm, team.po, team.admin):
        assert is_problem(get(who, REVIEWS), 403)
    pending = get(team.sm, REVIEWS, status="pending", limit=200)
    assert pending.status_code == 200, pending.text
    item = next(i for i in pending.json()["items"] if i["id"] == gid)
    assert item["reason"] == REASON and item["status"] == "pending"
    assert item["user"] == {"id": team.other.user_id, "username": team.other.username}
    assert item["case_id"] == ids["case"] and item["active"] is True
    assert item["audit_events"] >= 2 and item["outcome"] is None
    assert item["resolved_by"] == {"id": None, "username": None}
    assert is_problem(get(team.sm, REVIEWS, status="open"), 400)
    assert is_problem(get(team.sm, REVIEWS, cursor="x"), 400)
    # Reading the queue is audited.
    assert db.one("SELECT count(*) FROM audit_event WHERE user_id = %s AND object_id = %s",
                  (team.sm.user_id, gid)) >= 1
    path = REVIEWS + "/" + gid + "/resolution"
    for body, field in (({"outcome": "maybe", "comment": "x"}, "outcome"),
                        ({"outcome": "justified"}, "comment"),
                        ({"outcome": "justified", "comment": "ok", "extra": 1}, "extra")):
        assert field in error_fields(is_problem(post(team.sm, path, body), 400))
    assert is_problem(post(team.other, path, {"outcome": "justified", "comment": "io"}), 403)
    assert is_problem(post(team.sm, REVIEWS + "/" + str(uuid.uuid4()) + "/resolution",
                           {"outcome": "justified", "comment": "x"}), 404)
    r = post(team.sm, path, {"outcome": "unjustified", "comment": "Non era un'emergenza."})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "resolved" and done["outcome"] == "unjustified"
    assert done["comment"] == "Non era un'emergenza."
    assert done["resolved_by"]["id"] == team.sm.user_id
    assert "emergenza" not in db.one("SELECT g::text FROM break_glass_grant g WHERE id = %s",
                                     (gid,))
    again = post(team.sm2, path, {"outcome": "justified", "comment": "Ripensamento."})
    assert is_problem(again, 409)
    assert db.one("SELECT outcome FROM break_glass_grant WHERE id = %s", (gid,)) == "unjustified"
    resolved = get(team.sm, REVIEWS, status="resolved", limit=200).json()["items"]
    assert gid in [i["id"] for i in resolved]
    assert gid not in [i["id"] for i in get(team.sm, REVIEWS, status="pending",
                                            limit=200).json()["items"]]
    assert get(team.sm, REVIEWS + "/" + gid).json()["outcome"] == "unjustified"


def test_review_queue_pages_with_a_cursor(team):
    ids = sealed_case(team)
    made = [open_grant(team.other, ids["case"], minutes=1).json()["id"] for _ in range(3)]
    r = get(team.sm, REVIEWS, limit=2)
    body = r.json()
    assert len(body["items"]) == 2 and body["next_cursor"]
    assert [i["id"] for i in body["items"]] == made[::-1][:2]
    nxt = get(team.sm, REVIEWS, limit=2, cursor=body["next_cursor"]).json()
    assert nxt["items"][0]["id"] == made[0]


def test_a_manager_does_not_resolve_their_own_grant(team):
    ids = sealed_case(team)
    r = open_grant(team.sm, ids["case"])
    assert r.status_code == 201
    gid = r.json()["id"]
    r = post(team.sm, REVIEWS + "/" + gid + "/resolution",
             {"outcome": "justified", "comment": "Mio."})
    assert is_problem(r, 403)
    r = post(team.sm2, REVIEWS + "/" + gid + "/resolution",
             {"outcome": "justified", "comment": "Verificato."})
    assert r.status_code == 200
