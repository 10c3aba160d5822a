#!/usr/bin/env bash
# The benchmark harness works end to end (tests/bench/run --smoke): its own
# cluster, tiny data, Cartella and the peer answer every workload 2xx, the
# peer decrypts the same person and renders the same SIUSS flows as
# Cartella, every pgbench script runs, and wrk, h2load and pgbench each run
# once against every workload. Correctness only: no timing is judged.
set -euo pipefail
cd "${CARTELLA_REPO:-$(dirname "$0")/../..}"
out=$(mktemp -d -t cartella-bench-smoke.XXXXXX)
trap 'rm -rf -- "$out"' EXIT
tests/bench/run --smoke --out "$out" >"$out/stdout" 2>"$out/stderr" || {
	tail -n 40 "$out/stderr" "$out/stdout" >&2
	exit 1
}
grep -q 'the peer decrypts the same name and fiscal code' "$out/results.md"
grep -q 'byte for byte' "$out/results.md"
test "$(grep -c 'wrk, h2load and pgbench ran' "$out/results.md")" -eq 6
