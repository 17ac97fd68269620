#!/usr/bin/env bash
# Builds actionlint v1.7.12 from the Go module proxy into .cache/bin, where tests/ci/workflows.test.ts looks for it.
# actionlint is kept in its own tools module (tools/actionlint) so that no other Go dependency can move its version.
# Idempotent: does nothing when the binary already reports 1.7.12.
set -euo pipefail

ACTIONLINT_VERSION="1.7.12"
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool.sh"
tools_module="$repo_root/tools/actionlint"
bin_dir="$repo_root/.cache/bin"
binary="$bin_dir/actionlint"

# `actionlint -version` prints the version on its first line (e.g. "v1.7.12").
if [ -x "$binary" ] && [ "$("$binary" -version 2>/dev/null | head -n1)" = "v${ACTIONLINT_VERSION}" ]; then
  echo "actionlint ${ACTIONLINT_VERSION}: found in $bin_dir"
  exit 0
fi

command -v go >/dev/null || fail "Go >= 1.25 is required to build actionlint (go not found on PATH)"

cd "$tools_module"
# The tool directive in go.mod pins the version; `go get -tool` only runs when it is missing.
if ! grep -q "github.com/rhysd/actionlint/cmd/actionlint" go.mod 2>/dev/null; then
  [ -f go.mod ] || go mod init spire-mesh/tools/actionlint
  go get -tool "github.com/rhysd/actionlint/cmd/actionlint@v${ACTIONLINT_VERSION}"
fi

# Built inside the tools module, actionlint is a dependency rather than the main module, so its self-reported
# version would be "(devel)". Stamp the version go.mod actually resolved, so the check above sees the truth.
resolved="$(go list -m -f '{{.Version}}' github.com/rhysd/actionlint)"
[ "$resolved" = "v${ACTIONLINT_VERSION}" ] ||
  fail "tools/actionlint/go.mod resolves actionlint ${resolved}, expected v${ACTIONLINT_VERSION}"

mkdir -p "$bin_dir"
# Installed into a staging directory next to the target and then renamed: an interrupted build never leaves a
# truncated binary behind, and a stale file at the target (which `go install` refuses to overwrite unless it is
# a Go binary) is simply replaced.
staging="$(mktemp -d "$bin_dir/.actionlint.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
start=$(date +%s)
# Pure Go: cgo off so no C compiler is needed. -buildvcs=false: no VCS stamp is needed, and stamping fails
# without git or in a checkout git distrusts.
CGO_ENABLED=0 GOBIN="$staging" run_logged build-actionlint go install -trimpath -buildvcs=false \
  -ldflags "-X github.com/rhysd/actionlint.version=${resolved}" \
  github.com/rhysd/actionlint/cmd/actionlint
mv -f "$staging/actionlint" "$binary"
echo "actionlint ${ACTIONLINT_VERSION}: built into $bin_dir in $(($(date +%s) - start))s"
"$binary" -version | head -n1
