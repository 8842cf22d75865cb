package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostVeth is the host-side veth of a container's interface: nc<slot>
// and the interface name's first letter.
func (h *host) hostVeth(name, ifc string) string {
	h.t.Helper()
	var list []struct {
		Name string `json:"name"`
		Slot int    `json:"slot"`
	}
	if err := json.Unmarshal([]byte(h.must("list", "--json")), &list); err != nil {
		h.t.Fatal(err)
	}
	for _, c := range list {
		if c.Name == name {
			return fmt.Sprintf("nc%d%c", c.Slot, ifc[0])
		}
	}
	h.t.Fatalf("no container %s in list --json", name)
	return ""
}

// hostStatus runs host status and returns its exit code and output.
func (h *host) hostStatus() (int, string) {
	h.t.Helper()
	r := h.run("host", "status")
	return r.code, r.stdout
}

func (h *host) hostPing(addr string) bool {
	return reach(h.netns, "busybox", "ping", "-c", "1", "-W", "1", addr)
}

// TestDriftRepaired: a deleted hostonly bridge and a deleted veth of a
// running container are reported by host status and repaired by host
// setup, the containers reachable again without a restart.
func TestDriftRepaired(t *testing.T) {
	h := newHost(t, "")
	fwd := `forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`
	h.must("create", "c1", h.busyboxFile("c1.nix", "", probeMount()), "--start")
	h.must("create", "c2", h.natFile("c2.nix", probeMount()+fwd), "--start")
	h.guestAddr("c2", "internet", "10.202.0.11")
	h.serveInContainer("c2", "tcp", "80", "c2")
	if code, out := h.hostStatus(); code != 0 {
		t.Fatalf("host status before any drift: exit %d\n%s", code, out)
	}
	start1 := h.initStart("c1")

	// The hostonly bridge goes: every container is cut off there.
	ipCmd(t, "-n", h.netns, "link", "del", "brNC-hostonly")
	code, out := h.hostStatus()
	if code != 1 || !strings.Contains(out, "missing  bridge brNC-hostonly") || !strings.Contains(out, "missing  container c1: port") {
		t.Fatalf("host status after the bridge went: exit %d\n%s", code, out)
	}
	r := h.run("host", "setup")
	if r.code != 0 || !strings.Contains(r.stderr, `container "c1": repaired`) {
		t.Fatalf("host setup: exit %d, %s", r.code, r.stderr)
	}
	for _, a := range []string{"10.101.0.2", "10.101.0.3"} {
		waitFor(t, "the host to reach "+a+" again", 10*time.Second, func() bool { return h.hostPing(a) })
	}
	if code, out := h.hostStatus(); code != 0 {
		t.Fatalf("host status after host setup: exit %d\n%s", code, out)
	}

	// A veth of each container goes (its guest end with it).
	for name, ifc := range map[string]string{"c1": "hostonly", "c2": "internet"} {
		ipCmd(t, "-n", h.netns, "link", "del", h.hostVeth(name, ifc))
	}
	code, out = h.hostStatus()
	if code != 1 || !strings.Contains(out, "veth missing") {
		t.Fatalf("host status after the veths went: exit %d\n%s", code, out)
	}
	h.must("host", "setup")
	waitFor(t, "the host to reach c1 again", 10*time.Second, func() bool { return h.hostPing("10.101.0.2") })
	waitFor(t, "c2's forward from the uplink again", 10*time.Second, func() bool {
		out, err := exec.Command("ip", "netns", "exec", h.uplink, probe, "dial", "tcp", "192.0.2.2:8080").Output()
		return err == nil && strings.HasPrefix(string(out), "c2 ")
	})
	if code, out := h.hostStatus(); code != 0 {
		t.Fatalf("host status after the second host setup: exit %d\n%s", code, out)
	}
	if got := h.initStart("c1"); got != start1 {
		t.Fatalf("c1 was restarted (init started at %s, now %s)", start1, got)
	}
	// The repaired ports are filtered like new ones: c1 cannot take
	// another address.
	h.sh("c1", "ip addr add 10.101.0.3/32 dev hostonly && arping -U -c 1 -w 2 -I hostonly -s 10.101.0.3 10.101.0.3 || true")
	if out, err := exec.Command("ip", "netns", "exec", h.netns, probe, "dial", "tcp", "10.101.0.3:80").Output(); err == nil && strings.HasPrefix(string(out), "c1") {
		t.Fatalf("after the repair c1 took c2's hostonly address: %q", out)
	}
}

// initStart is when a container's init started (field 22 of its stat):
// the same value means the same process, so no restart happened.
func (h *host) initStart(name string) string {
	h.t.Helper()
	return strings.TrimSpace(h.sh(name, "cut -d' ' -f22 /proc/1/stat"))
}

// TestDriftUplinkAndTeardown: an uplink that does not exist is refused
// and reported; host teardown refuses while containers run, and with
// --force removes everything and puts back ip_forward.
func TestDriftUplinkAndTeardown(t *testing.T) {
	h := newHost(t, "")
	forward := func() string { return strings.TrimSpace(inNetns(t, h.netns, "cat", "/proc/sys/net/ipv4/ip_forward")) }
	if forward() != "0" {
		t.Fatal("a new namespace forwards already")
	}
	h.must("create", "c", h.busyboxFile("c.nix", "", ""), "--start")
	r := h.run("host", "teardown")
	if r.code != 1 || !strings.Contains(r.stderr, "containers are running (c)") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("teardown with c running: exit %d, %q", r.code, r.stderr)
	}
	if !h.hostPing("10.101.0.2") {
		t.Fatal("a refused teardown cut c off")
	}
	h.must("host", "teardown", "--force")
	if forward() != "0" {
		t.Error("teardown left ip_forward on")
	}
	if out := inNetns(t, h.netns, "nft", "list", "ruleset"); strings.Contains(out, "nixcloud") {
		t.Errorf("nftables after teardown:\n%s", out)
	}
	h.must("stop", "c")

	h.writeConfigExtra("[internet]\nuplink = \"nope0\"\n")
	h.must("update", "c", h.natFile("nat.nix", ""))
	r = h.run("start", "c")
	if r.code != 1 || !strings.Contains(r.stderr, "internet.uplink nope0: network interface not found") {
		t.Fatalf("start with a missing uplink: exit %d, %q", r.code, r.stderr)
	}
	code, out := h.hostStatus()
	if code != 1 || !strings.Contains(out, "missing  uplink nope0") {
		t.Fatalf("host status with a missing uplink: exit %d\n%s", code, out)
	}
}

// TestDriftSecondInstall: a second install in the same network namespace
// is refused with a clear line, and the first keeps working.
func TestDriftSecondInstall(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", h.busyboxFile("c.nix", "", ""), "--start")
	other := *h
	other.config = filepath.Join(h.dir, "other.toml")
	h.writeFile("other.toml", "state_dir = \""+filepath.Join(h.dir, "state2")+"\"\nprofiles_dir = \""+filepath.Join(h.dir, "profiles2")+
		"\"\n[hostonly]\nbridge = \"brX-hostonly\"\naddress = \"10.111.0.1/16\"\n[internet]\nbridge = \"brX-internet\"\naddress = \"10.212.0.1/16\"\ndhcp_range = \"10.212.0.10-10.212.0.99\"\n")
	r := other.run("host", "setup")
	if r.code != 1 || !strings.Contains(r.stderr, "another nixcloud-container install uses this network namespace") {
		t.Fatalf("second install's host setup: exit %d, %q", r.code, r.stderr)
	}
	if out := inNetns(t, h.netns, "ip", "-br", "link"); strings.Contains(out, "brX-") {
		t.Fatalf("the refused install made bridges:\n%s", out)
	}
	if !h.hostPing("10.101.0.2") {
		t.Fatal("the first install's container is cut off")
	}
}
