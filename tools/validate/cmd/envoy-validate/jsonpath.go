package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// segment is one step of a field path: an object key / proto field name, or a list index.
type segment struct {
	key     string
	index   int
	isIndex bool
}

type fieldPath []segment

// plainKey matches keys that read well after a dot; anything else (map keys such as
// "envoy.extensions.upstreams.http.v3.HttpProtocolOptions") is written as ["key"].
var plainKey = regexp.MustCompile(`^[A-Za-z_@][A-Za-z0-9_@]*$`)

// field returns a copy of p extended by a field name (copy, so sibling paths never share a backing array).
func (p fieldPath) field(name string) fieldPath {
	return append(p[:len(p):len(p)], segment{key: name})
}

func (p fieldPath) elem(i int) fieldPath {
	return append(p[:len(p):len(p)], segment{index: i, isIndex: true})
}

// String formats the path as static_resources.clusters[0].typed_extension_protocol_options["key"].
func (p fieldPath) String() string {
	if len(p) == 0 {
		return "(root)"
	}
	var b strings.Builder
	for i, s := range p {
		switch {
		case s.isIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case plainKey.MatchString(s.key):
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		default:
			fmt.Fprintf(&b, "[%s]", strconv.Quote(s.key))
		}
	}
	return b.String()
}

// protojson reports errors as "proto: (line L:C): message" or "proto: syntax error (line L:C): message".
var protojsonPosition = regexp.MustCompile(`^proto:\s*(syntax error\s*)?\(line (\d+):(\d+)\):\s*`)

// splitProtojsonError returns the byte offset protojson's error points at (-1 if it has no position)
// and the message without the "proto: (line L:C):" prefix.
func splitProtojsonError(data []byte, err error) (int, string) {
	text := err.Error()
	m := protojsonPosition.FindStringSubmatch(text)
	if m == nil {
		return -1, strings.TrimPrefix(text, "proto: ")
	}
	message := text[len(m[0]):]
	if m[1] != "" {
		message = "syntax error: " + message
	}
	line, _ := strconv.Atoi(m[2])
	column, _ := strconv.Atoi(m[3])
	return offsetOf(data, line, column), message
}

// offsetOf turns protojson's 1-based line and rune column back into a byte offset.
func offsetOf(data []byte, line, column int) int {
	offset := 0
	for l := 1; l < line; l++ {
		next := bytes.IndexByte(data[offset:], '\n')
		if next < 0 {
			return len(data)
		}
		offset += next + 1
	}
	for c := 1; c < column && offset < len(data); c++ {
		_, size := utf8.DecodeRune(data[offset:])
		offset += size
	}
	return offset
}

// jsonFrame is one open object or array while scanning.
type jsonFrame struct {
	isArray  bool
	key      string // object: the key whose value is being read
	index    int    // array: the element being read
	wantsKey bool   // object: the next string token is a key
}

// pathAt returns the path of the JSON key or value that starts at byte offset target (or, failing an exact
// hit, of the last one that starts before it). Used to name the field a protojson error points at.
func pathAt(data []byte, target int) fieldPath {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*jsonFrame
	current := func() fieldPath {
		var p fieldPath
		for _, f := range stack {
			if f.isArray {
				p = p.elem(f.index)
			} else if !f.wantsKey {
				p = p.field(f.key)
			}
		}
		return p
	}
	// A value (scalar or closed container) is complete: the enclosing frame moves on to its next entry.
	advance := func() {
		if len(stack) == 0 {
			return
		}
		top := stack[len(stack)-1]
		if top.isArray {
			top.index++
		} else {
			top.wantsKey = true
		}
	}
	var best fieldPath
	end := 0
	for {
		start := skipSeparators(data, end)
		tok, err := dec.Token()
		if err != nil || start > target {
			return best
		}
		end = int(dec.InputOffset())
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if key, ok := tok.(string); ok && top != nil && !top.isArray && top.wantsKey {
			top.key, top.wantsKey = key, false
			best = current()
			continue
		}
		switch tok {
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			advance()
			continue
		}
		best = current()
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &jsonFrame{wantsKey: true})
		case json.Delim('['):
			stack = append(stack, &jsonFrame{isArray: true})
		default:
			advance()
		}
	}
}

// skipSeparators skips the whitespace, commas and colons that encoding/json consumes between tokens.
func skipSeparators(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n', ',', ':':
			i++
		default:
			return i
		}
	}
	return i
}

// deleteAt removes the object key at path from a generic JSON tree; false if the path does not lead to one.
func deleteAt(tree any, path fieldPath) bool {
	if len(path) == 0 {
		return false
	}
	node := tree
	for _, s := range path[:len(path)-1] {
		switch n := node.(type) {
		case map[string]any:
			node = n[s.key]
		case []any:
			if !s.isIndex || s.index >= len(n) {
				return false
			}
			node = n[s.index]
		default:
			return false
		}
	}
	last := path[len(path)-1]
	object, ok := node.(map[string]any)
	if !ok || last.isIndex {
		return false
	}
	if _, present := object[last.key]; !present {
		return false
	}
	delete(object, last.key)
	return true
}
