package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// specFile writes a SPEC whose entries are given as Nix text; SYS is
// replaced by the busybox example system's path.
func (h *host) specFile(entries string) string {
	h.t.Helper()
	sys := filepath.Join(repoRoot(), "examples", "busybox", "system.nix")
	return h.writeFile("spec.nix", "{\n"+strings.ReplaceAll(entries, "SYS", sys)+"}\n")
}

// applyLines runs apply and returns its stdout lines by container.
func (h *host) apply(wantCode int, args ...string) (map[string]string, result) {
	h.t.Helper()
	r := h.run(append([]string{"apply"}, args...)...)
	h.t.Logf("apply %v:\n%s", args, r.stdout)
	if r.code != wantCode {
		h.t.Fatalf("apply %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, wantCode, r.stdout, r.stderr)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		name, what, ok := strings.Cut(l, ": ")
		if !ok {
			h.t.Fatalf("apply %v: line %q is not NAME: WHAT", args, l)
		}
		if _, dup := lines[name]; dup {
			h.t.Fatalf("apply %v: two lines for %s:\n%s", args, name, r.stdout)
		}
		lines[name] = what
	}
	return lines, r
}

func wantLines(t *testing.T, step string, got map[string]string, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: lines %v, want one for each of %v", step, got, want)
	}
	for name, prefix := range want {
		if !strings.HasPrefix(got[name], prefix) {
			t.Errorf("%s: %s: %q, want %q...", step, name, got[name], prefix)
		}
	}
}

type listEntry struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Declared bool   `json:"declared"`
	Dropped  bool   `json:"dropped"`
}

func (h *host) listJSON() map[string]listEntry {
	h.t.Helper()
	var l []listEntry
	if err := json.Unmarshal([]byte(h.must("list", "--json")), &l); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]listEntry{}
	for _, e := range l {
		out[e.Name] = e
	}
	return out
}

// TestApplyConverges walks one SPEC through its life: create, a no-op
// re-apply, a dry run, a change to one container, a manual rollback, a
// dropped container and --prune, next to an imperative container that
// apply never touches.
func TestApplyConverges(t *testing.T) {
	h := newHost(t, "")
	h.busyboxFile("a.nix", `marker = "a";`, "autostart = true;")
	imp := h.busyboxFile("imp.nix", `marker = "imp";`, "")
	h.must("create", "imp", imp, "--start")
	impPID := h.initPID("imp")

	specB := func(marker string) string {
		return fmt.Sprintf("  b = { system = import SYS { marker = %q; }; autostart = true; };\n", marker)
	}
	spec := h.specFile("  a = ./a.nix;\n" + specB("b1"))

	// 1. Create from SPEC: a path entry and an inline one, both started.
	lines, _ := h.apply(0, spec)
	wantLines(t, "first apply", lines, map[string]string{"a": "created (generation 1), started", "b": "created (generation 1), started"})
	if m := h.marker("a"); m != "a" {
		t.Fatalf("a's marker %q", m)
	}
	if m := h.marker("b"); m != "b1" {
		t.Fatalf("b's marker %q", m)
	}
	l := h.listJSON()
	if !l["a"].Declared || !l["b"].Declared || l["imp"].Declared {
		t.Fatalf("list: declared flags %+v", l)
	}
	pidA, pidB := h.initPID("a"), h.initPID("b")

	// 2. Re-apply: nothing changes, and it says so.
	lines, r := h.apply(0, spec)
	wantLines(t, "re-apply", lines, map[string]string{"a": "unchanged", "b": "unchanged"})
	if !strings.Contains(r.stderr, "nothing to change") {
		t.Errorf("re-apply: stderr %q does not say nothing changed", r.stderr)
	}
	for _, n := range []string{"a", "b"} {
		if got := numbers(h.generations(n)); got != "1*" {
			t.Errorf("re-apply: %s has generations %s", n, got)
		}
	}
	if h.initPID("a") != pidA || h.initPID("b") != pidB {
		t.Fatal("re-apply restarted a container")
	}

	// 3. A dry run prints the plan and changes nothing.
	spec = h.specFile("  a = ./a.nix;\n" + specB("b2"))
	state, profiles := filepath.Join(h.dir, "state"), filepath.Join(h.dir, "profiles")
	before := treeSnapshot(t, state, profiles)
	lines, _ = h.apply(0, "--dry-run", spec)
	wantLines(t, "dry run", lines, map[string]string{"a": "unchanged", "b": "would update"})
	if after := treeSnapshot(t, state, profiles); after != before {
		t.Fatalf("the dry run changed the state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if h.initPID("b") != pidB || numbers(h.generations("b")) != "1*" {
		t.Fatal("the dry run touched b")
	}

	// 4. Change one: only it gets a generation and restarts.
	lines, _ = h.apply(0, spec)
	wantLines(t, "change b", lines, map[string]string{"a": "unchanged", "b": "updated to generation 2, restarted"})
	if got := numbers(h.generations("b")); got != "1 2*" {
		t.Fatalf("b's generations %s", got)
	}
	if m := h.marker("b"); m != "b2" {
		t.Fatalf("b's marker %q after the update", m)
	}
	if h.initPID("b") == pidB {
		t.Fatal("b was not restarted")
	}
	if h.initPID("a") != pidA || numbers(h.generations("a")) != "1*" {
		t.Fatal("changing b touched a")
	}
	// Declared containers are ordinary: update without FILE rebuilds what
	// the SPEC says.
	if r := h.run("update", "b"); r.code != 0 || !strings.Contains(r.stderr, "no new generation") {
		t.Fatalf("update b: exit %d, %s", r.code, r.stderr)
	}

	// 5. A manual rollback stays until the SPEC changes b again.
	h.must("rollback", "b")
	pidB = h.initPID("b")
	lines, _ = h.apply(0, spec)
	wantLines(t, "after rollback", lines, map[string]string{"a": "unchanged", "b": "unchanged (stays on generation 1"})
	if got := numbers(h.generations("b")); got != "1* 2" || h.marker("b") != "b1" || h.initPID("b") != pidB {
		t.Fatalf("re-apply after the rollback: generations %s, marker %s", got, h.marker("b"))
	}
	spec = h.specFile("  a = ./a.nix;\n" + specB("b3"))
	lines, _ = h.apply(0, spec)
	wantLines(t, "change b after rollback", lines, map[string]string{"a": "unchanged", "b": "updated to generation 3, restarted"})
	if m := h.marker("b"); m != "b3" {
		t.Fatalf("b's marker %q", m)
	}

	// A generation chosen by hand that equals what the SPEC says becomes
	// the applied one: the SPEC changing back to b3 updates b again.
	h.must("switch-generation", "b", "1")
	lines, _ = h.apply(0, h.specFile("  a = ./a.nix;\n"+specB("b1")))
	wantLines(t, "SPEC back to b1", lines, map[string]string{"a": "unchanged", "b": "unchanged"})
	if strings.Contains(lines["b"], "set by hand") {
		t.Errorf("b runs what the SPEC says, yet: %q", lines["b"])
	}
	spec = h.specFile("  a = ./a.nix;\n" + specB("b3"))
	lines, _ = h.apply(0, spec)
	wantLines(t, "SPEC to b3 again", lines, map[string]string{"a": "unchanged", "b": "updated to generation 3, restarted"})
	if m := h.marker("b"); m != "b3" {
		t.Fatalf("b's marker %q", m)
	}

	// 6. Drop a: stopped and kept, marked in list, not started at boot.
	spec = h.specFile(specB("b3"))
	lines, _ = h.apply(0, spec)
	wantLines(t, "drop a", lines, map[string]string{"a": "stopped, kept (dropped from SPEC)", "b": "unchanged"})
	if st := h.state("a"); st != "STOPPED" {
		t.Fatalf("dropped a is %s", st)
	}
	if e := h.listJSON()["a"]; !e.Dropped {
		t.Fatalf("list does not mark a as dropped: %+v", e)
	}
	if out := h.must("list"); !strings.Contains(out, "dropped from SPEC") {
		t.Fatalf("list:\n%s", out)
	}
	if r := h.run("autostart"); strings.Contains(r.stdout, "a: started") {
		t.Fatalf("autostart started the dropped container: %s", r.stdout)
	}
	lines, _ = h.apply(0, spec)
	wantLines(t, "re-apply after drop", lines, map[string]string{"a": "kept (dropped from SPEC)", "b": "unchanged"})

	// 7. --prune destroys it (the dry run only says so).
	lines, _ = h.apply(0, "--dry-run", "--prune", spec)
	wantLines(t, "prune dry run", lines, map[string]string{"a": "would destroy", "b": "unchanged"})
	if r := h.run("exists", "a"); r.code != 0 {
		t.Fatal("the dry run destroyed a")
	}
	lines, _ = h.apply(0, "--prune", spec)
	wantLines(t, "prune", lines, map[string]string{"a": "destroyed", "b": "unchanged"})
	if r := h.run("exists", "a"); r.code != 1 {
		t.Fatalf("exists a after --prune: exit %d", r.code)
	}

	// The imperative container was never touched.
	if h.initPID("imp") != impPID || numbers(h.generations("imp")) != "1*" {
		t.Fatal("apply touched the imperative container")
	}
	if m := h.marker("imp"); m != "imp" {
		t.Fatalf("imp's marker %q", m)
	}
}

// TestApplyBrokenFailsAlone: a container that does not evaluate or does
// not build, and a SPEC entry named like an imperative container, fail on
// their own lines; the others are done; the exit status is 1.
func TestApplyBrokenFailsAlone(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "imp", h.busyboxFile("imp.nix", "", ""))
	good := func(marker string) string {
		return fmt.Sprintf("  good = { system = import SYS { marker = %q; }; };\n  other = { system = import SYS { marker = \"o\"; }; };\n", marker)
	}
	spec := h.specFile(good("g1") +
		"  badkey = { system = import SYS { }; nosuchkey = 1; };\n" +
		"  noinit = { system = import SYS { initMode = \"not-executable\"; }; };\n" +
		"  imp = { system = import SYS { }; };\n")
	lines, r := h.apply(1, spec)
	wantLines(t, "first apply", lines, map[string]string{
		"good": "created", "other": "created",
		"badkey": "failed: ", "noinit": "failed: ", "imp": "failed: ",
	})
	if !strings.Contains(lines["badkey"], "nosuchkey") || !strings.Contains(lines["noinit"], "init") ||
		!strings.Contains(lines["imp"], "made by create") {
		t.Fatalf("failure lines do not say why:\n%s", r.stdout)
	}
	for _, n := range []string{"badkey", "noinit"} {
		if r := h.run("exists", n); r.code != 1 {
			t.Fatalf("%s exists after its failed create", n)
		}
	}

	// An existing container that breaks fails alone too, while another
	// one's update goes through (the batched evaluation falls back).
	spec = h.specFile("  good = { system = import SYS { marker = \"g2\"; }; };\n" +
		"  other = { system = import SYS { }; nosuchkey = 1; };\n")
	lines, _ = h.apply(1, spec)
	wantLines(t, "second apply", lines, map[string]string{"good": "updated to generation 2", "other": "failed: "})
	if got := numbers(h.generations("other")); got != "1*" {
		t.Fatalf("broken other: generations %s", got)
	}
	if got := numbers(h.generations("imp")); got != "1*" {
		t.Fatalf("imp: generations %s", got)
	}

	// A SPEC that is not an attribute set fails as a whole, changing nothing.
	bad := h.writeFile("bad.nix", "[ 1 2 ]\n")
	if r := h.run("apply", bad); r.code != 1 || !strings.Contains(r.stderr, "attribute set") {
		t.Fatalf("apply of a list: exit %d, %s", r.code, r.stderr)
	}
}

// TestApplyModuleSpec: the SPEC the NixOS module writes (nixos/spec.nix
// over the rendered JSON: prebuilt systems, a static address) is applied
// as any other; each generation references the system it boots.
func TestApplyModuleSpec(t *testing.T) {
	h := newHost(t, "")
	out, err := exec.Command("nix-build", filepath.Join(repoRoot(), "examples", "busybox", "system.nix"),
		"--argstr", "marker", "from-module", "--no-out-link").Output()
	if err != nil {
		t.Fatalf("nix-build the busybox system: %v", err)
	}
	sys := strings.TrimSpace(string(out))
	js := h.writeFile("spec.json", fmt.Sprintf(`{"web":{"autostart":true,"network":{"ip":"10.101.200.7"},"system":%q}}`, sys))
	spec := h.writeFile("spec.nix", fmt.Sprintf("import %s %s\n", filepath.Join(repoRoot(), "nixos", "spec.nix"), js))

	lines, _ := h.apply(0, spec)
	wantLines(t, "first apply", lines, map[string]string{"web": "created (generation 1), started"})
	if ip := strings.TrimSpace(h.must("show-ip", "web")); ip != "10.101.200.7" {
		t.Fatalf("show-ip web = %q, want the module's static address", ip)
	}
	if m := h.marker("web"); m != "from-module" {
		t.Fatalf("marker %q", m)
	}
	gen := h.generations("web")[0].StorePath
	refs, err := exec.Command("nix-store", "-q", "--references", gen).Output()
	if err != nil || !strings.Contains(string(refs), sys) {
		t.Fatalf("generation %s does not reference its system %s: %s %v", gen, sys, refs, err)
	}
	lines, _ = h.apply(0, spec)
	wantLines(t, "re-apply", lines, map[string]string{"web": "unchanged"})
}

// TestApplyLeavesRemadeContainer: a dropped container destroyed and made
// again by create while apply evaluates (here: while the SPEC's entry for
// another container waits on a FIFO) is not destroyed by --prune; apply
// says so on its line and exits 1.
func TestApplyLeavesRemadeContainer(t *testing.T) {
	h := newHost(t, "")
	spec := h.specFile("  a = { system = import SYS { marker = \"a\"; }; };\n  b = { system = import SYS { marker = \"b\"; }; };\n")
	lines, _ := h.apply(0, spec)
	wantLines(t, "first apply", lines, map[string]string{"a": "created", "b": "created"})

	fifo := filepath.Join(h.dir, "gate")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// b evaluates to the same build once the FIFO has been written.
	spec = h.specFile(fmt.Sprintf("  b = { system = import SYS { marker = \"b\" + builtins.substring 0 0 (builtins.readFile %s); }; };\n", fifo))
	cmd := h.command("apply", "--prune", spec)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // returns once Nix reads it
		if err != nil {
			close(opened)
			return
		}
		opened <- f
	}()
	var gate *os.File
	select {
	case gate = <-opened:
	case err := <-done:
		// Unblock the opener, then fail.
		if r, rerr := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); rerr == nil {
			if f := <-opened; f != nil {
				f.Close()
			}
			r.Close()
		}
		t.Fatalf("apply ended before evaluating b: %v\n%s\n%s", err, out.String(), errb.String())
	}
	if gate == nil {
		t.Fatal("opening the FIFO failed")
	}
	// Meanwhile: a is destroyed and made again by hand.
	h.must("destroy", "a", "--force")
	h.must("create", "a", h.busyboxFile("imp.nix", `marker = "imp";`, ""))
	gate.WriteString("go")
	gate.Close()
	err := <-done
	t.Logf("apply --prune:\n%s%s", out.String(), errb.String())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("apply --prune: %v, want exit 1", err)
	}
	if r := h.run("exists", "a"); r.code != 0 {
		t.Fatal("apply --prune destroyed the container made by create")
	}
	if l := h.listJSON()["a"]; l.Declared {
		t.Fatalf("a made by create is marked declared: %+v", l)
	}
	if !strings.Contains(out.String(), "a: failed: ") || !strings.Contains(out.String(), "made again while apply ran") ||
		!strings.Contains(out.String(), "b: unchanged") {
		t.Fatalf("apply's lines:\n%s", out.String())
	}
}

// TestApplyDryRunFreshHost: a dry run on a host without containers makes
// nothing, not even state_dir (nor the guest patches in it); an invalid
// name fails on its own line.
func TestApplyDryRunFreshHost(t *testing.T) {
	h := newHost(t, "")
	spec := h.specFile("  web = { system = import SYS { }; };\n  Bad_Name = { system = import SYS { }; };\n")
	lines, _ := h.apply(1, "--dry-run", spec)
	wantLines(t, "dry run", lines, map[string]string{"web": "would create", "Bad_Name": "failed: "})
	if !strings.Contains(lines["Bad_Name"], "invalid container name") {
		t.Errorf("Bad_Name: %q", lines["Bad_Name"])
	}
	for _, d := range []string{"state", "profiles"} {
		if _, err := os.Stat(filepath.Join(h.dir, d)); err == nil {
			t.Errorf("the dry run made %s:\n%s", d, treeSnapshot(t, filepath.Join(h.dir, d)))
		}
	}
}

// TestApplyTwoSpecs: a container declared by one SPEC is not taken over
// by another SPEC that declares the same name while the first is there
// (each apply would undo the other's build, and the second's --prune
// would destroy what the first declares); once the first SPEC is gone
// (moved), the other one takes it.
func TestApplyTwoSpecs(t *testing.T) {
	h := newHost(t, "")
	sys := filepath.Join(repoRoot(), "examples", "busybox", "system.nix")
	first := h.writeFile("first.nix", fmt.Sprintf("{ web = { system = import %s { marker = \"first\"; }; }; }\n", sys))
	second := h.writeFile("second.nix", fmt.Sprintf("{ web = { system = import %s { marker = \"second\"; }; }; other = { system = import %s { }; }; }\n", sys, sys))
	lines, _ := h.apply(0, first)
	wantLines(t, "first SPEC", lines, map[string]string{"web": "created"})

	lines, r := h.apply(1, second)
	wantLines(t, "second SPEC", lines, map[string]string{"web": "failed: ", "other": "created"})
	if !strings.Contains(lines["web"], "another SPEC, "+first+", declares it") {
		t.Fatalf("web's line: %q", lines["web"])
	}
	if got := numbers(h.generations("web")); got != "1*" {
		t.Fatalf("the second SPEC changed web: generations %s\n%s", got, r.stdout)
	}
	// Its --prune does not touch what it does not hold either.
	if r := h.run("apply", "--prune", h.writeFile("third.nix", "{ }\n")); r.code != 0 || r.stdout != "" {
		t.Fatalf("apply --prune of an empty SPEC: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := h.run("exists", "web"); r.code != 0 {
		t.Fatal("web is gone")
	}

	// The first SPEC moved away: the second takes web over.
	if err := os.Rename(first, first+".old"); err != nil {
		t.Fatal(err)
	}
	lines, _ = h.apply(0, second)
	wantLines(t, "after the move", lines, map[string]string{"web": "updated to generation 2", "other": "unchanged"})
}

// TestApplyKilled: apply killed (SIGKILL) in the middle of a create:
// applied again, it converges; a container whose create it was killed in
// and that the SPEC then dropped is still apply's: kept with a line that
// says so, and removed completely by --prune.
func TestApplyKilled(t *testing.T) {
	h := crashHost(t, "")
	entry := func(name string) string {
		return fmt.Sprintf("  %s = { system = import SYS { marker = %q; }; };\n", name, name)
	}
	h.apply(0, h.specFile(entry("a")))

	// Killed while creating x; applied again, x is made.
	spec := h.specFile(entry("a") + entry("x"))
	h.dieAt("create:built", "apply", spec)
	lines, _ := h.apply(0, spec)
	wantLines(t, "after the kill", lines, map[string]string{"a": "unchanged", "x": "created (generation 1)"})
	if got := numbers(h.generations("x")); got != "1*" {
		t.Fatalf("x's generations %s", got)
	}

	// Killed while creating y, which the SPEC then drops.
	h.dieAt("create:built", "apply", h.specFile(entry("a")+entry("x")+entry("y")))
	rec := h.record("y")
	if !rec.Creating || rec.Declared == nil {
		t.Fatalf("y after the kill: creating %v, declared %+v", rec.Creating, rec.Declared)
	}
	spec = h.specFile(entry("a"))
	lines, _ = h.apply(0, spec)
	wantLines(t, "y dropped", lines, map[string]string{"a": "unchanged", "x": "kept (dropped from SPEC)", "y": "kept (dropped from SPEC; its create was interrupted"})
	lines, _ = h.apply(0, "--dry-run", "--prune", spec)
	wantLines(t, "prune dry run", lines, map[string]string{"a": "unchanged", "x": "would destroy", "y": "would destroy"})
	lines, _ = h.apply(0, "--prune", spec)
	wantLines(t, "prune", lines, map[string]string{"a": "unchanged", "x": "destroyed", "y": "destroyed"})
	h.wantNothingLeft("y", rec.Slot, rec.UIDBase)
}
