"""`cartella demo --persons N --seed S` loads synthetic data in bulk through the
API's own encryption and validation: on a fresh database, 2000 persons over
the six Comuni with households, cases in every state, assessments,
interventions and their funding, expenditures and population; then, through
the real HTTP API of a server on that database, a generated person reads back
decrypted, a search by a generated fiscal code finds exactly that person,
every fiscal code is valid and unique, the regional spending report of a
Comune-year equals a direct SQL sum over the generated rows, SIUSS flows page;
no generated name or fiscal code is in pg_dump; one audit event per batch; a
second load is refused without --append; bad arguments are exit 2 and touch
nothing. The whole check runs for --jobs 1 and --jobs 2 (Comuni loaded on two
connections at once: fiscal codes still unique across the jobs, totals still
the SQL sums), and --jobs 3 makes the same rows as --jobs 1."""
import collections
import os
from decimal import Decimal

import pytest
import requests

import fiscal
from conftest import (CORSICO, HTTP_TIMEOUT, create_scratch_database, drop_scratch_database,
                      enrol_with_cli, is_problem, pg_dump, random_name, random_password)
from test_tenancy import scratch_db  # noqa: F401  (fixture)

PERSONS = 2000
SEED = 7
YEAR = 2023
COMUNI = ["015011", "015036", "015074", "015093", "015097", "015220"]
OPERATOR_CF = "RSSMRA80A01F205X"


def cents(s):
    return int((Decimal(s) * 100).to_integral_value())


# The same sum as the report, written independently: per intervention of the
# year (not cancelled, beneficiary not restricted) its funding parts times the
# months of the year it runs in (a one-off counts once), plus the year's
# expenditures, by channel.
DIRECT_SUM = """
WITH months AS (
    SELECT make_date(%(y)s, m, 1) AS first FROM generate_series(1, 12) AS m),
iv AS (
    SELECT i.id, i.beneficiary_id,
           CASE WHEN i.nature = 'one_off' THEN
                    CASE WHEN extract(year FROM i.delivery_date) = %(y)s THEN 1 ELSE 0 END
                ELSE (SELECT count(*) FROM months
                       WHERE date_trunc('month', i.start_date) <= months.first
                         AND (i.end_date IS NULL OR i.end_date >= months.first)) END AS n
      FROM intervention i JOIN person p ON p.tenant_id = i.tenant_id AND p.id = i.beneficiary_id
     WHERE i.tenant_id = %(t)s AND i.status <> 'cancelled' AND NOT p.restricted)
SELECT channel, sum(amount)::bigint FROM (
    SELECT f.channel, f.amount_cents * iv.n AS amount
      FROM iv JOIN intervention_funding f ON f.tenant_id = %(t)s AND f.intervention_id = iv.id
     WHERE iv.n > 0
    UNION ALL
    SELECT e.channel, e.amount_cents FROM expenditure e
     WHERE e.tenant_id = %(t)s AND e.year = %(y)s) x
 GROUP BY channel
"""

DIRECT_USERS = """
SELECT count(DISTINCT i.beneficiary_id) FROM intervention i
  JOIN person p ON p.tenant_id = i.tenant_id AND p.id = i.beneficiary_id
 WHERE i.tenant_id = %(t)s AND i.status <> 'cancelled' AND NOT p.restricted
   AND ((i.nature = 'one_off' AND extract(year FROM i.delivery_date) = %(y)s)
     OR (i.nature = 'periodic' AND i.start_date < make_date(%(y)s + 1, 1, 1)
         AND (i.end_date IS NULL OR i.end_date >= make_date(%(y)s, 1, 1))))
"""


@pytest.fixture(params=[1, 2], ids=["jobs1", "jobs2"])
def loaded(request, cli, scratch_db):  # noqa: F811
    owner_url, app_url, sdb = scratch_db
    env = {"CARTELLA_OWNER_DATABASE_URL": owner_url, "DATABASE_URL": app_url}
    assert cli("migrate", env=env).returncode == 0
    baseline = pg_dump(sdb.url, data_only=True)
    res = cli("demo", "--persons", str(PERSONS), "--seed", str(SEED), "--jobs",
              str(request.param), env=env, timeout=300)
    assert res.returncode == 0, (res.stdout, res.stderr[-3000:])
    assert "(seed %d, %d job" % (SEED, request.param) in res.stdout, res.stdout
    return env, sdb, baseline, res


def scratch_user(cli, env, tenant, role):
    """A user of the scratch database, enrolled for the second factor."""
    username, password = random_name(), random_password()
    res = cli("user", "add", "--tenant", tenant, "--role", role, "--username", username,
              input=password + "\n", env=env)
    assert res.returncode == 0, (res.stdout, res.stderr)
    enrol_with_cli(lambda *a, **kw: cli(*a, env=env, **kw), username)
    return username, password


def test_bulk_load_reads_back_through_the_api(cli, loaded, spawn_server, login):
    env, sdb, baseline, res = loaded
    # Progress on stderr, a summary on stdout.
    assert "ETA" in res.stderr and "persons/s" in res.stderr, res.stderr[-2000:]
    assert "demo data loaded: %d persons" % PERSONS in res.stdout

    # What was loaded, in the proportions the docs give.
    assert sdb.one("SELECT count(*) FROM person") == PERSONS
    per_comune = dict(sdb.all("SELECT t.code, count(*) FROM person p JOIN tenant t"
                              " ON t.id = p.tenant_id GROUP BY 1"))
    assert set(per_comune) == set(COMUNI) and per_comune[CORSICO] > per_comune["015097"]
    assert sdb.one("SELECT count(*) FROM person WHERE fiscal_code_kind = 'personal'") == PERSONS
    assert sdb.one("SELECT count(*) FROM household_member") == PERSONS
    states = dict(sdb.all("SELECT status, count(*) FROM social_case GROUP BY 1"))
    assert set(states) == {"access", "assessment", "in_charge", "closed"}, states
    assert sdb.one("SELECT count(*) FROM social_case WHERE sealed") >= 1
    assert sdb.one("SELECT count(*) FROM assessment") > 0
    interventions = sdb.one("SELECT count(*) FROM intervention")
    assert 3 * PERSONS <= interventions <= 7 * PERSONS, interventions
    years = [r[0] for r in sdb.all(
        "SELECT DISTINCT extract(year FROM coalesce(start_date, delivery_date))::int"
        " FROM intervention ORDER BY 1")]
    assert years == [2021, 2022, 2023, 2024, 2025], years
    assert sdb.one("SELECT count(DISTINCT service_id) FROM intervention") >= 10
    assert sdb.one("SELECT count(DISTINCT channel) FROM intervention_funding") >= 4
    assert sdb.one("SELECT count(DISTINCT regional_area) FROM service_catalogue s JOIN"
                   " intervention i ON i.service_id = s.id") >= 4
    assert sdb.one("SELECT count(*) FROM expenditure") > 0
    assert sdb.one("SELECT count(*) FROM population") == 6 * 5 * 6
    # Funding adds up to the cost (the deferred trigger checked it too).
    assert sdb.one("SELECT count(*) FROM intervention i WHERE coalesce(i.monthly_amount_cents,"
                   " i.total_amount_cents) <> (SELECT sum(amount_cents) FROM intervention_funding f"
                   " WHERE f.tenant_id = i.tenant_id AND f.intervention_id = i.id)") == 0
    # One audit event per batch stating what it loaded, not one per row.
    events = sdb.all("SELECT purpose FROM audit_event WHERE action = 'demo.bulk_load'")
    assert 6 <= len(events) <= 40, len(events)
    assert sdb.one("SELECT count(DISTINCT request_id) FROM audit_event"
                   " WHERE action = 'demo.bulk_load'") == len(events)
    assert sum(int(p.split(": ")[2].split(" persons")[0])
               for (p,) in events if " persons, " in p) == PERSONS

    # A second load without --append is refused and writes nothing.
    again = cli("demo", "--persons", "10", "--seed", "8", env=env)
    assert again.returncode == 1 and "--append" in again.stderr, again.stderr[-1000:]
    assert sdb.one("SELECT count(*) FROM person") == PERSONS

    with spawn_server(DATABASE_URL=env["DATABASE_URL"]) as srv:
        worker = {}
        for code in COMUNI:
            u, p = scratch_user(cli, env, code, "social_worker")
            worker[code] = login(u, p, code, url=srv.url)

        # Every generated person of every Comune, decrypted: valid, unique codes.
        codes = collections.Counter()
        people = {}
        for code in COMUNI:
            s, cursor = worker[code], None
            while True:
                params = {"limit": 100}
                if cursor:
                    params["cursor"] = cursor
                r = s.get(srv.url + "/api/v1/persons", params=params, timeout=HTTP_TIMEOUT)
                assert r.status_code == 200, r.text
                for p in r.json()["items"]:
                    cf = p["fiscal_code"]
                    assert len(cf) == 16 and fiscal.check_char(cf[:15]) == cf[15], cf
                    assert p["residence"] == code and p["surname"] and p["given_name"]
                    codes[cf] += 1
                    people[p["id"]] = (code, p)
                cursor = r.json()["next_cursor"]
                if not cursor:
                    break
        assert len(people) == PERSONS and len(codes) == PERSONS
        assert max(codes.values()) == 1

        # One person of Corsico reads back whole, and the search by fiscal
        # code finds exactly that person.
        pid, (_, one) = next((k, v) for k, v in people.items() if v[0] == CORSICO)
        r = worker[CORSICO].get(srv.url + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        got = r.json()
        for key in ("fiscal_code", "surname", "given_name", "birth_date", "birth_place",
                    "address", "contacts", "sex", "citizenship"):
            assert got[key] == one[key], key
        assert got["birth_date"][:4] == "19" + one["fiscal_code"][6:8] or \
            got["birth_date"][:4] == "20" + one["fiscal_code"][6:8]
        assert one["address"]["istat_code"] == CORSICO and one["contacts"]
        r = worker[CORSICO].get(srv.url + "/api/v1/persons",
                                params={"fiscal_code": one["fiscal_code"]}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200 and [p["id"] for p in r.json()["items"]] == [pid]
        # Another Comune does not see it.
        r = worker["015036"].get(srv.url + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT)
        is_problem(r, 404)

        # The regional spending report of Corsico for one year equals the
        # direct sum over the generated rows.
        u, p = scratch_user(cli, env, CORSICO, "service_manager")
        manager = login(u, p, CORSICO, url=srv.url)
        r = manager.get(srv.url + "/api/v1/reports/regional-spending", params={"year": YEAR},
                        timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        body = r.json()
        tid = sdb.tenant_id(CORSICO)
        want = dict(sdb.all(DIRECT_SUM, {"t": tid, "y": YEAR}))
        assert sum(want.values()) > 0
        assert cents(body["grand_total"]) == sum(want.values())
        for channel, total in body["column_totals"].items():
            assert cents(total) == want.get(channel, 0), channel
        assert body["users"] == sdb.one(DIRECT_USERS, {"t": tid, "y": YEAR}) > 0
        assert body["population"] == sdb.one(
            "SELECT sum(residents) FROM population WHERE tenant_id = %s AND year = %s",
            (tid, YEAR))

        # SIUSS flows of the generated interventions page for INPS.
        sdb.one("UPDATE tenant SET siuss_operator_cf = %s WHERE code = %s RETURNING id",
                (OPERATOR_CF, CORSICO))
        u, p = scratch_user(cli, env, CORSICO, "admin")
        adm = login(u, p, CORSICO, url=srv.url)
        r = adm.post(srv.url + "/api/v1/clients",
                     json={"name": random_name("inps "), "scopes": ["siuss"]},
                     timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, r.text
        auth = (r.json()["id"], r.json()["secret"])
        r1 = requests.get(srv.url + "/waas/v1/flussi", params={"since": 0, "limit": 50}, auth=auth,
                       timeout=HTTP_TIMEOUT)
        assert r1.status_code == 200, r1.text
        page = r1.json()["elenco_flussi"]
        assert len(page) == 50 and all(e["codice_ente"] == "D045" for e in page)
        assert len(set(e["id_flusso"] for e in page)) == 50

    # No generated name or fiscal code reached the database in clear: each
    # sampled name occurs in pg_dump no more often than before the load.
    dump = pg_dump(sdb.url, data_only=True)
    sample = list(people.values())[::97][:12]
    for _, p in sample:
        assert p["fiscal_code"] not in dump
        for name in (p["surname"], p["given_name"], p["address"]["line"]):
            assert dump.count(name) == baseline.count(name), name


@pytest.mark.parametrize("args", [["--persons", "0"], ["--persons", "-5"], ["--persons", "abc"],
                                  ["--persons"], ["--persons", "10", "--seed", "x"],
                                  ["--seed", "3"], ["--persons", "10", "--bogus"],
                                  ["--persons", "10", "--jobs", "0"],
                                  ["--persons", "10", "--jobs", "-2"],
                                  ["--persons", "10", "--jobs", "two"],
                                  ["--persons", "10", "--jobs", "17"],
                                  ["--persons", "10", "--jobs"], ["--jobs", "2"]])
def test_bad_arguments_are_exit_2_and_write_nothing(cli, db, args):
    def counts():
        return (db.one("SELECT count(*) FROM person"),
                db.one("SELECT count(*) FROM audit_event WHERE action = 'demo.bulk_load'"),
                db.one("SELECT count(*) FROM app_user WHERE username = 'cartella.demo'"))
    before = counts()
    res = cli("demo", *args)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.startswith("cartella demo: "), res.stderr
    assert "demo data loaded" not in res.stdout
    assert counts() == before


# What a load made, in the columns stored in clear (ids drawn from the seed,
# dates, amounts, states, codes), as one digest per table: equal digests of
# two databases mean the same rows. Tenant, service and user ids are made by
# each migration, so tenants and services go by their codes.
FINGERPRINTS = {
    "person": "SELECT t.code || p.id::text FROM person p JOIN tenant t ON t.id = p.tenant_id",
    "household_member": "SELECT concat_ws('|', m.household_id, m.person_id, m.relation, m.head)"
                        " FROM household_member m",
    "social_case": "SELECT c.id::text || c.person_id::text || c.status || c.sealed::text"
                   " FROM social_case c",
    "intervention": "SELECT concat_ws('|', i.id, t.code, i.case_id, i.beneficiary_id, s.code,"
                    " i.nature, i.start_date, i.end_date, i.delivery_date,"
                    " i.monthly_amount_cents, i.total_amount_cents, i.status,"
                    " i.application_protocol)"
                    " FROM intervention i JOIN tenant t ON t.id = i.tenant_id"
                    " JOIN service_catalogue s ON s.id = i.service_id",
    "intervention_funding": "SELECT concat_ws('|', f.intervention_id, f.channel, f.amount_cents)"
                            " FROM intervention_funding f",
    "expenditure": "SELECT concat_ws('|', t.code, e.year, e.channel, e.kind, e.amount_cents)"
                   " FROM expenditure e JOIN tenant t ON t.id = e.tenant_id",
    "population": "SELECT concat_ws('|', t.code, p.year, p.sex, p.age_from, p.residents)"
                  " FROM population p JOIN tenant t ON t.id = p.tenant_id",
}


def fingerprint(sdb):
    return {table: sdb.one("SELECT count(*)::text || ' ' || md5(coalesce(string_agg(x, ','"
                           " ORDER BY x), '')) FROM (%s) AS r(x)" % sql)
            for table, sql in FINGERPRINTS.items()}


def test_jobs_make_the_same_data_as_one_job(cli, scratch_db):  # noqa: F811
    """--jobs 3 loads three Comuni at a time on three connections; the rows are
    those --jobs 1 makes with the same seed (each Comune has its own
    generator and its own part of the fiscal codes), whatever the order the
    jobs finish in."""
    name = "scratch_" + random_name("")
    other = create_scratch_database(name)
    try:
        prints = []
        for (owner_url, app_url, sdb), jobs in ((scratch_db, 3), (other, 1)):
            env = {"CARTELLA_OWNER_DATABASE_URL": owner_url, "DATABASE_URL": app_url}
            assert cli("migrate", env=env).returncode == 0
            res = cli("demo", "--persons", "700", "--seed", "11", "--jobs", str(jobs), env=env,
                      timeout=300)
            assert res.returncode == 0, (res.stdout, res.stderr[-3000:])
            prints.append(fingerprint(sdb))
        assert prints[0]["person"].startswith("700 ")
        assert prints[0] == prints[1]
    finally:
        drop_scratch_database(name)
