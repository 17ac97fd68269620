package main

import (
	"errors"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The interfaces protoc-gen-validate generates for every message: ValidateAll returns a <Msg>MultiError
// with every violation, and each violation is a <Msg>ValidationError whose cause, for an embedded message,
// is that message's own MultiError. Field names in them are Go names ("HealthChecks[0]").
type (
	pgvValidator interface{ ValidateAll() error }
	pgvMulti     interface{ AllErrors() []error }
	pgvViolation interface {
		Field() string
		Reason() string
		Cause() error
		Key() bool
	}
)

// pgvProblems runs ValidateAll on msg and flattens the nested violations into "<path>: <reason>" lines,
// translating the Go field names back into proto field paths below base.
func pgvProblems(base fieldPath, msg proto.Message) []string {
	validator, ok := msg.(pgvValidator)
	if !ok {
		return nil // well-known types have no validator and no rules
	}
	err := validator.ValidateAll()
	if err == nil {
		return nil
	}
	var problems []string
	flattenPGV(&problems, base, msg.ProtoReflect().Descriptor(), err)
	return problems
}

func flattenPGV(problems *[]string, path fieldPath, desc protoreflect.MessageDescriptor, err error) {
	var multi pgvMulti
	if errors.As(err, &multi) {
		for _, each := range multi.AllErrors() {
			flattenPGV(problems, path, desc, each)
		}
		return
	}
	var violation pgvViolation
	if !errors.As(err, &violation) {
		*problems = append(*problems, path.String()+": "+err.Error())
		return
	}
	childPath, childDesc, oneof := pgvStep(path, desc, violation.Field())
	cause := violation.Cause()
	var nestedMulti pgvMulti
	var nestedViolation pgvViolation
	if cause != nil && (errors.As(cause, &nestedMulti) || errors.As(cause, &nestedViolation)) {
		flattenPGV(problems, childPath, childDesc, cause) // an embedded message failed: report its leaves
		return
	}
	reason := violation.Reason()
	if violation.Key() {
		reason = "map key: " + reason
	}
	if cause != nil {
		reason += ": " + cause.Error()
	}
	if oneof != nil {
		reason += " (set one of: " + oneofFields(oneof) + ")" // PGV names only the oneof, not its members
	}
	*problems = append(*problems, childPath.String()+": "+reason)
}

// pgvStep resolves one PGV field name ("Clusters[0]", "TypedExtensionProtocolOptions[key]", or a oneof
// name such as "ClusterSpecifier") against desc. It returns the extended path and the descriptor of the
// message the next step is relative to (nil when unknown; later steps then keep PGV's own names), and
// the oneof when the name is one.
func pgvStep(path fieldPath, desc protoreflect.MessageDescriptor, goName string) (fieldPath, protoreflect.MessageDescriptor, protoreflect.OneofDescriptor) {
	name, subscript, hasSubscript := goName, "", false
	if open := strings.IndexByte(goName, '['); open > 0 && strings.HasSuffix(goName, "]") {
		name, subscript, hasSubscript = goName[:open], goName[open+1:len(goName)-1], true
	}
	if desc == nil {
		return appendSubscript(path.field(name), subscript, hasSubscript, false), nil, nil
	}
	want := normalize(name)
	fields := desc.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if normalize(string(fd.Name())) != want {
			continue
		}
		next := appendSubscript(path.field(fd.TextName()), subscript, hasSubscript, fd.IsList())
		switch {
		case fd.IsMap():
			return next, fd.MapValue().Message(), nil
		case fd.Message() != nil:
			return next, fd.Message(), nil
		}
		return next, nil, nil
	}
	oneofs := desc.Oneofs()
	for i := range oneofs.Len() {
		if od := oneofs.Get(i); normalize(string(od.Name())) == want {
			return path.field(string(od.Name())), nil, od
		}
	}
	return appendSubscript(path.field(name), subscript, hasSubscript, false), nil, nil
}

func oneofFields(od protoreflect.OneofDescriptor) string {
	names := make([]string, 0, od.Fields().Len())
	for i := range od.Fields().Len() {
		names = append(names, od.Fields().Get(i).TextName())
	}
	return strings.Join(names, ", ")
}

func appendSubscript(path fieldPath, subscript string, has, isList bool) fieldPath {
	if !has {
		return path
	}
	if i, err := strconv.Atoi(subscript); err == nil && isList {
		return path.elem(i)
	}
	return path.field(subscript)
}

// normalize makes a Go field name and a proto field name comparable: HealthChecks ~ health_checks.
func normalize(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}
