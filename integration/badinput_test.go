package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostState is what a failed command must leave unchanged.
func (h *host) hostState() string {
	h.t.Helper()
	sub, _ := os.ReadFile("/etc/subuid")
	subg, _ := os.ReadFile("/etc/subgid")
	return treeSnapshot(h.t, filepath.Join(h.dir, "state", "containers"), filepath.Join(h.dir, "profiles")) +
		"subuid:\n" + string(sub) + "subgid:\n" + string(subg)
}

func TestFailedCreatesLeaveNothing(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "first", exampleFile())
	gensBefore := h.must("list-generations", "first")
	before := h.hostState()

	evalErr := h.writeFile("eval-error.nix", "{ system = ; }")
	buildErr := h.writeFile("build-error.nix", `{ system = derivation { name = "fails"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "exit 3" ]; allowSubstitutes = false; }; }`)
	noInit := h.writeFile("unknown-key.nix", `{ system = import `+filepath.Join(repoRoot(), "examples/busybox/system.nix")+` {}; colour = "blue"; }`)
	cases := []struct {
		name, file, want string
	}{
		{"missing file", filepath.Join(h.dir, "nope.nix"), "does not exist"},
		{"evaluation error", evalErr, "evaluate"},
		{"build error", buildErr, "build"},
		{"unknown key", noInit, "colour"},
		{"name taken", exampleFile(), "already exists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "second"
			if tc.name == "name taken" {
				name = "first"
			}
			r := h.run("create", name, tc.file)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
			if after := h.hostState(); after != before {
				t.Fatalf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	if st := h.state("first"); st != "RUNNING" {
		t.Fatalf("first container: %s after failed creates", st)
	}
	if after := h.must("list-generations", "first"); after != gensBefore {
		t.Fatalf("first container's generations changed: %q → %q", gensBefore, after)
	}
}

func TestBadInputs(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", exampleFile())
	badToml := func(body string) []string {
		p := h.writeFile("bad-"+strings.NewReplacer(" ", "", "=", "", "\"", "", "\n", "", "[", "", "]", "", ".", "", "/", "").Replace(body)+".toml", body)
		return []string{"--host-config", p, "list"}
	}
	cases := [][]string{
		{},
		{"frobnicate"},
		{"create"},
		{"create", "only-name"},
		{"create", "Bad_Name", exampleFile()},
		{"create", "-x", exampleFile()},
		{"create", "-leading", exampleFile()},
		{"create", strings.Repeat("a", 64), exampleFile()},
		{"create", "has.dot", exampleFile()},
		{"create", "c2", exampleFile(), "--bogus"},
		{"create", "c2", exampleFile(), "-n", "'unterminated"},
		{"create", "c2", exampleFile(), "-l", "lxc.idmap = u 0 0 1"},
		{"create", "c2", exampleFile(), "-l", "lxc.no.such.key = 1"},
		{"create", "c2", exampleFile(), "-l", "garbage"},
		{"start"},
		{"start", "missing"},
		{"start", "../etc"},
		{"stop", "c"},
		{"stop", "c", "--timeout", "soon"},
		{"terminate", "c"},
		{"run", "c"},
		{"run", "c", "--", "true"},
		{"run", "missing", "--", "true"},
		{"state", "missing"},
		{"destroy", "missing"},
		{"destroy"},
		{"list", "extra"},
		{"switch-generation", "c", "abc"},
		{"switch-generation", "c", "0"},
		{"switch-generation", "c", "9"},
		{"switch-generation", "c", "-1"},
		{"delete-generations", "c", "1"},
		{"delete-generations", "c", "x1"},
		{"rollback", "c"},
		{"update", "missing"},
		{"list-generations", "missing"},
		badToml("state_dir = \"relative\""),
		badToml("colour = \"blue\""),
		badToml("[idmap]\nbase = 0"),
		badToml("[hostonly]\naddress = \"10.1.0.0/33\""),
		badToml("[internet]\ndhcp_range = \"1.2.3.4\""),
		badToml("this is not toml"),
		{"--host-config", filepath.Join(h.dir, "missing-dir", "host.toml"), "state", "nope"},
	}
	before := h.hostState()
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := h.run(args...)
			if r.code == 0 {
				t.Fatalf("exit 0, want non-zero (stdout %q)", r.stdout)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || lines[0] == "" {
				t.Fatalf("want one line on stderr, got %q", r.stderr)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("panic: %s", r.stderr)
			}
		})
	}
	if after := h.hostState(); after != before {
		t.Fatalf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
