"""The contract: api/openapi.yaml describes exactly the server.

Static checks compare the document with the route table the binary prints
(`cartella routes`: method, pattern, policy action, roles); live checks send
requests and validate status, headers and bodies against the document with a
small validator for the part of JSON Schema the document uses (an unknown
keyword is an error, so the validator never skips a constraint silently).
"""

import datetime
import json
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests
import yaml

from conftest import (CORSICO, HTTP_TIMEOUT, fresh_client, login_body, random_name,
                      random_password, totp_code, totp_step)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
COMMON_HEADERS = ("Cache-Control", "X-Content-Type-Options", "X-Frame-Options",
                  "Content-Security-Policy", "Referrer-Policy", "X-Request-Id")


# ---------------------------------------------------------------- document

def repo_file(*parts):
    return os.path.join(os.environ["CARTELLA_REPO"], *parts)


@pytest.fixture(scope="module")
def raw_doc():
    with open(repo_file("api", "openapi.yaml"), "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def doc(raw_doc):
    return yaml.safe_load(raw_doc)


def resolve(doc, node):
    """Follows local $refs ("#/a/b") until node is not a reference."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), "only local references are used: %s" % ref
        assert set(node) == {"$ref"}, "siblings of $ref are ignored in OAS 3.0: %s" % node
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        assert seen < 20, "reference loop at " + ref
    return node


def operations(doc):
    """Yields (METHOD, path, operation) for every operation of the document."""
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def operation(doc, method, path):
    op = doc["paths"].get(path, {}).get(method.lower())
    assert op is not None, "%s %s is not in the contract" % (method, path)
    return op


@pytest.fixture(scope="module")
def routes():
    """{(METHOD, pattern): (action, roles or None for public, client scopes)}
    from the binary."""
    out = subprocess.run([os.environ["CARTELLA_BIN"], "routes"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    table = {}
    for line in out.splitlines():
        method, pattern, action, roles, scopes = line.split("\t")
        assert (method, pattern) not in table, line
        table[(method, pattern)] = (action,
                                    None if roles == "public" else
                                    [r for r in roles.split(",") if r],
                                    [] if scopes == "-" else scopes.split(","))
    assert table, "cartella routes printed nothing"
    return table


# ---------------------------------------------------------------- validator

ANNOTATIONS = {"description", "example", "default", "title", "deprecated", "readOnly",
               "writeOnly", "externalDocs"}
KEYWORDS = {"$ref", "type", "nullable", "required", "properties", "additionalProperties",
            "items", "enum", "format", "pattern", "minLength", "maxLength", "minimum",
            "maximum", "minItems", "maxItems", "uniqueItems", "minProperties"} | ANNOTATIONS

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
INT_RANGE = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}


def _format_ok(fmt, value):
    if fmt == "date-time":
        if not RFC3339.match(value):
            return False
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    if fmt == "uuid":
        return bool(UUID.match(value))
    if fmt == "uri-reference":
        return not re.search(r"[\s<>\"{}|\\^`]", value)
    if fmt == "password":
        return True
    raise AssertionError("the validator does not know format %r" % fmt)


def validate(doc, schema, value, where="$"):
    """Returns a list of error strings (empty when value is valid)."""
    errors = []
    _validate(doc, schema, value, where, errors)
    return errors


def _type_ok(t, value):
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    raise AssertionError("unknown type %r" % t)


def _validate(doc, schema, value, where, errors):
    schema = resolve(doc, schema)
    unknown = set(schema) - KEYWORDS
    assert not unknown, "the validator does not support %s (at %s)" % (sorted(unknown), where)
    if value is None:
        if not schema.get("nullable", False):
            errors.append("%s: null is not allowed" % where)
        return
    t = schema.get("type")
    if t is not None and not _type_ok(t, value):
        errors.append("%s: expected %s, got %r" % (where, t, value))
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %r" % (where, value, schema["enum"]))
    if isinstance(value, str):
        if "format" in schema and not _format_ok(schema["format"], value):
            errors.append("%s: %r is not a %s" % (where, value, schema["format"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
        if len(value) < schema.get("minLength", 0):
            errors.append("%s: shorter than %d" % (where, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append("%s: longer than %d" % (where, schema["maxLength"]))
    if isinstance(value, int) and not isinstance(value, bool):
        lo, hi = INT_RANGE.get(schema.get("format"), (None, None))
        if t == "integer" and lo is None:
            errors.append("%s: integer schema without int32/int64 format" % where)
        elif lo is not None and not lo <= value <= hi:
            errors.append("%s: %d out of %s" % (where, value, schema["format"]))
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %d < minimum %d" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %d > maximum %d" % (where, value, schema["maximum"]))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append("%s: fewer than %d items" % (where, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append("%s: more than %d items" % (where, schema["maxItems"]))
        if schema.get("uniqueItems"):
            dumped = [json.dumps(v, sort_keys=True) for v in value]
            if len(set(dumped)) != len(dumped):
                errors.append("%s: items are not unique" % where)
        if "items" in schema:
            for i, v in enumerate(value):
                _validate(doc, schema["items"], v, "%s[%d]" % (where, i), errors)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append("%s: missing required property %r" % (where, name))
        if len(value) < schema.get("minProperties", 0):
            errors.append("%s: fewer than %d properties" % (where, schema["minProperties"]))
        extra = schema.get("additionalProperties", True)
        for name, v in value.items():
            if name in props:
                _validate(doc, props[name], v, "%s.%s" % (where, name), errors)
            elif extra is False:
                errors.append("%s: undocumented property %r" % (where, name))
            elif isinstance(extra, dict):
                _validate(doc, extra, v, "%s.%s" % (where, name), errors)


def test_validator_catches_what_it_claims(doc):
    user = {"id": str(uuid.uuid4()), "username": "m.rossi", "disabled": False,
            "home_tenant": True, "roles": ["admin"], "second_factor": "totp", "version": 1}
    schema = {"$ref": "#/components/schemas/User"}
    assert validate(doc, schema, user) == []
    assert validate(doc, schema, dict(user, extra=1))             # additionalProperties
    assert validate(doc, schema, {k: v for k, v in user.items() if k != "id"})  # required
    assert validate(doc, schema, dict(user, id="nope"))           # format uuid
    assert validate(doc, schema, dict(user, roles=["root"]))      # enum in items
    assert validate(doc, schema, dict(user, version="1"))         # type
    assert validate(doc, schema, dict(user, disabled=None))       # not nullable
    lst = {"$ref": "#/components/schemas/UserList"}
    assert validate(doc, lst, {"items": [user], "next_cursor": None}) == []
    sess = {"$ref": "#/components/schemas/Session"}
    assert validate(doc, sess, {"expires_at": "yesterday", "idle_timeout_seconds": 1,
                                "user": {"id": str(uuid.uuid4()), "username": "x"},
                                "tenant": {"id": str(uuid.uuid4()), "code": "015093",
                                           "name": "Corsico", "kind": "comune"},
                                "roles": []})                     # format date-time


# ---------------------------------------------------------------- static checks

def test_every_route_is_an_operation_and_nothing_else(doc, routes):
    documented = {(m, p) for m, p, _ in operations(doc)}
    served = set(routes)
    assert served - documented == set(), "routes missing from api/openapi.yaml"
    assert documented - served == set(), "operations the server does not have"


def test_each_operation_names_its_policy_action(doc, routes):
    for method, path, op in operations(doc):
        if (method, path) not in routes:
            continue  # reported by the test above
        action = routes[(method, path)][0]
        assert op.get("x-cartella-action") == action, (method, path)


def test_security_and_roles_match_the_policy(doc, routes):
    default_security = doc.get("security")
    for method, path, op in operations(doc):
        if (method, path) not in routes:
            continue
        _, roles, scopes = routes[(method, path)]
        security = op.get("security", default_security)
        if roles is None:
            assert security == [], "%s %s is public: it needs security: []" % (method, path)
            assert "x-cartella-roles" not in op, (method, path)
            assert "x-cartella-scopes" not in op, (method, path)
        else:
            # Staff sessions where a role is allowed; integration clients
            # (HTTP Basic, PDND vouchers) where a scope is.
            want = ([{"bearerAuth": []}] if roles else []) + \
                   ([{"clientBasic": []}, {"pdndVoucher": []}] if scopes else [])
            assert security == want, (method, path)
            assert sorted(op.get("x-cartella-roles", [])) == sorted(roles), (method, path)
            assert sorted(op.get("x-cartella-scopes", [])) == sorted(scopes), (method, path)
            assert "401" in op["responses"] and "403" in op["responses"], (method, path)


def test_operation_ids_are_unique(doc):
    ids = [op.get("operationId") for _, _, op in operations(doc)]
    assert None not in ids
    assert len(ids) == len(set(ids))


def test_contract_version_is_the_binary_version(doc):
    out = subprocess.run([os.environ["CARTELLA_BIN"], "version"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.split()[1] == doc["info"]["version"], out


def _object_schemas(doc, schema, where, out):
    schema = resolve(doc, schema)
    if schema.get("type") == "object" or "properties" in schema:
        out.append((where, schema))
        for name, sub in schema.get("properties", {}).items():
            _object_schemas(doc, sub, where + "." + name, out)
    if "items" in schema:
        _object_schemas(doc, schema["items"], where + "[]", out)


def test_request_bodies_forbid_unknown_properties(doc):
    found = []
    for method, path, op in operations(doc):
        body = resolve(doc, op.get("requestBody", {}))
        for ctype, media in body.get("content", {}).items():
            _object_schemas(doc, media["schema"], "%s %s %s" % (method, path, ctype), found)
    assert found, "no request bodies found"
    for where, schema in found:
        # The outcomes INPS posts follow INPS's EsitoFlusso, which allows members
        # it does not name (INPS's own examples send codice_ente): the WaaS
        # contract (reference/inps-waas/api-comuni.yaml) governs them.
        if where.startswith("POST /waas/v1/esiti") and where.endswith("[]"):
            continue
        assert schema.get("additionalProperties") is False, where


def test_every_response_documents_the_common_headers_and_errors_are_problems(doc):
    for method, path, op in operations(doc):
        for status, resp in op["responses"].items():
            resp = resolve(doc, resp)
            headers = resp.get("headers", {})
            for h in COMMON_HEADERS:
                assert h in headers, (method, path, status, h)
            if status[0] in "45":
                assert list(resp.get("content", {})) == ["application/problem+json"], \
                    (method, path, status)
        for status in ("400", "405", "413", "415", "500"):
            assert status in op["responses"], (method, path, status)


# ---------------------------------------------------------------- live checks

def check(doc, method, path, resp):
    """Validates a live response against the operation (METHOD, path template)
    of the document: status, required headers, media type and body."""
    op = operation(doc, method, path)
    status = str(resp.status_code)
    assert status in op["responses"], \
        "%s %s answered %s, which the contract does not list: %s" % (
            method, path, status, resp.text[:300])
    spec = resolve(doc, op["responses"][status])
    problems = []
    for name, header in spec.get("headers", {}).items():
        header = resolve(doc, header)
        value = resp.headers.get(name)
        if value is None:
            if header.get("required"):
                problems.append("missing header %s" % name)
            continue
        hschema = resolve(doc, header["schema"])
        if hschema.get("type") == "integer":
            try:
                value = int(value)
            except ValueError:
                problems.append("header %s: %r is not an integer" % (name, value))
                continue
        problems += validate(doc, hschema, value, "header " + name)
    content = spec.get("content")
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
    if not content:
        assert resp.content == b"", "%s %s %s: the contract says no body" % (method, path, status)
    else:
        assert ctype in content, "%s %s %s: Content-Type %r, documented %s" % (
            method, path, status, ctype, list(content))
        schema = content[ctype].get("schema")
        if ctype.endswith("json"):
            problems += validate(doc, schema, resp.json(), "body")
        elif schema is not None:
            problems += validate(doc, schema, resp.text, "body")
    assert problems == [], "%s %s %s: %s" % (method, path, status, problems)
    return resp


def test_served_contract_is_the_file(base_url, raw_doc, doc):
    r = requests.get(base_url + "/api/v1/openapi.yaml", timeout=HTTP_TIMEOUT)
    check(doc, "GET", "/api/v1/openapi.yaml", r)
    assert r.content == raw_doc, (
        "GET /api/v1/openapi.yaml differs from api/openapi.yaml (%d vs %d bytes)"
        % (len(r.content), len(raw_doc)))


def test_operational_endpoints_match(base_url, doc):
    check(doc, "GET", "/status", requests.get(base_url + "/status", timeout=HTTP_TIMEOUT))
    check(doc, "GET", "/metrics", requests.get(base_url + "/metrics", timeout=HTTP_TIMEOUT))


def test_allow_lists_exactly_the_documented_methods(base_url, doc):
    for path, item in doc["paths"].items():
        concrete = path.replace("{id}", str(uuid.uuid4()))
        r = requests.request("OPTIONS", base_url + concrete, timeout=HTTP_TIMEOUT)
        assert r.status_code == 405, (path, r.status_code)
        allowed = {m.strip() for m in r.headers["Allow"].split(",")}
        assert allowed == {m.upper() for m in item if m in METHODS}, (path, allowed)
        # Documented on each operation of the path; any of them validates it.
        method = next(m.upper() for m in item if m in METHODS)
        check(doc, method, path, r)


def test_sessions_match(base_url, doc, make_user, login):
    u, p = make_user(CORSICO, "social_worker")
    s = login(u, p)
    check(doc, "POST", "/api/v1/sessions", s.login_response)
    assert s.login_response.headers["Location"] == "/api/v1/sessions/current"
    check(doc, "GET", "/api/v1/sessions/current",
          s.get(base_url + "/api/v1/sessions/current", timeout=HTTP_TIMEOUT))

    c = fresh_client(base_url)
    sessions = base_url + "/api/v1/sessions"
    check(doc, "POST", "/api/v1/sessions",
          c.post(sessions, json=login_body(u, p + "x", CORSICO), timeout=HTTP_TIMEOUT))  # 401
    check(doc, "POST", "/api/v1/sessions",
          c.post(sessions, json=login_body(u, p, "015011"), timeout=HTTP_TIMEOUT))       # 403
    r = check(doc, "POST", "/api/v1/sessions",
              c.post(sessions, json=dict(login_body(u, p, CORSICO), colour="blue"),
                     timeout=HTTP_TIMEOUT))                                              # 400
    assert r.status_code == 400 and r.json()["errors"][0]["rule"] == "unknown"
    r = check(doc, "POST", "/api/v1/sessions",
              c.post(sessions, data=b"{}", headers={"Content-Type": "text/plain"},
                     timeout=HTTP_TIMEOUT))
    assert r.status_code == 415
    r = check(doc, "POST", "/api/v1/sessions",
              c.post(sessions, data=b"{\"username\":", headers={"Content-Type": "application/json"},
                     timeout=HTTP_TIMEOUT))
    assert r.status_code == 400

    check(doc, "GET", "/api/v1/sessions/current",
          requests.get(base_url + "/api/v1/sessions/current", timeout=HTTP_TIMEOUT))     # 401
    r = check(doc, "DELETE", "/api/v1/sessions/current",
              s.delete(base_url + "/api/v1/sessions/current", timeout=HTTP_TIMEOUT))
    assert r.status_code == 204
    r = check(doc, "DELETE", "/api/v1/sessions/current",
              s.delete(base_url + "/api/v1/sessions/current", timeout=HTTP_TIMEOUT))
    assert r.status_code == 401


def test_second_factor_matches(base_url, doc, make_user, admin, db):
    u, p = make_user(CORSICO, "social_worker", enrol=False)
    sessions = base_url + "/api/v1/sessions"
    r = check(doc, "POST", "/api/v1/sessions",
              fresh_client(base_url).post(sessions, json=login_body(u, p, CORSICO),
                                          timeout=HTTP_TIMEOUT))
    assert r.json()["second_factor"] == "enrolment_required"
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    r = check(doc, "GET", "/api/v1/persons",
              s.get(base_url + "/api/v1/persons", timeout=HTTP_TIMEOUT))                 # 403
    assert r.json()["type"] == "/problems/second-factor-enrolment-required"
    totp = base_url + "/api/v1/sessions/current/totp"
    confirm = totp + "/confirmation"
    check(doc, "POST", "/api/v1/sessions/current/totp/confirmation",
          s.post(confirm, json={"totp": "123456"}, timeout=HTTP_TIMEOUT))                # 409
    r = check(doc, "POST", "/api/v1/sessions/current/totp", s.post(totp, timeout=HTTP_TIMEOUT))
    secret = r.json()["secret"]
    check(doc, "POST", "/api/v1/sessions/current/totp", s.post(totp, json={"x": 1},
                                                             timeout=HTTP_TIMEOUT))      # 400
    r = check(doc, "POST", "/api/v1/sessions/current/totp", s.post(totp, json={},
                                                                 timeout=HTTP_TIMEOUT))
    secret = r.json()["secret"]
    check(doc, "POST", "/api/v1/sessions/current/totp/confirmation",
          s.post(confirm, json={"totp": "12345"}, timeout=HTTP_TIMEOUT))                 # 400
    if time.time() % 30 > 24:
        time.sleep(31 - time.time() % 30)
    r = check(doc, "POST", "/api/v1/sessions/current/totp/confirmation",
              s.post(confirm, json={"totp": totp_code(secret, totp_step())}, timeout=HTTP_TIMEOUT))
    assert r.status_code == 200, r.text
    check(doc, "GET", "/api/v1/sessions/current",
          s.get(base_url + "/api/v1/sessions/current", timeout=HTTP_TIMEOUT))

    a, _ = admin()
    uid = str(db.user_id(u))
    reset = base_url + "/api/v1/users/" + uid + "/totp"
    check(doc, "DELETE", "/api/v1/users/{id}/totp", a.delete(reset, timeout=HTTP_TIMEOUT))  # 428
    check(doc, "DELETE", "/api/v1/users/{id}/totp",
          a.delete(reset, headers={"If-Match": '"0"'}, timeout=HTTP_TIMEOUT))             # 412
    check(doc, "DELETE", "/api/v1/users/{id}/totp",
          a.delete(base_url + "/api/v1/users/" + str(uuid.uuid4()) + "/totp",
                   headers={"If-Match": '"1"'}, timeout=HTTP_TIMEOUT))                    # 404
    etag = a.get(base_url + "/api/v1/users/" + uid, timeout=HTTP_TIMEOUT).headers["ETag"]
    r = check(doc, "DELETE", "/api/v1/users/{id}/totp",
              a.delete(reset, headers={"If-Match": etag}, timeout=HTTP_TIMEOUT))
    assert r.status_code == 204


def test_login_throttling_matches(base_url, doc, make_user):
    u, p = make_user(CORSICO, "social_worker")
    c = fresh_client(base_url)
    statuses = []
    for _ in range(20):
        r = check(doc, "POST", "/api/v1/sessions",
                  c.post(base_url + "/api/v1/sessions", json=login_body(u, "wrong-" + p, CORSICO),
                         timeout=HTTP_TIMEOUT))
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[-1] == 429, statuses


def test_users_match(base_url, doc, admin, make_user, login):
    s, me = admin()
    users = base_url + "/api/v1/users"
    name = random_name("c_")
    r = check(doc, "POST", "/api/v1/users",
              s.post(users, json={"username": name, "password": random_password(),
                                  "roles": ["social_worker", "dpo"]}, timeout=HTTP_TIMEOUT))
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert r.headers["Location"] == "/api/v1/users/" + uid
    r = check(doc, "POST", "/api/v1/users",
              s.post(users, json={"username": name, "password": random_password(),
                                  "roles": ["dpo"]}, timeout=HTTP_TIMEOUT))
    assert r.status_code == 409
    r = check(doc, "POST", "/api/v1/users",
              s.post(users, json={"username": "X", "password": "short", "roles": ["root"]},
                     timeout=HTTP_TIMEOUT))
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["errors"]} >= {"username", "password", "roles[0]"}

    r = check(doc, "GET", "/api/v1/users", s.get(users, params={"limit": 1}, timeout=HTTP_TIMEOUT))
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"], page   # me + the new one
    check(doc, "GET", "/api/v1/users",
          s.get(users, params={"limit": 500, "cursor": page["next_cursor"]}, timeout=HTTP_TIMEOUT))
    for bad in ({"limit": 0}, {"limit": 501}, {"limit": "x"}, {"cursor": "!"}):
        r = check(doc, "GET", "/api/v1/users", s.get(users, params=bad, timeout=HTTP_TIMEOUT))
        assert r.status_code == 400, bad

    one = users + "/" + uid
    r = check(doc, "GET", "/api/v1/users/{id}", s.get(one, timeout=HTTP_TIMEOUT))
    etag = r.headers["ETag"]
    check(doc, "GET", "/api/v1/users/{id}",
          s.get(users + "/" + str(uuid.uuid4()), timeout=HTTP_TIMEOUT))                  # 404

    r = check(doc, "PATCH", "/api/v1/users/{id}",
              s.patch(one, json={"roles": ["dpo"]}, timeout=HTTP_TIMEOUT))
    assert r.status_code == 428
    r = check(doc, "PATCH", "/api/v1/users/{id}",
              s.patch(one, json={"roles": ["dpo"]}, headers={"If-Match": '"999999"'},
                      timeout=HTTP_TIMEOUT))
    assert r.status_code == 412
    # The documented media type for PATCH, and plain JSON, both work.
    r = check(doc, "PATCH", "/api/v1/users/{id}",
              s.patch(one, data=json.dumps({"roles": ["dpo"]}),
                      headers={"If-Match": etag, "Content-Type": "application/merge-patch+json"},
                      timeout=HTTP_TIMEOUT))
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["dpo"]
    r = check(doc, "PATCH", "/api/v1/users/{id}",
              s.patch(one, json={"disabled": True}, headers={"If-Match": r.headers["ETag"]},
                      timeout=HTTP_TIMEOUT))
    assert r.status_code == 200 and r.json()["disabled"] is True
    r = check(doc, "PATCH", "/api/v1/users/{id}",
              s.patch(one, json={}, headers={"If-Match": r.headers["ETag"]}, timeout=HTTP_TIMEOUT))
    assert r.status_code == 400

    u, p = make_user(CORSICO, "social_worker")
    w = login(u, p)
    r = check(doc, "GET", "/api/v1/users", w.get(users, timeout=HTTP_TIMEOUT))
    assert r.status_code == 403


def test_security_doc_matrix_is_generated_from_the_policy():
    """docs/security.md carries the role × action matrix generated from the binary."""
    repo = os.environ["CARTELLA_REPO"]
    out = subprocess.run([sys.executable, os.path.join(repo, "scripts", "policy-matrix.py"),
                          os.environ["CARTELLA_BIN"]], capture_output=True, text=True, check=True)
    doc = open(os.path.join(repo, "docs", "security.md"), encoding="utf-8").read()
    begin = doc.index("<!-- policy-matrix:begin -->") + len("<!-- policy-matrix:begin -->")
    end = doc.index("<!-- policy-matrix:end -->")
    assert doc[begin:end].strip() == out.stdout.strip(), \
        "docs/security.md is stale: run scripts/policy-matrix.py build/cartella --write docs/security.md"
