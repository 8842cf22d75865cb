package generations

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// settingsError says what is wrong with a container file's settings JSON
// in the container file's words: the key path (bindMounts."/x".bogus,
// forwardPorts[0].hostPort) and the kind of value wanted, never Go types.
func settingsError(data []byte, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s: want %s, got %s", te.Field, jsonKind(te.Type), jsonValueName(te.Value))
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		var v any
		if json.Unmarshal(data, &v) == nil {
			if path := unknownKey(reflect.TypeOf(Settings{}), v, ""); path != "" {
				return "unknown key " + path
			}
		}
		return "unknown key " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return err.Error()
}

// unknownKey returns the path of the first key of v (sorted) that type t
// has no field for, or "".
func unknownKey(t reflect.Type, v any, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = t.Field(i).Type
			}
		}
		for _, k := range sortedKeys(obj) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				return p
			}
			if bad := unknownKey(ft, obj[k], p); bad != "" {
				return bad
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		for _, k := range sortedKeys(obj) {
			if bad := unknownKey(t.Elem(), obj[k], fmt.Sprintf("%s.%q", path, k)); bad != "" {
				return bad
			}
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return ""
		}
		for i, e := range arr {
			if bad := unknownKey(t.Elem(), e, fmt.Sprintf("%s[%d]", path, i)); bad != "" {
				return bad
			}
		}
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonKind says what a Nix value for Go type t looks like.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "a list of attribute sets"
		}
		return "a list of " + strings.TrimPrefix(jsonKind(t.Elem()), "a ") + "s"
	case reflect.Map, reflect.Struct:
		return "an attribute set"
	}
	return "another kind of value"
}

// jsonValueName names a JSON value kind as UnmarshalTypeError reports it,
// in Nix's words.
func jsonValueName(v string) string {
	switch {
	case v == "string":
		return "a string"
	case v == "bool":
		return "a boolean"
	case v == "array":
		return "a list"
	case v == "object":
		return "an attribute set"
	case v == "null":
		return "null"
	case strings.HasPrefix(v, "number"):
		if n := strings.TrimSpace(strings.TrimPrefix(v, "number")); n != "" {
			return "a number (" + n + ")"
		}
		return "a number"
	}
	return v
}
