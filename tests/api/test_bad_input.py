"""Bad input: each gets a problem body and changes nothing.

Most requests here carry the right credentials of a fresh user, so "changes
nothing" is a real check: had the server accepted the request, a session row
would exist for that user."""

import json
import select
import threading
import time

import requests

from conftest import (CORSICO, HTTP_TIMEOUT, PROBLEM_JSON, error_fields, is_problem,
                      login_body, raw_connect, read_http_response)

JSON = {"Content-Type": "application/json"}


def post_sessions(base_url, data, headers=JSON):
    return requests.post(base_url + "/api/v1/sessions", data=data, headers=headers,
                         timeout=HTTP_TIMEOUT)


def creds_json(u, p, tenant=CORSICO, **extra):
    body = login_body(u, p, tenant)  # with the next TOTP code of a user the fixtures enrolled
    body.update(extra)
    return body


def test_right_credentials_do_log_in(base_url, make_user, db):
    """Control for the tests below: the same request, well formed, creates a session."""
    u, p = make_user()
    assert db.session_count(u) == 0
    r = post_sessions(base_url, json.dumps(creds_json(u, p)))
    assert r.status_code == 201, r.text
    assert db.session_count(u) == 1


def test_malformed_json_is_400_and_changes_nothing(base_url, make_user, db):
    u, p = make_user()
    good = json.dumps(creds_json(u, p))
    bodies = [
        good[:-1],                      # missing closing brace
        good + " x",                    # trailing garbage
        good.replace('",', '" ', 1),    # missing comma
        "{'username': '%s'}" % u,       # single quotes
        good.replace(u, u + "\\x"),     # invalid escape
    ]
    for data in bodies:
        r = post_sessions(base_url, data)
        body = is_problem(r, 400)
        assert body["type"] == "/problems/malformed-json", (data, body)
    # no body at all
    is_problem(post_sessions(base_url, ""), 400)
    # invalid UTF-8 inside a string
    raw = good.encode().replace(b'"tenant"', b'"ten\xff\xfeant"')
    r = post_sessions(base_url, raw)
    is_problem(r, 400)
    assert db.session_count(u) == 0


def test_body_must_be_an_object(base_url, make_user, db):
    u, p = make_user()
    for data in ("[]", '"%s"' % u, "42", "null", json.dumps([creds_json(u, p)])):
        r = post_sessions(base_url, data)
        is_problem(r, 400)
    assert db.session_count(u) == 0


def nested(depth):
    """A login body whose total nesting depth (the top object counts) is depth."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return inner


def test_nesting_deeper_than_32_is_refused(base_url, make_user, db):
    u, p = make_user()
    base = json.dumps(creds_json(u, p))[:-1]
    r = post_sessions(base_url, base + ', "x": ' + nested(33) + "}")
    body = is_problem(r, 400)
    assert body["type"] != "/problems/validation", body
    r = post_sessions(base_url, base + ', "x": ' + nested(100) + "}")
    is_problem(r, 400)
    assert db.session_count(u) == 0


def test_nesting_of_10_levels_is_parsed(base_url, make_user, db):
    """10 levels parse fine; the request then fails validation (unknown x)."""
    u, p = make_user()
    base = json.dumps(creds_json(u, p))[:-1]
    r = post_sessions(base_url, base + ', "x": ' + nested(10) + "}")
    body = is_problem(r, 400)
    assert body["type"] == "/problems/validation", body
    assert "x" in error_fields(body), body
    assert db.session_count(u) == 0


def test_very_deep_nesting_does_not_crash(base_url):
    data = '{"x": ' + "[" * 200000 + "]" * 200000 + "}"
    r = post_sessions(base_url, data)
    is_problem(r, 400)
    assert requests.get(base_url + "/status", timeout=HTTP_TIMEOUT).status_code == 200


def test_wrong_content_type_is_415_and_changes_nothing(base_url, make_user, db):
    u, p = make_user()
    data = json.dumps(creds_json(u, p))
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml",
                  "application/jsonx", None):
        headers = {"Content-Type": ctype} if ctype else {}
        r = requests.post(base_url + "/api/v1/sessions", data=data.encode(), headers=headers,
                          timeout=HTTP_TIMEOUT)
        is_problem(r, 415)
    assert db.session_count(u) == 0


def test_json_content_type_with_charset_is_accepted(base_url, make_user, db):
    u, p = make_user()
    r = post_sessions(base_url, json.dumps(creds_json(u, p)),
                      headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text


def test_unknown_property_is_named(base_url, make_user, db):
    u, p = make_user()
    r = post_sessions(base_url, json.dumps(creds_json(u, p, remember_me=True)))
    body = is_problem(r, 400)
    assert body["type"] == "/problems/validation", body
    errs = [e for e in body.get("errors", []) if e.get("field") == "remember_me"]
    assert errs, body
    assert errs[0].get("rule") == "unknown", body
    assert errs[0].get("message"), body
    assert db.session_count(u) == 0


def test_wrong_types_name_the_field(base_url, make_user, db):
    u, p = make_user()
    cases = [
        ({"username": 12345, "password": p, "tenant": CORSICO}, "username"),
        ({"username": u, "password": p, "tenant": 15093}, "tenant"),
        ({"username": u, "password": [p], "tenant": CORSICO}, "password"),
        ({"username": None, "password": p, "tenant": CORSICO}, "username"),
        ({"username": {"$ne": ""}, "password": p, "tenant": CORSICO}, "username"),
        ({"username": u, "tenant": CORSICO}, "password"),          # missing
    ]
    for data, field in cases:
        r = post_sessions(base_url, json.dumps(data))
        body = is_problem(r, 400)
        assert body["type"] == "/problems/validation", (data, body)
        assert field in error_fields(body), (data, body)
    assert db.session_count(u) == 0


def test_oversized_strings_are_refused_cleanly(base_url, make_user, db):
    u, p = make_user()
    r = post_sessions(base_url, json.dumps(creds_json("u" * 100000, p)))
    assert 400 <= r.status_code < 500, r.status_code
    assert r.headers["Content-Type"].startswith(PROBLEM_JSON)
    assert requests.get(base_url + "/status", timeout=HTTP_TIMEOUT).status_code == 200


# ---------------------------------------------------------------- body size

def test_body_over_the_cap_is_413_before_the_body_is_read(spawn_server, make_user, db):
    u, p = make_user()
    with spawn_server(CARTELLA_MAX_BODY=1024) as srv:
        sock = raw_connect(srv.url)
        try:
            sock.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: 10000000\r\n\r\n")
            # No body is sent: the answer must come from the headers alone.
            status, headers, body = read_http_response(sock, timeout=5)
        finally:
            sock.close()
        assert status == 413, (status, body)
        assert headers.get("content-type", "").startswith(PROBLEM_JSON)
        assert headers.get("x-content-type-options") == "nosniff"
        assert json.loads(body)["status"] == 413

        # The whole body sent, just over the cap: still 413, and no session.
        data = json.dumps(creds_json(u, p, pad="a" * 1100))
        r = requests.post(srv.url + "/api/v1/sessions", data=data, headers=JSON,
                          timeout=HTTP_TIMEOUT)
        is_problem(r, 413)

        # Under the cap the body is read and parsed (then fails validation).
        data = json.dumps(creds_json(u, p, pad="a" * 700))
        assert len(data) < 1024
        r = requests.post(srv.url + "/api/v1/sessions", data=data, headers=JSON,
                          timeout=HTTP_TIMEOUT)
        body = is_problem(r, 400)
        assert "pad" in error_fields(body)

        # The server is fine afterwards.
        assert requests.get(srv.url + "/status", timeout=HTTP_TIMEOUT).status_code == 200
    assert db.session_count(u) == 0


def test_chunked_body_over_the_cap_is_413(spawn_server, make_user, db):
    u, p = make_user()
    with spawn_server(CARTELLA_MAX_BODY=1024) as srv:
        sock = raw_connect(srv.url)
        try:
            sock.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            start = json.dumps(creds_json(u, p))[:-1] + ', "pad": "'
            chunks = [start.encode()] + [b"a" * 512] * 16 + [b'"}']
            try:
                for c in chunks:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(c), c))
                    time.sleep(0.01)
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server may refuse and close before the end
            status, headers, body = read_http_response(sock, timeout=5)
        finally:
            sock.close()
        assert status == 413, (status, body)
    assert db.session_count(u) == 0


# ---------------------------------------------------------------- slow clients

def closed_within(sock, seconds, drip=None, interval=0.5):
    """Waits until the server closes sock (EOF, reset, or an answer followed by
    close), sending one byte of drip every interval if given. Returns the
    elapsed time, or None if still open after seconds."""
    start = time.monotonic()
    sock.setblocking(False)
    i = 0
    next_send = start
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if drip is not None and now >= next_send:
            try:
                sock.send(drip[i % len(drip):i % len(drip) + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
            except BlockingIOError:
                pass
            i += 1
            next_send = now + interval
        r, _, _ = select.select([sock], [], [], 0.05)
        if r:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return time.monotonic() - start
            except BlockingIOError:
                continue
            if not data:
                return time.monotonic() - start
            # An answer (e.g. 408) is fine; keep reading until close.
    return None


def test_idle_partial_request_is_cut_off(spawn_server):
    timeout = 2
    with spawn_server(CARTELLA_CONN_TIMEOUT=timeout) as srv:
        sock = raw_connect(srv.url)
        try:
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Partial: ")
            elapsed = closed_within(sock, 4 * timeout + 5)
        finally:
            sock.close()
        assert elapsed is not None, "connection still open"
        assert elapsed <= timeout + 3, elapsed


def test_byte_by_byte_headers_are_cut_off(spawn_server):
    """Slowloris: one header byte every 0.5 s (each within the idle timeout),
    never finishing. The server closes the connection within about twice the
    timeout, and meanwhile serves a normal request."""
    timeout = 2
    with spawn_server(CARTELLA_CONN_TIMEOUT=timeout) as srv:
        sock = raw_connect(srv.url)
        try:
            sock.sendall(b"G")
            result = {}

            def normal():
                time.sleep(1.0)
                try:
                    result["status"] = requests.get(srv.url + "/status", timeout=5).status_code
                except requests.RequestException as e:
                    result["status"] = repr(e)

            t = threading.Thread(target=normal)
            t.start()
            elapsed = closed_within(sock, 4 * timeout + 6,
                                    drip=b"ET /status HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000,
                                    interval=0.5)
            t.join()
        finally:
            sock.close()
        assert result.get("status") == 200, result
        assert elapsed is not None, "a byte-by-byte client kept the connection open"
        assert elapsed <= 2 * timeout + 2, elapsed


def test_many_slow_clients_do_not_block_others(spawn_server):
    """More unfinished requests than threads: others are still served at
    once, not after the stalled ones time out (10 s here)."""
    with spawn_server(CARTELLA_CONN_TIMEOUT=10, CARTELLA_THREADS=2) as srv:
        socks = []
        try:
            for _ in range(20):
                s = raw_connect(srv.url)
                s.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            t0 = time.monotonic()
            r = requests.get(srv.url + "/status", timeout=15)
            assert r.status_code == 200
            assert time.monotonic() - t0 < 5
        finally:
            for s in socks:
                s.close()

