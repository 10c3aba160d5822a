"""Regression: `audit verify` running while the sealer seals. The verifier
read the seal head, then the sealed rows in later statements (READ
COMMITTED), so a seal committed in between showed more sealed rows than the
head and reported the chain broken ("first broken seq N, event id 0"), as a
full run of scripts/test did once. The head is now read FOR SHARE: a seal in
progress finishes first, and none starts until the verification ends."""
import threading
import time

import fiscal
from harness import HTTP_TIMEOUT, api, mode


def test_verify_while_sealing_never_reports_a_break(shared):
    worker = shared.session(api.CORSICO, "social_worker")
    dpo = shared.session(api.CORSICO, "dpo")
    base = shared.base_url
    r = worker.post(base + "/api/v1/persons", json=fiscal.person(), timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    stop = threading.Event()

    def reads():
        while not stop.is_set():
            worker.get(base + "/api/v1/persons/" + pid, timeout=HTTP_TIMEOUT)

    t = threading.Thread(target=reads, daemon=True)
    t.start()
    verdicts = []
    try:
        end = time.monotonic() + mode(15, 120)
        while time.monotonic() < end:
            v = dpo.get(base + "/api/v1/audit/verify", timeout=60)
            assert v.status_code == 200, v.text
            verdicts.append(v.json())
            assert v.json()["ok"] is True, (len(verdicts), v.json())
    finally:
        stop.set()
        t.join(HTTP_TIMEOUT)
    assert len(verdicts) >= 5
    assert verdicts[-1]["sealed"] > verdicts[0]["sealed"], "the sealer sealed nothing meanwhile"
