#!/usr/bin/env bash
# Installs everything the tests and the local main job need from a clean clone, all built from source into
# .cache/ and skipped when already built: npm packages, SPIRE 1.13.3, the Go validators, actionlint, the Pulumi
# engine (CLI, Node.js language host, Kubernetes provider) and a loopback Kubernetes control plane (etcd,
# kube-apiserver, controller-manager, scheduler, kubectl, kwok). Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

npm ci --no-audit --no-fund
bash scripts/install-spire.sh
bash scripts/build-validators.sh
bash scripts/install-actionlint.sh
bash scripts/install-pulumi.sh
bash scripts/install-kubernetes.sh
