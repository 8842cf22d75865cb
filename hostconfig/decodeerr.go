package hostconfig

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// incompatible is BurntSushi/toml's message for a value of the wrong type;
// it names Go types, which mean nothing to whoever edits host.toml.
var incompatible = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): incompatible types: TOML value has type (\S+); destination has type`)

// decodeError rewrites a TOML decode error as "line N: KEY: want WHAT,
// got WHAT", without Go types.
func decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
	}
	m := incompatible.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	where := m[2]
	if m[1] != "" {
		where = "line " + m[1] + ": " + m[2]
	}
	want := "another kind of value"
	if t, ok := fieldType(reflect.TypeOf(Config{}), strings.Split(m[2], ".")); ok {
		want = kindName(t)
	}
	return fmt.Errorf("%s: want %s, got %s", where, want, tomlKindName(m[3]))
}

// fieldType follows a dotted key through the toml tags of t.
func fieldType(t reflect.Type, path []string) (reflect.Type, bool) {
	for _, key := range path {
		for t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		found := false
		for i := 0; i < t.NumField(); i++ {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); name == key {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return t, true
}

// kindName says what a host.toml value of Go type t looks like.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(kindName(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct:
		return "a table"
	}
	return "another kind of value"
}

// tomlKindName names the type BurntSushi/toml reports for a TOML value.
func tomlKindName(t string) string {
	switch t {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int64", "integer":
		return "a whole number"
	case "float64", "float":
		return "a number"
	}
	switch {
	case strings.HasPrefix(t, "[]"), strings.HasPrefix(t, "array"):
		return "a list"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "table"):
		return "a table"
	}
	return "a value of another kind"
}
