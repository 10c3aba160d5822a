"""Tenant isolation in the database, the seeded tenants, and migrations."""

import csv
import os
import re

import psycopg2
import pytest
import requests

from conftest import (AMBITO, ASSAGO, CORSICO, HTTP_TIMEOUT, Db, create_scratch_database,
                      drop_scratch_database, login_body, random_name)

TENANT_OWNED = ["user_role", "session"]


def count(conn, sql, args=()):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def logged_in_user(make_user, login, tenant):
    u, p = make_user(tenant, "social_worker")
    s = login(u, p, tenant)
    return u, s


# ---------------------------------------------------------------- the application role

def test_app_role_is_neither_superuser_nor_bypassrls_nor_owner(db_app):
    c = db_app()
    with c.cursor() as cur:
        cur.execute("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles"
                    " WHERE rolname = current_user")
        user, sup, bypass = cur.fetchone()
        assert user == "cartella_app"
        assert sup is False and bypass is False
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
                    " AND pg_get_userbyid(c.relowner) = current_user")
        assert cur.fetchall() == []
        cur.execute("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                    " WHERE relname = ANY(%s) AND relkind = 'r'", (TENANT_OWNED,))
        rows = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    assert set(rows) == set(TENANT_OWNED), rows
    for name, (rls, force) in rows.items():
        assert rls and force, (name, rls, force)


def test_without_tenant_the_app_role_sees_no_rows(db, db_app, make_user, login):
    u, _ = logged_in_user(make_user, login, CORSICO)
    uid = db.user_id(u)
    # The rows exist (the superuser bypasses row-level security)...
    assert db.one("SELECT count(*) FROM user_role WHERE user_id = %s", (uid,)) >= 1
    assert db.one("SELECT count(*) FROM session WHERE user_id = %s", (uid,)) >= 1
    # ...and the application role without a tenant sees none at all.
    c = db_app()
    for table in TENANT_OWNED:
        assert count(c, "SELECT count(*) FROM %s" % table) == 0, table
    c.rollback()
    # An empty tenant is no tenant.
    c2 = db_app("")
    for table in TENANT_OWNED:
        assert count(c2, "SELECT count(*) FROM %s" % table) == 0, table


def test_with_a_tenant_the_app_role_sees_only_that_tenant(db, db_app, make_user, login):
    a, _ = logged_in_user(make_user, login, CORSICO)
    b, _ = logged_in_user(make_user, login, ASSAGO)
    ta = db.tenant_id(CORSICO)
    ua, ub = db.user_id(a), db.user_id(b)
    c = db_app(ta)
    for table in TENANT_OWNED:
        assert count(c, "SELECT count(*) FROM %s WHERE user_id = %%s" % table, (ua,)) >= 1, table
        assert count(c, "SELECT count(*) FROM %s WHERE user_id = %%s" % table, (ub,)) == 0, table
        with c.cursor() as cur:
            cur.execute("SELECT DISTINCT tenant_id FROM %s" % table)
            assert [str(r[0]) for r in cur.fetchall()] == [str(ta)], table
    c.rollback()
    # The setting is local to the transaction: the next one sees nothing.
    for table in TENANT_OWNED:
        assert count(c, "SELECT count(*) FROM %s" % table) == 0, table


def test_app_role_cannot_write_into_another_tenant(db, db_app, make_user, login):
    a, _ = logged_in_user(make_user, login, CORSICO)
    b, _ = logged_in_user(make_user, login, ASSAGO)
    ta, tb = db.tenant_id(CORSICO), db.tenant_id(ASSAGO)
    ua, ub = db.user_id(a), db.user_id(b)
    c = db_app(ta)
    with c.cursor() as cur:
        cur.execute("DELETE FROM user_role WHERE user_id = %s", (ub,))
        assert cur.rowcount == 0
        cur.execute("UPDATE session SET revoked_at = now() WHERE user_id = %s", (ub,))
        assert cur.rowcount == 0
        with pytest.raises(psycopg2.Error):
            cur.execute("INSERT INTO user_role (tenant_id, user_id, role) VALUES (%s, %s, 'admin')",
                        (tb, ua))
    c.rollback()
    assert db.one("SELECT count(*) FROM user_role WHERE user_id = %s AND tenant_id = %s",
                  (ua, tb)) == 0
    assert db.one("SELECT count(*) FROM user_role WHERE user_id = %s", (ub,)) >= 1
    assert db.one("SELECT count(*) FROM session WHERE user_id = %s AND revoked_at IS NULL",
                  (ub,)) >= 1


# ---------------------------------------------------------------- seeded tenants

def reference_comuni():
    path = os.path.join(os.environ["CARTELLA_REPO"], "..", "shared", "reference", "codes",
                        "comuni-ambito-corsichese.csv")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_six_comuni_and_the_ambito_are_seeded(db):
    ref = reference_comuni()
    assert len(ref) == 6
    rows = db.all("SELECT code, istat_code, belfiore_code, name, kind, parent_id, id FROM tenant")
    by_code = {r[0]: r for r in rows}
    ambito = by_code.get(AMBITO)
    assert ambito is not None, sorted(by_code)
    assert ambito[4] == "ambito"
    for c in ref:
        row = by_code.get(c["istat_code"])
        assert row is not None, c["istat_code"]
        code, istat, belfiore, name, kind, parent, _ = row
        assert istat == c["istat_code"]
        assert belfiore == c["belfiore_code"]
        assert name == c["name"]
        assert kind == "comune"
        assert str(parent) == str(ambito[6]), (code, parent)


def test_every_seeded_tenant_accepts_logins(base_url, make_user):
    ref = reference_comuni()
    tenants = [c["istat_code"] for c in ref] + [AMBITO]
    u, p = make_user(tenants[0], "dpo", grants=[(t, "dpo") for t in tenants[1:]])
    names = {c["istat_code"]: c["name"] for c in ref}
    for t in tenants:
        r = requests.post(base_url + "/api/v1/sessions", json=login_body(u, p, t),
                          timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, (t, r.text)
        tenant = r.json()["tenant"]
        assert tenant["code"] == t
        if t == AMBITO:
            assert tenant["kind"] == "ambito"
        else:
            assert tenant["kind"] == "comune" and tenant["name"] == names[t]


# ---------------------------------------------------------------- migrations

def test_migrate_again_is_a_no_op(cli, db):
    table = Db.MIGRATION_TABLE
    before = db.all("SELECT version, applied_at FROM %s ORDER BY version" % table)
    assert before
    res = cli("migrate")
    assert res.returncode == 0, (res.stdout, res.stderr)
    after = db.all("SELECT version, applied_at FROM %s ORDER BY version" % table)
    assert after == before
    v = cli("version").stdout
    assert re.search(r"\(schema %d\)" % before[-1][0], v), (v, before[-1])


@pytest.fixture
def scratch_db():
    """A new empty database owned by the owner role; dropped afterwards.
    Yields (owner_url, app_url, Db as superuser)."""
    name = "scratch_" + random_name("")
    try:
        yield create_scratch_database(name)
    finally:
        drop_scratch_database(name)


def test_migrate_a_fresh_database_then_refuse_a_newer_one(cli, scratch_db):
    owner_url, app_url, sdb = scratch_db
    env = {"CARTELLA_OWNER_DATABASE_URL": owner_url, "DATABASE_URL": app_url}
    table = Db.MIGRATION_TABLE

    first = cli("migrate", env=env)
    assert first.returncode == 0, (first.stdout, first.stderr)
    # One line per applied migration ("applied 001_foundation"); other output
    # (such as code list loading) may follow.
    applied = [line for line in first.stdout.splitlines() if line.startswith("applied ")]
    versions = sdb.all("SELECT version FROM %s ORDER BY version" % table)
    assert len(applied) == len(versions) >= 1, (first.stdout, versions)
    assert sdb.one("SELECT count(*) FROM tenant") == 7

    second = cli("migrate", env=env)
    assert second.returncode == 0, (second.stdout, second.stderr)
    for line in applied:
        assert line not in second.stdout
    assert sdb.all("SELECT version FROM %s ORDER BY version" % table) == versions

    # A newer binary has migrated this database: this one must refuse.
    conn = psycopg2.connect(owner_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO %s (version, name, checksum, applied_at)"
                        " VALUES (%%s, 'from-the-future', 'none', now())"
                        % table, (versions[-1][0] + 1000,))
    finally:
        conn.close()
    third = cli("migrate", env=env)
    assert third.returncode == 2, (third.returncode, third.stdout, third.stderr)
    assert third.stderr.strip()
    assert sdb.one("SELECT count(*) FROM %s" % table) == len(versions) + 1
