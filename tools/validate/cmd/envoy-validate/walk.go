package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// located is a message found during the walk, with the path it was found at.
type located struct {
	path fieldPath
	msg  proto.Message
}

// walker visits every message of the bootstrap, unpacking Any values on the way. PGV's generated
// ValidateAll stops at an Any (it only checks the type URL), but Envoy validates each extension config when
// it instantiates the extension, so the walker validates every unpacked payload itself.
type walker struct {
	problems []string
	messages []located // every message visited, in document order, for the semantic checks
	// holders is the stack of fields leading to the message being visited; an Any's extension category
	// is decided by the field holding its wrapper (e.g. FilterChain.transport_socket).
	holders []protoreflect.FieldDescriptor
}

func (w *walker) report(path fieldPath, format string, args ...any) {
	w.problems = append(w.problems, path.String()+": "+fmt.Sprintf(format, args...))
}

// visitRoot validates the root message with PGV and walks it.
func (w *walker) visitRoot(msg proto.Message) {
	w.problems = append(w.problems, pgvProblems(nil, msg)...)
	w.visit(nil, msg.ProtoReflect())
}

func (w *walker) visit(path fieldPath, m protoreflect.Message) {
	if packed, ok := m.Interface().(*anypb.Any); ok {
		w.visitAny(path, packed)
		return
	}
	w.messages = append(w.messages, located{path, m.Interface()})
	// Range visits populated fields only, so "set" below means present in the document.
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		w.field(path.field(fd.TextName()), fd, v)
		return true
	})
}

func (w *walker) field(path fieldPath, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	if isDeprecated(fd.Options()) {
		w.report(path, "field %s is deprecated", fd.FullName())
	}
	w.holders = append(w.holders, fd)
	defer func() { w.holders = w.holders[:len(w.holders)-1] }()
	switch {
	case fd.IsList():
		list := v.List()
		for i := range list.Len() {
			w.value(path.elem(i), fd, list.Get(i))
		}
	case fd.IsMap():
		entries := v.Map()
		keys := make([]protoreflect.MapKey, 0, entries.Len())
		entries.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		// Map order is random; sort so the report is stable.
		slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return cmp.Compare(a.String(), b.String()) })
		for _, k := range keys {
			w.value(path.field(k.String()), fd.MapValue(), entries.Get(k))
		}
	default:
		w.value(path, fd, v)
	}
}

// value handles one singular value (a list element, a map value, or a plain field).
func (w *walker) value(path fieldPath, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		w.visit(path, v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil && isDeprecated(ev.Options()) {
			w.report(path, "enum value %s is deprecated", ev.Name())
		}
	}
}

// visitAny unpacks an Any, checks it fits the extension slot it sits in, validates and walks the payload.
func (w *walker) visitAny(path fieldPath, packed *anypb.Any) {
	inner, err := packed.UnmarshalNew()
	if err != nil {
		w.report(path, "cannot unpack @type %q: %v", packed.GetTypeUrl(), err)
		return
	}
	if want, ok := slotCategories[w.slot()]; ok {
		if problem := categoryError(want, fullName(inner)); problem != "" {
			w.report(path, "%s", problem)
		}
	}
	w.problems = append(w.problems, pgvProblems(path, inner)...)
	w.visit(path, inner.ProtoReflect())
}

// slot is the field holding the extension wrapper of the Any being visited: the holder of "typed_config",
// or, for Any values stored directly in a map (typed_extension_protocol_options), the map field itself.
func (w *walker) slot() protoreflect.FullName {
	n := len(w.holders)
	if n == 0 {
		return ""
	}
	if w.holders[n-1].IsMap() {
		return w.holders[n-1].FullName()
	}
	if n >= 2 && strings.HasSuffix(string(w.holders[n-1].Name()), "typed_config") {
		return w.holders[n-2].FullName()
	}
	return ""
}

// isDeprecated reports `[deprecated = true]` on a field or enum value.
func isDeprecated(options protoreflect.ProtoMessage) bool {
	switch o := options.(type) {
	case *descriptorpb.FieldOptions:
		return o.GetDeprecated()
	case *descriptorpb.EnumValueOptions:
		return o.GetDeprecated()
	}
	return false
}
