# Shared by the install-*.sh scripts: build a Go binary from a tools module under tools/ into .cache/,
# skipping it when a stamp says the same module files and flags already built it.
# Source this file; it defines repo_root, fail, run_logged and build_go_tool.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log_dir="$repo_root/.cache/logs"

fail() { echo "${0##*/}: $*" >&2; exit 1; }

# Registry answers worth another try: the module proxy's 5xx and rate limits, and network hiccups.
TRANSIENT_PATTERN='(50[0234] (Internal|Bad|Service|Gateway)|429 Too Many|connection reset|connection refused|i/o timeout|TLS handshake timeout|unexpected EOF|no such host|temporary failure)'

# run_logged LABEL CMD...: runs CMD with its output in .cache/logs/LABEL.log. A failure whose output looks
# transient (TRANSIENT_PATTERN) is retried with backoff, up to RETRY_ATTEMPTS (default 4) tries. On a final
# failure it prints the command, the tries and the last lines of its output, then exits with its status.
run_logged() {
  local label="$1"; shift
  mkdir -p "$log_dir"
  local log="$log_dir/$label.log"
  local attempts="${RETRY_ATTEMPTS:-4}" try=1 status
  while :; do
    status=0
    "$@" >"$log" 2>&1 || status=$?
    [ "$status" -eq 0 ] && return 0
    if [ "$try" -ge "$attempts" ] || ! grep -Eqi "$TRANSIENT_PATTERN" "$log"; then break; fi
    echo "${0##*/}: $label: transient registry error (try $try of $attempts), retrying in $((try * ${RETRY_BACKOFF_SECONDS:-10}))s:" >&2
    grep -Ei "$TRANSIENT_PATTERN" "$log" | head -n 2 | sed 's/^/  | /' >&2
    sleep $((try * ${RETRY_BACKOFF_SECONDS:-10}))
    try=$((try + 1))
  done
  {
    echo "${0##*/}: failed (exit $status, after $try of $attempts tries) in $(pwd):"
    echo "  $*"
    echo "last lines of $log:"
    tail -n 25 "$log" | sed 's/^/  | /'
  } >&2
  exit "$status"
}

# go_tool_stamp MODULE_DIR EXTRA...: what a build depends on: the module's go.mod, go.sum, Go sources and
# source patches (*.patch.js), the Go version, and EXTRA (package, ldflags, env).
go_tool_stamp() {
  local module_dir="$1"; shift
  {
    (cd "$module_dir" && go env GOVERSION)
    find "$module_dir" -maxdepth 1 \( -name go.mod -o -name go.sum -o -name '*.go' -o -name '*.patch.js' \) -print0 |
      sort -z | xargs -0 cat
    printf '%s\n' "$@"
  } | sha256sum | cut -d' ' -f1
}

# go_tool_is_built MODULE_DIR OUTPUT PACKAGE [GO BUILD FLAGS...]: true when OUTPUT exists and its stamp matches,
# so callers can skip every download that only feeds the build.
go_tool_is_built() {
  local module_dir="$1" output="$2" package="$3"; shift 3
  [ -x "$output" ] &&
    [ "$(cat "$output.stamp" 2>/dev/null)" = "$(go_tool_stamp "$module_dir" "$package" "${CGO_ENABLED:-0}" "$@")" ]
}

# build_go_tool MODULE_DIR OUTPUT PACKAGE [GO BUILD FLAGS...]: builds PACKAGE in MODULE_DIR into OUTPUT
# unless OUTPUT.stamp matches. The binary is written next to OUTPUT and renamed, so an interrupted build
# never leaves a fresh-looking broken binary.
build_go_tool() {
  local module_dir="$1" output="$2" package="$3"; shift 3
  if go_tool_is_built "$module_dir" "$output" "$package" "$@"; then
    echo "${output##*/}: up to date ($output)"
    return 0
  fi
  local stamp
  stamp="$(go_tool_stamp "$module_dir" "$package" "${CGO_ENABLED:-0}" "$@")"
  mkdir -p "$(dirname "$output")"
  local start
  start=$(date +%s)
  (cd "$module_dir" &&
    CGO_ENABLED="${CGO_ENABLED:-0}" run_logged "build-${output##*/}" \
      go build -trimpath -buildvcs=false -o "$output.partial" "$@" "$package")
  mv -f "$output.partial" "$output"
  echo "$stamp" >"$output.stamp"
  echo "${output##*/}: built in $(($(date +%s) - start))s ($output)"
}

command -v go >/dev/null || fail "Go >= 1.26 is required (go not found on PATH)"
