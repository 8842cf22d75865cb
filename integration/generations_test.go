package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func (h *host) marker(name string) string {
	h.t.Helper()
	return strings.TrimSpace(h.must("run", name, "--", "cat", "/run/marker"))
}

type generation struct {
	Number    int    `json:"number"`
	StorePath string `json:"store_path"`
	Current   bool   `json:"current"`
}

func (h *host) generations(name string) []generation {
	h.t.Helper()
	var gens []generation
	if err := json.Unmarshal([]byte(h.must("list-generations", "--json", name)), &gens); err != nil {
		h.t.Fatal(err)
	}
	return gens
}

func numbers(gens []generation) string {
	var s []string
	for _, g := range gens {
		n := fmt.Sprint(g.Number)
		if g.Current {
			n += "*"
		}
		s = append(s, n)
	}
	return strings.Join(s, " ")
}

func TestGenerationsUpdateRollbackSwitch(t *testing.T) {
	h := newHost(t, "")
	a := h.busyboxFile("a.nix", `marker = "a";`, "")
	b := h.busyboxFile("b.nix", `marker = "b";`, "")
	h.must("create", "c", a)
	h.must("update", "c", b)
	if got := numbers(h.generations("c")); got != "1 2*" {
		t.Fatalf("after update: generations %s", got)
	}
	h.must("start", "c")
	if m := h.marker("c"); m != "b" {
		t.Fatalf("marker %q after start, want b", m)
	}
	h.must("rollback", "c")
	if m := h.marker("c"); m != "a" {
		t.Fatalf("marker %q after rollback, want a", m)
	}
	h.must("switch-generation", "c", "2")
	if m := h.marker("c"); m != "b" {
		t.Fatalf("marker %q after switch-generation 2, want b", m)
	}
	r := h.run("update", "c", b)
	if r.code != 0 || !strings.Contains(r.stderr, "no new generation") {
		t.Fatalf("identical update: exit %d, %q", r.code, r.stderr)
	}
	if got := numbers(h.generations("c")); got != "1 2*" {
		t.Fatalf("after identical update: generations %s", got)
	}
	// The plain listing looks like nix-env's.
	if out := h.must("list-generations", "c"); !strings.Contains(out, "   2   ") || !strings.Contains(out, "(current)") {
		t.Fatalf("list-generations: %q", out)
	}
	// Without FILE, update rebuilds the recorded file (b): unchanged.
	if r := h.run("update", "c"); r.code != 0 || !strings.Contains(r.stderr, "no new generation") {
		t.Fatalf("update without file: exit %d, %q", r.code, r.stderr)
	}
	if r := h.run("update", "missing", b); r.code != 1 {
		t.Fatalf("update of a missing container: exit %d", r.code)
	}
}

func TestSwitchToConfigurationInPlace(t *testing.T) {
	h := newHost(t, "")
	file := func(step string, code int) string {
		return h.busyboxFile(step+".nix", fmt.Sprintf(`marker = %q; switchExitCode = %d;`, step, code), "")
	}
	// guestRunsCurrent: the generation the guest sees as its system (what it
	// switched to in place, or booted), checked against the current one.
	guestRunsCurrent := func(what string, wantGen int) {
		t.Helper()
		if cur := currentGeneration(t, h, "c"); cur != wantGen {
			t.Fatalf("%s: current generation %d, want %d", what, cur, wantGen)
		}
		var store string
		for _, g := range h.generations("c") {
			if g.Current {
				store = g.StorePath
			}
		}
		got := strings.TrimSpace(h.must("run", "c", "--", "readlink", "-f", "/nix/var/nixcloud-container/profile/system"))
		if got != store {
			t.Fatalf("%s: the guest's system is %q, want the current generation %q", what, got, store)
		}
	}
	h.must("create", "--start", "c", file("s0", 0))
	pid := h.initPID("c")
	// 0 switched; 2 and 4 switched with a warning: all in place, and the
	// guest is on the new generation each time.
	for i, code := range []int{0, 2, 4} {
		r := h.run("update", "c", file(fmt.Sprintf("s%d", i+1), code))
		if r.code != 0 {
			t.Fatalf("switch exit %d: update failed: %s", code, r.stderr)
		}
		if !strings.Contains(r.stderr, fmt.Sprintf("generation %d: switched in place", i+2)) {
			t.Fatalf("switch exit %d: not switched in place: %q", code, r.stderr)
		}
		if code != 0 && !strings.Contains(r.stderr, fmt.Sprintf("warning: container \"c\": switch-to-configuration exited %d", code)) {
			t.Fatalf("switch exit %d: no warning in %q", code, r.stderr)
		}
		if code == 0 && strings.Contains(r.stderr, "warning") {
			t.Fatalf("switch exit 0: a warning in %q", r.stderr)
		}
		guestRunsCurrent(fmt.Sprintf("switch exit %d", code), i+2)
	}
	calls := h.must("run", "c", "--", "cat", "/run/switch-calls")
	if calls != strings.Repeat("switch\n", 3) {
		t.Fatalf("switch-to-configuration calls: %q", calls)
	}
	if now := h.initPID("c"); now != pid {
		t.Fatalf("init pid changed from %d to %d: the container was restarted", pid, now)
	}
	// 100: the new system cannot switch in place and did nothing: the
	// container restarts into the new generation (5, marker s4), and says so.
	r := h.run("update", "c", file("s4", 100))
	if r.code != 0 || !strings.Contains(r.stderr, "generation 5: restarted") ||
		!strings.Contains(r.stderr, "switch-to-configuration exited 100") {
		t.Fatalf("switch exit 100: update exit %d, stderr %q", r.code, r.stderr)
	}
	if now := h.initPID("c"); now == pid {
		t.Fatal("switch exit 100: init pid unchanged: the container was not restarted")
	}
	if st := h.state("c"); st != "RUNNING" {
		t.Fatalf("switch exit 100: state %s", st)
	}
	if m := h.marker("c"); m != "s4" {
		t.Fatalf("switch exit 100: marker %q, want the new generation's (s4)", m)
	}
	guestRunsCurrent("switch exit 100", 5)
	// Any other exit code fails hard: the container goes back to the
	// generation that ran (5, marker s4), running, and the update exits 1
	// naming both generations.
	for i, code := range []int{1, 3} {
		r := h.run("update", "c", file(fmt.Sprintf("f%d", i), code))
		want := fmt.Sprintf("generation %d: the new generation failed: switch-to-configuration exited %d; back on generation 5, running", 6+i, code)
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Fatalf("switch exit %d: update exit %d, stderr %q, want %q", code, r.code, r.stderr, want)
		}
		if st := h.state("c"); st != "RUNNING" {
			t.Fatalf("switch exit %d: state %s after the return", code, st)
		}
		if m := h.must("run", "c", "--", "cat", "/run/marker"); m != "s4\n" {
			t.Fatalf("switch exit %d: marker %q, want the generation that ran (s4)", code, m)
		}
		guestRunsCurrent(fmt.Sprintf("switch exit %d", code), 5)
	}
}

// currentGeneration is the number list-generations marks as current.
func currentGeneration(t *testing.T, h *host, name string) int {
	t.Helper()
	var gens []struct {
		Number  int  `json:"number"`
		Current bool `json:"current"`
	}
	if err := json.Unmarshal([]byte(h.must("list-generations", name, "--json")), &gens); err != nil {
		t.Fatal(err)
	}
	for _, g := range gens {
		if g.Current {
			return g.Number
		}
	}
	return 0
}

func TestRollbackRestoresHostSettings(t *testing.T) {
	h := newHost(t, "")
	one := h.busyboxFile("one.nix", `marker = "x";`, `extraLxcConfig = [ "lxc.environment = GREETING=one" ];`)
	two := h.busyboxFile("two.nix", `marker = "x";`, `autostart = true; extraLxcConfig = [ "lxc.environment = GREETING=two" ];`)
	greeting := func() string {
		out := h.must("run", "c", "--", "cat", "/proc/1/environ")
		for _, kv := range strings.Split(out, "\x00") {
			if strings.HasPrefix(kv, "GREETING=") {
				return strings.TrimPrefix(kv, "GREETING=")
			}
		}
		return ""
	}
	autostart := func() bool {
		var infos []struct {
			Name      string `json:"name"`
			Autostart bool   `json:"autostart"`
		}
		if err := json.Unmarshal([]byte(h.must("list", "--json")), &infos); err != nil || len(infos) != 1 {
			t.Fatalf("list --json: %v %v", infos, err)
		}
		return infos[0].Autostart
	}
	h.must("create", "--start", "c", one)
	if g := greeting(); g != "one" || autostart() {
		t.Fatalf("generation 1: GREETING=%q autostart=%v", g, autostart())
	}
	r := h.run("update", "c", two)
	if r.code != 0 || !strings.Contains(r.stderr, "restarted") {
		t.Fatalf("update with changed host settings: exit %d, %q", r.code, r.stderr)
	}
	if g := greeting(); g != "two" || !autostart() {
		t.Fatalf("generation 2: GREETING=%q autostart=%v", g, autostart())
	}
	h.must("rollback", "c")
	if g := greeting(); g != "one" || autostart() {
		t.Fatalf("after rollback: GREETING=%q autostart=%v", g, autostart())
	}
}

func TestDeleteGenerations(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", h.busyboxFile("g1.nix", `marker = "g1";`, ""))
	for i := 2; i <= 5; i++ {
		h.must("update", "c", h.busyboxFile(fmt.Sprintf("g%d.nix", i), fmt.Sprintf(`marker = "g%d";`, i), ""))
	}
	steps := []struct {
		args []string
		ok   bool
		want string
	}{
		{[]string{"5"}, false, "1 2 3 4 5*"}, // the current one
		{[]string{"1"}, true, "2 3 4 5*"},
		{[]string{"30d"}, true, "2 3 4 5*"}, // none is that old
		{[]string{"+2"}, true, "4 5*"},
		{[]string{"7"}, false, "4 5*"},
	}
	for _, s := range steps {
		r := h.run(append([]string{"delete-generations", "c"}, s.args...)...)
		if (r.code == 0) != s.ok {
			t.Fatalf("delete-generations %v: exit %d, %q", s.args, r.code, r.stderr)
		}
		if got := numbers(h.generations("c")); got != s.want {
			t.Fatalf("after delete-generations %v: %s, want %s", s.args, got, s.want)
		}
	}
	h.must("switch-generation", "c", "4")
	h.must("delete-generations", "c", "old")
	if got := numbers(h.generations("c")); got != "4*" {
		t.Fatalf("after delete-generations old: %s", got)
	}
}

func TestGenerationsAreGCRoots(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", h.busyboxFile("a.nix", `marker = "gc-a";`, ""))
	h.must("update", "c", h.busyboxFile("b.nix", `marker = "gc-b";`, ""))
	gens := h.generations("c")
	if out, err := exec.Command("nix-collect-garbage").CombinedOutput(); err != nil {
		t.Fatalf("nix-collect-garbage: %v\n%s", err, out)
	}
	for _, g := range gens {
		if _, err := os.Stat(filepath.Join(g.StorePath, "init")); err != nil {
			t.Fatalf("generation %d lost to the garbage collector: %v", g.Number, err)
		}
	}
	h.must("destroy", "c")
	roots, err := exec.Command("nix-store", "--gc", "--print-roots").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gens {
		if strings.Contains(string(roots), g.StorePath) {
			t.Fatalf("generation %d is still a GC root after destroy", g.Number)
		}
		if out, err := exec.Command("nix-store", "--delete", g.StorePath).CombinedOutput(); err != nil {
			t.Fatalf("generation %d cannot be collected after destroy: %v\n%s", g.Number, err, out)
		}
	}
}

func TestNixArgsReachEvaluationAndBuild(t *testing.T) {
	h := newHost(t, "")
	markerDir := filepath.Join(h.dir, "markerdir")
	h.writeFile("markerdir/default.nix", `"from-nix-path"`)
	file := h.writeFile("needs-marker.nix", fmt.Sprintf("{ system = import %s { marker = import <marker>; }; }",
		filepath.Join(repoRoot(), "examples/busybox/system.nix")))
	r := h.run("create", "c", file)
	if r.code != 1 || !strings.Contains(r.stderr, "marker") {
		t.Fatalf("create without -n: exit %d, %q", r.code, r.stderr)
	}
	h.must("create", "c", file, "-n", "-I marker="+markerDir, "--start")
	if m := h.marker("c"); m != "from-nix-path" {
		t.Fatalf("marker %q", m)
	}
	// update reuses the recorded -n.
	if r := h.run("update", "c"); r.code != 0 {
		t.Fatalf("update without -n: exit %d, %q", r.code, r.stderr)
	}
}
