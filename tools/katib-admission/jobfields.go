package main

import (
	"encoding/json"
	"io"
	"reflect"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fieldInfo is how Go's encoding/json treats one field of a Kubernetes type when Katib re-marshals a
// trial Job (validatePatchJob): which zero values it drops, and what the field holds.
type fieldInfo struct {
	Type      string `json:"type"`                // a type name of the table, or a scalar kind
	Omitempty bool   `json:"omitempty,omitempty"` // false, 0, "", empty map or list are dropped
	Omitzero  bool   `json:"omitzero,omitempty"`  // the zero value is dropped
	Pointer   bool   `json:"pointer,omitempty"`   // nil is dropped, a set zero value kept
	List      bool   `json:"list,omitempty"`      // a list of Type
	Map       bool   `json:"map,omitempty"`       // a map from string to Type
}

// writeJobFields prints the JSON field table of batch/v1 Job, every struct type it reaches by name.
func writeJobFields(out io.Writer) error {
	types := map[string]map[string]fieldInfo{}
	root := describe(reflect.TypeOf(batchv1.Job{}), types)
	encoder := json.NewEncoder(out)
	encoder.SetIndent("", " ")
	return encoder.Encode(map[string]any{"root": root, "types": sortedTypes(types)})
}

var opaque = map[reflect.Type]string{
	reflect.TypeOf(resource.Quantity{}):  "quantity",
	reflect.TypeOf(intstr.IntOrString{}): "int-or-string",
	reflect.TypeOf(metav1.Time{}):        "time",
	reflect.TypeOf(metav1.MicroTime{}):   "time",
	reflect.TypeOf(metav1.Duration{}):    "string",
	reflect.TypeOf(metav1.FieldsV1{}):    "any",
	reflect.TypeOf(json.RawMessage{}):    "any",
}

func describe(t reflect.Type, types map[string]map[string]fieldInfo) string {
	if name, ok := opaque[t]; ok {
		return name
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Interface:
		return "any"
	case reflect.Struct:
	default:
		return "any"
	}
	pkg := strings.Split(t.PkgPath(), "/")
	name := strings.Join(pkg[max(0, len(pkg)-2):], "/") + "." + t.Name() // core/v1.PodSpec
	if _, seen := types[name]; seen {
		return name
	}
	fields := map[string]fieldInfo{}
	types[name] = fields
	collect(t, fields, types)
	return name
}

func collect(t reflect.Type, fields map[string]fieldInfo, types map[string]map[string]fieldInfo) {
	for i := 0; i < t.NumField(); i++ {
		field := t.Field(i)
		if !field.IsExported() {
			continue
		}
		tag := field.Tag.Get("json")
		if tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		if parts[0] == "" && field.Anonymous && field.Type.Kind() == reflect.Struct {
			collect(field.Type, fields, types) // an embedded struct's fields are the outer object's
			continue
		}
		info := fieldInfo{}
		for _, option := range parts[1:] {
			info.Omitempty = info.Omitempty || option == "omitempty"
			info.Omitzero = info.Omitzero || option == "omitzero"
		}
		ft := field.Type
		if ft.Kind() == reflect.Pointer {
			info.Pointer, ft = true, ft.Elem()
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 {
			info.List, ft = true, ft.Elem()
		} else if ft.Kind() == reflect.Map {
			info.Map, ft = true, ft.Elem()
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		info.Type = describe(ft, types)
		fields[parts[0]] = info
	}
}

func sortedTypes(types map[string]map[string]fieldInfo) map[string]map[string]fieldInfo {
	names := make([]string, 0, len(types))
	for name := range types {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]map[string]fieldInfo, len(types))
	for _, name := range names {
		out[name] = types[name]
	}
	return out
}
