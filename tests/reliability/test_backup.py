"""Backup and restore drill: pg_dump of the shared database (populated by
the API suite and by this test) restored into a fresh cluster. The row count
of every table equals the source's in the dump's own snapshot; a server
started on the restored cluster with the same key-encryption key answers the
same persons with the same decrypted fields (every person a service manager
of each Comune lists, and the seeded ones field by field); the audit chain of
every tenant verifies and has as many sealed events as the source."""
import os
import re

import fiscal
import harness
from harness import HTTP_TIMEOUT, api

TENANTS = (api.CORSICO, api.ASSAGO)


def table_counts(cur):
    cur.execute("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")
    tables = [r[0] for r in cur.fetchall()]
    counts = {}
    for t in tables:
        cur.execute("SELECT count(*) FROM " + t)
        counts[t] = cur.fetchone()[0]
    return counts


def list_persons(s):
    """{id: (surname, given_name, fiscal_code)} of every person s lists."""
    out, cursor = {}, None
    while True:
        params = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        r = s.get(s.base_url + "/api/v1/persons", params=params, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        body = r.json()
        for p in body["items"]:
            out[p["id"]] = (p.get("surname"), p.get("given_name"), p.get("fiscal_code"))
        cursor = body.get("next_cursor")
        if not cursor:
            return out


def audit_verify(env):
    res = harness.run_cli("audit", "verify", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\S+)\tok\tsealed (\d+)", res.stdout, re.M)}


def test_dump_restores_into_a_fresh_cluster_with_everything_readable(shared, cluster, workdir):
    base = shared.base_url
    managers = {t: shared.user(t, "service_manager") for t in TENANTS}
    sources = {t: harness.login_on(base, *managers[t], tenant=t) for t in TENANTS}
    seeded = {}
    for _ in range(5):
        body = fiscal.person()
        r = sources[api.CORSICO].post(base + "/api/v1/persons", json=body, timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, r.text
        seeded[r.json()["id"]] = r.json()
    before = {t: list_persons(sources[t]) for t in TENANTS}
    assert set(seeded) <= set(before[api.CORSICO])

    # The dump and the source's counts in one snapshot.
    sock_dir, port = harness.shared_cluster_socket()
    dump = os.path.join(workdir, "cartella.dump")
    src = psycopg2_connect_superuser()
    try:
        src.set_session(isolation_level="REPEATABLE READ")
        with src.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
            source_counts = table_counts(cur)
            cur.execute("SELECT t.code, count(*) FROM audit_event a JOIN tenant t"
                        " ON t.id = a.tenant_id WHERE a.seal_seq IS NOT NULL GROUP BY t.code")
            source_sealed = dict(cur.fetchall())
            res = harness._lib('as_pg "$PG_BIN/pg_dump" -h %s -p %d -U postgres -Fc'
                               ' --snapshot=%s cartella > %s'
                               % (harness.Cluster.q(sock_dir), port, snapshot,
                                  harness.Cluster.q(dump)))
        src.rollback()
    finally:
        src.close()
    assert os.path.getsize(dump) > 10000
    assert audit_verify({})  # the source verifies too

    # A fresh cluster with the roles and an empty database; restore into it.
    fresh = cluster(durable=False, migrate=False)
    res = harness._lib('as_pg "$PG_BIN/pg_restore" -h %s -p %d -U postgres -d cartella'
                       ' --exit-on-error --single-transaction < %s'
                       % (fresh.q(fresh.socket_dir), fresh.port, fresh.q(dump)))
    with fresh.connect() as conn, conn.cursor() as cur:
        restored_counts = table_counts(cur)
    assert restored_counts == source_counts
    assert source_counts["public.person"] >= len(seeded)
    assert source_counts["public.audit_event"] > 0

    # Migrations see nothing to do; the chain verifies with the same key.
    res = harness.run_cli("migrate", env=fresh.env(owner=True))
    assert res.returncode == 0, res.stdout + res.stderr
    restored_sealed = audit_verify(fresh.env())
    assert {k: v for k, v in restored_sealed.items() if v} == source_sealed

    with harness.server(workdir, fresh.env()) as srv:
        for t in TENANTS:
            s = harness.login_on(srv.url, *managers[t], tenant=t)
            assert list_persons(s) == before[t], t
            if t == api.CORSICO:
                for pid, body in seeded.items():
                    r = s.get(srv.url + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT)
                    assert r.status_code == 200, r.text
                    got = r.json()
                    for k in ("fiscal_code", "surname", "given_name", "birth_date",
                              "birth_place", "address", "contacts", "sex"):
                        assert got[k] == body[k], (k, got[k], body[k])
    harness.report("backup drill", tables=len(source_counts),
                   rows=sum(source_counts.values()), persons=source_counts["public.person"],
                   persons_read_back=sum(len(v) for v in before.values()),
                   audit_events=source_counts["public.audit_event"],
                   sealed_verified=sum(source_sealed.values()))


def psycopg2_connect_superuser():
    import psycopg2
    return psycopg2.connect(os.environ["CARTELLA_PG_SUPERUSER_URL"])
