#!/usr/bin/env bash
# Installs everything the tests and the local main job need from a clean clone, all built from source into
# .cache/ and skipped when already built: Node.js 24 when the machine's is older than 22, npm packages (the
# root's and the policy pack's), SPIRE 1.13.3, the Go validators, actionlint, the Pulumi engine (CLI, Node.js
# language host, Kubernetes provider), a loopback Kubernetes control plane (etcd, kube-apiserver,
# controller-manager, scheduler, kubectl, kwok) and Debian's PostgreSQL server (for the HA tests). Idempotent:
# `npm test`, `npm run demo` and `npm run local:up` run it first, and a second run only checks stamps.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# npm ci in DIR only when DIR/package-lock.json changed since the last install (it deletes node_modules first).
npm_ci_if_changed() {
  local dir=$1 lock_hash
  lock_hash="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$dir/node_modules/.spire-mesh-lock" 2>/dev/null)" != "$lock_hash" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund)
    echo "$lock_hash" >"$dir/node_modules/.spire-mesh-lock"
  else
    echo "npm packages in $dir: up to date with $dir/package-lock.json"
  fi
}
# The Node.js setup picks runs npm ci and the rest of setup; .cache/node exists only when the machine's is too old.
bash scripts/install-node.sh
if [ -x .cache/node/bin/node ]; then export PATH="$PWD/.cache/node/bin:$PATH"; fi
npm_ci_if_changed .
# The policy pack has dependencies of its own (@pulumi/policy); its runner resolves them from policy/.
npm_ci_if_changed policy
# Again after npm ci, which deletes node_modules with the link that npm scripts find their node through.
bash scripts/install-node.sh
bash scripts/install-spire.sh
bash scripts/build-validators.sh
bash scripts/install-actionlint.sh
bash scripts/install-pulumi.sh
bash scripts/install-kubernetes.sh
bash scripts/install-postgres.sh
