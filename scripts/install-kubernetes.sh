#!/usr/bin/env bash
# Builds a Kubernetes control plane for loopback tests from the Go module proxy into .cache/kubernetes/bin:
# etcd 3.6.16 (3.4 lacks the watch progress requests kwok relies on), kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl v1.34.4, and kwok v0.8.0 (fake nodes). No container runtime is involved.
# Each lives in its own tools module so no other dependency can move its versions. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool.sh"

bin_dir="$repo_root/.cache/kubernetes/bin"
KUBERNETES_VERSION="v1.34.4"

build_go_tool "$repo_root/tools/etcd" "$bin_dir/etcd" go.etcd.io/etcd/server/v3 -ldflags "-s -w"

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
kube_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build_go_tool "$repo_root/tools/kubernetes" "$bin_dir/$name" "k8s.io/kubernetes/cmd/$name" -ldflags "$kube_ldflags"
done

# kwok is built from a patched copy of its module (tools/kwok/stdin-eof.patch.js: exec stdin reaches EOF, as
# with a real kubelet), through a go.mod copy that replaces the module with that copy. It also needs its Stage
# objects (fake node and pod lifecycles, volume provisioning) in its config file, from the module's
# kustomize/stage folder, and the Exec CRD, through which the loopback cluster points `kubectl exec` into each
# SPIRE server pod at its own admin socket: copies of both are kept next to the binaries for local/cluster/.
# The module's source comes from the proxy, so nothing here runs when the build and the copies are in place.
kwok_patched="$repo_root/.cache/kubernetes/kwok-src"
kwok_modfile="$repo_root/.cache/kubernetes/kwok.mod"
kwok_stage="$repo_root/.cache/kubernetes/kwok-stage"
kwok_crd="$repo_root/.cache/kubernetes/kwok-crd"
# Relative to tools/kwok, where the build runs: the stamp then holds no checkout path, so a clone elsewhere with
# the same .cache is still up to date.
kwok_flags=(-modfile="../../.cache/kubernetes/kwok.mod" -ldflags "-s -w")
if go_tool_is_built "$repo_root/tools/kwok" "$bin_dir/kwok" sigs.k8s.io/kwok/cmd/kwok "${kwok_flags[@]}" &&
  [ -n "$(ls -A "$kwok_stage" 2>/dev/null)" ] && [ -s "$kwok_crd/kwok.x-k8s.io_execs.yaml" ]; then
  echo "kwok: up to date ($bin_dir/kwok)"
else
  (cd "$repo_root/tools/kwok" && run_logged download-kwok go mod download sigs.k8s.io/kwok)
  kwok_source="$(cd "$repo_root/tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  rm -rf "$kwok_patched"
  cp -r "$kwok_source" "$kwok_patched"
  chmod -R u+w "$kwok_patched"
  node "$repo_root/tools/kwok/stdin-eof.patch.js" "$kwok_patched"
  cp "$repo_root/tools/kwok/go.mod" "$kwok_modfile"
  cp "$repo_root/tools/kwok/go.sum" "${kwok_modfile%.mod}.sum"
  (cd "$repo_root/tools/kwok" && go mod edit -modfile="$kwok_modfile" -replace "sigs.k8s.io/kwok=$kwok_patched")
  build_go_tool "$repo_root/tools/kwok" "$bin_dir/kwok" sigs.k8s.io/kwok/cmd/kwok "${kwok_flags[@]}"
  mkdir -p "$kwok_stage" "$kwok_crd"
  cp -r "$kwok_source/kustomize/stage/." "$kwok_stage/"
  cp "$kwok_source/kustomize/crd/bases/kwok.x-k8s.io_execs.yaml" "$kwok_crd/"
  chmod -R u+w "$kwok_stage" "$kwok_crd"
fi

"$bin_dir/kubectl" version --client
