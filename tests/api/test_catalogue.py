"""Code lists, tenants, the local service catalogue and providers."""

import csv
import glob
import os
import uuid

import pytest
import requests

from conftest import (AMBITO, ASSAGO, CORSICO, HTTP_TIMEOUT, ROLES, is_problem, random_name)

CATALOGUE = "/api/v1/catalogue"
TENANTS = "/api/v1/tenants"
SERVICES = "/api/v1/services"
PROVIDERS = "/api/v1/providers"

# The Ambito's shared services seeded by schema/005_services.sql.
SEEDED_SERVICES = {"SAD", "PASTI", "CONTR-ECON", "AFFIDO", "COM-MINORI", "CDD", "RSA",
                   "TRASPORTO", "BUONO-SOC", "VOUCHER", "TUTELA-MIN", "ADM", "INS-LAV",
                   "EMERG-ABIT"}


def csv_lists():
    """{list name: [(code, label_it), ...]} from schema/codes/*.csv."""
    out = {}
    pattern = os.path.join(os.environ["CARTELLA_REPO"], "schema", "codes", "*.csv")
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        out[os.path.basename(path)[:-4]] = [(r["code"], r["label_it"]) for r in rows]
    return out


def errors_of(body):
    return {(e.get("field"), e.get("rule")) for e in body.get("errors", [])}


def get_json(s, url, status=200, **kw):
    r = s.get(url, timeout=HTTP_TIMEOUT, **kw)
    assert r.status_code == status, (r.status_code, r.text[:500])
    return r.json()


def list_all(s, url, limit=None, **params):
    items, cursor, pages = [], None, 0
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        if limit:
            p["limit"] = limit
        body = get_json(s, url, params=p)
        assert "next_cursor" in body
        items += body["items"]
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 1000
        if not cursor:
            return items


@pytest.fixture(scope="module")
def users(make_user, login):
    """Logged-in sessions by (tenant, role), made once for the module."""
    cache = {}

    def get(tenant=CORSICO, role="social_worker"):
        if (tenant, role) not in cache:
            u, p = make_user(tenant, role)
            cache[(tenant, role)] = login(u, p, tenant)
        return cache[(tenant, role)]

    return get


def service_body(**over):
    body = {"code": random_name("S").upper().replace("_", "-"), "name": "Servizio di prova",
            "inps_code": "A2.07", "istat_area": "ELD", "regional_area": "anziani",
            "nature": "periodic", "isee_linked": True}
    body.update(over)
    return body


def provider_body(**over):
    body = {"name": "Cooperativa " + random_name(""),
            "tax_code": "%011d" % (uuid.uuid4().int % 10**11), "kind": "cooperative"}
    body.update(over)
    return body


# ---------------------------------------------------------------- code lists

def test_every_list_is_served_with_its_csv_rows(users, base_url):
    s = users()
    lists = csv_lists()
    assert {"funding-channels", "inps-prestazioni", "istat-user-areas",
            "regional-spending-areas", "siuss-user-areas", "household-relations",
            "sina-mobilita", "sinba-luogo-vita"} <= set(lists)
    index = get_json(s, base_url + CATALOGUE)
    by_name = {i["name"]: i for i in index["items"]}
    assert set(by_name) == set(lists)
    for name, rows in lists.items():
        assert by_name[name]["count"] == len(rows), name
        assert by_name[name]["version"] >= 1
        body = get_json(s, base_url + CATALOGUE + "/" + name)
        assert body["name"] == name and body["version"] == by_name[name]["version"]
        current = [(i["code"], i["label_it"]) for i in body["items"] if i["valid_to"] is None]
        assert current == rows, name  # same codes, labels and order as the CSV
        for i in body["items"]:
            assert set(i) == {"code", "label_it", "valid_from", "valid_to", "attrs"}


def test_code_list_extra_columns_become_attrs(users, base_url):
    body = get_json(users(), base_url + CATALOGUE + "/regional-spending-areas")
    items = {i["code"]: i for i in body["items"]}
    assert items["servizio_sociale_professionale"]["attrs"] == {
        "notes": "professional social service and running costs"}
    assert items["anziani"]["attrs"] == {}


def test_code_list_values_come_from_the_xsd(users, base_url):
    s = users()
    inv = {i["code"]: i["label_it"]
           for i in get_json(s, base_url + CATALOGUE + "/sina-invalidita-civile")["items"]}
    assert sorted(inv, key=int) == [str(n) for n in range(1, 9)]
    fam = {i["code"]: i["label_it"]
           for i in get_json(s, base_url + CATALOGUE + "/sinba-composizione-famiglia")["items"]}
    assert fam["1"] == "Madre" and fam["6"] == "Altri conviventi"
    rel = {i["code"] for i in get_json(s, base_url + CATALOGUE + "/household-relations")["items"]}
    assert {"1", "2", "3", "23", "28"} <= rel and "99" not in rel


def test_unknown_list_and_bad_valid_on(users, base_url):
    s = users()
    is_problem(s.get(base_url + CATALOGUE + "/no-such-list", timeout=HTTP_TIMEOUT), 404)
    is_problem(s.get(base_url + CATALOGUE + "/" + "x" * 300, timeout=HTTP_TIMEOUT), 404)
    for bad in ("2024-02-30", "yesterday", "2024-1-1"):
        is_problem(s.get(base_url + CATALOGUE + "/sina-mobilita", params={"valid_on": bad},
                         timeout=HTTP_TIMEOUT), 400)
    # Codes of a list's first load carry no start date: valid on any day.
    body = get_json(s, base_url + CATALOGUE + "/sina-mobilita", params={"valid_on": "1990-01-01"})
    assert [i["code"] for i in body["items"]] == ["1", "2", "3"]


def test_reference_data_needs_a_session_and_any_role_reads_it(users, base_url):
    is_problem(requests.get(base_url + CATALOGUE, timeout=HTTP_TIMEOUT), 401)
    is_problem(requests.get(base_url + TENANTS, timeout=HTTP_TIMEOUT), 401)
    is_problem(requests.get(base_url + SERVICES, timeout=HTTP_TIMEOUT), 401)
    for role in ROLES:
        s = users(CORSICO, role)
        get_json(s, base_url + CATALOGUE)
        get_json(s, base_url + CATALOGUE + "/funding-channels")
        get_json(s, base_url + TENANTS)
        get_json(s, base_url + SERVICES)


# ---------------------------------------------------------------- migrate

def code_list_state(db):
    return (db.all("SELECT name, version, checksum, loaded_at FROM code_list ORDER BY name"),
            db.all("SELECT list, code, label_it, attrs::text, position, valid_from, valid_to"
                   " FROM code ORDER BY list, code"))


def test_migrate_again_changes_nothing(cli, db):
    before = code_list_state(db)
    res = cli("migrate")
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "code lists are up to date" in res.stdout, res.stdout
    assert "code list " not in res.stdout.replace("code lists are up to date", "")
    assert code_list_state(db) == before


def test_migrate_resyncs_a_changed_list(cli, db):
    """A list whose stored checksum differs is synced: version + 1, labels put
    back, codes no longer in the CSV closed (not deleted); then nothing."""
    name = "sinba-durata-affido"
    bogus = "Z" + uuid.uuid4().hex[:8]
    version = db.one("SELECT version FROM code_list WHERE name = %s", (name,))
    db.all("UPDATE code SET label_it = 'altro' WHERE list = %s AND code = '1' RETURNING 1",
           (name,))
    db.all("INSERT INTO code (list, code, label_it) VALUES (%s, %s, 'da chiudere') RETURNING 1",
           (name, bogus))
    db.all("UPDATE code_list SET checksum = repeat('0', 64) WHERE name = %s RETURNING 1",
           (name,))
    try:
        res = cli("migrate")
        assert res.returncode == 0, (res.stdout, res.stderr)
        assert "code list %s: version %d (0 new, 1 changed, 1 closed)" % (name, version + 1) \
            in res.stdout, res.stdout
        assert db.one("SELECT version FROM code_list WHERE name = %s", (name,)) == version + 1
        assert db.one("SELECT label_it FROM code WHERE list = %s AND code = '1'",
                      (name,)) == "Tempo pieno"
        closed = db.one("SELECT valid_to = current_date FROM code WHERE list = %s AND code = %s",
                        (name, bogus))
        assert closed is True
        before = code_list_state(db)
        res = cli("migrate")
        assert res.returncode == 0 and "code lists are up to date" in res.stdout, res.stdout
        assert code_list_state(db) == before
    finally:
        db.all("DELETE FROM code WHERE list = %s AND code = %s RETURNING 1", (name, bogus))


# ---------------------------------------------------------------- tenants

def test_tenants(users, base_url, db):
    s = users()
    items = list_all(s, base_url + TENANTS, limit=2)
    by_code = {t["code"]: t for t in items}
    assert len(by_code) == len(items)
    amb = by_code[AMBITO]
    assert amb["kind"] == "ambito" and amb["parent_id"] is None and amb["istat_code"] is None
    corsico = by_code[CORSICO]
    assert corsico == {"id": str(db.tenant_id(CORSICO)), "kind": "comune", "code": CORSICO,
                       "name": "Corsico", "istat_code": CORSICO, "belfiore_code": "D045",
                       "parent_id": amb["id"], "valid_from": "2000-01-01", "valid_to": None}
    assert sum(1 for t in items if t["parent_id"] == amb["id"]) >= 6
    assert get_json(s, base_url + TENANTS + "/" + corsico["id"]) == corsico
    is_problem(s.get(base_url + TENANTS + "/" + str(uuid.uuid4()), timeout=HTTP_TIMEOUT), 404)
    is_problem(s.get(base_url + TENANTS + "/not-a-uuid", timeout=HTTP_TIMEOUT), 404)
    is_problem(s.get(base_url + TENANTS, params={"cursor": "!!"}, timeout=HTTP_TIMEOUT), 400)


# ---------------------------------------------------------------- services

def test_seeded_catalogue_is_shared_and_its_codes_exist(users, base_url, db):
    for tenant in (CORSICO, ASSAGO, AMBITO):
        items = list_all(users(tenant, "social_worker"), base_url + SERVICES, limit=5)
        codes = {i["code"] for i in items if i["tenant_id"] == str(db.tenant_id(AMBITO))}
        assert SEEDED_SERVICES <= codes, tenant
    # The seed is checked here (its foreign keys are NOT VALID, see 005).
    missing = db.all(
        "SELECT s.code FROM service_catalogue s WHERE"
        " (s.inps_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM code c"
        "   WHERE c.list = 'inps-prestazioni' AND c.code = s.inps_code AND c.valid_to IS NULL))"
        " OR NOT EXISTS (SELECT 1 FROM code c WHERE c.list = 'istat-user-areas'"
        "   AND c.code = s.istat_area AND c.valid_to IS NULL)"
        " OR NOT EXISTS (SELECT 1 FROM code c WHERE c.list = 'regional-spending-areas'"
        "   AND c.code = s.regional_area AND c.valid_to IS NULL)")
    assert missing == []
    sad = [i for i in items if i["code"] == "SAD"][0]
    assert sad["inps_code"] == "A2.07" and sad["istat_area"] == "ELD" and sad["isee_linked"]
    tutela = [i for i in items if i["code"] == "TUTELA-MIN"][0]
    assert tutela["inps_code"] is None and tutela["never_export"] is True


def test_service_crud_with_etag(users, base_url):
    s = users(CORSICO, "admin")
    body = service_body(code="t-" + uuid.uuid4().hex[:8])
    r = s.post(base_url + SERVICES, json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    svc = r.json()
    assert r.headers["Location"] == SERVICES + "/" + svc["id"]
    assert r.headers["ETag"] == '"1"'
    assert svc["code"] == body["code"].upper()  # codes are upper-cased
    assert svc["tenant_id"] and svc["version"] == 1 and svc["active"] is True
    assert svc["export_only_if_in_charge"] is False and svc["never_export"] is False
    url = base_url + SERVICES + "/" + svc["id"]
    got = s.get(url, timeout=HTTP_TIMEOUT)
    assert got.status_code == 200 and got.json() == svc and got.headers["ETag"] == '"1"'

    change = {"name": "Assistenza domiciliare (nuova)", "active": False}
    is_problem(s.patch(url, json=change, timeout=HTTP_TIMEOUT), 428)
    is_problem(s.patch(url, json=change, headers={"If-Match": '"7"'}, timeout=HTTP_TIMEOUT), 412)
    r = s.patch(url, json=change, headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == change["name"] and r.json()["active"] is False
    assert r.json()["version"] == 2 and r.headers["ETag"] == '"2"'
    is_problem(s.patch(url, json={"name": "x"}, headers={"If-Match": '"1"'},
                       timeout=HTTP_TIMEOUT), 412)
    # Never exported: the INPS code may go.
    r = s.patch(url, json={"never_export": True, "inps_code": None},
                headers={"If-Match": '"2"'}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["inps_code"] is None and r.json()["never_export"] is True
    inactive = list_all(s, base_url + SERVICES, active="false")
    assert svc["id"] in {i["id"] for i in inactive}
    assert svc["id"] not in {i["id"] for i in list_all(s, base_url + SERVICES, active="true")}
    is_problem(s.get(base_url + SERVICES, params={"active": "maybe"}, timeout=HTTP_TIMEOUT), 400)


def test_service_validation_names_fields(users, base_url, db):
    s = users(CORSICO, "admin")
    code = "BAD-" + uuid.uuid4().hex[:6].upper()
    cases = [
        (service_body(code=code, inps_code="A9.99"), {("inps_code", "unknown")}),
        (service_body(code=code, istat_area="XXX"), {("istat_area", "unknown")}),
        (service_body(code=code, regional_area="nowhere"), {("regional_area", "unknown")}),
        (service_body(code=code, inps_code="Q1.01", istat_area="XXX", regional_area="nowhere"),
         {("inps_code", "unknown"), ("istat_area", "unknown"), ("regional_area", "unknown")}),
        (service_body(code=code, nature="weekly"), {("nature", "enum")}),
        (service_body(code=code, colour="blue"), {("colour", "unknown")}),
        (service_body(code="bad code!"), {("code", "pattern")}),
        (service_body(code=code, inps_code=None), {("inps_code", "required")}),
        (service_body(code=code, never_export=True, export_only_if_in_charge=True),
         {("export_only_if_in_charge", "conflict")}),
        (service_body(code=code, isee_linked="yes"), {("isee_linked", "type")}),
        ({"code": code}, {("name", "required"), ("istat_area", "required"),
                          ("regional_area", "required"), ("nature", "required")}),
    ]
    for body, want in cases:
        r = s.post(base_url + SERVICES, json=body, timeout=HTTP_TIMEOUT)
        problem = is_problem(r, 400)
        assert want <= errors_of(problem), (body, problem)
    assert db.one("SELECT count(*) FROM service_catalogue WHERE code = %s", (code,)) == 0
    is_problem(s.post(base_url + SERVICES, data="[1]",
                      headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT), 400)

    svc = s.post(base_url + SERVICES, json=service_body(), timeout=HTTP_TIMEOUT).json()
    url = base_url + SERVICES + "/" + svc["id"]
    for body, want in [({"inps_code": "A9.99"}, {("inps_code", "unknown")}),
                       ({"inps_code": None}, {("inps_code", "required")}),
                       ({"tenant_id": str(uuid.uuid4())}, {("tenant_id", "unknown")}),
                       ({}, {("", "min_properties")})]:
        problem = is_problem(s.patch(url, json=body, headers={"If-Match": '"1"'},
                                     timeout=HTTP_TIMEOUT), 400)
        assert want <= errors_of(problem), (body, problem)
    assert s.get(url, timeout=HTTP_TIMEOUT).json() == svc  # nothing changed


def test_service_code_is_unique_per_tenant(users, base_url):
    s = users(CORSICO, "admin")
    first = s.post(base_url + SERVICES, json=service_body(), timeout=HTTP_TIMEOUT).json()
    r = s.post(base_url + SERVICES, json=service_body(code=first["code"].lower()),
               timeout=HTTP_TIMEOUT)
    problem = is_problem(r, 409)
    assert first["id"] in problem["detail"]
    other = s.post(base_url + SERVICES, json=service_body(), timeout=HTTP_TIMEOUT).json()
    r = s.patch(base_url + SERVICES + "/" + other["id"], json={"code": first["code"]},
                headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT)
    assert first["id"] in is_problem(r, 409)["detail"]
    # Another Comune may use the same local code.
    r = users(ASSAGO, "admin").post(base_url + SERVICES, json=service_body(code=first["code"]),
                                    timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text


def test_comune_sees_own_and_ambito_services_only(users, base_url, db):
    corsico, assago = users(CORSICO, "admin"), users(ASSAGO, "admin")
    ambito = users(AMBITO, "admin")
    mine = corsico.post(base_url + SERVICES, json=service_body(), timeout=HTTP_TIMEOUT).json()
    shared = ambito.post(base_url + SERVICES, json=service_body(), timeout=HTTP_TIMEOUT)
    assert shared.status_code == 201, shared.text
    shared = shared.json()
    assert shared["tenant_id"] == str(db.tenant_id(AMBITO))

    corsico_ids = {i["id"] for i in list_all(corsico, base_url + SERVICES)}
    assago_items = list_all(users(ASSAGO, "social_worker"), base_url + SERVICES)
    ambito_ids = {i["id"] for i in list_all(ambito, base_url + SERVICES)}
    assert {mine["id"], shared["id"]} <= corsico_ids
    assert shared["id"] in {i["id"] for i in assago_items}
    assert mine["id"] not in {i["id"] for i in assago_items}
    assert {i["tenant_id"] for i in assago_items} <= {str(db.tenant_id(ASSAGO)),
                                                      str(db.tenant_id(AMBITO))}
    assert mine["id"] not in ambito_ids

    url = base_url + SERVICES + "/" + mine["id"]
    is_problem(assago.get(url, timeout=HTTP_TIMEOUT), 404)
    is_problem(assago.patch(url, json={"name": "x"}, headers={"If-Match": '"1"'},
                            timeout=HTTP_TIMEOUT), 404)
    # A Comune reads the Ambito's service but cannot change it.
    shared_url = base_url + SERVICES + "/" + shared["id"]
    assert corsico.get(shared_url, timeout=HTTP_TIMEOUT).json() == shared
    problem = is_problem(corsico.patch(shared_url, json={"name": "x"},
                                       headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT), 403)
    assert "Ambito" in problem["detail"]
    r = ambito.patch(shared_url, json={"name": "Servizio d'Ambito"}, headers={"If-Match": '"1"'},
                     timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.json()["name"] == "Servizio d'Ambito"


def test_service_writes_need_admin(users, base_url):
    for role in ("social_worker", "administrative", "service_manager", "planning_office", "dpo"):
        s = users(CORSICO, role)
        is_problem(s.post(base_url + SERVICES, json=service_body(), timeout=HTTP_TIMEOUT), 403)


def test_service_pagination(users, base_url):
    s = users(CORSICO, "admin")
    made = {s.post(base_url + SERVICES, json=service_body(), timeout=HTTP_TIMEOUT).json()["id"]
            for _ in range(3)}
    items = list_all(s, base_url + SERVICES, limit=2)
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)) and made <= set(ids)
    assert [i["code"] for i in items] == sorted(i["code"] for i in items)
    is_problem(s.get(base_url + SERVICES, params={"cursor": "bm9wZQ"}, timeout=HTTP_TIMEOUT), 400)
    is_problem(s.get(base_url + SERVICES, params={"limit": "0"}, timeout=HTTP_TIMEOUT), 400)


# ---------------------------------------------------------------- providers

def test_provider_crud_with_etag(users, base_url):
    s = users(CORSICO, "administrative")
    body = provider_body(cudes_code="0123456")
    r = s.post(base_url + PROVIDERS, json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    p = r.json()
    assert r.headers["Location"] == PROVIDERS + "/" + p["id"] and r.headers["ETag"] == '"1"'
    assert {k: p[k] for k in body} == body and p["version"] == 1
    url = base_url + PROVIDERS + "/" + p["id"]
    assert get_json(s, url) == p
    assert p["id"] in {i["id"] for i in list_all(s, base_url + PROVIDERS)}
    found = get_json(s, base_url + PROVIDERS, params={"tax_code": body["tax_code"]})["items"]
    assert [i["id"] for i in found] == [p["id"]]

    is_problem(s.patch(url, json={"kind": "third_sector"}, timeout=HTTP_TIMEOUT), 428)
    is_problem(s.patch(url, json={"kind": "third_sector"}, headers={"If-Match": '"9"'},
                       timeout=HTTP_TIMEOUT), 412)
    r = s.patch(url, json={"kind": "third_sector", "cudes_code": None},
                headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "third_sector" and r.json()["cudes_code"] is None
    assert r.json()["name"] == body["name"] and r.headers["ETag"] == '"2"'


def test_provider_tax_code_rules(users, base_url, db):
    s = users(CORSICO, "service_manager")
    cf = "rssmra80a01f205" + "x"
    r = s.post(base_url + PROVIDERS, json=provider_body(tax_code=cf, kind="private"),
               timeout=HTTP_TIMEOUT)
    if r.status_code == 409:  # a previous run of the suite on the same database
        existing = r.headers["Location"].rsplit("/", 1)[1]
    else:
        assert r.status_code == 201, r.text
        assert r.json()["tax_code"] == cf.upper()
        existing = r.json()["id"]
    problem = is_problem(s.post(base_url + PROVIDERS, json=provider_body(tax_code=cf.upper()),
                                timeout=HTTP_TIMEOUT), 409)
    assert existing in problem["detail"]
    piva = provider_body()
    first = s.post(base_url + PROVIDERS, json=piva, timeout=HTTP_TIMEOUT).json()
    other = s.post(base_url + PROVIDERS, json=provider_body(), timeout=HTTP_TIMEOUT).json()
    r = s.patch(base_url + PROVIDERS + "/" + other["id"], json={"tax_code": piva["tax_code"]},
                headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT)
    assert first["id"] in is_problem(r, 409)["detail"]

    name = random_name("nostore-")
    for body, want in [
        (provider_body(name=name, tax_code="1234567890"), {("tax_code", "pattern")}),
        (provider_body(name=name, tax_code="RSSMRA80A01F20"), {("tax_code", "pattern")}),
        (provider_body(name=name, tax_code="RSSMRA80A01F2051"), {("tax_code", "pattern")}),
        (provider_body(name=name, kind="charity"), {("kind", "enum")}),
        (provider_body(name=name, cudes_code="12345"), {("cudes_code", "pattern")}),
        (provider_body(name=name, cudes_code="12345678901234"), {("cudes_code", "max_length")}),
        (provider_body(name=name, iban="IT60X0542811101000000123456"), {("iban", "unknown")}),
        ({"name": name}, {("tax_code", "required"), ("kind", "required")}),
        (provider_body(name=""), {("name", "min_length")}),
    ]:
        problem = is_problem(s.post(base_url + PROVIDERS, json=body, timeout=HTTP_TIMEOUT), 400)
        assert want <= errors_of(problem), (body, problem)
    assert db.one("SELECT count(*) FROM provider WHERE name = %s", (name,)) == 0
    is_problem(s.get(base_url + PROVIDERS, params={"tax_code": "nope"}, timeout=HTTP_TIMEOUT), 400)
    is_problem(s.get(base_url + PROVIDERS, params={"kind": "nope"}, timeout=HTTP_TIMEOUT), 400)


def test_other_tenants_provider_is_not_there(users, base_url):
    corsico, assago = users(CORSICO, "admin"), users(ASSAGO, "admin")
    body = provider_body()
    p = corsico.post(base_url + PROVIDERS, json=body, timeout=HTTP_TIMEOUT).json()
    url = base_url + PROVIDERS + "/" + p["id"]
    is_problem(assago.get(url, timeout=HTTP_TIMEOUT), 404)
    is_problem(assago.patch(url, json={"name": "x"}, headers={"If-Match": '"1"'},
                            timeout=HTTP_TIMEOUT), 404)
    assert p["id"] not in {i["id"] for i in list_all(assago, base_url + PROVIDERS)}
    assert get_json(assago, base_url + PROVIDERS,
                    params={"tax_code": body["tax_code"]})["items"] == []
    is_problem(assago.get(base_url + PROVIDERS + "/" + str(uuid.uuid4()), timeout=HTTP_TIMEOUT),
               404)
    is_problem(assago.get(base_url + PROVIDERS + "/nope", timeout=HTTP_TIMEOUT), 404)
    # The same body may be registered by another Comune (unique per tenant).
    r = assago.post(base_url + PROVIDERS, json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    assert get_json(corsico, url)["name"] == body["name"]


def test_provider_pagination(users, base_url):
    s = users(ASSAGO, "administrative")
    made = {s.post(base_url + PROVIDERS, json=provider_body(name="Paginata " + str(n)),
                   timeout=HTTP_TIMEOUT).json()["id"] for n in range(3)}
    items = list_all(s, base_url + PROVIDERS, limit=2)
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)) and made <= set(ids)
    assert [i["name"] for i in items] == sorted(i["name"] for i in items)
    is_problem(s.get(base_url + PROVIDERS, params={"cursor": "eA"}, timeout=HTTP_TIMEOUT), 400)


def test_provider_roles(users, base_url):
    for role in ("social_worker", "planning_office"):
        s = users(CORSICO, role)
        get_json(s, base_url + PROVIDERS)
        is_problem(s.post(base_url + PROVIDERS, json=provider_body(), timeout=HTTP_TIMEOUT), 403)
    is_problem(users(CORSICO, "dpo").get(base_url + PROVIDERS, timeout=HTTP_TIMEOUT), 403)
