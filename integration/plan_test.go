package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/containers"
)

// planState is what update --dry-run must leave as it was: the state and
// profile folders (records, generations, their content), the host's
// network side and the running container. (/etc/subuid is left out:
// other installations on the machine change it meanwhile.)
func (h *host) planState(name string) string {
	h.t.Helper()
	_, status := h.hostStatus()
	var files strings.Builder
	for _, f := range []string{"container.json", "config", "running.json"} {
		data, _ := os.ReadFile(filepath.Join(h.dir, "state", "containers", name, f))
		files.WriteString(f + ":\n" + string(data) + "\n")
	}
	return treeSnapshot(h.t, filepath.Join(h.dir, "state"), filepath.Join(h.dir, "profiles")) + files.String() +
		"\nstatus:\n" + stripCounters(status) + "\n" + strings.TrimSpace(h.must("state", name)) + " " + strings.TrimSpace(h.must("list-generations", name))
}

func TestUpdateDryRun(t *testing.T) {
	h := newHost(t, "")
	a := h.busyboxFile("a.nix", `marker = "a"; switchExitCode = 0;`, "")
	h.must("create", "--start", "c", a)
	pid := h.initPID("c")
	before := h.planState("c")
	for _, tc := range []struct {
		name string
		args []string
		want []string
		act  containers.Activation
	}{
		{"no change", nil, []string{"no change: the build equals generation 1"}, containers.Unchanged},
		{"guest only, switched", []string{h.busyboxFile("b.nix", `marker = "b"; switchExitCode = 0;`, "")},
			[]string{"guest only", "switched in place"}, containers.Switched},
		{"guest only, cannot switch", []string{h.busyboxFile("b2.nix", `marker = "b";`, "")},
			[]string{"guest only", "restart: the guest cannot switch in place"}, containers.Restarted},
		{"host-side keys", []string{h.busyboxFile("h.nix", `marker = "a"; switchExitCode = 0;`,
			`forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ]; limits.memory = "256M";`)},
			[]string{`host-side setting forwardPorts: added [{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]`,
				`host-side setting limits.memory: added "256M"`, "restart: host-side settings change"}, containers.Restarted},
		{"addresses", []string{h.busyboxFile("n.nix", `marker = "a"; switchExitCode = 0;`, `network.ip = "10.101.0.50"; network.enableNat = true;`)},
			[]string{`host-side setting network.ip: added "10.101.0.50"`, "network hostonly.ipv4: 10.101.0.2/16 → 10.101.0.50/16",
				"network internet.ipv4: added 10.", "network internet.bridge: added brNC-internet"}, containers.Restarted},
		{"lxc items", []string{a, "-l", "lxc.environment=X=1"}, []string{"no new generation", `lxc items -l: null → ["lxc.environment=X=1"]`, "restart: the -l items change"}, containers.Restarted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"update", "--dry-run", "c"}, tc.args...)
			out := h.must(args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("update --dry-run %v: lacks %q:\n%s", tc.args, w, out)
				}
			}
			var p containers.Plan
			if err := json.Unmarshal([]byte(h.must(append(args, "--json")...)), &p); err != nil {
				t.Fatal(err)
			}
			if p.Activation != tc.act || p.Current != 1 || !strings.HasPrefix(p.Build, "/nix/store/") {
				t.Errorf("--json: %+v, want activation %q", p, tc.act)
			}
			if after := h.planState("c"); after != before {
				t.Errorf("update --dry-run changed the host:\n%s\n---\n%s", before, after)
			}
			if h.initPID("c") != pid {
				t.Errorf("update --dry-run restarted the container")
			}
		})
	}
	// A stopped container: the new generation would boot at the next start.
	h.must("stop", "c")
	if out := h.must("update", "--dry-run", "c", h.busyboxFile("b.nix", `marker = "b"; switchExitCode = 0;`, "")); !strings.Contains(out, "boots at its next start") {
		t.Errorf("stopped: %s", out)
	}
	// Bad input: one line, nothing changed.
	before = h.planState("c")
	r := h.run("update", "--dry-run", "c", h.writeFile("bad.nix", "{ system = ; }"))
	if r.code == 0 || r.stderr == "" {
		t.Errorf("a broken file: exit %d, stderr %q", r.code, r.stderr)
	}
	if after := h.planState("c"); after != before {
		t.Errorf("a failed dry run changed the host")
	}
}

func TestDiff(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", h.busyboxFile("a.nix", `marker = "a";`, ""))
	if r := h.run("diff", "c"); r.code != 1 || !strings.Contains(r.stderr, "only one generation") {
		t.Errorf("diff with one generation: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	h.must("stop", "c")
	h.must("update", "c", h.busyboxFile("b.nix", `marker = "b";`, `forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`))
	want := []string{
		`container "c": generation 1 → 2`,
		`host-side setting forwardPorts: added [{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]`,
		"package busybox-guest-a: removed (no version)",
		"package busybox-guest-b: added (no version)",
	}
	// Stopped: the one before the current one against the current one;
	// the same with generations given.
	for _, args := range [][]string{{"diff", "c"}, {"diff", "c", "1"}, {"diff", "c", "1", "2"}} {
		out := h.must(args...)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%v lacks %q:\n%s", args, w, out)
			}
		}
	}
	var d containers.Diff
	if err := json.Unmarshal([]byte(h.must("diff", "--json", "c", "2", "1")), &d); err != nil {
		t.Fatal(err)
	}
	if d.From != 2 || d.To != 1 || len(d.Settings) != 1 || d.Settings[0].Key != "forwardPorts" || d.Settings[0].New != "" || len(d.Packages) != 2 {
		t.Errorf("diff --json 2 1: %+v", d)
	}
	// Running and current are the same: the last change is shown.
	h.must("start", "c")
	if out := h.must("diff", "c"); !strings.Contains(out, "generation 1 → 2") {
		t.Errorf("diff of a running container: %s", out)
	}
	for _, bad := range [][]string{{"diff", "c", "x"}, {"diff", "c", "9"}, {"diff", "nosuch"}} {
		if r := h.run(bad...); r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", bad, r.code, r.stderr)
		}
	}
}
