"""The access matrix, generated: every route the binary serves (`cartella
routes`) × every role × (own tenant, other tenant, anonymous) → the expected
status, with, for every refused call, no side effect and a recorded audit
event.

Nothing here is hand-kept per role: the roles allowed come from the policy
table through `cartella routes`, so a change to the policy changes the
expectations. What the file does keep by hand is how to reach each route
with real objects (WORLD and WRITE_BODIES below); a route this file does not
know how to reach fails `test_every_route_is_reachable`, so a new route
cannot slip past the matrix.

Per route and role the calls are:
- a sealed case the role's caller is not assigned to (routes under
  /cases/{id}, break-glass aside; service managers see sealed cases) → 404
  with its audit event, nothing changed;
- own tenant, role not allowed → 403 problem, a denied audit event (outcome
  403, the route's action) with the request id, nothing changed;
- own tenant, role allowed → GET 200; POST with an unknown property → 400;
  a valid PATCH without If-Match → 428 (authorised, then refused as bad
  input: nothing changed);
- other tenant's object, role allowed → 404 for reads and for writes with a
  body that would be valid, audit event with outcome 404, nothing changed;
- no credentials → 401, nothing changed;
- an integration client of the own tenant holding one scope, for every
  scope: not among the route's scopes → 403 with its audit event; among
  them → the same allowed probes as a role (and 404 on another tenant's
  object).

"Nothing changed" is checked per route on every tenant-owned table (row
count and the sum of the rows' xmin, so any insert, update or delete
shows), audit trail and sessions aside.
"""
import os
import re
import subprocess
import time
import uuid

import pytest

import fiscal
from conftest import (AMBITO, ASSAGO, CORSICO, HTTP_TIMEOUT, PROBLEM_JSON, ROLES, fresh_client,
                      is_problem)

T = HTTP_TIMEOUT


def served_routes():
    """[(METHOD, pattern, action, roles or None for public, scopes)] from the
    binary."""
    out = subprocess.run([os.environ["CARTELLA_BIN"], "routes"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    rows = []
    for line in out.splitlines():
        method, pattern, action, roles, scopes = line.split("\t")
        rows.append((method, pattern, action,
                     None if roles == "public" else [r for r in roles.split(",") if r],
                     [c for c in scopes.split(",") if c and c != "-"]))
    return rows


ROUTES = served_routes() if os.environ.get("CARTELLA_BIN") else []
PROTECTED = [r for r in ROUTES if r[3] is not None]

# Collection segment → the world object its {id} names. Reference data shared
# by every tenant (tenants, code lists) is marked None: there is no "other
# tenant's" instance of it.
COLLECTIONS = {
    "users": "user", "clients": "client", "persons": "person", "services": "service", "providers": "provider",
    "households": "household", "isee": "isee", "cases": "case",
    "access-contacts": "contact", "interventions": "intervention",
    "expenditures": "expenditure", "break-glass-reviews": "grant", "legal-holds": "legal_hold",
    "jobs": "job",
    "tenants": None, "catalogue": None,
}
# Named sub-resource parameters → world object.
PARAMS = {"member_id": "member", "assignment_id": "assignment", "note_id": "note",
          "assessment_id": "assessment", "plan_id": "plan",
          # /population/{tenant}/{year}, /staffing/{tenant}/{year}: the Comune's
          # code and a year it has loaded.
          "tenant": "tenant_code", "year": "population_year",
          # /retention-rules/{document_class}: every tenant has the same classes
          # (its own rules), so there is no other tenant's instance to probe.
          "document_class": None}

# Routes whose allowed call cannot be a harmless probe, with the reason.
OWN_TENANT_PROBE_SKIPS = {
    ("DELETE", "/api/v1/sessions/current"): "logging out is checked with a throwaway session",
    ("PUT", "/api/v1/cases/{id}/notes/{note_id}/withholding"):
        "marking a note withheld is a real write: test_subject_access.py",
    ("DELETE", "/api/v1/cases/{id}/notes/{note_id}/withholding"):
        "lifting a withholding is a real write: test_subject_access.py",
    ("PUT", "/api/v1/cases/{id}/assessments/{assessment_id}/withholding"):
        "marking an assessment withheld is a real write: test_subject_access.py",
    ("DELETE", "/api/v1/cases/{id}/assessments/{assessment_id}/withholding"):
        "lifting a withholding is a real write: test_subject_access.py",
}

# The query string a route needs to be answered at all (its parameters are
# required), and the status an allowed probe gets when it is not the usual
# one, with the reason.
PROBE_QUERIES = {
    ("GET", "/waas/v1/flussi"): "?since=0",
    ("GET", "/api/v1/reports/siuss-batch"): "?from=2000-01-01&to=2000-01-31",
    ("GET", "/api/v1/reports/data-quality"): "?flow=siuss&year=2000",
}
ALLOWED_PROBE_STATUS = {
    # Corsico has no SIUSS operator fiscal code in the matrix's database:
    # authorised, then "this Comune sends no flows".
    ("GET", "/waas/v1/flussi"): 404,
    ("GET", "/api/v1/reports/siuss-batch"): 404,
    # A job is its requester's alone: the world's job, started by the world's
    # own service manager, does not exist for any caller.
    ("GET", "/api/v1/jobs/{id}"): 404,
    ("GET", "/api/v1/jobs/{id}/result"): 404,
    ("PUT", "/api/v1/jobs/{id}/release"): 404,
}

# A body that would be valid for each write route reached through an id, so
# that a 404 on another tenant's object proves isolation and not validation.
# Values in {braces} are filled from the caller's own world.
WRITE_BODIES = {
    ("PATCH", "/api/v1/users/{id}"): {"disabled": True},
    ("PATCH", "/api/v1/clients/{id}"): {"enabled": False},
    ("PATCH", "/api/v1/tenants/{id}"): {"siuss_operator_cf": None},
    ("DELETE", "/api/v1/users/{id}/totp"): {},  # no body: If-Match "1" makes it valid
    ("PATCH", "/api/v1/persons/{id}"): {"given_name": "X", "reason": "motivo"},
    ("PUT", "/api/v1/persons/{id}/restriction"): {"reason": "motivo"},
    ("DELETE", "/api/v1/persons/{id}/restriction"): {},
    ("POST", "/api/v1/persons/{id}/erasure"): {"ground": "objection"},
    ("PUT", "/api/v1/retention-rules/{document_class}"): {
        "years": 10, "legal_basis": "Verifica della matrice degli accessi"},
    ("POST", "/api/v1/legal-holds/{id}/release"): {"reason": "Verifica della matrice"},
    ("PATCH", "/api/v1/services/{id}"): {"name": "x"},
    ("PATCH", "/api/v1/providers/{id}"): {"name": "x"},
    ("PATCH", "/api/v1/households/{id}"): {"label": "x"},
    ("POST", "/api/v1/households/{id}/members"): {
        "person_id": "{person}", "relation": "3", "head": False, "valid_from": "2021-01-01"},
    ("PATCH", "/api/v1/households/{id}/members/{member_id}"): {"valid_to": "2021-01-01"},
    ("PATCH", "/api/v1/cases/{id}"): {"status": "assessment"},
    ("POST", "/api/v1/cases/{id}/assignments"): {"user_id": "{user}",
                                                 "role_in_case": "co_worker"},
    ("PATCH", "/api/v1/cases/{id}/assignments/{assignment_id}"): {"valid_to": "2030-01-01"},
    ("POST", "/api/v1/cases/{id}/notes"): {"body": "nota", "confidentiality": "normal"},
    ("POST", "/api/v1/cases/{id}/assessments"): {
        "kind": "generic", "assessed_on": "2024-03-15", "answers": {"bisogno_principale": "x"}},
    ("POST", "/api/v1/cases/{id}/plans"): {
        "kind": "family_project", "goals": [{"text": "x"}], "start_on": "2024-04-01"},
    ("PATCH", "/api/v1/cases/{id}/plans/{plan_id}"): {"outcome": "achieved"},
    ("PATCH", "/api/v1/interventions/{id}"): {"status": "suspended"},
    ("PATCH", "/api/v1/expenditures/{id}"): {"amount": "2.00"},
    ("PUT", "/api/v1/population/{tenant}/{year}"): {
        "rows": [{"sex": "F", "age_band": "0+", "residents": 10}]},
    ("PUT", "/api/v1/staffing/{tenant}/{year}"): {"social_workers_fte": "1.00"},
    ("POST", "/api/v1/cases/{id}/break-glass"): {
        "reason": "Verifica della matrice degli accessi", "minutes": 1},
    ("POST", "/api/v1/break-glass-reviews/{id}/resolution"): {
        "outcome": "justified", "comment": "verificato"},
    ("POST", "/api/v1/persons/{id}/subject-access"): {},
    ("PUT", "/api/v1/cases/{id}/notes/{note_id}/withholding"): {"basis": "third_party_rights"},
    ("DELETE", "/api/v1/cases/{id}/notes/{note_id}/withholding"): {},
    ("POST", "/api/v1/cases/{id}/assessments/{assessment_id}/annotations"): {
        "source": "professional", "body": "Verifica della matrice degli accessi"},
    ("PUT", "/api/v1/cases/{id}/assessments/{assessment_id}/withholding"): {
        "basis": "third_party_rights"},
    ("DELETE", "/api/v1/cases/{id}/assessments/{assessment_id}/withholding"): {},
    ("PUT", "/api/v1/jobs/{id}/release"): {"channel": "in_person"},
}

PARAM_RE = re.compile(r"\{([a-z_]+)\}")


def ok(r, status=201):
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:600])
    return r.json() if r.content else None


def params_of(pattern):
    """[(param name, world key or None)] for the pattern's parameters."""
    segs = pattern.strip("/").split("/")
    out = []
    for i, seg in enumerate(segs):
        m = PARAM_RE.fullmatch(seg)
        if not m:
            continue
        name = m.group(1)
        if name in PARAMS:
            out.append((name, PARAMS[name]))
        elif name in ("id", "list") and i > 0 and segs[i - 1] in COLLECTIONS:
            out.append((name, COLLECTIONS[segs[i - 1]]))
        else:
            out.append((name, "?"))
    return out


def fill(pattern, world):
    """The pattern with its parameters taken from world."""
    def sub(m):
        for name, key in params_of(pattern):
            if name == m.group(1):
                return world.reference[name] if key is None else world[key]
        raise KeyError(m.group(1))
    return PARAM_RE.sub(sub, pattern)


def body_for(method, pattern, own):
    body = WRITE_BODIES.get((method, pattern))
    if body is None:
        return None
    out = {}
    for k, v in body.items():
        out[k] = own[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v
    return out


# ---------------------------------------------------------------- the world

class World(dict):
    """One tenant's objects, one of each kind, made through the API; reference
    holds the shared reference data the parameters of /tenants and
    /catalogue name."""
    reference = {}


def build_world(tenant, make_user, login, db, assignee=None):
    w = World()
    w.reference = {"id": str(db.tenant_id(tenant)), "list": "funding-channels",
                   "document_class": "note"}
    sm_u, sm_p = make_user(tenant, "service_manager")
    sm = login(sm_u, sm_p, tenant)
    ad_u, ad_p = make_user(tenant, "admin")
    ad = login(ad_u, ad_p, tenant)
    sw_u, _ = make_user(tenant, "social_worker")
    w["user"] = str(db.user_id(sw_u))
    api = sm.base_url + "/api/v1"
    tag = uuid.uuid4().hex[:8]
    w["client"] = ok(ad.post(api + "/clients", json={
        "name": "Client " + tag, "scopes": ["catalogue.read"]}, timeout=T))["id"]
    w["service"] = ok(ad.post(api + "/services", json={
        "code": "MX-" + tag.upper(), "name": "Servizio matrice", "inps_code": "A2.07",
        "istat_area": "ELD", "regional_area": "anziani", "nature": "periodic",
        "isee_linked": True}, timeout=T))["id"]
    w["provider"] = ok(sm.post(api + "/providers", json={
        "name": "Cooperativa " + tag, "tax_code": "%011d" % (uuid.uuid4().int % 10**11),
        "kind": "cooperative"}, timeout=T))["id"]
    w["person"] = ok(sm.post(api + "/persons", json=fiscal.person(), timeout=T))["id"]
    w["household"] = ok(sm.post(api + "/households", json={"label": "Famiglia " + tag},
                                timeout=T))["id"]
    w["member"] = ok(sm.post(api + "/households/%s/members" % w["household"], json={
        "person_id": w["person"], "relation": "1", "head": True, "valid_from": "2020-01-01"},
        timeout=T))["id"]
    w["isee"] = ok(sm.post(api + "/isee", json={
        "household_id": w["household"],
        "dsu_protocol": "INPS-ISEE-2024-%08dA-01" % (uuid.uuid4().int % 10**8),
        "year": 2024, "signed_on": "2024-02-10", "indicator_type": "ordinario",
        "value": "9120.55", "valid_from": "2024-02-10", "valid_to": "2024-12-31"},
        timeout=T))["id"]
    w["case"] = ok(sm.post(api + "/cases", json={
        "person_id": w["person"], "household_id": w["household"], "area": "1",
        "opened_on": "2024-03-01"}, timeout=T))["id"]
    case = api + "/cases/" + w["case"]
    w["assignment"] = ok(sm.post(case + "/assignments", json={
        "user_id": w["user"], "role_in_case": "co_worker"}, timeout=T))["id"]
    if assignee:
        ok(sm.post(case + "/assignments", json={"user_id": assignee,
                                                "role_in_case": "co_worker"}, timeout=T))
    w["note"] = ok(sm.post(case + "/notes", json={"body": "nota " + tag,
                                                  "confidentiality": "normal"}, timeout=T))["id"]
    w["assessment"] = ok(sm.post(case + "/assessments", json={
        "kind": "generic", "assessed_on": "2024-03-15",
        "answers": {"bisogno_principale": "x"}, "free_text": "testo " + tag}, timeout=T))["id"]
    w["plan"] = ok(sm.post(case + "/plans", json={
        "kind": "family_project", "goals": [{"text": "obiettivo"}], "start_on": "2024-04-01",
        "end_on": "2024-12-31"}, timeout=T))["id"]
    w["contact"] = ok(sm.post(api + "/access-contacts", json={
        "channel": "phone", "outcome": "information"}, timeout=T))["id"]
    w["intervention"] = ok(sm.post(api + "/interventions", json={
        "case_id": w["case"], "beneficiary_id": w["person"], "service": w["service"],
        "nature": "periodic", "start_date": "2024-04-01", "monthly_amount": "100.00",
        "means_test": 4, "funding": [{"channel": "comune", "amount": "100.00"}],
        "management": "single", "in_charge": True, "user_area": 1}, timeout=T))["id"]
    w["expenditure"] = ok(sm.post(api + "/expenditures", json={
        "year": 2024, "regional_area": "anziani", "channel": "comune", "management": "single",
        "kind": "other", "amount": "10.00", "description": "Spesa matrice"}, timeout=T))["id"]
    w["tenant_code"], w["population_year"] = tenant, "2090"
    population = api + "/population/%s/2090" % tenant
    etag = ad.get(population, timeout=T).headers.get("ETag")
    ok(ad.put(population, json={"rows": [{"sex": "M", "age_band": "0+", "residents": 100}]},
              headers={"If-Match": etag} if etag else {}, timeout=T), 200)
    staffing = api + "/staffing/%s/2090" % tenant
    etag = ad.get(staffing, timeout=T).headers.get("ETag")
    ok(ad.put(staffing, json={"social_workers_fte": "2.50"},
              headers={"If-Match": etag} if etag else {}, timeout=T), 200)
    w["legal_hold"] = ok(sm.post(api + "/legal-holds", json={
        "subject_type": "person", "subject_id": w["person"],
        "reason": "Verifica della matrice degli accessi"}, timeout=T))["id"]
    # A sealed case nobody we call as is assigned to, and a break-glass grant
    # the service manager who built the world opened on it.
    hidden = ok(sm.post(api + "/persons", json=fiscal.person(), timeout=T))["id"]
    w["sealed_case"] = ok(sm.post(api + "/cases", json={"person_id": hidden, "sealed": True},
                                  timeout=T))["id"]
    w["grant"] = ok(sm.post(api + "/cases/%s/break-glass" % w["sealed_case"], json={
        "reason": "Verifica della matrice degli accessi", "minutes": 1}, timeout=T))["id"]
    # A job (the service manager's subject access to the person), finished
    # before the probes start so that no worker touches it during them.
    w["job"] = ok(sm.post(api + "/persons/%s/subject-access" % w["person"], timeout=T),
                  202)["id"]
    for _ in range(600):
        if db.one("SELECT status FROM job WHERE id = %s", (w["job"],)) not in ("queued",
                                                                              "running"):
            break
        time.sleep(0.1)
    return w


@pytest.fixture(scope="module")
def worlds(make_user, login, db, callers):
    """Corsico's case is assigned to the calling social worker (changing a
    case's team is for the workers on it); Assago's to nobody we call as."""
    sw = str(db.user_id(callers["social_worker"].username))
    return {CORSICO: build_world(CORSICO, make_user, login, db, assignee=sw),
            ASSAGO: build_world(ASSAGO, make_user, login, db)}


@pytest.fixture(scope="module")
def callers(make_user, login):
    """One logged-in user per role in Corsico."""
    out = {}
    for role in ROLES:
        u, p = make_user(CORSICO, role)
        out[role] = login(u, p, CORSICO)
        out[role].username = u
    return out


def every_scope():
    """Every scope some route accepts."""
    return sorted({c for r in ROUTES for c in r[4]})


@pytest.fixture(scope="module")
def clients(make_client, worlds):
    """One integration client of Corsico per scope, each holding only it
    (made after the worlds, so that their connections are fresh)."""
    return {scope: make_client([scope]) for scope in every_scope()}


# ---------------------------------------------------------------- checks

EXCLUDED_TABLES = {"audit_event", "audit_seal", "audit_chain", "session", "login_throttle",
                   "schema_migration"}


# Columns a successful authentication updates by design (when a client was
# last used): the rest of such a row must stay as it was.
BOOKKEEPING = {"api_client": ["last_used_at"]}


@pytest.fixture(scope="module")
def snapshot(db):
    tables = [t for (t,) in db.all(
        "SELECT c.table_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'"
        " AND t.table_type = 'BASE TABLE' ORDER BY 1")
        if t not in EXCLUDED_TABLES and not t.startswith("audit_")]
    assert "person" in tables and "intervention" in tables, tables
    def state(t):
        if t == "job":
            # Jobs are counted only: the job workers and the sweeper of every
            # server update other tests' jobs (status, heartbeat, expiry).
            return "0"
        if t in BOOKKEEPING:
            # every row but its bookkeeping columns, hashed
            return "sum(hashtext((to_jsonb(%s) - %s::text[])::text))" % (
                t, "ARRAY[%s]" % ", ".join("'%s'" % c for c in BOOKKEEPING[t]))
        return "sum(xmin::text::bigint)"
    sql = " UNION ALL ".join(
        "SELECT '%s', count(*), coalesce(%s, 0) FROM %s" % (t, state(t), t) for t in tables)

    def take():
        return {name: (n, x) for name, n, x in db.all(sql)}
    return take


def audit_outcomes(db, request_id):
    return [(a, o) for a, o in db.all(
        "SELECT action, outcome FROM audit_event WHERE request_id = %s ORDER BY id",
        (request_id,))]


def call(s, method, url, body=None, if_match=None):
    rid = "matrix-" + uuid.uuid4().hex
    headers = {"X-Request-Id": rid}
    if if_match:
        headers["If-Match"] = if_match
    kw = {"headers": headers, "timeout": T}
    if method in ("POST", "PATCH", "PUT"):
        kw["json"] = {} if body is None else body
    return s.request(method, url, **kw), rid


def route_id(route):
    return "%s %s" % (route[0], route[1])


def test_every_route_is_reachable():
    """Every parameter of every protected route maps to an object of the world,
    and every write through an id has a body for the other-tenant probe."""
    assert PROTECTED, "cartella routes printed nothing"
    unknown = [route_id(r) for r in PROTECTED if any(k == "?" for _, k in params_of(r[1]))]
    assert unknown == [], "add these routes to COLLECTIONS/PARAMS in this file"
    missing = [route_id(r) for r in PROTECTED
               if r[0] != "GET" and params_of(r[1])
               and any(k is not None for _, k in params_of(r[1]))
               and (r[0], r[1]) not in WRITE_BODIES]
    assert missing == [], "add a WRITE_BODIES entry for these routes"


def allowed_probe(s, who, route, own, other, db, failures):
    """The calls of a caller the route allows: answered (reads), or
    authorised and then refused as bad input (writes): a POST with an unknown
    property → 400, a valid PATCH without If-Match → 428; and another
    tenant's object does not exist for it (404 with its audit event)."""
    method, pattern, action = route[0], route[1], route[2]
    own_url = s.base_url + fill(pattern, own) + PROBE_QUERIES.get((method, pattern), "")
    if method == "POST":
        r, rid = call(s, method, own_url, {"matrix_probe": True})
    else:
        r, rid = call(s, method, own_url, body_for(method, pattern, own))
    want = {"GET": 200, "POST": 400, "PATCH": 428, "PUT": 428, "DELETE": 428}[method]
    want = ALLOWED_PROBE_STATUS.get((method, pattern), want)
    if r.status_code != want:
        failures.append((who, "own tenant, allowed", r.status_code, r.text[:200]))
    keys = [k for _, k in params_of(pattern)]
    if keys and all(k is not None for k in keys):
        r, rid = call(s, method, s.base_url + fill(pattern, other),
                      body_for(method, pattern, own), '"1"')
        if not is_problem(r, 404):
            failures.append((who, "other tenant", r.status_code, r.text[:200]))
        elif (action, 404) not in audit_outcomes(db, rid):
            failures.append((who, "404 without its audit event", audit_outcomes(db, rid)))


def denied_probe(s, who, route, own, db, failures):
    """A caller the route refuses: 403 problem with its audit event."""
    method, pattern, action = route[0], route[1], route[2]
    url = s.base_url + fill(pattern, own) + PROBE_QUERIES.get((method, pattern), "")
    r, rid = call(s, method, url, body_for(method, pattern, own), '"1"')
    if not is_problem(r, 403):
        failures.append((who, "own tenant, not allowed", r.status_code, r.text[:200]))
    elif (action, 403) not in audit_outcomes(db, rid):
        failures.append((who, "403 without its audit event", audit_outcomes(db, rid)))


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
def test_route_against_every_role_and_tenant(route, worlds, callers, clients, snapshot, db):
    method, pattern, action, allowed, scopes = route
    own, other = worlds[CORSICO], worlds[ASSAGO]
    own_url = (callers["admin"].base_url + fill(pattern, own)
               + PROBE_QUERIES.get((method, pattern), ""))
    failures = []
    before = snapshot()

    # No credentials at all.
    r, _ = call(fresh_client(callers["admin"].base_url), method, own_url)
    if not is_problem(r, 401):
        failures.append(("anonymous", r.status_code))

    for role, s in callers.items():
        if role not in allowed:
            denied_probe(s, role, route, own, db, failures)
        elif (method, pattern) not in OWN_TENANT_PROBE_SKIPS:
            allowed_probe(s, role, route, own, other, db, failures)

    for scope, s in clients.items():
        who = "client with scope " + scope
        if scope in scopes:
            allowed_probe(s, who, route, own, other, db, failures)
        else:
            denied_probe(s, who, route, own, db, failures)

    # A sealed case the caller is not assigned to does not exist either
    # (service managers see every sealed case; break-glass is the way in).
    if pattern.startswith("/api/v1/cases/{id}") and not pattern.endswith("/break-glass"):
        sealed = World(own)
        sealed["case"] = own["sealed_case"]
        for role, s in callers.items():
            if role not in allowed or role == "service_manager":
                continue
            r, rid = call(s, method, s.base_url + fill(pattern, sealed),
                          body_for(method, pattern, own), '"1"')
            if not is_problem(r, 404):
                failures.append((role, "sealed case", r.status_code, r.text[:200]))
            elif (action, 404) not in audit_outcomes(db, rid):
                failures.append((role, "sealed 404 without its audit event",
                                 audit_outcomes(db, rid)))

    after = snapshot()
    changed = {t: (before[t], after.get(t)) for t in before if before[t] != after.get(t)}
    assert failures == [] and changed == {}, (failures, changed)


def test_logout_is_allowed_to_every_role(make_user, login):
    for role in ROLES:
        u, p = make_user(CORSICO, role)
        s = login(u, p, CORSICO)
        r = s.delete(s.base_url + "/api/v1/sessions/current", timeout=T)
        assert r.status_code == 204, (role, r.status_code, r.text)


def test_refusals_carry_no_data(worlds, callers):
    """A refused read answers a problem document and nothing of the object."""
    own = worlds[CORSICO]
    s = callers["planning_office"]
    for path in ("/api/v1/persons/%s" % own["person"], "/api/v1/cases/%s/notes" % own["case"]):
        r = s.get(s.base_url + path, timeout=T)
        assert is_problem(r, 403)
        assert r.headers["Content-Type"].startswith(PROBLEM_JSON)
        assert "items" not in r.json() and own["person"] not in r.text


# ---------------------------------------------------------------- row level, directly

# Tables whose rows the Ambito shares with its member Comuni (read only).
SHARED_BY_THE_AMBITO = {"service_catalogue"}


def tenant_tables(db):
    return [t for (t,) in db.all(
        "SELECT c.table_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'"
        " AND t.table_type = 'BASE TABLE' AND c.table_name <> 'tenant' ORDER BY 1")]


def test_every_tenant_owned_table_forces_row_level_security(db):
    tables = tenant_tables(db)
    rows = db.all("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                  " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                  " AND relname = ANY(%s)", (tables,))
    assert len(rows) == len(tables)
    assert [r[0] for r in rows if not (r[1] and r[2])] == []


def test_the_app_role_sees_only_the_tenant_it_is_given(worlds, db, db_app):
    """As the application role itself: no tenant → no rows in any table; with
    Corsico → rows of Corsico only, although both worlds filled the tables
    (and, for the catalogue the Ambito shares with its Comuni, the Ambito's)."""
    corsico, assago = str(db.tenant_id(CORSICO)), str(db.tenant_id(ASSAGO))
    ambito = str(db.tenant_id(AMBITO))
    tables = tenant_tables(db)
    populated = [t for t in tables
                 if db.one("SELECT count(*) FROM %s WHERE tenant_id = %%s" % t, (assago,)) > 0]
    assert {"person", "social_case", "case_note", "intervention"} <= set(populated), populated
    bare = db_app()
    with bare.cursor() as cur:
        for t in tables:
            cur.execute("SELECT count(*) FROM %s" % t)
            assert cur.fetchone()[0] == 0, t
    bare.rollback()
    scoped = db_app(corsico)
    with scoped.cursor() as cur:
        for t in populated:
            visible = (corsico, ambito) if t in SHARED_BY_THE_AMBITO else (corsico,)
            cur.execute("SELECT count(*) FROM %s WHERE NOT tenant_id::text = ANY(%%s)" % t,
                        (list(visible),))
            assert cur.fetchone()[0] == 0, t
    scoped.rollback()
