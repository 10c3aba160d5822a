"""The INPS WaaS e-service (/waas/v1, reference/inps-waas/api-comuni.yaml) and
the SIUSS batch file: every flow produced is checked with xmllint against the
official PS_PSA_SINA201812.xsd, every answer against the INPS OpenAPI schema
(jsonschema, Draft 4 as OpenAPI 3.0 uses it); the export rules, I/C flows
for changes and cancellations, restricted persons never in a flow, outcomes
stored per flow and shown on the intervention, bad parameters answered 400.

The tests use Trezzano sul Naviglio (L409), which no other test module uses,
so the tenant's flow sequence is theirs."""
import base64
import os
import random
import re
import string
import subprocess
import tempfile
import uuid

import pytest
import yaml
from jsonschema import Draft4Validator, RefResolver

import fiscal
from conftest import AMBITO, CORSICO, HTTP_TIMEOUT, is_problem, random_name

TENANT = "015220"
BELFIORE = "L409"
OPERATOR_CF = "09876543210"
REPO = os.environ.get("CARTELLA_REPO", ".")
REF = os.path.join(REPO, "..", "shared", "reference", "inps-waas")
XSD = os.path.join(REF, "PS_PSA_SINA201812.xsd")
SINBA_XSD = os.path.join(REF, "SINBA.xsd")
NS = "{http://inps.it/Casellario}"


# ---------------------------------------------------------------- contract

with open(os.path.join(REF, "api-comuni.yaml"), encoding="utf-8") as f:
    SPEC = yaml.safe_load(f)
RESOLVER = RefResolver.from_schema(SPEC)


def assert_schema(name, body):
    """Validates body against components/schemas/name of the INPS contract."""
    schema = {"$ref": "#/components/schemas/" + name}
    Draft4Validator(schema, resolver=RESOLVER).validate(body)


def assert_inps_problem(resp, status):
    body = is_problem(resp, status)
    assert_schema("Problem", body)
    return body


def assert_xsd_valid(xml: bytes, xsd=XSD):
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(xml)
        f.flush()
        res = subprocess.run(["xmllint", "--noout", "--schema", xsd, f.name],
                             capture_output=True, text=True)
    assert res.returncode == 0, res.stderr + xml.decode()[:2000]


# ---------------------------------------------------------------- fixtures

def flow_fixtures(tenant, operator_cf):
    """The module fixtures of a flow test on tenant: configured (the tenant
    with its operator fiscal code set), staff (a social worker who is also
    administrative) and inps (the caller of the e-service: an integration
    client of the tenant with scope siuss, HTTP Basic, the principal a PDND
    voucher also maps to). Assign them to those three names."""

    @pytest.fixture(scope="module")
    def configured(db):
        db.one("UPDATE tenant SET siuss_operator_cf = %s WHERE code = %s RETURNING id",
               (operator_cf, tenant))
        return tenant

    @pytest.fixture(scope="module")
    def staff(make_user, login, configured):
        u, p = make_user(tenant, "social_worker", roles=("administrative",))
        return login(u, p, tenant)

    @pytest.fixture(scope="module")
    def inps(make_client, configured):
        return make_client(["siuss"], tenant=tenant)

    return configured, staff, inps


configured, staff, inps = flow_fixtures(TENANT, OPERATOR_CF)


def service(db, code):
    return str(db.one("SELECT s.id FROM service_catalogue s JOIN tenant t ON t.id = s.tenant_id"
                      " WHERE t.code = 'corsichese' AND s.code = %s", (code,)))


def new_person(s, cf=None, **kw):
    body = fiscal.person(**kw)
    body["residence"] = TENANT
    body["address"]["istat_code"] = TENANT
    if cf:
        body["fiscal_code"] = cf
    r = s.post(s.base_url + "/api/v1/persons", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()["id"], body


def new_intervention(s, db, person_id, code="SAD", **over):
    body = {
        "beneficiary_id": person_id, "service": service(db, code), "nature": "periodic",
        "start_date": "2024-03-01", "end_date": "2024-10-31", "monthly_amount": "350.00",
        "hours_per_month": "20.50", "means_test": 4,
        "shares": {"tenant": "300.00", "user": "50.00", "health": None},
        "funding": [{"channel": "comune", "amount": "350.00"}],
        "in_charge": True, "user_area": 2,
        "application_protocol": random_name("P-"),
    }
    body.update(over)
    r = s.post(s.base_url + "/api/v1/interventions", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()


def pull(s, since=0, limit=100, belfiore=BELFIORE):
    """Every flow after since (following the pages), each validated against
    the contract and its XSD (PS_PSA_SINA or SINBA, by tipo); returns
    [(entry, xml root)]."""
    import xml.etree.ElementTree as ET
    out = []
    while True:
        r = s.get(s.base_url + "/waas/v1/flussi", params={"since": since, "limit": limit},
                  timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        body = r.json()
        assert_schema("Entries", body)
        items = body["elenco_flussi"]
        assert len(items) <= limit
        for e in items:
            xml = base64.b64decode(e["flusso"], validate=True)
            sinba = e["tipo"] == "SINBA"
            assert sinba or e["tipo"] == "PS_PSA_SINA"
            assert_xsd_valid(xml, SINBA_XSD if sinba else XSD)
            root = ET.fromstring(xml)
            kind = "SINBA" if sinba else "PS"
            assert re.match(r"^%s\.%s\.[0-9]{8}\.[0-9]{7}$" % (belfiore, kind),
                            e["id_flusso"]), e["id_flusso"]
            assert e["codice_ente"] == belfiore
            name = root.find(NS + "IdentificazioneFlusso").get("Nome")
            assert name == e["id_flusso"]
            # one beneficiary, one prestazione per WaaS flow
            if sinba:
                assert len(root.findall(NS + "SINBA")) == 1
                assert len(root.findall(".//" + NS + "CodicePrestazione")) == 1
            else:
                assert len(root.findall(NS + "Beneficiario")) == 1
                assert len(root.findall(".//" + NS + "PrestazioniSociali")) == 1
            out.append((e, root))
        if len(items) < limit:
            return out
        since = ts_ms(items[-1]["ts_flusso"])


def ts_ms(ts):
    import datetime
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000 + 0.5) if d.microsecond else int(d.timestamp()) * 1000


def prest(root):
    return root.find(".//" + NS + "PrestazioniSociali")


def mine(flows, protocol):
    """The PS flows of the intervention with application protocol protocol."""
    return [(e, r) for e, r in flows
            if e["tipo"] == "PS_PSA_SINA" and prest(r).get("ProtocolloDomanda") == protocol]


def last_ts(s):
    flows = pull(s)
    return ts_ms(flows[-1][0]["ts_flusso"]) if flows else 0


# ---------------------------------------------------------------- tests

def test_a_new_intervention_becomes_one_valid_flow(staff, inps, db):
    pid, person = new_person(staff)
    iv = new_intervention(staff, db, pid)
    flows = pull(inps)
    got = mine(flows, iv["application_protocol"])
    assert len(got) == 1
    entry, root = got[0]
    ben = root.find(NS + "Beneficiario")
    assert ben.get("CodiceFiscale") == person["fiscal_code"]
    ana = ben.find(NS + "Anagrafica")
    assert ana.get("Cognome") == person["surname"].upper()
    assert ana.get("LuogoNascita") == "F205" and ana.get("Genere") == "1"
    addr = ben.find(NS + "Indirizzo")
    assert (addr.get("CodiceComune"), addr.get("CodiceRegione"), addr.get("CodiceNazione")) == \
        (TENANT, "03", "380")
    p = prest(root)
    assert p.get("TipoOperazione") == "I"
    assert p.get("CodicePrestazione") == "A2.07"
    assert p.get("CaratterePrestazione") == "1"
    assert p.get("DataInizioPrestazione") == "2024-03-01"
    assert p.get("DataFinePrestazione") == "2024-10-31"
    assert p.get("PeriodoErogazione") == "8"
    assert p.get("ImportoMensile") == "350.00"
    assert (p.get("ImportoQuotaEnte"), p.get("ImportoQuotaUtente")) == ("300.00", "50.00")
    assert p.get("ImportoQuotaSSN") is None
    assert (p.get("PresaCarico"), p.get("AreaUtenza"), p.get("PresenzaProvaMezzi")) == \
        ("1", "2", "4")
    assert p.get("NumeroProtocolloDSU") is None  # not means-tested: no DSU fields
    ente = root.find(NS + "IdentificazioneFlusso/" + NS + "Ente")
    assert (ente.get("Codice"), ente.get("Indirizzo"), ente.get("CFOperatore")) == \
        (BELFIORE, BELFIORE, OPERATOR_CF)
    # pulled again, the same flow is the same bytes and no new flow appears
    again = mine(pull(inps), iv["application_protocol"])
    assert [e for e, _ in again] == [entry]
    # the intervention shows its flow
    r = staff.get(staff.base_url + "/api/v1/interventions/" + iv["id"], timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert [f["id_flusso"] for f in r.json()["siuss"]["flows"]] == [entry["id_flusso"]]
    assert r.json()["siuss"]["refusal"] is None


def test_changes_and_cancellation_produce_c_and_i_flows(staff, inps, db):
    pid, _ = new_person(staff)
    iv = new_intervention(staff, db, pid)
    proto = iv["application_protocol"]
    pull(inps)
    url = staff.base_url + "/api/v1/interventions/" + iv["id"]
    r = staff.patch(url, json={"monthly_amount": "400.00", "shares": {"tenant": "400.00",
                    "user": None, "health": None},
                    "funding": [{"channel": "comune", "amount": "400.00"}]},
                    headers={"If-Match": '"%d"' % iv["version"]}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    flows = mine(pull(inps), proto)
    ops = [(prest(x).get("TipoOperazione"), prest(x).get("ImportoMensile")) for _, x in flows]
    assert ops == [("I", "350.00"), ("C", "350.00"), ("I", "400.00")]
    stamps = [ts_ms(e["ts_flusso"]) for e, _ in flows]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    # a change that does not touch the flow (funding channel) sends nothing
    r = staff.patch(url, json={"funding": [{"channel": "fnps", "amount": "400.00"}]},
                    headers={"If-Match": r.headers["ETag"]}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert len(mine(pull(inps), proto)) == 3
    r = staff.patch(url, json={"status": "cancelled"}, headers={"If-Match": r.headers["ETag"]},
                    timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    flows = mine(pull(inps), proto)
    assert [prest(x).get("TipoOperazione") for _, x in flows] == ["I", "C", "I", "C"]
    assert prest(flows[-1][1]).get("ImportoMensile") == "400.00"
    # after the last one, nothing
    since = ts_ms(flows[-1][0]["ts_flusso"])
    assert mine(pull(inps, since=since), proto) == []


def test_export_rules(staff, inps, db):
    pid, _ = new_person(staff)
    never = new_intervention(staff, db, pid, code="TUTELA-MIN", user_area=1)
    adm_out = new_intervention(staff, db, pid, code="ADM", in_charge=False, user_area=None)
    adm_in = new_intervention(staff, db, pid, code="ADM", user_area=1)
    one_off = new_intervention(
        staff, db, pid, code="EMERG-ABIT", nature="one_off", start_date=None, end_date=None,
        monthly_amount=None, hours_per_month=None, delivery_date="2024-05-02",
        total_amount="1200.50", shares={"tenant": None, "user": None, "health": None},
        funding=[{"channel": "comune", "amount": "1200.50"}], in_charge=False, user_area=None)
    flows = pull(inps)
    assert mine(flows, never["application_protocol"]) == []
    assert mine(flows, adm_out["application_protocol"]) == []
    [(_, root)] = mine(flows, adm_in["application_protocol"])
    assert prest(root).get("AreaUtenza") == "1"
    [(_, root)] = mine(flows, one_off["application_protocol"])
    p = prest(root)
    assert (p.get("CaratterePrestazione"), p.get("DataErogazionePrestazione"),
            p.get("ImportoPrestazione"), p.get("PresaCarico")) == ("2", "2024-05-02",
                                                                   "1200.50", "2")
    assert p.get("AreaUtenza") is None and p.get("DataInizioPrestazione") is None


SINA_ANSWERS = {
    "mobilita": "2", "attivita_vita_quotidiana": "3", "disturbi_area_cognitiva": "1",
    "disturbi_comportamentali": "1", "area_reddituale": "2", "area_supporto": "3",
    "fonte_derivazione_valutazione": "1", "strumento_valutazione": "1",
    "invalidita_civile": ["2", "6"], "necessita_interventi_sociali": ["A1.01", "A2.07"],
}


def sina_of(root):
    return prest(root).find(NS + "SINA")


def test_the_sina_section_comes_from_the_latest_sina_assessment(staff, inps, db):
    pid, _ = new_person(staff)
    r = staff.post(staff.base_url + "/api/v1/cases", json={"person_id": pid},
                   timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    case = r.json()["id"]

    def assess(answers):
        r = staff.post(staff.base_url + "/api/v1/cases/%s/assessments" % case,
                       json={"kind": "sina", "assessed_on": "2024-02-20", "answers": answers},
                       timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, r.text
    assess(SINA_ANSWERS)
    iv = new_intervention(staff, db, pid, case_id=case)  # in charge, area 2
    poverty = new_intervention(staff, db, pid, case_id=case, user_area=3)
    flows = pull(inps)
    [(_, root)] = mine(flows, iv["application_protocol"])
    sina = sina_of(root)
    assert sina is not None
    assert dict(sina.attrib) == {
        "Mobilita": "2", "AttivitaVitaQuotidiana": "3", "DisturbiAreaCognitiva": "1",
        "DisturbiComportamentali": "1", "AreaReddituale": "2", "AreaSupporto": "3",
        "FonteDerivazioneValutazione": "1", "StrumentoValutazione": "1"}
    assert [e.text for e in sina.findall(
        NS + "NecessitaInterventiSociali/" + NS + "CodicePrestazione")] == ["A1.01", "A2.07"]
    assert [e.text for e in sina.findall(NS + "InvaliditaCivile/" + NS + "InvCiv")] == \
        ["2", "6"]
    # another user area: no SINA section
    [(_, root)] = mine(flows, poverty["application_protocol"])
    assert sina_of(root) is None
    # a new assessment version that changes an answer: the flow is withdrawn and sent again
    assess(dict(SINA_ANSWERS, mobilita="3"))
    got = mine(pull(inps), iv["application_protocol"])
    assert [(prest(x).get("TipoOperazione"), sina_of(x).get("Mobilita")) for _, x in got] == \
        [("I", "2"), ("C", "2"), ("I", "3")]
    assert len(mine(pull(inps), poverty["application_protocol"])) == 1
    # a new version with the same answers sends nothing
    assess(dict(SINA_ANSWERS, mobilita="3"))
    assert len(mine(pull(inps), iv["application_protocol"])) == 3


def test_isee_linked_flows_carry_the_dsu(staff, inps, db):
    pid, _ = new_person(staff)
    dsu = "INPS-ISEE-2024-%08dA-01" % random.randint(0, 10**8 - 1)
    without = new_intervention(staff, db, pid, means_test=1, dsu=dsu)
    flows = pull(inps)
    assert mine(flows, without["application_protocol"]) == []
    r = staff.get(staff.base_url + "/api/v1/interventions/" + without["id"],
                  timeout=HTTP_TIMEOUT)
    assert "ISEE" in r.json()["siuss"]["refusal"]
    r = staff.post(staff.base_url + "/api/v1/isee",
                   json={"person_id": pid, "dsu_protocol": dsu, "year": 2024,
                         "signed_on": "2024-02-15", "indicator_type": "ordinario",
                         "value": "12345.67"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    with_isee = new_intervention(staff, db, pid, means_test=1, dsu=dsu)
    [(_, root)] = mine(pull(inps), with_isee["application_protocol"])
    p = prest(root)
    assert (p.get("PresenzaProvaMezzi"), p.get("NumeroProtocolloDSU"),
            p.get("AnnoProtocolloDSU"), p.get("DataDSU")) == ("1", dsu, "2024", "2024-02-15")


def test_an_isee_attestation_recorded_later_sends_the_refused_flow(staff, inps, db):
    """An intervention with means test 1 recorded before its DSU's ISEE
    attestation is refused (isee_missing) and leaves the change queue;
    recording the attestation queues it again (migration 031), so the next
    sync sends its flow with @DataDSU = the attestation's signed_on."""
    pid, _ = new_person(staff)
    dsu = "INPS-ISEE-2024-%08dB-01" % random.randint(0, 10**8 - 1)
    iv = new_intervention(staff, db, pid, means_test=1, dsu=dsu)
    proto = iv["application_protocol"]
    assert mine(pull(inps), proto) == []
    url = staff.base_url + "/api/v1/interventions/" + iv["id"]
    siuss = staff.get(url, timeout=HTTP_TIMEOUT).json()["siuss"]
    assert siuss["flows"] == [] and "ISEE" in siuss["refusal"]
    assert db.one("SELECT count(*) FROM flow_change WHERE intervention_id = %s",
                  (iv["id"],)) == 0
    r = staff.post(staff.base_url + "/api/v1/isee",
                   json={"person_id": pid, "dsu_protocol": dsu, "year": 2024,
                         "signed_on": "2024-03-12", "indicator_type": "ordinario",
                         "value": "9876.54"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    [(_, root)] = mine(pull(inps), proto)
    p = prest(root)
    assert (p.get("TipoOperazione"), p.get("PresenzaProvaMezzi"), p.get("NumeroProtocolloDSU"),
            p.get("AnnoProtocolloDSU"), p.get("DataDSU")) == ("I", "1", dsu, "2024",
                                                              "2024-03-12")
    siuss = staff.get(url, timeout=HTTP_TIMEOUT).json()["siuss"]
    assert len(siuss["flows"]) == 1 and siuss["refusal"] is None


@pytest.fixture(scope="module")
def ambito_admin(admin):
    """An admin of the Ambito, who writes its shared service catalogue."""
    return admin(AMBITO)[0]


def shared_service(ambito_admin, **over):
    """A new service of the Ambito's shared catalogue (A2.07, periodic),
    made for one test so that changing it touches no other test's flows."""
    body = {"code": random_name("W").upper().replace("_", "-"),
            "name": "Assistenza domiciliare di prova", "inps_code": "A2.07",
            "istat_area": "ELD", "regional_area": "anziani", "nature": "periodic"}
    body.update(over)
    r = ambito_admin.post(ambito_admin.base_url + "/api/v1/services", json=body,
                          timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()


def patch_service(ambito_admin, svc, **change):
    r = ambito_admin.patch(ambito_admin.base_url + "/api/v1/services/" + svc["id"],
                           json=change, headers={"If-Match": '"%d"' % svc["version"]},
                           timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def queued(db, intervention_id):
    return db.one("SELECT count(*) FROM flow_change WHERE intervention_id = %s",
                  (intervention_id,))


def test_a_service_correction_reaches_the_flows_already_sent(staff, inps, db, ambito_admin,
                                                             make_user, login):
    """Correcting the INPS code of a shared service queues the interventions
    of every Comune that uses it (migration 031): the flow already sent is
    withdrawn (C) and sent again (I) with the new code."""
    svc = shared_service(ambito_admin)
    pid, _ = new_person(staff)
    iv = new_intervention(staff, db, pid, service=svc["id"])
    proto = iv["application_protocol"]
    u, pw = make_user(CORSICO, "social_worker", roles=("administrative",))
    corsico = login(u, pw, CORSICO)
    body = fiscal.person()
    body["residence"] = CORSICO
    body["address"]["istat_code"] = CORSICO
    r = corsico.post(corsico.base_url + "/api/v1/persons", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    other = new_intervention(corsico, db, r.json()["id"], service=svc["id"])
    assert [prest(x).get("CodicePrestazione") for _, x in mine(pull(inps), proto)] == ["A2.07"]
    # Corsico pulls no flows: its entry from the insertion is cleared by hand
    db.one("DELETE FROM flow_change WHERE intervention_id = %s RETURNING 1", (other["id"],))
    assert (queued(db, iv["id"]), queued(db, other["id"])) == (0, 0)
    patch_service(ambito_admin, svc, inps_code="A2.08")
    assert (queued(db, iv["id"]), queued(db, other["id"])) == (1, 1)
    flows = mine(pull(inps), proto)
    assert [(prest(x).get("TipoOperazione"), prest(x).get("CodicePrestazione"),
             prest(x).get("DenominazionePrestazione")) for _, x in flows] == [
        ("I", "A2.07", "Assistenza domiciliare socio-assistenziale"),
        ("C", "A2.07", "Assistenza domiciliare socio-assistenziale"),
        ("I", "A2.08", "A.D.I. - Assistenza domiciliare integrata con servizi sanitari")]


def test_only_the_catalogue_columns_a_flow_reads_queue_its_interventions(staff, inps, db,
                                                                         ambito_admin):
    """A change of the service's regional area (not in the flow) queues
    nothing and the next sync is empty; setting never_export withdraws the
    flow already sent (C)."""
    svc = shared_service(ambito_admin)
    pid, _ = new_person(staff)
    iv = new_intervention(staff, db, pid, service=svc["id"])
    proto = iv["application_protocol"]
    flows = pull(inps)
    assert len(mine(flows, proto)) == 1
    since = ts_ms(flows[-1][0]["ts_flusso"])
    svc = patch_service(ambito_admin, svc, regional_area="emarginazione_poverta")
    assert queued(db, iv["id"]) == 0
    assert pull(inps, since=since) == []
    patch_service(ambito_admin, svc, never_export=True)
    assert queued(db, iv["id"]) == 1
    assert [prest(x).get("TipoOperazione") for _, x in mine(pull(inps), proto)] == ["I", "C"]


def test_a_new_name_of_an_inps_prestazione_reaches_the_flows_already_sent(staff, inps, db,
                                                                         ambito_admin):
    """When INPS renames a prestazione, `cartella migrate` loads the new label
    into the code list inps-prestazioni, and the label is the flow's
    DenominazionePrestazione: the update queues the interventions of the
    services with that code (migration 032), and the next sync withdraws the
    flow already sent (C) and sends it again (I) with the new name. A label
    of another list queues nothing. The labels are put back at the end."""
    code = db.one("SELECT min(c.code) FROM code c WHERE c.list = 'inps-prestazioni'"
                  " AND c.code LIKE 'A2.%%' AND NOT EXISTS"
                  " (SELECT 1 FROM service_catalogue s WHERE s.inps_code = c.code)")
    assert code is not None, "every A2 prestazione has a service: the test needs a free one"
    area = db.one("SELECT min(code) FROM code WHERE list = 'istat-user-areas'")
    labels = {(lst, c): db.one("SELECT label_it FROM code WHERE list = %s AND code = %s",
                               (lst, c))
              for lst, c in (("inps-prestazioni", code), ("istat-user-areas", area))}
    old = labels[("inps-prestazioni", code)]
    renamed = old + " (nuova denominazione)"
    svc = shared_service(ambito_admin, inps_code=code)
    pid, _ = new_person(staff)
    iv = new_intervention(staff, db, pid, service=svc["id"])
    proto = iv["application_protocol"]
    flows = pull(inps)
    assert [prest(x).get("DenominazionePrestazione") for _, x in mine(flows, proto)] == [old]
    since = ts_ms(flows[-1][0]["ts_flusso"])

    def relabel(lst, c, label):
        assert db.one("UPDATE code SET label_it = %s WHERE list = %s AND code = %s RETURNING 1",
                      (label, lst, c)) == 1

    def names():
        flows = pull(inps, since=since)
        return flows, [(prest(x).get("TipoOperazione"), prest(x).get("DenominazionePrestazione"))
                       for _, x in mine(flows, proto)]

    try:
        relabel("istat-user-areas", area, "Area rinominata per prova")
        assert queued(db, iv["id"]) == 0
        assert pull(inps, since=since) == []
        relabel("inps-prestazioni", code, renamed)
        assert queued(db, iv["id"]) == 1
        flows, seen = names()
        assert seen == [("C", old), ("I", renamed)]
        since = ts_ms(flows[-1][0]["ts_flusso"])
    finally:
        for (lst, c), label in labels.items():
            relabel(lst, c, label)
    assert names()[1] == [("C", renamed), ("I", old)]


def omocodic(birth="1980-01-01"):
    """A valid fiscal code whose year of birth is written with omocodic
    letters (8 -> U, 0 -> L): the INPS XSD pattern refuses it."""
    cf = fiscal.make("M", birth, "F205")
    first15 = cf[:6] + "UL" + cf[8:15]
    return first15 + fiscal.check_char(first15)


def test_an_omocodic_fiscal_code_is_a_data_quality_refusal(staff, inps, db):
    pid, _ = new_person(staff, cf=omocodic())
    iv = new_intervention(staff, db, pid)
    assert mine(pull(inps), iv["application_protocol"]) == []
    r = staff.get(staff.base_url + "/api/v1/interventions/" + iv["id"], timeout=HTTP_TIMEOUT)
    assert r.json()["siuss"]["flows"] == []
    assert "omocodia" in r.json()["siuss"]["refusal"]


def test_restricted_persons_never_appear(staff, inps, db):
    pid, person = new_person(staff)
    iv = new_intervention(staff, db, pid)
    # restricted before any flow was made (flows are made when INPS pulls)
    db.one("UPDATE person SET restricted = true WHERE id = %s RETURNING id", (pid,))
    # a person restricted after a flow was made: that flow is no longer handed out
    pid2, person2 = new_person(staff)
    iv2 = new_intervention(staff, db, pid2)
    assert len(mine(pull(inps), iv2["application_protocol"])) == 1
    db.one("UPDATE person SET restricted = true, version = version + 1 WHERE id = %s "
           "RETURNING id", (pid2,))
    flows = pull(inps)
    assert mine(flows, iv["application_protocol"]) == []
    assert mine(flows, iv2["application_protocol"]) == []
    cfs = {r.find(NS + "Beneficiario").get("CodiceFiscale") for e, r in flows
           if e["tipo"] == "PS_PSA_SINA"}
    assert person["fiscal_code"] not in cfs and person2["fiscal_code"] not in cfs


@pytest.mark.parametrize("params", [
    {"since": 0, "limit": 0}, {"since": 0, "limit": 101}, {"since": 0, "limit": "ten"},
    {"since": 0, "limit": ""}, {"limit": 10}, {"since": "yesterday"}, {"since": -1},
])
def test_bad_parameters_are_400_problems(inps, params):
    r = inps.get(inps.base_url + "/waas/v1/flussi", params=params, timeout=HTTP_TIMEOUT)
    assert_inps_problem(r, 400)


def test_since_in_the_future_is_an_empty_list(inps):
    for since in ("99999999999999", "100000000000000000000"):
        r = inps.get(inps.base_url + "/waas/v1/flussi", params={"since": since},
                     timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        assert r.json() == {"elenco_flussi": []}
        assert_schema("Entries", r.json())


def test_limit_pages_in_chronological_order(staff, inps, db):
    pid, _ = new_person(staff)
    for _ in range(3):
        new_intervention(staff, db, pid)
    everything = pull(inps)
    page = pull(inps, limit=2)  # pull() follows the pages
    assert [e["id_flusso"] for e, _ in page] == [e["id_flusso"] for e, _ in everything]
    r = inps.get(inps.base_url + "/waas/v1/flussi", params={"since": 0}, timeout=HTTP_TIMEOUT)
    assert len(r.json()["elenco_flussi"]) == min(10, len(everything))  # default limit 10


def test_a_large_sync_proceeds_in_pages_of_the_change_queue(staff, inps, db, spawn_server):
    """Each flows request turns at most one page of the change queue
    (CARTELLA_FLOW_SYNC_PAGE) into flows and the next continues: five new
    interventions with pages of two take three requests, every one ends with
    exactly one I flow, and nothing of theirs stays queued."""
    pull(inps)  # the queue holds nothing of earlier tests
    pid, _ = new_person(staff)
    made_ivs = [new_intervention(staff, db, pid) for _ in range(5)]
    ivs = [iv["id"] for iv in made_ivs]
    queued = "SELECT count(*) FROM flow_change WHERE intervention_id = ANY (%s::uuid[])"
    assert db.one(queued, (ivs,)) == 5

    def made():
        return db.one("SELECT count(DISTINCT intervention_id) FROM flow_record "
                      "WHERE intervention_id = ANY (%s::uuid[])", (ivs,))

    with spawn_server(CARTELLA_FLOW_SYNC_PAGE="2") as srv:
        seen = []
        for _ in range(4):
            r = inps.get(srv.url + "/waas/v1/flussi", params={"since": 0, "limit": 1},
                         timeout=HTTP_TIMEOUT)
            assert r.status_code == 200, r.text
            seen.append(made())
    assert seen == [2, 4, 5, 5]
    assert db.one(queued, (ivs,)) == 0
    ops = db.all("SELECT intervention_id::text, operation FROM flow_record "
                 "WHERE intervention_id = ANY (%s::uuid[]) ORDER BY ts_flusso", (ivs,))
    assert sorted(ops) == sorted((iv, "I") for iv in ivs)
    # each handed out once
    flows = pull(inps)
    assert all(len(mine(flows, iv["application_protocol"])) == 1 for iv in made_ivs)


def test_a_change_while_the_case_was_sealed_flows_once_it_is_unsealed(staff, inps, db):
    """The sync (an integration client) does not see a sealed case's
    interventions; what changed meanwhile is sent when the case is unsealed
    (the unsealing queues them again)."""
    pid, _ = new_person(staff)
    r = staff.post(staff.base_url + "/api/v1/cases", json={"person_id": pid},
                   timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    iv = new_intervention(staff, db, pid, case_id=cid)
    proto = iv["application_protocol"]
    assert [prest(x).get("TipoOperazione") for _, x in mine(pull(inps), proto)] == ["I"]
    db.one("UPDATE social_case SET sealed = true WHERE id = %s RETURNING id", (cid,))
    db.one("UPDATE intervention SET hours_per_month = 30, version = version + 1 "
           "WHERE id = %s RETURNING id", (iv["id"],))
    assert len(mine(pull(inps), proto)) == 1  # hidden: nothing sent, nothing lost
    db.one("UPDATE social_case SET sealed = false WHERE id = %s RETURNING id", (cid,))
    flows = mine(pull(inps), proto)
    assert [prest(x).get("TipoOperazione") for _, x in flows] == ["I", "C", "I"]


def test_status_is_a_problem_json_200(inps):
    r = inps.get(inps.base_url + "/waas/v1/status", timeout=HTTP_TIMEOUT)
    assert_inps_problem(r, 200)


def test_outcomes_are_stored_per_flow_and_shown(staff, inps, db):
    pid, _ = new_person(staff)
    iv = new_intervention(staff, db, pid)
    [(entry, _)] = mine(pull(inps), iv["application_protocol"])
    unknown = "L409.PS.20200101.%07d" % random.randint(0, 9999999)
    body = {"elenco_esiti": [
        {"id_flusso": entry["id_flusso"], "tipo": "PS_PSA_SINA", "ts_flusso": entry["ts_flusso"],
         "ts_acquisizione": "2026-11-26T10:00:00.000Z", "codice_esito": "OK",
         "id_acquisizione_siuss": "22738", "codice_ente": BELFIORE},
        {"id_flusso": unknown, "tipo": "PS_PSA_SINA", "ts_flusso": "2020-01-01T00:00:00.000Z",
         "ts_acquisizione": "2026-11-26T10:00:00.000Z", "codice_esito": "RICHIESTA_INVALIDA",
         "descrizione_esito": "struttura non conforme"}]}
    assert_schema("ElencoEsiti", body)
    r = inps.post(inps.base_url + "/waas/v1/esiti", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 204, r.text
    r = staff.get(staff.base_url + "/api/v1/interventions/" + iv["id"], timeout=HTTP_TIMEOUT)
    [flow] = r.json()["siuss"]["flows"]
    assert (flow["outcome"], flow["siuss_acquisition_id"]) == ("OK", "22738")
    assert db.one("SELECT count(*) FROM flow_outcome WHERE flow_id = %s AND NOT known",
                  (unknown,)) == 1


@pytest.mark.parametrize("body", [
    {"elenco_esiti": [{"id_flusso": "x", "tipo": "PS_PSA_SINA", "ts_flusso": "t",
                       "ts_acquisizione": "t", "codice_esito": "FORSE"}]},
    {"elenco_esiti": [{"id_flusso": "x", "tipo": "PS_PSA_SINA", "ts_flusso": "t",
                       "ts_acquisizione": "t"}]},
    {"elenco_esiti": [{"id_flusso": 7, "tipo": "PS_PSA_SINA", "ts_flusso": "t",
                       "ts_acquisizione": "t", "codice_esito": "OK"}]},
    {"elenco_esiti": "none"},
    {"elenco_esiti": [], "extra": 1},
    {"elenco_esiti": [{"id_flusso": "x%d" % i, "tipo": "PS_PSA_SINA", "ts_flusso": "t",
                       "ts_acquisizione": "t", "codice_esito": "OK"} for i in range(101)]},
])
def test_bad_outcomes_are_400_and_store_nothing(inps, db, body):
    before = db.one("SELECT count(*) FROM flow_outcome")
    r = inps.post(inps.base_url + "/waas/v1/esiti", json=body, timeout=HTTP_TIMEOUT)
    assert_inps_problem(r, 400)
    assert db.one("SELECT count(*) FROM flow_outcome") == before


def test_malformed_outcome_json_is_400(inps, db):
    r = inps.post(inps.base_url + "/waas/v1/esiti", data="{not json",
                  headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400


def test_a_tenant_without_siuss_configuration_gets_404(make_client):
    s = make_client(["siuss"], tenant="015011")
    r = s.get(s.base_url + "/waas/v1/flussi", params={"since": 0}, timeout=HTTP_TIMEOUT)
    assert_inps_problem(r, 404)


def test_only_the_siuss_scope_reaches_the_e_service(staff, make_client, admin):
    other = make_client(["interventions.read"], tenant=TENANT)
    adm, _ = admin(TENANT)
    for s in (staff, other, adm):
        r = s.get(s.base_url + "/waas/v1/flussi", params={"since": 0}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 403, r.text
        r = s.post(s.base_url + "/waas/v1/esiti", json={"elenco_esiti": []},
                   timeout=HTTP_TIMEOUT)
        assert r.status_code == 403, r.text


def test_batch_export_cli_writes_one_valid_file(staff, inps, db, cli):
    import xml.etree.ElementTree as ET
    a, _ = new_person(staff)
    b, _ = new_person(staff, sex="F", birth="1975-06-30")
    new_intervention(staff, db, a, start_date="2023-02-01", end_date="2023-03-31")
    new_intervention(staff, db, a, code="ADM", user_area=1, start_date="2023-01-01",
                     end_date=None)
    new_intervention(staff, db, b, start_date="2023-06-01", end_date="2023-06-30")
    restricted, rp = new_person(staff)
    new_intervention(staff, db, restricted, start_date="2023-01-01", end_date="2023-01-31")
    db.one("UPDATE person SET restricted = true WHERE id = %s RETURNING id", (restricted,))
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "batch.xml")
        res = cli("export", "siuss", "--tenant", TENANT, "--from", "2023-01-01", "--to",
                  "2023-12-31", "--out", out)
        assert res.returncode == 0, res.stderr
        with open(out, "rb") as f:
            xml = f.read()
    assert_xsd_valid(xml)
    root = ET.fromstring(xml)
    assert len(root.findall(NS + "Beneficiario")) >= 2
    assert len(root.findall(".//" + NS + "PrestazioniSociali")) >= 3
    assert rp["fiscal_code"].encode() not in xml
    res = cli("export", "siuss", "--tenant", TENANT, "--from", "2023-12-31", "--to",
              "2023-01-01")
    assert res.returncode == 1
    res = cli("export", "siuss", "--tenant", TENANT)
    assert res.returncode == 2


def test_names_are_escaped_and_stay_valid(staff, inps, db):
    surname = "D'Amico & <Dell\"Òrto>"
    pid, person = new_person(staff, surname=surname, given_name="Zoë")
    iv = new_intervention(staff, db, pid)
    [(_, root)] = mine(pull(inps), iv["application_protocol"])  # xmllint-checked in pull()
    ana = root.find(NS + "Beneficiario/" + NS + "Anagrafica")
    assert ana.get("Cognome") == surname.upper()
    assert ana.get("Nome") == "ZOË"
