// Command envoy-validate checks Envoy v3 bootstrap files (canonical proto3 JSON) offline, as closely to
// what Envoy does when it loads them as is practical without an Envoy binary:
//
//  1. strict parsing into envoy.config.bootstrap.v3.Bootstrap: unknown fields (also inside typed_config),
//     unresolvable "@type", wrong JSON shapes and bad enum names are errors (parse.go);
//  2. protoc-gen-validate rules (ValidateAll) on the bootstrap and on every unpacked Any payload, which
//     PGV alone never reaches; deprecated fields and enum values; extension types in the wrong place (walk.go);
//  3. cross-reference checks Envoy makes at load time: route and config-source clusters exist, router last,
//     unique names, addresses, filter chain matches and domains (semantic.go).
//
// Usage: envoy-validate FILE...
// Output on stdout: [{"file": ..., "errors": ["<field path>: <message>", ...]}, ...].
// Exit status: 0 every file is valid, 1 some file has errors, 2 usage error (no arguments, unreadable file).
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

type result struct {
	File   string   `json:"file"`
	Errors []string `json:"errors"`
}

// validate returns every problem found in one bootstrap document.
func validate(data []byte) []string {
	bootstrap, problems := parseBootstrap(data)
	if bootstrap == nil {
		return problems // nothing typed to check further
	}
	w := &walker{}
	w.visitRoot(bootstrap)
	problems = append(problems, w.problems...)
	return append(problems, semanticProblems(bootstrap, w.messages)...)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: envoy-validate BOOTSTRAP.json...")
		os.Exit(2)
	}
	// Read everything first: an unreadable file is a usage error, reported before any partial output.
	contents := make([][]byte, len(os.Args)-1)
	for i, file := range os.Args[1:] {
		data, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "envoy-validate:", err)
			os.Exit(2)
		}
		contents[i] = data
	}

	report := make([]result, 0, len(contents))
	failed := false
	for i, data := range contents {
		problems := validate(data)
		if problems == nil {
			problems = []string{} // "errors": [] rather than null
		}
		failed = failed || len(problems) > 0
		report = append(report, result{File: os.Args[i+1], Errors: problems})
	}

	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	out.SetEscapeHTML(false)
	if err := out.Encode(report); err != nil {
		fmt.Fprintln(os.Stderr, "envoy-validate: writing report:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
