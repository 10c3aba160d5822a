"""`cartella demo` loads a realistic small Ambito through the API handlers, in
every case state, and leaves Comuni that already have data alone."""
from test_tenancy import scratch_db  # noqa: F401  (fixture)


def test_demo_loads_every_case_state_and_is_not_loaded_twice(cli, scratch_db):  # noqa: F811
    owner_url, app_url, sdb = scratch_db
    env = {"CARTELLA_OWNER_DATABASE_URL": owner_url, "DATABASE_URL": app_url}
    assert cli("migrate", env=env).returncode == 0
    first = cli("demo", env=env, timeout=300)
    assert first.returncode == 0, (first.stdout, first.stderr[-3000:])
    assert "Corsico (015093): demo data loaded" in first.stdout
    assert "0 refused" in first.stdout and "refused)" in first.stdout

    by_state = dict(sdb.all(
        "SELECT c.status, count(*) FROM social_case c JOIN tenant t ON t.id = c.tenant_id"
        " WHERE t.code = '015093' GROUP BY 1"))
    assert set(by_state) == {"access", "assessment", "in_charge", "closed"}, by_state
    natures = dict(sdb.all("SELECT nature, count(*) FROM intervention GROUP BY 1"))
    assert natures.get("periodic", 0) > 0 and natures.get("one_off", 0) > 0
    channels = sdb.one("SELECT count(DISTINCT channel) FROM intervention_funding")
    assert channels >= 2
    assert sdb.one("SELECT count(*) FROM household_member") > sdb.one("SELECT count(*) FROM household")
    assert sdb.one("SELECT count(*) FROM isee") > 0
    assert sdb.one("SELECT count(*) FROM case_note") > 0
    # Every person is stored encrypted and has a valid fiscal code (the API checked it).
    assert sdb.one("SELECT count(*) FROM person WHERE fiscal_code_kind = 'personal'") == \
        sdb.one("SELECT count(*) FROM person")
    # The demo account cannot log in.
    assert sdb.one("SELECT disabled FROM app_user WHERE username = 'cartella.demo'") is True

    persons = sdb.one("SELECT count(*) FROM person")
    second = cli("demo", env=env, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "already has data" in second.stdout
    assert sdb.one("SELECT count(*) FROM person") == persons
