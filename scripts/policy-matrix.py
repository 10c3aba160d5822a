#!/usr/bin/env python3
"""Prints the role × action matrix of the access policy as a Markdown table,
with the client scopes that open each route, from `cartella routes` (the route
table and the policy table compiled into the binary). docs/security.md carries its output between the markers
<!-- policy-matrix:begin --> and <!-- policy-matrix:end -->; a test checks that
it is current. usage: policy-matrix.py BINARY [--write docs/security.md]"""
import subprocess
import sys

ROLES = ["social_worker", "administrative", "service_manager", "planning_office", "dpo", "admin"]
BEGIN, END = "<!-- policy-matrix:begin -->", "<!-- policy-matrix:end -->"


def matrix(binary):
    out = subprocess.run([binary, "routes"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        method, pattern, action, roles, scopes = line.split("\t")
        allowed = set() if roles == "public" else set(roles.split(","))
        cells = ["public" if roles == "public" else ("✓" if r in allowed else "")
                 for r in ROLES]
        if roles == "public":
            cells = ["public"] + [""] * (len(ROLES) - 1)
        scope_cell = "" if scopes == "-" else ", ".join("`%s`" % x for x in scopes.split(","))
        rows.append("| `%s %s` | `%s` | %s | %s |" % (method, pattern, action, " | ".join(cells),
                                                     scope_cell))
    head = "| route | action | " + " | ".join(ROLES) + " | client scopes |\n"
    head += "|---|---|" + "---|" * len(ROLES) + "---|\n"
    return head + "\n".join(rows) + "\n"


def main():
    text = matrix(sys.argv[1])
    if len(sys.argv) == 4 and sys.argv[2] == "--write":
        path = sys.argv[3]
        doc = open(path, encoding="utf-8").read()
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        open(path, "w", encoding="utf-8").write(doc[:a] + "\n" + text + doc[b:])
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
