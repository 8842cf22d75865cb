package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostSetupTeardown runs host setup/status/teardown in a namespace of
// its own (newHost), with a second namespace as the uplink host.
func TestHostSetupTeardown(t *testing.T) {
	h := newHost(t, "[internet]\nuplink = \"up0\"\n")

	snapshot := func() string {
		return inNetns(t, h.netns, "ip", "-br", "link") + inNetns(t, h.netns, "iptables-save", "-t", "nat") + inNetns(t, h.netns, "iptables-save", "-t", "filter")
	}
	clean := snapshot()
	if r := h.run("host", "status"); r.code != 1 {
		t.Fatalf("status before setup: exit %d, want 1 (missing)\n%s", r.code, r.stdout)
	}
	h.must("host", "setup")
	first := snapshot()
	status := h.must("host", "status")
	h.must("host", "setup")
	if again := snapshot(); stripCounters(again) != stripCounters(first) {
		t.Fatalf("second setup changed the state:\n%s\n---\n%s", first, again)
	}
	if again := h.must("host", "status"); again != status {
		t.Fatalf("status changed after the second setup:\n%s\n---\n%s", status, again)
	}
	if !strings.Contains(first, "brNC-hostonly") || !strings.Contains(first, "brNC-internet") || !strings.Contains(first, "MASQUERADE") {
		t.Fatalf("setup made no bridges or NAT:\n%s", first)
	}
	h.must("host", "teardown")
	if after := snapshot(); stripCounters(after) != stripCounters(clean) {
		t.Fatalf("teardown left traces:\nbefore setup:\n%s\nafter teardown:\n%s", clean, after)
	}
	if dnsmasqRunning(filepath.Join(h.dir, "state")) {
		t.Fatal("dnsmasq still runs after teardown")
	}
}

// stripCounters drops iptables-save's comment and counter lines.
func stripCounters(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") {
			if i := strings.Index(l, " ["); i > 0 {
				l = l[:i]
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// dnsmasqRunning reports whether a dnsmasq whose command line mentions
// stateDir runs.
func dnsmasqRunning(stateDir string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), "dnsmasq") && strings.Contains(string(cmd), stateDir) {
			return true
		}
	}
	return false
}
