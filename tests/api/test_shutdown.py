"""Graceful stop: SIGTERM lets in-flight requests finish, then the process exits 0."""

import json
import signal
import threading
import time

import requests

from conftest import CORSICO, login_body, raw_connect, read_http_response


def login_request(u, p):
    body = json.dumps(login_body(u, p, CORSICO)).encode()
    head = (b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    return head, body


def test_sigterm_lets_an_in_flight_login_finish(spawn_server, make_user):
    """A login (Argon2 takes tens of milliseconds) is sent, then SIGTERM right
    after: the login still gets its 201 and the process exits 0."""
    u, p = make_user()
    with spawn_server() as srv:
        sock = raw_connect(srv.url)
        # Make sure the server has accepted this connection: one request first.
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = read_http_response(sock)
        assert status == 200
        result = {}

        def run():
            try:
                head, body = login_request(u, p)
                sock.sendall(head + body)
                result["answer"] = read_http_response(sock, timeout=20)
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = repr(e)

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.02)
        srv.proc.send_signal(signal.SIGTERM)
        t.join(30)
        sock.close()
        assert "error" not in result, result
        status, headers, body = result["answer"]
        assert status == 201, (status, body)
        assert json.loads(body)["token"]
        assert srv.terminate() == 0


def test_sigterm_waits_for_a_request_whose_body_is_still_arriving(spawn_server, make_user):
    u, p = make_user()
    with spawn_server() as srv:
        sock = raw_connect(srv.url)
        try:
            head, body = login_request(u, p)
            sock.sendall(head + body[:10])
            time.sleep(0.3)  # the server has the headers: the request is in flight
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            # No new connections are served meanwhile.
            try:
                r = requests.get(srv.url + "/status", timeout=3)
                assert r.status_code == 503, r.status_code
            except requests.ConnectionError:
                pass
            assert srv.proc.poll() is None, "exited with a request in flight"
            sock.sendall(body[10:])
            status, headers, resp = read_http_response(sock, timeout=20)
        finally:
            sock.close()
        assert status == 201, (status, resp)
        assert srv.terminate() == 0


def test_sigterm_on_an_idle_server_exits_0_promptly(spawn_server):
    with spawn_server() as srv:
        requests.get(srv.url + "/status", timeout=5)
        t0 = time.monotonic()
        assert srv.terminate(timeout=10) == 0
        assert time.monotonic() - t0 < 5
        assert '"msg":"listening"' in srv.log().replace(" ", "")
