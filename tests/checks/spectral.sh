#!/usr/bin/env bash
# Lints api/openapi.yaml with Spectral and the Italian API guidelines ruleset
# ("Italian Guidelines Full", ../shared/tools/italian-oas-ruleset.yml): any
# error fails the check; warnings are printed. Spectral comes from npm, pinned,
# installed once under ${CARTELLA_TOOLS_DIR:-var/tools}/spectral.
set -euo pipefail

SPECTRAL_VERSION=6.16.3

REPO=${CARTELLA_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TOOLS=${CARTELLA_TOOLS_DIR:-$REPO/var/tools}
DIR=$TOOLS/spectral
BIN=$DIR/node_modules/.bin/spectral
RULESET=$REPO/../shared/tools/italian-oas-ruleset.yml
CONTRACT=$REPO/api/openapi.yaml

die() {
	printf 'spectral check: %s\n' "$*" >&2
	exit 1
}

installed_version() { [[ -x "$BIN" ]] && "$BIN" --version 2>/dev/null; }

# Installs the pinned version into a fresh directory, then moves it into
# place, so an interrupted or concurrent install never leaves a broken one.
install_spectral() {
	command -v npm >/dev/null || die "npm is not installed (Debian packages nodejs and npm)"
	mkdir -p "$TOOLS"
	local tmp
	tmp=$(mktemp -d "$TOOLS/spectral.tmp.XXXXXX")
	printf '{"private": true, "dependencies": {"@stoplight/spectral-cli": "%s"}}\n' \
		"$SPECTRAL_VERSION" >"$tmp/package.json"
	if ! npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error >"$tmp.log" 2>&1; then
		cat "$tmp.log" >&2
		rm -rf -- "$tmp" "$tmp.log"
		die "npm install @stoplight/spectral-cli@$SPECTRAL_VERSION failed"
	fi
	rm -f -- "$tmp.log"
	rm -rf -- "$DIR"
	mv -- "$tmp" "$DIR"
}

[[ -f "$RULESET" ]] || die "ruleset not found: $RULESET"
[[ -f "$CONTRACT" ]] || die "contract not found: $CONTRACT"
if [[ "$(installed_version)" != "$SPECTRAL_VERSION" ]]; then
	install_spectral
	[[ "$(installed_version)" == "$SPECTRAL_VERSION" ]] ||
		die "spectral $SPECTRAL_VERSION did not install into $DIR"
fi

cd "$REPO"
exec "$BIN" lint --ruleset "$RULESET" --fail-severity error api/openapi.yaml
