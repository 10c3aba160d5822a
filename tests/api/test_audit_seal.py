"""The seal of the audit trail: the server's sealer chains every tenant's
audit events with a keyed hash within seconds; `GET /api/v1/audit/verify`
and `cartella audit verify` recompute the chain and name the first broken
link when a sealed row has been changed behind the application's back; the
application role may seal a row once and change nothing else."""
import time
import uuid

import psycopg2
import pytest

import fiscal
from conftest import CORSICO, HTTP_TIMEOUT

SEAL_WAIT = 15


@pytest.fixture
def worker(make_user, login):
    u, p = make_user(CORSICO, "social_worker")
    return login(u, p, CORSICO)


@pytest.fixture
def dpo(make_user, login):
    u, p = make_user(CORSICO, "dpo")
    return login(u, p, CORSICO)


def audited_reads(worker, n=3):
    """Creates a person and reads it n times; returns the request ids."""
    r = worker.post(worker.base_url + "/api/v1/persons", json=fiscal.person(),
                    timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    ids = []
    for _ in range(n):
        rid = "seal-" + uuid.uuid4().hex
        g = worker.get(worker.base_url + "/api/v1/persons/" + pid,
                       headers={"X-Request-Id": rid}, timeout=HTTP_TIMEOUT)
        assert g.status_code == 200
        ids.append(rid)
    return ids


def wait_sealed(db, request_ids):
    """Polls until every event of the requests is sealed; returns their
    (id, seal_seq) rows."""
    deadline = time.monotonic() + SEAL_WAIT
    while True:
        rows = db.all("SELECT id, seal_seq FROM audit_event WHERE request_id = ANY(%s)"
                      " ORDER BY id", (list(request_ids),))
        if rows and all(r[1] is not None for r in rows):
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.3)


def verify(dpo):
    r = dpo.get(dpo.base_url + "/api/v1/audit/verify", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_events_are_sealed_and_verify(worker, dpo, db, cli):
    ids = audited_reads(worker)
    rows = wait_sealed(db, ids)
    tenant = db.tenant_id(CORSICO)
    head = db.one("SELECT seq FROM audit_seal_head WHERE tenant_id = %s", (tenant,))
    assert head >= max(r[1] for r in rows)
    v = verify(dpo)
    assert v["ok"] is True and v["first_broken"] is None, v
    assert v["sealed"] >= len(rows)
    assert v["unsealed"] >= 0
    c = cli("audit", "verify", "--tenant", CORSICO)
    assert c.returncode == 0, c.stdout + c.stderr
    assert "ok" in c.stdout


def test_only_the_dpo_verifies(worker):
    r = worker.get(worker.base_url + "/api/v1/audit/verify", timeout=HTTP_TIMEOUT)
    assert r.status_code == 403


@pytest.mark.parametrize("column", ["object_id", "outcome"])
def test_tampering_is_found(worker, dpo, db, db_super, cli, column):
    ids = audited_reads(worker, n=2)
    rows = wait_sealed(db, ids)
    event_id, seq = rows[0]
    tenant = db.tenant_id(CORSICO)
    su = db_super()
    with su.cursor() as cur:
        cur.execute("SELECT object_id, outcome FROM audit_event"
                    " WHERE tenant_id = %s AND id = %s", (tenant, event_id))
        orig_object, orig_outcome = cur.fetchone()
    su.commit()

    def set_row(object_id, outcome):
        with su.cursor() as cur:
            cur.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
            cur.execute("UPDATE audit_event SET object_id = %s, outcome = %s"
                        " WHERE tenant_id = %s AND id = %s",
                        (object_id, outcome, tenant, event_id))
            assert cur.rowcount == 1
            cur.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")
        su.commit()

    try:
        if column == "object_id":
            set_row(str(uuid.uuid4()), orig_outcome)
        else:
            set_row(orig_object, 404 if orig_outcome != 404 else 200)
        v = verify(dpo)
        assert v["ok"] is False, v
        assert v["first_broken"] == {"seq": seq, "event_id": event_id}, (v, seq, event_id)
        c = cli("audit", "verify", "--tenant", CORSICO)
        assert c.returncode == 1, c.stdout + c.stderr
        assert "seq %d" % seq in c.stdout and "event id %d" % event_id in c.stdout, c.stdout
    finally:
        su.rollback()
        set_row(orig_object, orig_outcome)
    v = verify(dpo)
    assert v["ok"] is True, v


def test_app_role_cannot_change_a_sealed_row(worker, db, db_app):
    ids = audited_reads(worker, n=1)
    rows = wait_sealed(db, ids)
    event_id = rows[0][0]
    tenant = db.tenant_id(CORSICO)
    for sql in (
            # Another column: no column privilege (and the trigger would refuse).
            "UPDATE audit_event SET outcome = 500 WHERE id = %s",
            # Re-sealing a sealed row: the trigger refuses.
            "UPDATE audit_event SET seal_seq = seal_seq + 1000000,"
            " seal_hash = seal_hash WHERE id = %s",
            "UPDATE audit_event SET seal_seq = NULL, seal_hash = NULL WHERE id = %s"):
        c = db_app(tenant)
        with c.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql, (event_id,))
        c.rollback()
    assert db.one("SELECT seal_seq FROM audit_event WHERE id = %s", (event_id,)) == rows[0][1]


def test_the_owner_cannot_change_a_sealed_row_either(worker, db, db_owner):
    ids = audited_reads(worker, n=1)
    rows = wait_sealed(db, ids)
    tenant = str(db.tenant_id(CORSICO))
    with db_owner.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant', %s, false)", (tenant,))
        with pytest.raises(psycopg2.Error) as exc:
            cur.execute("UPDATE audit_event SET object_type = 'x', seal_seq = NULL,"
                        " seal_hash = NULL WHERE id = %s", (rows[0][0],))
        assert "append-only" in str(exc.value)
    db_owner.rollback()
