// pulumi-resource-kubernetes, built from the provider module the Go proxy serves. The schema and the
// Terraform mapping are embedded as the provider expects; scripts/install-pulumi.sh writes both files from
// the module's schema.json and terraform-mapping.json, with the version label set, before building.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
