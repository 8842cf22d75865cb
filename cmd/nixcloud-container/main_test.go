package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	tests := []struct{ in, want []string }{
		{[]string{"x", "destroy", "web", "--force"}, []string{"x", "destroy", "--force", "--", "web"}},
		{[]string{"x", "create", "web", "web.nix", "-n", "-I nixpkgs=/src", "--start"}, []string{"x", "create", "-n", "-I nixpkgs=/src", "--start", "--", "web", "web.nix"}},
		{[]string{"x", "--host-config", "/h.toml", "stop", "web", "--timeout", "5s"}, []string{"x", "--host-config", "/h.toml", "stop", "--timeout", "5s", "--", "web"}},
		{[]string{"x", "run", "web", "--", "ls", "-l"}, []string{"x", "run", "--", "web", "--", "ls", "-l"}},
		{[]string{"x", "create", "-l", "lxc.a=1", "web", "f", "-l", "lxc.b=2"}, []string{"x", "create", "-l", "lxc.a=1", "-l", "lxc.b=2", "--", "web", "f"}},
		{[]string{"x", "nosuchverb", "-z"}, []string{"x", "nosuchverb", "-z"}},
		{[]string{"x"}, []string{"x"}},
	}
	for _, tt := range tests {
		if got := reorderArgs(app, tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCommandsMeta checks the help text style and that no command has a
// flag name twice.
func TestCommandsMeta(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, c := range app.Commands {
		if c.Usage == "" || strings.ToLower(c.Usage[:1]) != c.Usage[:1] || strings.HasSuffix(c.Usage, ".") {
			t.Errorf("%s: usage %q should be a lowercase phrase without a full stop", c.Name, c.Usage)
		}
		seen := map[string]bool{}
		for _, f := range c.Flags {
			for _, n := range f.Names() {
				if seen[n] {
					t.Errorf("%s: flag %q defined twice", c.Name, n)
				}
				seen[n] = true
			}
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"x"}, 2},
		{[]string{"x", "nosuchverb"}, 2},
		{[]string{"x", "start"}, 2},
		{[]string{"x", "start", "Bad_Name"}, 2},
		{[]string{"x", "stop", "web", "--bogus"}, 2},
		{[]string{"x", "help"}, 0},
	}
	for _, tt := range tests {
		var stderr strings.Builder
		if got := run(tt.args, io.Discard, &stderr); got != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, got, tt.code, stderr.String())
		}
	}
}
