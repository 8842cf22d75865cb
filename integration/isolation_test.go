package integration

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// These tests are the attacks of a root user inside a container against
// the host and its neighbours, each performed from inside a real
// container against a real listener. Every one of them succeeded before
// the packet filter (package filters) existed.

// sh runs a shell command line in a container and fails the test unless
// it exits 0: the attacker's set-up steps must work, or the test proves
// nothing.
func (h *host) sh(name, script string) string {
	h.t.Helper()
	return h.must("run", name, "--", "sh", "-c", script)
}

// dialFrom runs the probe's dial in a container; ok is false when no
// answer came.
func (h *host) dialFrom(name, proto, addr string, from ...string) (string, bool) {
	r := h.run(append([]string{"run", name, "--", "/probe/probe", "dial", proto, addr}, from...)...)
	return strings.TrimSpace(r.stdout), r.code == 0
}

// serveInContainer starts the probe server in a container, answering with
// tag.
func (h *host) serveInContainer(name, proto, port, tag string) {
	h.t.Helper()
	h.sh(name, "/probe/probe serve "+proto+" "+port+" "+tag+" >/dev/null 2>&1 &")
}

// serveLogged runs the probe server in a namespace and returns a function
// that stops it and returns what it printed (one line per peer).
func serveLogged(t *testing.T, ns, proto, addr string) func() string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, probe, "serve", proto, addr)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	waitFor(t, "the probe server in "+ns, 5*time.Second, func() bool {
		o, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-lnH", "sport", "= :"+port).Output()
		return len(strings.TrimSpace(string(o))) > 0
	})
	stopped := false
	stop := func() string {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
			stopped = true
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestIsolationHostLoopback: a container that routes 127.0.0.1 to the host
// (route_localnet on its side, the loopback address removed) does not
// reach a host service bound to 127.0.0.1, on either bridge; a port
// forward used from the host's own 127.0.0.1 still works.
func TestIsolationHostLoopback(t *testing.T) {
	h := newHost(t, "")
	local := serveLogged(t, h.netns, "tcp", "127.0.0.1:7777")
	fwd := `forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`
	h.must("create", "c", h.natFile("c.nix", probeMount()+fwd), "--start")
	h.guestAddr("c", "internet", "10.202.0.10")
	h.serveInContainer("c", "tcp", "80", "c")
	waitFor(t, "the forward from the host's 127.0.0.1", 10*time.Second, func() bool {
		out, err := exec.Command("ip", "netns", "exec", h.netns, probe, "dial", "tcp", "127.0.0.1:8080").Output()
		return err == nil && strings.HasPrefix(string(out), "c peer=")
	})

	h.sh("c", "ip addr del 127.0.0.1/8 dev lo")
	for _, via := range []struct{ ifc, gw string }{{"hostonly", "10.101.0.1"}, {"internet", "10.202.0.1"}} {
		h.sh("c", "echo 1 > /proc/sys/net/ipv4/conf/"+via.ifc+"/route_localnet && ip route replace 127.0.0.1/32 via "+via.gw+" dev "+via.ifc)
		if out, ok := h.dialFrom("c", "tcp", "127.0.0.1:7777"); ok {
			t.Errorf("through %s the container reached the host's 127.0.0.1:7777: %q", via.ifc, out)
		}
	}
	if seen := local(); seen != "" {
		t.Errorf("the host's loopback service saw the container: %q", seen)
	}
}

// TestIsolationAddressTakeover: a container that takes a neighbour's IPv4
// address (gratuitous ARP), then also its MAC, does not get the host's
// connections to the neighbour; one that copies a neighbour's MAC on the
// internet bridge gets no DHCP lease.
func TestIsolationAddressTakeover(t *testing.T) {
	h := newHost(t, "")
	for _, c := range []string{"c1", "c2"} {
		h.must("create", c, h.natFile(c+".nix", probeMount()), "--start")
		h.serveInContainer(c, "tcp", "80", c)
	}
	victim := func() string {
		out, err := exec.Command("ip", "netns", "exec", h.netns, probe, "dial", "tcp", "10.101.0.2:80").Output()
		if err != nil {
			return "no answer"
		}
		return strings.Fields(string(out))[0]
	}
	waitFor(t, "c1 to answer on 10.101.0.2", 10*time.Second, func() bool { return victim() == "c1" })

	// The address: added on c2 and announced by gratuitous ARP.
	h.sh("c2", "ip addr add 10.101.0.2/32 dev hostonly && arping -U -c 2 -w 3 -I hostonly -s 10.101.0.2 10.101.0.2 || true")
	if got := victim(); got != "c1" {
		t.Errorf("after c2 announced 10.101.0.2 the host's connection went to %s", got)
	}
	// The MAC as well: c2 sends with c1's MAC so the bridge learns it.
	mac1 := strings.TrimSpace(h.sh("c1", "cat /sys/class/net/hostonly/address"))
	h.sh("c2", "ip link set hostonly address "+mac1+" && arping -U -c 2 -w 3 -I hostonly -s 10.101.0.2 10.101.0.2; ping -c 2 -W 1 10.101.0.1; true")
	if got := victim(); got != "c1" {
		t.Errorf("after c2 took c1's MAC and address the host's connection went to %s", got)
	}
	if strings.Contains(inNetns(t, h.netns, "ip", "neigh", "show", "10.101.0.2"), mac1) == false {
		t.Errorf("the host's neighbour entry for 10.101.0.2 is not c1's MAC %s", mac1)
	}

	// c2 copies c1's internet MAC and asks dnsmasq for a lease.
	imac1 := strings.TrimSpace(h.sh("c1", "cat /sys/class/net/internet/address"))
	r := h.run("run", "c2", "--", "sh", "-c", "ip link set internet address "+imac1+" && udhcpc -i internet -n -q -t 3 -T 1 -s /nonexistent 2>&1")
	if r.code == 0 || strings.Contains(r.stdout, "obtained") {
		t.Errorf("c2 with c1's MAC got a lease: exit %d, %q", r.code, r.stdout)
	}
}

// TestIsolationForgedSource: a NAT container that sends from an address
// not its own reaches nothing beyond the host; its own address is still
// masqueraded to the uplink.
func TestIsolationForgedSource(t *testing.T) {
	h := newHost(t, "")
	uplink := serveLogged(t, h.uplink, "udp", "9000")
	h.must("create", "c", h.natFile("c.nix", probeMount()), "--start")
	h.guestAddr("c", "internet", "10.202.0.10")
	if out, ok := h.dialFrom("c", "udp", "192.0.2.1:9000"); !ok || out != "peer=192.0.2.2" {
		t.Fatalf("the container's own traffic: %q, %v; want peer=192.0.2.2", out, ok)
	}
	h.sh("c", "ip addr add 198.51.100.7/32 dev internet")
	for i := 0; i < 3; i++ {
		h.dialFrom("c", "udp", "192.0.2.1:9000", "198.51.100.7")
	}
	if seen := uplink(); strings.Contains(seen, "198.51.100.7") {
		t.Errorf("a forged source left the host: the uplink saw\n%s", seen)
	}
}

// TestIsolationNeighbours: containers reach each other neither on the
// internet bridge nor by routing through the host, on either bridge; the
// host reaches both, and a container still uses a neighbour's port forward
// through the host's address.
func TestIsolationNeighbours(t *testing.T) {
	h := newHost(t, "")
	fwd := map[string]string{"c1": `forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`}
	for _, c := range []string{"c1", "c2"} {
		h.must("create", c, h.natFile(c+".nix", probeMount()+fwd[c]), "--start")
		h.guestAddr(c, "internet", map[string]string{"c1": "10.202.0.10", "c2": "10.202.0.11"}[c])
		h.serveInContainer(c, "tcp", "80", c)
	}
	for _, addr := range []string{"10.101.0.2:80", "10.202.0.10:80"} {
		waitFor(t, "the host to reach c1 at "+addr, 10*time.Second, func() bool {
			out, err := exec.Command("ip", "netns", "exec", h.netns, probe, "dial", "tcp", addr).Output()
			return err == nil && strings.HasPrefix(string(out), "c1 ")
		})
	}
	if out, ok := h.dialFrom("c2", "tcp", "10.202.0.10:80"); ok {
		t.Errorf("c2 reached c1 on the internet bridge: %q", out)
	}
	if out, ok := h.dialFrom("c2", "tcp", "192.0.2.2:8080"); !ok || !strings.HasPrefix(out, "c1 ") {
		t.Errorf("c2 through c1's forward on the host's address: %q, %v", out, ok)
	}
	// Through the host as a router.
	h.sh("c2", "ip route add 10.202.0.10/32 via 10.202.0.1 dev internet && ip route add 10.101.0.2/32 via 10.101.0.1 dev hostonly")
	for _, addr := range []string{"10.202.0.10:80", "10.101.0.2:80"} {
		if out, ok := h.dialFrom("c2", "tcp", addr); ok {
			t.Errorf("c2 reached c1 at %s through the host: %q", addr, out)
		}
	}
}

// TestIsolationHostPorts: containers reach none of the host's ports on any
// host address, except DHCP and DNS on the internet bridge, ICMP echo and
// the ports host.toml allows per bridge.
func TestIsolationHostPorts(t *testing.T) {
	h := newHost(t, "[hostonly]\nhost_ports = [\"tcp/7001\"]\n")
	for _, port := range []string{"7000", "7001"} {
		serveLogged(t, h.netns, "tcp", port)
	}
	h.must("create", "c", h.natFile("c.nix", probeMount()), "--start")
	h.guestAddr("c", "internet", "10.202.0.10")
	for _, addr := range []string{"10.101.0.1:7000", "10.202.0.1:7000", "192.0.2.2:7000", "10.202.0.1:7001"} {
		if out, ok := h.dialFrom("c", "tcp", addr); ok {
			t.Errorf("the container reached the host's %s: %q", addr, out)
		}
	}
	if out, ok := h.dialFrom("c", "tcp", "10.101.0.1:7001"); !ok || out != "peer=10.101.0.2" {
		t.Errorf("host_ports tcp/7001 on hostonly: %q, %v", out, ok)
	}
	for _, a := range []string{"10.101.0.1", "10.202.0.1"} {
		if !h.pingFrom("c", a) {
			t.Errorf("the container cannot ping the host's %s", a)
		}
	}
	// DNS from dnsmasq on the internet bridge (its own hosts file).
	if r := h.run("run", "c", "--", "nslookup", "localhost", "10.202.0.1"); r.code != 0 {
		t.Errorf("DNS through the internet bridge: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
}

// TestIsolationInheritedDescriptors: a descriptor the tool inherits from
// whoever started it (here a host file only root may read, as fd 4) does
// not reach a command run in the container.
func TestIsolationInheritedDescriptors(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", exampleFile(), "--start")
	secret := h.writeFile("secret", "s3cret\n")
	if err := os.Chmod(secret, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := h.command("run", "c", "--", "sh", "-c", "cat <&4; ls /proc/self/fd")
	cmd.ExtraFiles = []*os.File{f, f} // fds 3 and 4
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "s3cret") {
		t.Fatalf("the container read the tool's inherited descriptor:\n%s", out)
	}
	if !strings.Contains(string(out), "Bad file descriptor") && !strings.Contains(string(out), "bad file") {
		t.Fatalf("cat <&4 in the container: %s", out)
	}
}

// TestIsolationIPv6Takeover: a container that advertises a neighbour's
// IPv6 address as its own (unsolicited neighbour advertisement with the
// override flag, plainly and behind a destination options header) does
// not change where the host sends traffic for that address.
func TestIsolationIPv6Takeover(t *testing.T) {
	h := newHost(t, "[internet.ipv6]\nprefix = \"fd42:4e43::/64\"\n")
	for _, c := range []string{"c1", "c2"} {
		h.must("create", c, h.natFile(c+".nix", probeMount()), "--start")
	}
	a1 := h.addrs("c1")[2]
	h.guestAddr("c1", "internet", a1)
	mac1 := strings.TrimSpace(h.sh("c1", "cat /sys/class/net/internet/address"))
	neigh := func() string {
		return inNetns(t, h.netns, "ip", "-6", "neigh", "show", a1)
	}
	waitFor(t, "the host to reach "+a1, 10*time.Second, func() bool {
		return reach(h.netns, "busybox", "ping", "-6", "-c", "1", "-W", "1", a1) && strings.Contains(neigh(), mac1)
	})
	for _, variant := range []string{"plain", "dstopts"} {
		h.sh("c2", "/probe/probe na internet "+a1+" "+variant)
		if n := neigh(); !strings.Contains(n, mac1) {
			t.Errorf("after c2's %s advertisement the host's neighbour entry for %s is %q, not c1's %s", variant, a1, n, mac1)
		}
	}
}
