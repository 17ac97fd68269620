#!/usr/bin/env bash
# Builds every command under tools/validate/cmd/* (the Kubernetes strict-decoding validator, and any
# validator added later) into .cache/bin, where the tests look for them.
# Idempotent: a binary newer than every .go/go.mod/go.sum file in tools/validate is left alone.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool.sh"
module_dir="$repo_root/tools/validate"
bin_dir="$repo_root/.cache/bin"

# The go directive in go.mod is the real minimum: k8s.io/apimachinery v0.37 itself requires Go 1.26.0.
required_go="$(awk '$1 == "go" { print $2; exit }' "$module_dir/go.mod")"
command -v go >/dev/null || fail "Go >= ${required_go} is required (go not found on PATH)"
# Asked inside the module so that GOTOOLCHAIN=auto can switch to a newer toolchain before answering.
found_go="$(cd "$module_dir" && go env GOVERSION 2>/dev/null)" ||
  fail "Go >= ${required_go} is required (found $(cd / && go env GOVERSION); upgrade Go or allow GOTOOLCHAIN=auto)"
found_go="${found_go#go}"
[ "$(printf '%s\n%s\n' "$required_go" "$found_go" | sort -V | head -n1)" = "$required_go" ] ||
  fail "Go >= ${required_go} is required (found ${found_go})"

# True when some Go source or module file is newer than the binary $1 (or the binary is missing).
is_stale() {
  [ ! -x "$1" ] ||
    [ -n "$(find "$module_dir" \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$1" -print -quit)" ]
}

mkdir -p "$bin_dir"
cd "$module_dir"
shopt -s nullglob
cmd_dirs=(cmd/*/)
[ ${#cmd_dirs[@]} -gt 0 ] || fail "no commands found under $module_dir/cmd"
for cmd_dir in "${cmd_dirs[@]}"; do
  name="$(basename "$cmd_dir")"
  binary="$bin_dir/$name"
  if ! is_stale "$binary"; then
    echo "build-validators: $name is up to date ($binary)"
    continue
  fi
  start=$(date +%s)
  # Build next to the target and rename, so an interrupted build never leaves a fresh-looking broken binary.
  # -buildvcs=false: the tool needs no VCS stamp, and stamping fails without git or in a checkout git distrusts.
  run_logged "build-$name" go build -trimpath -buildvcs=false -o "$binary.partial" "./$cmd_dir"
  mv -f "$binary.partial" "$binary"
  echo "build-validators: built $name into $binary in $(($(date +%s) - start))s"
done
