#!/usr/bin/env bash
# Every C source follows the committed .clang-format (clang-format --dry-run).
set -euo pipefail
cd "${CARTELLA_REPO:-$(dirname "$0")/../..}"
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find server auth api tests/unit -name '*.[ch]')
clang-format --dry-run --Werror "${files[@]}"
