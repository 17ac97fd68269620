#!/usr/bin/env bash
# Installs Debian's PostgreSQL server, which the HA tests run throwaway clusters of (local/postgres.ts): several
# SPIRE servers sharing one database. Idempotent: does nothing when initdb is already installed. The package
# starts no server by itself in a container without systemd; the tests start and stop their own.
set -euo pipefail

install_command="apt-get update && apt-get install -y postgresql"

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "postgresql: found $(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)"
  exit 0
fi

fail() {
  echo "install-postgres: $*" >&2
  echo "install-postgres: install it with: $install_command" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || fail "PostgreSQL is not installed and installing it needs root"
command -v apt-get >/dev/null || fail "PostgreSQL is not installed and apt-get is not available"
export DEBIAN_FRONTEND=noninteractive
apt-get update || fail "apt-get update failed"
apt-get install -y --no-install-recommends postgresql || fail "apt-get install postgresql failed"
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || fail "postgresql installed but no initdb under /usr/lib/postgresql"
echo "postgresql: installed $(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)"
