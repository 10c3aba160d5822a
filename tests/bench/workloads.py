"""The workloads of the benchmark: one HTTP request each, the same path and
body for Cartella and the peer (docs/performance.md)."""

import collections

Target = collections.namedtuple("Target", "case_id person_id fiscal_code surname")


class Workload:
    """name; method; paths(ctx) -> the request paths (one per target, the
    load generators cycle through them); body(ctx) -> JSON body or None;
    auth: "auth" (a social worker's bearer token) or "basic" (the SIUSS
    integration client); items: how many things one request hands out (flows
    per page, for flows per second)."""

    def __init__(self, name, title, method, paths, body=None, auth="auth", read=True, items=1):
        self.name, self.title, self.method = name, title, method
        self.paths, self.body, self.auth, self.read, self.items = paths, body, auth, read, items


def _intervention(ctx):
    return {
        "beneficiary_id": ctx["create_person"], "case_id": ctx["create_case"],
        "service": ctx["sad"], "nature": "periodic", "start_date": "2024-03-01",
        "end_date": "2024-10-31", "monthly_amount": "350.00", "hours_per_month": "20.50",
        "means_test": 4, "shares": {"tenant": "300.00", "user": "50.00", "health": None},
        "funding": [{"channel": "comune", "amount": "350.00"}], "in_charge": True,
        "user_area": 2,
    }


FLOWS_PAGE = 100

WORKLOADS = [
    Workload("person_read", "read a case's person (decrypt + audit)", "GET",
             lambda c: ["/api/v1/persons/" + t.person_id for t in c["targets"]]),
    Workload("person_search", "search a person by fiscal code", "GET",
             lambda c: ["/api/v1/persons?fiscal_code=" + t.fiscal_code for t in c["targets"]]),
    Workload("case_interventions", "list a case's interventions", "GET",
             lambda c: ["/api/v1/interventions?case_id=" + t.case_id for t in c["targets"]]),
    Workload("spending_report", "regional spending report, one Comune-year", "GET",
             lambda c: ["/api/v1/reports/regional-spending?year=2024"]),
    Workload("siuss_flows", "SIUSS flows, one page of %d" % FLOWS_PAGE, "GET",
             lambda c: ["/waas/v1/flussi?since=0&limit=%d" % FLOWS_PAGE], auth="basic",
             items=FLOWS_PAGE),
    Workload("intervention_create", "create an intervention", "POST",
             lambda c: ["/api/v1/interventions"], body=_intervention, read=False),
]
