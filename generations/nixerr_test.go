package generations

import (
	"errors"
	"strings"
	"testing"
)

// Nix 2.8's stderr for the failures a container file meets.
const (
	syntaxStderr = `error: syntax error, unexpected ';'

       at /tmp/c/syn.nix:1:12:

            1| { system = ; }
             |            ^
`
	typeStderrTrace = `error: value is an integer while a set was expected

       at /tmp/c/attr.nix:1:26:

            1| { system = let x = 1; in x.foo; }
             |                          ^

       … while evaluating 'isSystem'

       at /state/guest-patches/wrapper.nix:23:14:

           23|   isSystem = v: builtins.isString v;
             |              ^
`
	emptyStderr = `error: file 'nixpkgs/nixos/lib/eval-config.nix' was not found in the Nix search path (add it using $NIX_PATH or -I)

       at /state/guest-patches/wrapper.nix:49:18:

           49|   nixos = import <nixpkgs/nixos/lib/eval-config.nix> {
             |                  ^
(use '--show-trace' to show detailed location information)
`
	buildStderr = `these 2 derivations will be built:
  /nix/store/p1-x.drv
  /nix/store/s4-nixcloud-container-t.drv
building '/nix/store/p1-x.drv'...
building
error: builder for '/nix/store/p1-x.drv' failed with exit code 3
error: 1 dependencies of derivation '/nix/store/s4-nixcloud-container-t.drv' failed to build
`
	throwStderr = `error: container file /tmp/c/unk.nix: unknown key 'colour' (known keys: system)
(use '--show-trace' to show detailed location information)
`
	throwNextLineStderr = `error:
       a very long thrown message that Nix put on the next line
(use '--show-trace' to show detailed location information)
`
)

func TestNixError(t *testing.T) {
	tests := []struct{ stderr, want string }{
		{syntaxStderr, "syntax error, unexpected ';' (at /tmp/c/syn.nix:1:12)"},
		{typeStderrTrace, "value is an integer while a set was expected (at /tmp/c/attr.nix:1:26)"},
		{emptyStderr, "the container file is a NixOS module"},
		{buildStderr, "builder for '/nix/store/p1-x.drv' failed with exit code 3"},
		{throwStderr, "container file /tmp/c/unk.nix: unknown key 'colour' (known keys: system)"},
		{throwNextLineStderr, "a very long thrown message that Nix put on the next line"},
		{"some other failure\n", "some other failure"},
	}
	for _, tt := range tests {
		got := nixError(tt.stderr, "/state/guest-patches/wrapper.nix", errors.New("exit status 1"))
		if !strings.HasPrefix(got, tt.want) || strings.Contains(got, "\n") {
			t.Errorf("nixError(%.40q) = %q, want %q", tt.stderr, got, tt.want)
		}
		if strings.Contains(got, "wrapper.nix") {
			t.Errorf("nixError(%.40q) = %q points into the wrapper", tt.stderr, got)
		}
	}
}

// TestErrorBlockFilter: the build log streams, Nix's error blocks do not.
func TestErrorBlockFilter(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{buildStderr, "these 2 derivations will be built:\n  /nix/store/p1-x.drv\n  /nix/store/s4-nixcloud-container-t.drv\nbuilding '/nix/store/p1-x.drv'...\nbuilding\n"},
		{typeStderrTrace, ""},
		{emptyStderr, ""},
		{"warning: x\n" + syntaxStderr + "later line\nno newline", "warning: x\nlater line\nno newline"},
	} {
		var out strings.Builder
		f := &errorBlockFilter{w: &out}
		// Write in odd chunks, as a pipe would.
		for i := 0; i < len(tt.in); i += 7 {
			end := min(i+7, len(tt.in))
			if _, err := f.Write([]byte(tt.in[i:end])); err != nil {
				t.Fatal(err)
			}
		}
		f.Flush()
		if out.String() != tt.want {
			t.Errorf("filtered %.40q = %q, want %q", tt.in, out.String(), tt.want)
		}
	}
}
