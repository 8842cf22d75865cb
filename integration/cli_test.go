package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCLIBehaves: the defects of issue 11's "A CLI that behaves" that need
// real containers, each row failing before its fix.
func TestCLIBehaves(t *testing.T) {
	h := newHost(t, "")
	// The build depends on -n: with "-I marker=DIR" the guest's marker is
	// with-args, without it none.
	sys := filepath.Join(repoRoot(), "examples", "busybox", "system.nix")
	file := h.writeFile("c.nix", `let m = builtins.tryEval <marker>; in { system = import `+sys+` { marker = if m.success then "with-args" else "none"; }; }`)
	withArgs := []string{"-I", "marker=" + h.dir}
	h.must("create", "c", file, "-n", "-I marker="+h.dir)
	if got := h.record("c").NixArgs; !reflect.DeepEqual(got, withArgs) {
		t.Fatalf("recorded Nix args %q", got)
	}
	before := h.hostState()

	t.Run("flag without value creates nothing", func(t *testing.T) {
		for _, args := range [][]string{
			{"create", "t", exampleFile(), "-n"},
			{"create", "t", exampleFile(), "-l"},
			{"update", "c", "-n"},
			{"update", "c", "-l"},
			{"stop", "c", "--timeout"},
		} {
			r := h.run(args...)
			if r.code != 2 || !strings.Contains(r.stderr, "needs a value") || strings.Contains(r.stderr, `"--"`) {
				t.Errorf("%q: exit %d, stderr %q; want 2 and 'needs a value'", args, r.code, r.stderr)
			}
		}
		if after := h.hostState(); after != before {
			t.Fatalf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if got := h.record("c").NixArgs; !reflect.DeepEqual(got, withArgs) {
			t.Fatalf("recorded Nix args %q after update -n without value", got)
		}
	})

	t.Run("-n empty clears the recorded Nix args", func(t *testing.T) {
		h.must("update", "c", "-n", "")
		if got := h.record("c").NixArgs; len(got) != 0 {
			t.Fatalf("recorded Nix args %q after -n \"\", want none", got)
		}
		// A plain update builds without them: the same generation.
		if r := h.run("update", "c"); r.code != 0 || !strings.Contains(r.stderr, "no new generation") {
			t.Fatalf("update: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("-l items keep their commas", func(t *testing.T) {
		src := h.writeFile("shared/hello", "hello\n")
		item := "lxc.mount.entry = " + filepath.Dir(src) + " srv none bind,ro,create=dir 0 0"
		h.must("create", "l", exampleFile(), "-l", item)
		if got := h.record("l").LXCArgs; !reflect.DeepEqual(got, []string{item}) {
			t.Fatalf("recorded -l items %q, want %q", got, []string{item})
		}
		h.must("start", "l")
		if out := h.must("run", "l", "--", "cat", "/srv/hello"); out != "hello\n" {
			t.Fatalf("bind mount from -l: %q", out)
		}
		h.must("destroy", "--force", "l")
	})

	t.Run("delete-generations says what it did", func(t *testing.T) {
		r := h.run("delete-generations", "c", "2d")
		if r.code != 0 || !strings.Contains(r.stderr, "no generation matched 2d; nothing deleted") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		r = h.run("delete-generations", "c", "old")
		if r.code != 0 || !strings.Contains(r.stderr, "deleted generation 1") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("run's command keeps its flags", func(t *testing.T) {
		h.must("start", "c")
		if out := h.must("run", "c", "echo", "--help", "-n"); out != "--help -n\n" {
			t.Fatalf("run c echo --help -n: %q", out)
		}
	})

	t.Run("JSON field names", func(t *testing.T) {
		var gens []map[string]any
		if err := json.Unmarshal([]byte(h.must("list-generations", "c", "--json")), &gens); err != nil || len(gens) == 0 {
			t.Fatalf("list-generations --json: %v", err)
		}
		if _, ok := gens[0]["generation"]; !ok {
			t.Fatalf("list-generations --json: no generation field in %v", gens[0])
		}
		var addrs []map[string]any
		if err := json.Unmarshal([]byte(h.must("show-ip", "c", "--json")), &addrs); err != nil || len(addrs) == 0 {
			t.Fatalf("show-ip --json: %v", err)
		}
		if addrs[0]["interface"] != "hostonly" || addrs[0]["family"] != "inet" {
			t.Fatalf("show-ip --json: %v", addrs[0])
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(h.must("state", "c", "--json")), &st); err != nil || st["state"] != "RUNNING" {
			t.Fatalf("state --json: %v %v", st, err)
		}
	})

	t.Run("non-root exists cannot tell", func(t *testing.T) {
		cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary, "exists", "c")
		cmd.Env = append(os.Environ(), "NIXCLOUD_CONTAINER_HOST_CONFIG="+h.config)
		r := h.runCmd(cmd, []string{"exists", "c"})
		if r.code != 3 || !strings.Contains(r.stderr, "root") {
			t.Fatalf("exit %d, stderr %q; want 3", r.code, r.stderr)
		}
	})

	t.Run("busybox boots without errors", func(t *testing.T) {
		log, err := os.ReadFile(filepath.Join(h.dir, "state", "containers", "c", "console.log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(log), "not found") {
			t.Fatalf("console log: %s", log)
		}
	})
}

// TestNixErrorsInOneLine: a failed evaluation or build ends with one line
// naming the container, the step and Nix's first real error with its
// file:line; --debug shows the trace.
func TestNixErrorsInOneLine(t *testing.T) {
	h := newHost(t, "")
	syntax := h.writeFile("syntax.nix", "{ system = ; }\n")
	typeErr := h.writeFile("type.nix", "{ system = let x = 1; in x.foo; }\n")
	empty := h.writeFile("empty.nix", "{}\n")
	build := h.writeFile("build.nix", `{ system = derivation { name = "fails"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo the-build-log; exit 3" ]; allowSubstitutes = false; }; }`)
	unknown := h.busyboxFile("unknown.nix", "", `bindMounts."/x" = { hostPath = "/srv"; bogus = 1; };`)
	cases := []struct {
		name, file, want, not string
	}{
		{"syntax", syntax, `container "t": evaluate: ` + syntax + `: nix-instantiate: syntax error, unexpected ';' (at ` + syntax + `:1:12)`, ""},
		{"type", typeErr, `value is an integer while a set was expected (at ` + typeErr + `:1:26)`, "wrapper.nix"},
		{"empty", empty, "a NixOS module needs nixpkgs", "eval-config.nix"},
		{"build", build, `container "t": build: ` + build + `: nix-build: builder for`, "dependencies of derivation"},
		{"unknown key path", unknown, `unknown key bindMounts."/x".bogus`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.run("create", "t", tc.file)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			if r.code != 1 || !strings.Contains(last, tc.want) || (tc.not != "" && strings.Contains(r.stderr, tc.not)) {
				t.Fatalf("exit %d, last line %q; want 1 and %q\nstderr:\n%s", r.code, last, tc.want, r.stderr)
			}
			if strings.Contains(r.stderr, "       at ") || strings.Contains(r.stderr, "^\n") {
				t.Fatalf("stderr carries Nix's trace:\n%s", r.stderr)
			}
			if tc.name == "build" && !strings.Contains(r.stderr, "the-build-log") {
				t.Fatalf("the build log was not streamed:\n%s", r.stderr)
			}
		})
	}
	r := h.run("create", "t", typeErr, "--debug")
	if r.code != 1 || !strings.Contains(r.stderr, "… while evaluating") {
		t.Fatalf("--debug: exit %d, want Nix's trace in\n%s", r.code, r.stderr)
	}
}

// TestStartFailureQuotesThisStart: a start that fails quotes LXC's cause
// (the init that cannot be executed), not the lines of earlier commands.
func TestStartFailureQuotesThisStart(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", h.busyboxFile("c.nix", `initMode = "cannot-exec";`, ""))
	first := h.run("start", "c")
	if first.code != 1 || !strings.Contains(first.stderr, `Failed to exec "/nix/var/nixcloud-container/profile/system/init"`) {
		t.Fatalf("start: exit %d, stderr %q; want LXC's cause", first.code, first.stderr)
	}
	h.run("run", "c", "--", "true") // fails: not running
	r := h.run("start", "c")
	if r.code != 1 || strings.Count(r.stderr, "Failed to exec") != 1 || strings.Contains(r.stderr, "start: start:") ||
		strings.Contains(r.stderr, "Failed to spawn") || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 {
		t.Fatalf("second start: exit %d, stderr %q; want one line with this start's cause once", r.code, r.stderr)
	}
}
