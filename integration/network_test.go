package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond every 200 ms until it holds or limit passes; it is a
// wait for the guest (DHCP, SLAAC), not a timing assertion.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); ; time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("gave up after %v waiting for %s", limit, what)
		}
	}
}

// addrs is show-ip's output as a list.
func (h *host) addrs(name string) []string {
	h.t.Helper()
	return strings.Fields(h.must("show-ip", name))
}

// reach reports whether a command in namespace ns succeeds.
func reach(ns string, args ...string) bool {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).Run() == nil
}

// pingFrom reports whether container name can ping addr.
func (h *host) pingFrom(name, addr string) bool {
	return h.run("run", name, "--", "ping", "-c", "1", "-W", "1", addr).code == 0
}

func TestNetHostonlyAddressesAndIsolation(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c1", exampleFile(), "--start")
	h.must("create", "c2", exampleFile(), "--start")
	a1, a2 := h.addrs("c1"), h.addrs("c2")
	if len(a1) != 1 || a1[0] != "10.101.0.2" || len(a2) != 1 || a2[0] != "10.101.0.3" {
		t.Fatalf("addresses: c1 %v, c2 %v; want 10.101.0.2 and 10.101.0.3", a1, a2)
	}
	for _, a := range []string{"10.101.0.2", "10.101.0.3"} {
		if !reach(h.netns, "busybox", "ping", "-c", "1", "-W", "2", a) {
			t.Fatalf("the host cannot ping %s", a)
		}
	}
	if out := h.must("run", "c1", "--", "ip", "-4", "-o", "addr", "show", "hostonly"); !strings.Contains(out, "10.101.0.2/16") {
		t.Fatalf("c1's hostonly interface: %q", out)
	}
	if !h.pingFrom("c1", "10.101.0.1") {
		t.Fatal("c1 cannot ping the host's hostonly address")
	}
	if h.pingFrom("c1", "10.101.0.3") {
		t.Fatal("c1 reaches c2 although isolate_containers is on")
	}

	// Isolation off takes effect at the next start.
	h.writeConfigExtra("[hostonly]\nisolate_containers = false\n")
	h.must("restart", "c1")
	h.must("restart", "c2")
	waitFor(t, "c1 to reach c2 with isolate_containers = false", 10*time.Second, func() bool {
		return h.pingFrom("c1", "10.101.0.3")
	})

	h.must("destroy", "--force", "c1")
	h.must("create", "c3", exampleFile())
	if a3 := h.addrs("c3"); len(a3) != 1 || a3[0] != "10.101.0.2" {
		t.Fatalf("c3 after destroying c1: %v, want the freed 10.101.0.2", a3)
	}
	list := h.must("list", "--json")
	if !strings.Contains(list, `"10.101.0.3"`) || !strings.Contains(list, `"10.101.0.2"`) {
		t.Fatalf("list --json lacks the addresses:\n%s", list)
	}
}

// writeConfigExtra appends TOML to the host's host.toml.
func (h *host) writeConfigExtra(extra string) {
	h.t.Helper()
	cur, err := os.ReadFile(h.config)
	if err != nil {
		h.t.Fatal(err)
	}
	h.writeFile(filepath.Base(h.config), string(cur)+extra)
}

func TestNetFixedIP(t *testing.T) {
	h := newHost(t, "")
	fixed := h.busyboxFile("fixed.nix", "", `network.ip = "10.101.0.50";`)
	h.must("create", "f1", fixed, "--start")
	if a := h.addrs("f1"); len(a) != 1 || a[0] != "10.101.0.50" {
		t.Fatalf("show-ip: %v, want 10.101.0.50", a)
	}
	if !reach(h.netns, "busybox", "ping", "-c", "1", "-W", "2", "10.101.0.50") {
		t.Fatal("the host cannot ping the fixed address")
	}
	outside := h.busyboxFile("outside.nix", "", `network.ip = "10.99.0.5";`)
	before := treeSnapshot(t, h.dir)
	for _, c := range []struct{ file, want string }{
		{fixed, `already in use by container "f1"`},
		{outside, "10.99.0.5"},
	} {
		r := h.run("create", "f2", c.file)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Fatalf("create with %s: exit %d, stderr %q; want 1 and one line with %q", filepath.Base(c.file), r.code, r.stderr, c.want)
		}
	}
	if after := treeSnapshot(t, h.dir); after != before {
		t.Fatalf("a refused create changed the state:\n%s\n---\n%s", before, after)
	}
	// A container without a fixed address never gets f1's.
	h.must("create", "auto", exampleFile())
	if a := h.addrs("auto"); len(a) != 1 || a[0] != "10.101.0.2" {
		t.Fatalf("auto: %v", a)
	}
}

// natFile is a busybox container with the internet interface, plus
// settings.
func (h *host) natFile(name, settings string) string {
	return h.busyboxFile(name, "", "network.enableNat = true;\n"+settings)
}

// guestAddr waits until the container's interface has addr.
func (h *host) guestAddr(name, ifc, addr string) {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%s on %s of %s", addr, ifc, name), 20*time.Second, func() bool {
		r := h.run("run", name, "--", "ip", "-o", "addr", "show", ifc)
		return r.code == 0 && strings.Contains(r.stdout, " "+addr+"/")
	})
}

func TestNetNAT(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "n1", h.natFile("nat.nix", probeMount()), "--start")
	a := h.addrs("n1")
	if len(a) != 2 || a[0] != "10.101.0.2" || a[1] != "10.202.0.10" {
		t.Fatalf("show-ip: %v, want hostonly 10.101.0.2 then the internet lease 10.202.0.10", a)
	}
	h.guestAddr("n1", "internet", "10.202.0.10")
	if out := h.must("run", "n1", "--", "ip", "route"); !strings.Contains(out, "default via 10.202.0.1 dev internet") {
		t.Fatalf("no default route through the bridge:\n%s", out)
	}
	if out := h.must("run", "n1", "--", "cat", "/etc/resolv.conf"); !strings.Contains(out, "nameserver 10.202.0.1") {
		t.Fatalf("no DNS through the bridge:\n%s", out)
	}

	// A TCP connection to the uplink host arrives from the host's uplink
	// address (MASQUERADE).
	srv := serveIn(t, h.uplink, "tcp", "9000")
	defer srv()
	out := h.must("run", "n1", "--", "/probe/probe", "dial", "tcp", "192.0.2.1:9000")
	if strings.TrimSpace(out) != "peer=192.0.2.2" {
		t.Fatalf("the uplink saw %q, want peer=192.0.2.2", out)
	}

	// The same lease after a restart.
	h.must("restart", "n1")
	h.guestAddr("n1", "internet", "10.202.0.10")
	if b := h.addrs("n1"); strings.Join(b, " ") != strings.Join(a, " ") {
		t.Fatalf("addresses changed over a restart: %v then %v", a, b)
	}

	// dnsmasq killed behind the tool's back comes back at the next start.
	h.must("stop", "n1")
	killDnsmasq(t, filepath.Join(h.dir, "state"))
	h.must("start", "n1")
	h.guestAddr("n1", "internet", "10.202.0.10")
	if !dnsmasqRunning(filepath.Join(h.dir, "state")) {
		t.Fatal("start did not bring dnsmasq back")
	}

	// Hairpin: the container reaches its own forward through the host.
	h.must("update", "n1", h.natFile("nat-fwd.nix", probeMount()+`forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`))
	h.guestAddr("n1", "internet", "10.202.0.10")
	h.must("run", "n1", "--", "sh", "-c", "/probe/probe serve tcp 80 >/dev/null 2>&1 &")
	waitFor(t, "the hairpin forward", 10*time.Second, func() bool {
		r := h.run("run", "n1", "--", "/probe/probe", "dial", "tcp", "192.0.2.2:8080")
		return r.code == 0 && strings.HasPrefix(r.stdout, "peer=")
	})

	// Destroy and teardown leave nothing of the tool's.
	h.must("destroy", "--force", "n1")
	h.must("host", "teardown")
	if out := inNetns(t, h.netns, "ip", "-br", "link"); strings.Contains(out, "brNC-") || strings.Contains(out, "nc0") {
		t.Fatalf("links left after destroy and teardown:\n%s", out)
	}
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		if out := inNetns(t, h.netns, cmd); strings.Contains(out, "NCC-") || strings.Contains(out, "nixcloud-container") {
			t.Fatalf("%s after destroy and teardown:\n%s", cmd, out)
		}
	}
	if out := inNetns(t, h.netns, "nft", "list", "ruleset"); strings.Contains(out, "nixcloud") {
		t.Fatalf("nftables after destroy and teardown:\n%s", out)
	}
	if dnsmasqRunning(filepath.Join(h.dir, "state")) {
		t.Fatal("dnsmasq runs after teardown")
	}
}

// probeMount bind-mounts the probe tool's folder into a container at
// /probe (container-file settings).
func probeMount() string {
	return fmt.Sprintf("bindMounts.\"/probe\" = { hostPath = %q; };\n", filepath.Dir(probe))
}

// serveIn runs the probe server in a namespace; the returned func stops it.
func serveIn(t *testing.T, ns, proto, port string) func() {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, probe, "serve", proto, port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	waitFor(t, "the probe server in "+ns, 5*time.Second, func() bool {
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-lnH", "sport", "= :"+port).Output()
		return len(strings.TrimSpace(string(out))) > 0
	})
	return stop
}

// killDnsmasq kills the dnsmasq of a state folder.
func killDnsmasq(t *testing.T, stateDir string) {
	t.Helper()
	if !dnsmasqRunning(stateDir) {
		t.Fatal("no dnsmasq to kill")
	}
	exec.Command("pkill", "-KILL", "-f", "dnsmasq.*"+stateDir).Run()
	waitFor(t, "dnsmasq to die", 5*time.Second, func() bool { return !dnsmasqRunning(stateDir) })
}

func TestNetIPv6(t *testing.T) {
	h := newHost(t, "[internet.ipv6]\nprefix = \"fd42:4e43::/64\"\n")
	ipCmd(t, "-n", h.netns, "addr", "add", "2001:db8::2/64", "dev", "up0", "nodad")
	ipCmd(t, "-n", h.uplink, "addr", "add", "2001:db8::1/64", "dev", "up1", "nodad")
	ipCmd(t, "-n", h.netns, "-6", "route", "add", "default", "via", "2001:db8::1")
	fwd := `forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`
	h.must("create", "v6", h.natFile("v6.nix", probeMount()+fwd), "--start")
	a := h.addrs("v6")
	if len(a) != 3 || !strings.HasPrefix(a[2], "fd42:4e43::") {
		t.Fatalf("show-ip: %v, want two IPv4 addresses and one from fd42:4e43::/64", a)
	}
	h.guestAddr("v6", "internet", a[2])
	waitFor(t, "the host to reach "+a[2], 10*time.Second, func() bool {
		return reach(h.netns, "busybox", "ping", "-6", "-c", "1", "-W", "1", a[2])
	})
	// The forward works over IPv6 too, from the uplink host.
	h.must("run", "v6", "--", "sh", "-c", "/probe/probe serve tcp 80 >/dev/null 2>&1 &")
	waitFor(t, "the IPv6 forward", 10*time.Second, func() bool {
		out, err := exec.Command("ip", "netns", "exec", h.uplink, probe, "dial", "tcp", "[2001:db8::2]:8080").Output()
		return err == nil && strings.HasPrefix(string(out), "peer=")
	})
	h.must("restart", "v6")
	h.guestAddr("v6", "internet", a[2])
	if b := h.addrs("v6"); strings.Join(b, " ") != strings.Join(a, " ") {
		t.Fatalf("addresses changed over a restart: %v then %v", a, b)
	}
}

func TestNetForwardPorts(t *testing.T) {
	h := newHost(t, "")
	fwds := `forwardPorts = [
    { protocol = "tcp"; hostPort = 8080; containerPort = 80; }
    { protocol = "udp"; hostPort = 5353; containerPort = 53; }
  ];`
	for _, c := range []struct{ name, file string }{
		{"nat", h.natFile("fwd-nat.nix", probeMount()+fwds)},
		{"ho", h.busyboxFile("fwd-ho.nix", "", probeMount()+fwds)},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := *h // fail this subtest, not its parent
			h.t = t
			h.must("create", c.name, c.file, "--start")
			for _, proto := range []string{"tcp", "udp"} {
				port := map[string]string{"tcp": "80", "udp": "53"}[proto]
				h.must("run", c.name, "--", "sh", "-c", fmt.Sprintf("/probe/probe serve %s %s >/dev/null 2>&1 &", proto, port))
			}
			dial := func(ns, proto, to string) (string, bool) {
				out, err := exec.Command("ip", "netns", "exec", ns, probe, "dial", proto, to).Output()
				return strings.TrimSpace(string(out)), err == nil
			}
			for _, proto := range []string{"tcp", "udp"} {
				hostPort := map[string]string{"tcp": "8080", "udp": "5353"}[proto]
				var out string
				waitFor(t, proto+" forward from the uplink", 10*time.Second, func() bool {
					o, ok := dial(h.uplink, proto, "192.0.2.2:"+hostPort)
					out = o
					return ok
				})
				if !strings.HasPrefix(out, "peer=") {
					t.Fatalf("%s from the uplink: %q", proto, out)
				}
				if out, ok := dial(h.netns, proto, "192.0.2.2:"+hostPort); !ok || !strings.HasPrefix(out, "peer=") {
					t.Fatalf("%s from the host itself: %q", proto, out)
				}
			}
			h.must("stop", c.name)
			nat := inNetns(t, h.netns, "iptables-save", "-t", "nat")
			if strings.Contains(nat, "--dport 8080") || strings.Contains(nat, "container "+c.name) {
				t.Fatalf("forward rules left after stop:\n%s", nat)
			}
			h.must("destroy", c.name)
		})
	}
}

func TestNetOwnBridge(t *testing.T) {
	h := newHost(t, "")
	ipCmd(t, "-n", h.netns, "link", "add", "br-user", "type", "bridge")
	ipCmd(t, "-n", h.netns, "addr", "add", "192.168.77.1/24", "dev", "br-user")
	ipCmd(t, "-n", h.netns, "link", "set", "br-user", "up")
	own := h.busyboxFile("own.nix", "", `network = { bridge = "br-user"; ip = "192.168.77.5/24"; };`)
	h.must("create", "own", own, "--start")
	if a := h.addrs("own"); len(a) != 1 || a[0] != "192.168.77.5" {
		t.Fatalf("show-ip: %v", a)
	}
	if !reach(h.netns, "busybox", "ping", "-c", "1", "-W", "2", "192.168.77.5") {
		t.Fatal("the host cannot reach the container on its own bridge")
	}
	if out := inNetns(t, h.netns, "ip", "-br", "link"); strings.Contains(out, "brNC-") {
		t.Fatalf("a container on the user's bridge made the tool's bridges:\n%s", out)
	}
	state := []string{filepath.Join(h.dir, "state"), filepath.Join(h.dir, "profiles")}
	before := treeSnapshot(t, state...)
	for _, c := range []struct{ settings, want string }{
		{`network = { bridge = "br-none"; ip = "192.168.78.5/24"; };`, "br-none: bridge does not exist"},
		{`network = { bridge = "br-user"; ip = "192.168.77.6"; };`, "prefix length"},
		{`network = { bridge = "br-user"; ip = "192.168.77.5/24"; };`, `already in use by container "own"`},
		{`network.ip = "not-an-ip";`, "network.ip"},
	} {
		r := h.run("create", "bad", h.busyboxFile("bad.nix", "", c.settings))
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Fatalf("create with %s: exit %d, stderr %q; want 1 and one line with %q", c.settings, r.code, r.stderr, c.want)
		}
		if after := treeSnapshot(t, state...); after != before {
			t.Fatalf("a refused create (%s) changed the state:\n%s\n---\n%s", c.settings, before, after)
		}
	}
}

// TestNetForwardCollision: a host port another running container forwards
// is refused at start, with nothing left running; once that one stops, the
// start works.
func TestNetForwardCollision(t *testing.T) {
	h := newHost(t, "")
	fwd := `forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`
	h.must("create", "a", h.busyboxFile("a.nix", "", fwd), "--start")
	h.must("create", "b", h.busyboxFile("b.nix", "", fwd))
	r := h.run("start", "b")
	if r.code != 1 || !strings.Contains(r.stderr, `tcp/8080: host port already forwarded to running container "a"`) {
		t.Fatalf("start of b: exit %d, %q", r.code, r.stderr)
	}
	if st := h.state("b"); st != "STOPPED" {
		t.Fatalf("b after a refused start: %s", st)
	}
	h.must("stop", "a")
	h.must("start", "b")
}
