package main

import (
	"bytes"
	"encoding/json"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// maxUnknownFields bounds the parse-remove-reparse loop below.
const maxUnknownFields = 50

// strict is how Envoy reads a static bootstrap: unknown fields are errors at every depth, including inside
// typed_config, and "@type" is resolved against the linked-in types (see extensions.go).
var strict = protojson.UnmarshalOptions{DiscardUnknown: false}

// parseBootstrap parses data strictly. protojson stops at the first error, so to list every misspelled
// field at once each unknown field is reported, removed from a copy of the document, and the copy is parsed
// again. Any other parse error ends parsing: the bootstrap is then nil and the later checks cannot run.
func parseBootstrap(data []byte) (*bootstrapv3.Bootstrap, []string) {
	var problems []string
	var tree any // generic copy of the document, made only when a field has to be removed
	for range maxUnknownFields {
		bootstrap := &bootstrapv3.Bootstrap{}
		err := strict.Unmarshal(data, bootstrap)
		if err == nil {
			return bootstrap, problems
		}
		offset, message := splitProtojsonError(data, err)
		var path fieldPath
		if offset >= 0 {
			path = pathAt(data, offset)
		}
		problems = append(problems, path.String()+": "+explain(message, path))
		if !strings.HasPrefix(message, "unknown field ") {
			return nil, problems
		}
		if tree == nil {
			decoder := json.NewDecoder(bytes.NewReader(data))
			decoder.UseNumber() // keep 64-bit integers exact when the copy is re-encoded
			if decoder.Decode(&tree) != nil {
				return nil, problems
			}
		}
		if !deleteAt(tree, path) {
			return nil, problems
		}
		var buffer bytes.Buffer
		encoder := json.NewEncoder(&buffer)
		encoder.SetEscapeHTML(false)
		if encoder.Encode(tree) != nil {
			return nil, problems
		}
		data = buffer.Bytes()
	}
	return nil, append(problems, "(root): too many unknown fields, stopped looking")
}

// explain adds a hint to protojson messages whose cause is not obvious from the text alone.
func explain(message string, path fieldPath) string {
	switch {
	case strings.HasPrefix(message, "syntax error: unexpected token {") && len(path) > 0:
		return message + " (if this field is repeated, it needs a JSON list, even for one element)"
	case strings.HasPrefix(message, "invalid value for enum field"):
		return message + " (enum values are UPPER_CASE names or numbers)"
	case strings.HasPrefix(message, "unable to resolve"):
		return message + " (unknown @type: misspelled, or an extension package not linked into envoy-validate)"
	}
	return message
}
