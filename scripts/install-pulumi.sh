#!/usr/bin/env bash
# Builds the real Pulumi engine from the Go module proxy into .cache/pulumi/bin: the CLI 3.276.0, the
# Node.js language host (the last sdk/v3 that still carries it, v3.68.0; it runs @pulumi/pulumi 3.276.0
# programs) and pulumi-resource-kubernetes (the 2026-01-15 provider commit, labelled 4.34.2 to match the
# SDK). Each lives in its own tools module so no other dependency can move its versions. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool.sh"

bin_dir="$repo_root/.cache/pulumi/bin"
PULUMI_VERSION="3.276.0"
KUBERNETES_PROVIDER_LABEL="4.34.2"

build_go_tool "$repo_root/tools/pulumi" "$bin_dir/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}"

build_go_tool "$repo_root/tools/pulumi-language-nodejs" "$bin_dir/pulumi-language-nodejs" \
  github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs -ldflags "-s -w"

# The provider's main package embeds its schema and Terraform mapping, which the module zip carries only as
# schema.json and terraform-mapping.json: write the embedded forms (version label set, compacted) first. All of
# that needs the provider's source from the module proxy, so it is skipped when the stamp says the build is done.
provider_module="$repo_root/tools/pulumi-kubernetes"
provider_ldflags="-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${KUBERNETES_PROVIDER_LABEL}"
if go_tool_is_built "$provider_module" "$bin_dir/pulumi-resource-kubernetes" . -ldflags "$provider_ldflags"; then
  echo "pulumi-resource-kubernetes: up to date ($bin_dir/pulumi-resource-kubernetes)"
else
  (cd "$provider_module" && run_logged download-pulumi-kubernetes go mod download github.com/pulumi/pulumi-kubernetes/provider/v4)
  provider_source="$(cd "$provider_module" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)"
  embed_dir="$repo_root/.cache/pulumi/kubernetes-embed"
  if [ ! -s "$embed_dir/$KUBERNETES_PROVIDER_LABEL/schema-embed.json" ]; then
    mkdir -p "$embed_dir/$KUBERNETES_PROVIDER_LABEL"
    node -e '
      const fs = require("fs");
      const [source, target, version] = process.argv.slice(1);
      const schema = JSON.parse(fs.readFileSync(`${source}/cmd/pulumi-resource-kubernetes/schema.json`, "utf8"));
      schema.version = version;
      fs.writeFileSync(`${target}/schema-embed.json`, JSON.stringify(schema));
      const mapping = JSON.parse(fs.readFileSync(`${source}/cmd/pulumi-resource-kubernetes/terraform-mapping.json`, "utf8"));
      fs.writeFileSync(`${target}/terraform-mapping-embed.json`, JSON.stringify(mapping));
    ' "$provider_source" "$embed_dir/$KUBERNETES_PROVIDER_LABEL" "$KUBERNETES_PROVIDER_LABEL"
  fi
  cp "$embed_dir/$KUBERNETES_PROVIDER_LABEL"/*.json "$provider_module/"
  build_go_tool "$provider_module" "$bin_dir/pulumi-resource-kubernetes" . -ldflags "$provider_ldflags"
fi

"$bin_dir/pulumi" version
