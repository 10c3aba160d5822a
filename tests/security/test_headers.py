"""Every answer the application makes, errors included, carries the security
headers and an RFC 7807 body that names nothing internal (no SQL, paths or
stack traces). The statuses a client can provoke on the shared server are
here (400 401 403 404 405 413 414 415 429 431); 500 and 503 need a database a test may
break and are in tests/reliability/test_faults.py, which makes the same
checks. What libmicrohttpd answers by itself, before a request reaches
Cartella (400 414 431 505 for what it cannot parse or hold), is checked to
carry nothing of the request."""
import socket
import urllib.parse

import requests

import fiscal
import harness
from harness import HTTP_TIMEOUT, api, assert_generic_problem


def test_every_client_error_status_has_headers_and_a_clean_problem(shared):
    base = shared.base_url
    worker = shared.worker
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    cases = [
        (400, lambda: worker.post(base + "/api/v1/persons", data="{\"surname\": ",
                                  headers={"Content-Type": "application/json"},
                                  timeout=HTTP_TIMEOUT)),
        (400, lambda: worker.get(base + "/api/v1/persons", params={"limit": "1' OR '1'='1"},
                                 timeout=HTTP_TIMEOUT)),
        (404, lambda: worker.get(base + "/api/v1/persons/1%27%20OR%201=1--",
                                 timeout=HTTP_TIMEOUT)),
        (400, lambda: worker.post(base + "/api/v1/persons",
                                  json=dict(fiscal.person(), fiscal_code="'; DROP TABLE x;--"),
                                  timeout=HTTP_TIMEOUT)),
        (401, lambda: requests.get(base + "/api/v1/persons", timeout=HTTP_TIMEOUT)),
        (401, lambda: requests.get(base + "/api/v1/persons", timeout=HTTP_TIMEOUT,
                                   headers={"Authorization": "Bearer ' OR 1=1 --"})),
        (403, lambda: worker.get(base + "/api/v1/users", timeout=HTTP_TIMEOUT)),
        (404, lambda: worker.get(base + "/api/v1/persons/00000000-0000-4000-8000-000000000000",
                                 timeout=HTTP_TIMEOUT)),
        (404, lambda: requests.get(base + "/../../etc/passwd", timeout=HTTP_TIMEOUT)),
        (405, lambda: worker.delete(base + "/api/v1/persons", timeout=HTTP_TIMEOUT)),
        (413, lambda: worker.post(base + "/api/v1/persons", data=big,
                                  headers={"Content-Type": "application/json"},
                                  timeout=HTTP_TIMEOUT)),
        (415, lambda: worker.post(base + "/api/v1/persons", data="<x/>",
                                  headers={"Content-Type": "application/xml"},
                                  timeout=HTTP_TIMEOUT)),
        # Over Cartella's own limits (a quarter of CARTELLA_CONN_MEMORY, 32 KiB
        # by default; 100 fields), below libmicrohttpd's: answered by Cartella.
        (414, lambda: worker.get(base + "/api/v1/persons", params={"q": "x" * 40000},
                                 timeout=HTTP_TIMEOUT)),
        (431, lambda: worker.get(base + "/api/v1/persons", headers={"X-Big": "x" * 40000},
                                 timeout=HTTP_TIMEOUT)),
        (431, lambda: worker.get(base + "/api/v1/persons", timeout=HTTP_TIMEOUT,
                                 headers={"X-F%d" % i: "v" for i in range(120)})),
        # A transfer coding other than chunked: the body has no known end.
        (400, lambda: raw(base, b"POST /api/v1/persons HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\n"
                                b"Transfer-Encoding: gzip\r\n\r\n{}")),
    ]
    for status, call in cases:
        try:
            r = call()
        except requests.ConnectionError:
            # A 413 may close the connection before the client finished sending.
            assert status == 413
            r = raw_413(base)
        assert_generic_problem(r, status)

    # 429: wrong passwords from one address until the login throttle answers.
    u, _ = shared.extra_user
    s = api.session_from(api.random_loopback())
    for _ in range(20):
        r = s.post(base + "/api/v1/sessions", json={"username": u, "password": "x" * 14,
                                                    "tenant": api.CORSICO},
                   timeout=HTTP_TIMEOUT)
        if r.status_code == 429:
            break
        assert_generic_problem(r, 401)
    body = assert_generic_problem(r, 429)
    assert r.headers.get("Retry-After", "").isdigit(), dict(r.headers)
    assert body["type"] == "/problems/too-many-requests"


class _Resp:
    """Just what assert_generic_problem reads, from a raw HTTP answer."""

    def __init__(self, status, headers, body, url):
        self.status_code, self.text, self.url = status, body.decode("utf-8", "replace"), url
        self.headers = requests.structures.CaseInsensitiveDict(headers)
        self.request = type("R", (), {"method": "POST"})()
        self._body = body

    def json(self):
        import json
        return json.loads(self._body)


def raw(base, request):
    """Sends request as bytes on a raw socket and reads the answer."""
    sock = api.raw_connect(base)
    try:
        sock.sendall(request)
        status, headers, body = api.read_http_response(sock)
    finally:
        sock.close()
    return _Resp(status, headers, body, base)


def raw_413(base):
    """POST with a Content-Length over the limit, read on a raw socket."""
    return raw(base, b"POST /api/v1/persons HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 999999999\r\n\r\n{")


def test_requests_just_within_the_header_limits_are_served(shared):
    """The limits leave room for real clients: 30,000 bytes of headers and 90
    fields pass."""
    r = shared.worker.get(shared.base_url + "/api/v1/persons", params={"limit": 1},
                          headers=dict({"X-F%d" % i: "v" for i in range(80)},
                                       **{"X-Big": "x" * 30000}),
                          timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    harness.assert_security_headers(r)


def test_answers_libmicrohttpd_makes_itself_carry_nothing_of_the_request(shared):
    """Before a request reaches Cartella, libmicrohttpd answers what it cannot
    parse or hold with fixed HTML of its own and no security headers
    (0.9.75 calls no application code before it refuses, and has no hook
    for the headers of its own answers; docs/security.md lists the cases).
    Those bodies must stay fixed text that echoes nothing."""
    base_url = shared.base_url
    port = urllib.parse.urlsplit(base_url).port
    secret = "RSSMRA80A01F205X-canary"
    c = secret.encode()
    post = b"POST /api/v1/persons HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    probes = [
        # 431, 414: beyond the connection memory (CARTELLA_CONN_MEMORY).
        b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + c * 20000 + b"\r\n\r\n",
        b"GET /status?" + c * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-%d: " % i + c + b"\r\n" for i in range(4000)) + b"\r\n",
        # 505: an HTTP version other than 1.0 and 1.1.
        b"GET /" + c + b" HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /" + c + b" HTTP/0.9\r\nHost: x\r\n\r\n",
        # 400: a malformed request line, header line, Content-Length or chunk.
        b"GET /" + c + b" FOO\r\nHost: x\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: x\r\n" + c + b"\r\n\r\n",
        post + b"Content-Length: " + c + b"\r\n\r\n{}",
        post + b"Transfer-Encoding: chunked\r\n\r\n" + c + b"\r\n{}\r\n0\r\n\r\n",
        # 413: a Content-Length or chunk size beyond 64 bits.
        post + b"Content-Length: 99999999999999999999999\r\n\r\n" + c,
        post + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n" + c + b"\r\n",
    ]
    for probe in probes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(probe)
            s.settimeout(10)
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except (socket.timeout, ConnectionResetError):
                pass
        assert data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.1 5"), data[:200]
        # Still libmicrohttpd's: were it Cartella's, it would belong above.
        assert b"X-Content-Type-Options" not in data and b"<html>" in data, data[:500]
        assert secret.encode() not in data, data[:500]
        assert len(data) < 1024, data[:500]
    # The server still answers afterwards, with its headers.
    r = requests.get(base_url + "/status", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    harness.assert_security_headers(r)
