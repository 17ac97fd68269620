#!/usr/bin/env bash
# Builds spire-server and spire-agent v1.13.3 from the Go module proxy into .cache/spire/bin.
# SPIRE is kept in its own tools module (tools/spire) so no other Go dependency can move its versions.
# Idempotent: does nothing when both binaries already report 1.13.3.
set -euo pipefail

SPIRE_VERSION="1.13.3"
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool.sh"
tools_module="$repo_root/tools/spire"
bin_dir="$repo_root/.cache/spire/bin"

have_version() {
  [ -x "$bin_dir/$1" ] && "$bin_dir/$1" --version 2>&1 | grep -q "^${SPIRE_VERSION}"
}

if have_version spire-server && have_version spire-agent; then
  echo "spire ${SPIRE_VERSION}: found in $bin_dir"
  exit 0
fi

command -v go >/dev/null || { echo "install-spire: Go >= 1.25.3 is required (go not found on PATH)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "install-spire: a C compiler is required (cgo builds SPIRE's sqlite datastore)" >&2; exit 1; }

mkdir -p "$bin_dir"
cd "$tools_module"
# The tool directives in go.mod pin v1.13.3; `go get -tool` only runs when they are missing.
if ! grep -q "github.com/spiffe/spire/cmd/spire-server" go.mod 2>/dev/null; then
  [ -f go.mod ] || go mod init spire-mesh/tools/spire
  go get -tool "github.com/spiffe/spire/cmd/spire-server@v${SPIRE_VERSION}"
  go get -tool "github.com/spiffe/spire/cmd/spire-agent@v${SPIRE_VERSION}"
fi

start=$(date +%s)
# cgo stays on: the sqlite3 datastore is cgo-only.
CGO_ENABLED=1 GOBIN="$bin_dir" run_logged build-spire go install \
  github.com/spiffe/spire/cmd/spire-server \
  github.com/spiffe/spire/cmd/spire-agent
echo "spire ${SPIRE_VERSION}: built into $bin_dir in $(( $(date +%s) - start ))s"
"$bin_dir/spire-server" --version
