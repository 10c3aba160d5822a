"""SINBA flows (minors in charge, reference/inps-waas/SINBA.xsd) handed out by
GET /waas/v1/flussi beside the PS flows: every flow is checked with xmllint
against the official SINBA.xsd and every answer against the INPS OpenAPI
(through test_waas.pull); the minor appears only as a keyed pseudonym, never
by fiscal code or name; changed data gives a new flow; what SINBA cannot
cancel is kept as stale; restricted persons and sealed cases never appear;
outcomes are stored per flow.

The tests use Cesano Boscone (C565), whose flow sequence no other module
uses."""
import datetime
import re


import fiscal
from conftest import HTTP_TIMEOUT, random_name
from test_waas import NS, flow_fixtures, pull, service, ts_ms

TENANT = "015074"
BELFIORE = "C565"
OPERATOR_CF = "01234567890"

SINBA = {
    "minore_straniero_non_accompagnato": "2", "condizione_minore": "1", "luogo_vita": "1",
    "scuola_frequentata": "5", "condizione_lavoro": "1", "disabilita": "2",
    "data_prima_segnalazione": "2024-02", "fonte_segnalazione": "3",
    "valutazione_minore": "2", "valutazione_famiglia_minore": "2",
    "segnalazione_autorita_giudiziaria": "1", "data_segnalazione": "2024-02",
    "provvedimento_giudiziario": "2", "composizione_famiglia": ["1", "3"],
    "cittadinanza_madre": "380", "numero_componenti_isee": 3, "fascia_isee": "4",
}


configured, staff, inps = flow_fixtures(TENANT, OPERATOR_CF)


def new_person(s, birth="2014-05-10", residence=TENANT, cf=None, **kw):
    body = fiscal.person(birth=birth, **kw)
    if cf:
        body["fiscal_code"] = cf
    body["residence"] = residence
    body["address"]["istat_code"] = residence or TENANT
    r = s.post(s.base_url + "/api/v1/persons", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()["id"], body


def new_case(s, person_id):
    r = s.post(s.base_url + "/api/v1/cases", json={"person_id": person_id},
               timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def assess(s, case_id, answers=None, on="2024-03-01"):
    r = s.post(s.base_url + "/api/v1/cases/%s/assessments" % case_id,
               json={"kind": "sinba", "assessed_on": on, "answers": answers or SINBA},
               timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()


def new_intervention(s, db, person_id, case_id=None, code="ADM", **over):
    body = {
        "beneficiary_id": person_id, "service": service(db, code), "nature": "periodic",
        "start_date": "2024-03-01", "end_date": "2024-12-31", "monthly_amount": "400.00",
        "means_test": 4, "funding": [{"channel": "comune", "amount": "400.00"}],
        "in_charge": True, "user_area": 1, "application_protocol": random_name("S-"),
    }
    if case_id:
        body["case_id"] = case_id
    body.update(over)
    r = s.post(s.base_url + "/api/v1/interventions", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()


def minor_in_charge(s, db, **kw):
    """A minor with a case, a sinba assessment and an in-charge intervention."""
    pid, person = new_person(s, **kw)
    cid = new_case(s, pid)
    assess(s, cid)
    iv = new_intervention(s, db, pid, cid)
    return pid, person, cid, iv


def sinba_flows(flows, intervention_id, db):
    """The SINBA flows of an intervention, in order (flow ids from the
    database: the XML carries nothing that names the intervention)."""
    ids = {r[0] for r in db.all("SELECT flow_id FROM flow_record WHERE intervention_id = %s"
                                " AND flow_type = 'SINBA'", (intervention_id,))}
    return [(e, r) for e, r in flows if e["tipo"] == "SINBA" and e["id_flusso"] in ids]


def pull_here(inps, since=0):
    return pull(inps, since=since, belfiore=BELFIORE)


def sinba_of(root):
    return root.find(NS + "SINBA")


# ---------------------------------------------------------------- tests

def test_a_minor_in_charge_gets_a_valid_sinba_flow_beside_the_ps_flow(staff, inps, db):
    pid, person, cid, iv = minor_in_charge(staff, db)
    flows = pull_here(inps)
    [(entry, root)] = sinba_flows(flows, iv["id"], db)
    assert entry["tipo"] == "SINBA" and entry["codice_ente"] == BELFIORE
    assert re.match(r"^C565\.SINBA\.[0-9]{8}\.[0-9]{7}$", entry["id_flusso"])
    # the same intervention also gives its PS flow, in the same list
    ps = [e for e, r in flows if e["tipo"] == "PS_PSA_SINA" and r.find(
        ".//" + NS + "PrestazioniSociali").get("ProtocolloDomanda") ==
        iv["application_protocol"]]
    assert len(ps) == 1
    x = sinba_of(root)
    assert re.match(r"^[0-9A-F]{20}$", x.get("IDBeneficiario"))
    assert (x.get("AnnoNascita"), x.get("FasciaEtaBeneficiario")) == ("2014", "4")  # 9 years
    assert (x.get("CodiceNazioneResidenza"), x.get("CodiceRegioneResidenza")) == ("380", "03")
    assert (x.get("MinoreStranieroNoAcc"), x.get("LuogoVita"), x.get("ScuolaFrequentata")) == \
        ("2", "1", "5")
    assert (x.get("DataPrimaSegnalazione"), x.get("DataSegnalazione")) == ("02/2024", "02/2024")
    assert (x.get("NumeroComponentiISEE"), x.get("FasciaISEEBeneficiario"),
            x.get("CodiceCittadinanzaMadre")) == ("3", "4", "380")
    assert x.get("TipoDisabilita") is None  # not answered: not sent
    assert [c.text for c in x.findall(NS + "Prestazioni/" + NS + "CodicePrestazione")] == \
        ["A2.02"]
    assert [c.text for c in x.findall(NS + "Famiglia/" + NS + "ComposizioneFamiglia")] == \
        ["1", "3"]
    ente = root.find(NS + "IdentificazioneFlusso/" + NS + "Ente")
    assert (ente.get("Codice"), ente.get("CFOperatore")) == (BELFIORE, OPERATOR_CF)
    # nothing identifies the minor
    import base64
    xml = base64.b64decode(entry["flusso"]).decode()
    for v in (person["fiscal_code"], person["surname"], person["given_name"], pid,
              pid.replace("-", "")):
        assert v.upper() not in xml.upper()
    # pulled again: the same bytes, nothing new
    assert [e for e, _ in sinba_flows(pull_here(inps), iv["id"], db)] == [entry]
    # the intervention lists its flows, SINBA included
    r = staff.get(staff.base_url + "/api/v1/interventions/" + iv["id"], timeout=HTTP_TIMEOUT)
    assert entry["id_flusso"] in [f["id_flusso"] for f in r.json()["siuss"]["flows"]]


def test_the_pseudonym_is_stable_per_minor_and_differs_between_minors(staff, inps, db):
    pid, _, cid, iv = minor_in_charge(staff, db)
    iv2 = new_intervention(staff, db, pid, cid, code="COM-MINORI")
    _, _, _, other = minor_in_charge(staff, db)
    flows = pull_here(inps)
    ids = [sinba_of(r).get("IDBeneficiario")
           for i in (iv, iv2, other) for _, r in sinba_flows(flows, i["id"], db)]
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2]
    # a keyed hash: not a plain hash of the person id or fiscal code
    import hashlib
    assert ids[0].lower() not in hashlib.sha256(pid.encode()).hexdigest()


def test_changed_data_gives_a_new_flow_and_what_sinba_cannot_cancel_is_stale(staff, inps, db):
    pid, _, cid, iv = minor_in_charge(staff, db)
    pull_here(inps)
    # a new assessment version with another place of life: a new flow
    assess(staff, cid, dict(SINBA, luogo_vita="3", composizione_famiglia=["4"]))
    flows = sinba_flows(pull_here(inps), iv["id"], db)
    assert [sinba_of(r).get("LuogoVita") for _, r in flows] == ["1", "3"]
    assert [c.text for c in flows[-1][1].findall(".//" + NS + "ComposizioneFamiglia")] == ["4"]
    stamps = [ts_ms(e["ts_flusso"]) for e, _ in flows]
    assert stamps == sorted(stamps) and len(set(stamps)) == 2
    # a change the SINBA record does not carry (amount): no new SINBA flow
    url = staff.base_url + "/api/v1/interventions/" + iv["id"]
    r = staff.patch(url, json={"monthly_amount": "450.00",
                                "funding": [{"channel": "comune", "amount": "450.00"}]},
                     headers={"If-Match": '"%d"' % iv["version"]}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert len(sinba_flows(pull_here(inps), iv["id"], db)) == 2
    # cancelled: SINBA.xsd has no cancellation, so no flow; the record is stale
    r = staff.patch(url, json={"status": "cancelled"}, headers={"If-Match": r.headers["ETag"]},
                     timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert len(sinba_flows(pull_here(inps), iv["id"], db)) == 2
    stale, current = db.one("SELECT ARRAY[stale_flow::text, current_flow::text] FROM sinba_state"
                            " WHERE intervention_id = %s", (iv["id"],))
    assert stale is not None and current is None


def test_who_is_not_in_sinba(staff, inps, db):
    # a minor not in charge, a minor's service never exported, an adult
    pid, _ = new_person(staff)
    cid = new_case(staff, pid)
    assess(staff, cid)
    not_in_charge = new_intervention(staff, db, pid, cid, in_charge=False, user_area=None,
                                     code="SAD")
    never = new_intervention(staff, db, pid, cid, code="TUTELA-MIN")
    adult, _ = new_person(staff, birth="1990-01-01")
    grown = new_intervention(staff, db, adult, new_case(staff, adult), code="SAD",
                             user_area=2)
    # 18 on the start date: no longer a minor
    just18, _ = new_person(staff, birth="2006-03-01")
    turned = new_intervention(staff, db, just18, new_case(staff, just18))
    flows = pull_here(inps)
    for i in (not_in_charge, never, grown, turned):
        assert sinba_flows(flows, i["id"], db) == []


def test_restricted_minors_and_sealed_cases_never_appear(staff, inps, db):
    pid, person, cid, iv = minor_in_charge(staff, db)
    db.one("UPDATE person SET restricted = true WHERE id = %s RETURNING id", (pid,))
    pid2, _, cid2, iv2 = minor_in_charge(staff, db)
    db.one("UPDATE social_case SET sealed = true WHERE id = %s RETURNING id", (cid2,))
    # restricted after its flow was made: no longer handed out
    pid3, _, _, iv3 = minor_in_charge(staff, db)
    assert len(sinba_flows(pull_here(inps), iv3["id"], db)) == 1
    db.one("UPDATE person SET restricted = true, version = version + 1 WHERE id = %s "
           "RETURNING id", (pid3,))
    flows = pull_here(inps)
    for i in (iv, iv2, iv3):
        assert sinba_flows(flows, i["id"], db) == []
    assert db.one("SELECT count(*) FROM flow_record WHERE intervention_id IN (%s, %s)"
                  " AND flow_type = 'SINBA'", (iv["id"], iv2["id"])) == 0


def test_sinba_outcomes_are_stored_per_flow(staff, inps, db):
    _, _, _, iv = minor_in_charge(staff, db)
    [(entry, _)] = sinba_flows(pull_here(inps), iv["id"], db)
    body = {"elenco_esiti": [
        {"id_flusso": entry["id_flusso"], "tipo": "SINBA", "ts_flusso": entry["ts_flusso"],
         "ts_acquisizione": "2026-11-26T10:00:00.000Z", "codice_esito": "DATI_NON_TROVATI",
         "descrizione_esito": "incoerenza"}]}
    r = inps.post(inps.base_url + "/waas/v1/esiti", json=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 204, r.text
    r = staff.get(staff.base_url + "/api/v1/interventions/" + iv["id"], timeout=HTTP_TIMEOUT)
    [flow] = [f for f in r.json()["siuss"]["flows"] if f["id_flusso"] == entry["id_flusso"]]
    assert (flow["outcome"], flow["outcome_detail"]) == ("DATI_NON_TROVATI", "incoerenza")


def test_sinba_flows_are_pulled_in_order_with_ps_flows(staff, inps, db):
    for _ in range(2):
        minor_in_charge(staff, db)
    everything = pull_here(inps)
    assert {e["tipo"] for e, _ in everything} == {"PS_PSA_SINA", "SINBA"}
    stamps = [ts_ms(e["ts_flusso"]) for e, _ in everything]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    paged = pull(inps, limit=3, belfiore=BELFIORE)
    assert [e["id_flusso"] for e, _ in paged] == [e["id_flusso"] for e, _ in everything]
    day = datetime.date.today()
    assert all(e["id_flusso"].split(".")[2] in (day.strftime("%Y%m%d"),
               (day - datetime.timedelta(days=1)).strftime("%Y%m%d"),
               (day + datetime.timedelta(days=1)).strftime("%Y%m%d"))
               for e, _ in everything if e["tipo"] == "SINBA")
