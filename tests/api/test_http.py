"""HTTP plumbing: headers, request ids, problems, routing, operational endpoints."""

import json
import os
import re
import time
import urllib.parse
import uuid

import requests
import yaml

from conftest import (CORSICO, HTTP_TIMEOUT, PROBLEM_JSON, fresh_client, is_problem,
                      raw_connect,
                      read_http_response, read_json_log, url_with_port)

SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def assert_security_headers(resp):
    h = resp.headers
    assert "no-store" in h.get("Cache-Control", ""), dict(h)
    assert h.get("X-Content-Type-Options") == "nosniff", dict(h)
    rid = h.get("X-Request-Id")
    assert rid and SAFE_ID.match(rid), dict(h)


# ---------------------------------------------------------------- headers

def test_security_headers_on_success(base_url):
    for path in ("/status", "/metrics", "/api/v1/openapi.yaml"):
        r = requests.get(base_url + path, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, path
        assert_security_headers(r)


def test_security_headers_on_errors(base_url, make_user, login):
    u, p = make_user()
    responses = [
        requests.get(base_url + "/no/such/route", timeout=HTTP_TIMEOUT),                 # 404
        requests.delete(base_url + "/status", timeout=HTTP_TIMEOUT),                     # 405
        requests.post(base_url + "/api/v1/sessions", data="{", timeout=HTTP_TIMEOUT,
                      headers={"Content-Type": "application/json"}),                     # 400
        requests.post(base_url + "/api/v1/sessions", data="x", timeout=HTTP_TIMEOUT,
                      headers={"Content-Type": "text/plain"}),                           # 415
        requests.get(base_url + "/api/v1/sessions/current", timeout=HTTP_TIMEOUT),       # 401
        fresh_client(base_url).post(
            base_url + "/api/v1/sessions", timeout=HTTP_TIMEOUT,
            json={"username": u, "password": p + "x", "tenant": CORSICO}),               # 401
    ]
    s = login(u, p)
    responses.append(s.get(base_url + "/api/v1/users", timeout=HTTP_TIMEOUT))            # 403
    statuses = [r.status_code for r in responses]
    assert statuses == [404, 405, 400, 415, 401, 401, 403], statuses
    for r in responses:
        assert_security_headers(r)
        assert r.headers["Content-Type"].split(";")[0] == PROBLEM_JSON


def test_request_ids_are_unique(base_url):
    ids = {requests.get(base_url + "/status", timeout=HTTP_TIMEOUT).headers["X-Request-Id"]
           for _ in range(5)}
    assert len(ids) == 5


def test_safe_incoming_request_id_is_echoed(base_url):
    rid = "test-" + uuid.uuid4().hex
    r = requests.get(base_url + "/status", headers={"X-Request-Id": rid}, timeout=HTTP_TIMEOUT)
    assert r.headers["X-Request-Id"] == rid
    r = requests.get(base_url + "/nope", headers={"X-Request-Id": rid}, timeout=HTTP_TIMEOUT)
    assert r.headers["X-Request-Id"] == rid
    assert r.json()["instance"] == rid


def test_unsafe_incoming_request_id_is_replaced(base_url):
    for bad in ('<script>alert(1)</script>', 'a b"c', "x" * 2000, "id\\n{}", "é-utf8".encode()):
        r = requests.get(base_url + "/nope", headers={"X-Request-Id": bad}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 404
        rid = r.headers.get("X-Request-Id")
        assert rid and rid != bad and SAFE_ID.match(rid), (bad, rid)
        assert r.json()["instance"] == rid


# ---------------------------------------------------------------- routing and problems

def test_unknown_route_is_404_problem(base_url):
    for path in ("/no/such/route", "/api/v1/nothing", "/api/v2/sessions", "/api/v1/sessions/other"):
        r = requests.get(base_url + path, timeout=HTTP_TIMEOUT)
        is_problem(r, 404)


def test_wrong_method_is_405_with_allow(base_url):
    cases = [
        ("DELETE", "/status", {"GET"}),
        ("POST", "/metrics", {"GET"}),
        ("PUT", "/api/v1/sessions", {"POST"}),
        ("POST", "/api/v1/sessions/current", {"GET", "DELETE"}),
        ("DELETE", "/api/v1/users", {"GET", "POST"}),
    ]
    for method, path, expected in cases:
        r = requests.request(method, base_url + path, timeout=HTTP_TIMEOUT)
        is_problem(r, 405)
        allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
        assert expected <= allow, (method, path, r.headers.get("Allow"))
        assert method not in allow, (method, path, r.headers.get("Allow"))


LEAK_PATTERNS = [
    re.compile(p, re.I) for p in (
        r"\bselect\b.*\bfrom\b", r"\binsert into\b", r"\bsyntax error\b", r"\bSQLSTATE\b",
        r"invalid input syntax", r"\bpq[A-Z]\w+", r"\bpostgres", r"\.c:\d+", r"/work/",
        r"/home/", r"/usr/", r"/tmp/", r"backtrace", r"Traceback", r"#\d+ 0x[0-9a-f]+",
        r"relation \"", r"violates",
    )
]


def assert_no_leak(resp):
    text = resp.text
    for pat in LEAK_PATTERNS:
        assert not pat.search(text), (pat.pattern, text[:500])


def test_problem_bodies_are_complete_and_leak_nothing(base_url, admin):
    s, _ = admin()
    paths = [
        "/api/v1/users/not-a-uuid",
        "/api/v1/users/00000000-0000-0000-0000-000000000000",
        "/api/v1/users/%27%3B%20DROP%20TABLE%20app_user%3B--",
        "/api/v1/users/" + "9" * 600,
        "/api/v1/users/..%2F..%2Fetc%2Fpasswd",
    ]
    for path in paths:
        r = s.get(base_url + path, timeout=HTTP_TIMEOUT)
        assert r.status_code in (400, 404), (path, r.status_code, r.text[:300])
        is_problem(r, r.status_code)
        assert_no_leak(r)
        assert_security_headers(r)
    r = s.patch(base_url + "/api/v1/users/not-a-uuid", json={"disabled": True},
                headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT)
    assert r.status_code in (400, 404), (r.status_code, r.text[:300])
    assert_no_leak(r)


def test_query_string_does_not_change_route(base_url):
    r = requests.get(base_url + "/status?verbose=1&x=%00", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200


# ---------------------------------------------------------------- /status

def test_status_is_200_problem_json(base_url):
    r = requests.get(base_url + "/status", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == PROBLEM_JSON
    body = r.json()
    assert body["status"] == 200
    assert body["title"]


def test_status_is_503_while_database_unreachable_and_recovers(spawn_server, tcp_proxy):
    db_url = os.environ["DATABASE_URL"]
    parts = urllib.parse.urlsplit(db_url)
    proxy = tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    with spawn_server(DATABASE_URL=url_with_port(db_url, "127.0.0.1", proxy.port),
                      CARTELLA_THREADS=2) as srv:
        proxy.stop()
        deadline = time.monotonic() + 15
        statuses = []
        while time.monotonic() < deadline:
            r = requests.get(srv.url + "/status", timeout=HTTP_TIMEOUT)
            statuses.append(r.status_code)
            if r.status_code == 503:
                break
            time.sleep(0.2)
        assert statuses[-1] == 503, statuses
        is_problem(r, 503)
        assert_no_leak(r)
        assert_security_headers(r)

        proxy.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = requests.get(srv.url + "/status", timeout=HTTP_TIMEOUT)
            if r.status_code == 200:
                break
            time.sleep(0.3)
        assert r.status_code == 200, "server did not recover once the database came back"


# ---------------------------------------------------------------- /metrics

METRIC_LINE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
                         r'(?:\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?\s+(?P<value>\S+)(?:\s+-?\d+)?$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_LINE.match(line)
        assert m, "not Prometheus text: %r" % line
        labels = dict(LABEL.findall(m.group("labels") or ""))
        out.append((m.group("name"), labels, float(m.group("value"))))
    return out


def counter(metrics, route, method, status):
    total = 0.0
    for name, labels, value in metrics:
        if (name == "cartella_http_requests_total" and labels.get("route") == route
                and labels.get("method") == method and labels.get("status") == str(status)):
            total += value
    return total


def get_metrics(base_url):
    r = requests.get(base_url + "/metrics", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers["Content-Type"]
    return parse_metrics(r.text), r.text


def test_metrics_count_requests_by_route_and_status(base_url):
    requests.get(base_url + "/status", timeout=HTTP_TIMEOUT)
    before, _ = get_metrics(base_url)
    for _ in range(3):
        assert requests.get(base_url + "/status", timeout=HTTP_TIMEOUT).status_code == 200
    after, text = get_metrics(base_url)
    assert counter(after, "/status", "GET", 200) >= counter(before, "/status", "GET", 200) + 3
    assert "# TYPE cartella_http_requests_total counter" in text


def test_metrics_have_latency_histogram_and_pool_gauge(base_url):
    requests.get(base_url + "/status", timeout=HTTP_TIMEOUT)
    metrics, text = get_metrics(base_url)
    buckets = [(l, v) for n, l, v in metrics
               if n == "cartella_http_request_duration_seconds_bucket" and l.get("route") == "/status"]
    assert buckets, "no latency histogram for /status"
    assert any(l.get("le") == "+Inf" for l, _ in buckets)
    states = {l.get("state") for n, l, _ in metrics if n == "cartella_db_connections"}
    assert {"busy", "idle"} <= states, states


def test_metrics_use_route_patterns_not_raw_paths(base_url, admin):
    s, _ = admin()
    some_id = str(uuid.uuid4())
    r = s.get(base_url + "/api/v1/users/" + some_id, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404
    metrics, text = get_metrics(base_url)
    assert some_id not in text
    routes = {l.get("route") for n, l, _ in metrics if n == "cartella_http_requests_total"}
    assert any(rt and rt.startswith("/api/v1/users/") for rt in routes), routes
    # Unknown paths are not each a new label value (unbounded cardinality).
    junk = "/junk-" + uuid.uuid4().hex
    requests.get(base_url + junk, timeout=HTTP_TIMEOUT)
    _, text = get_metrics(base_url)
    assert junk not in text


# ---------------------------------------------------------------- openapi

def test_openapi_is_served(base_url):
    r = requests.get(base_url + "/api/v1/openapi.yaml", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert "yaml" in r.headers["Content-Type"], r.headers["Content-Type"]
    doc = yaml.safe_load(r.text)
    assert str(doc["openapi"]).startswith("3.")
    paths = set(doc["paths"])
    for p in ("/sessions", "/sessions/current", "/users", "/users/{id}"):
        assert p in paths or "/api/v1" + p in paths, (p, sorted(paths))


# ---------------------------------------------------------------- logs

def test_log_lines_are_json_with_route_pattern_and_no_query(base_url, admin):
    s, _ = admin()
    rid = "logtest-" + uuid.uuid4().hex
    secret_q = "q" + uuid.uuid4().hex
    some_id = str(uuid.uuid4())
    r = s.get(base_url + "/api/v1/users/" + some_id + "?secret=" + secret_q,
              headers={"X-Request-Id": rid}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404
    deadline = time.monotonic() + 5
    line = None
    while time.monotonic() < deadline and line is None:
        objs, text = read_json_log(os.environ["CARTELLA_SERVER_LOG"])
        mine = [o for o in objs if rid in json.dumps(o)]
        line = mine[-1] if mine else None
        if line is None:
            time.sleep(0.2)
    assert line is not None, "no log line carries the request id"
    assert secret_q not in text
    assert some_id not in text
    dumped = json.dumps(line)
    assert "404" in dumped
    assert "/api/v1/users/" in dumped  # the route pattern
    assert "time" in line and "level" in line


def test_raw_404_response_has_problem_and_headers(base_url):
    """A request as a minimal HTTP/1.0 client sends it still gets the headers."""
    sock = raw_connect(base_url)
    try:
        sock.sendall(b"GET /definitely/missing HTTP/1.0\r\n\r\n")
        status, headers, body = read_http_response(sock)
    finally:
        sock.close()
    assert status == 404
    assert headers.get("x-content-type-options") == "nosniff"
    assert "no-store" in headers.get("cache-control", "")
    assert headers.get("content-type", "").startswith(PROBLEM_JSON)

