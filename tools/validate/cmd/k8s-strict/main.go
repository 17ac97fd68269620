// Command k8s-strict decodes Kubernetes objects the way the API server does with fieldValidation=Strict:
// into the real Go types, so unknown fields, duplicate fields and wrong JSON types are errors.
// (OpenAPI checks such as required fields and enums are left to kubernetes-models on the TypeScript side.)
//
// Input on stdin: a JSON array of objects. Output on stdout: a JSON report, one entry per object.
// Exit status: 0 all decoded cleanly, 1 some object has errors, 2 the input is not a JSON array.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
)

type result struct {
	Index      int      `json:"index"`
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	Errors     []string `json:"errors"`
	Skipped    string   `json:"skipped,omitempty"`
}

// identity is read leniently, only to label the report; the strict decode below judges the object.
type identity struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, addToScheme := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		rbacv1.AddToScheme,
		policyv1.AddToScheme,
		networkingv1.AddToScheme,
		storagev1.AddToScheme,
		batchv1.AddToScheme,
		admissionregistrationv1.AddToScheme,
	} {
		if err := addToScheme(scheme); err != nil {
			panic(err) // only fails on conflicting registrations, a programming error
		}
	}
	return scheme
}

func check(scheme *runtime.Scheme, decoder runtime.Decoder, index int, raw json.RawMessage) result {
	var id identity
	if err := json.Unmarshal(raw, &id); err != nil {
		return result{Index: index, Errors: []string{"not a Kubernetes object: " + err.Error()}}
	}
	res := result{Index: index, APIVersion: id.APIVersion, Kind: id.Kind, Name: id.Metadata.Name, Errors: []string{}}
	if id.APIVersion == "" || id.Kind == "" {
		res.Errors = append(res.Errors, "apiVersion and kind are required")
		return res
	}
	gvk := schema.FromAPIVersionAndKind(id.APIVersion, id.Kind)
	if !scheme.IsVersionRegistered(gvk.GroupVersion()) {
		// Custom resources (and built-in groups not registered above) have no Go type to decode into.
		res.Skipped = "no built-in type"
		return res
	}
	if !scheme.Recognizes(gvk) {
		// A known group/version with an unknown kind is a typo, not a custom resource.
		res.Errors = append(res.Errors, fmt.Sprintf("no kind %q in %s", id.Kind, id.APIVersion))
		return res
	}
	if _, _, err := decoder.Decode(raw, nil, nil); err != nil {
		if strict, ok := runtime.AsStrictDecodingError(err); ok {
			for _, fieldErr := range strict.Errors() {
				res.Errors = append(res.Errors, fieldErr.Error())
			}
		} else {
			res.Errors = append(res.Errors, err.Error())
		}
	}
	return res
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-strict: reading stdin:", err)
		os.Exit(2)
	}
	// RawMessage keeps each object's bytes as written, so duplicate keys survive for the strict decoder.
	var objects []json.RawMessage
	if err := json.Unmarshal(input, &objects); err != nil {
		fmt.Fprintln(os.Stderr, "k8s-strict: stdin must be a JSON array of Kubernetes objects:", err)
		os.Exit(2)
	}

	scheme := newScheme()
	decoder := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Strict: true})
	report := make([]result, 0, len(objects))
	failed := false
	for i, raw := range objects {
		res := check(scheme, decoder, i, raw)
		failed = failed || len(res.Errors) > 0
		report = append(report, res)
	}

	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(report); err != nil {
		fmt.Fprintln(os.Stderr, "k8s-strict: writing report:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
