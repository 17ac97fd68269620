#!/usr/bin/env bash
# Installs everything the tests need from a clean clone: npm packages, SPIRE 1.13.3 built from the Go module
# proxy, and the Go validators (Kubernetes strict decoding, Envoy API rules, actionlint). Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

npm ci --no-audit --no-fund
bash scripts/install-spire.sh
bash scripts/build-validators.sh
bash scripts/install-actionlint.sh
