#!/usr/bin/env python3
"""Writes seed inputs of the fuzz_request target (tests/fuzz/corpus/request/)
from the contract, api/openapi.yaml: for every operation one request in the
target's format (request line, headers, empty line, JSON body) whose body is
built from the request schema (its example, first enum value, default or a
value of the right format) and whose query carries each parameter's example.
Run it again after adding routes; hand-made seeds live beside its output
(files not named op-*). Usage: tests/fuzz/seed_request.py [OUTDIR]"""
import hashlib
import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UUID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
PATH_VALUES = {"tenant": "015093", "year": "2025", "document_class": "case_file"}


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].split("/")[-1]
        node = spec["components"]["schemas"].get(name) or spec["components"].get(
            "parameters", {}).get(name, {})
    return node


def value(spec, node, depth=0):
    node = resolve(spec, node)
    if depth > 6 or not isinstance(node, dict):
        return None
    for key in ("allOf", "oneOf", "anyOf"):
        if key in node:
            return value(spec, node[key][0], depth + 1)
    if "example" in node:
        return node["example"]
    if node.get("enum"):
        return next((v for v in node["enum"] if v is not None), None)
    if "default" in node:
        return node["default"]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {k: value(spec, v, depth + 1) for k, v in node.get("properties", {}).items()}
    if kind == "array":
        return [value(spec, node.get("items", {}), depth + 1)]
    if kind == "integer":
        return node.get("minimum", 1)
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    fmt, pattern = node.get("format"), node.get("pattern", "")
    if fmt == "uuid":
        return UUID
    if fmt == "date" or "[0-9]{4}-[0-9]{2}-[0-9]{2}" in pattern:
        return "2025-03-01"
    if "[0-9]+" in pattern and "." in pattern:
        return "12.50"
    return "x" * max(1, node.get("minLength", 1))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/fuzz/corpus/request")
    spec = yaml.safe_load(open(os.path.join(ROOT, "api/openapi.yaml")))
    os.makedirs(out, exist_ok=True)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            target = path
            for name in PATH_VALUES:
                target = target.replace("{%s}" % name, PATH_VALUES[name])
            while "{" in target:
                a = target.index("{")
                target = target[:a] + UUID + target[target.index("}", a) + 1:]
            query = []
            for p in op.get("parameters", []) + ops.get("parameters", []):
                p = resolve(spec, p)
                if p.get("in") == "query":
                    v = p.get("example", value(spec, p.get("schema", {})))
                    if v is not None:
                        query.append("%s=%s" % (p["name"], str(v).lower()
                                                if isinstance(v, bool) else v))
            text = "%s %s%s\n" % (method.upper(), target, "?" + "&".join(query) if query else "")
            if method in ("put", "patch"):
                text += 'If-Match: "1"\n'
            text += "\n"
            body = op.get("requestBody", {}).get("content", {})
            for media in body.values():
                text += json.dumps(value(spec, media.get("schema", {})), ensure_ascii=False)
                break
            name = "op-" + hashlib.sha1(text.encode()).hexdigest()[:12]
            with open(os.path.join(out, name), "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
