package integration

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// guestHosts makes the busybox guest's /etc/hosts the file the tool keeps
// for it (NixOS guests get that link from the guest module).
func (h *host) guestHosts(name string) {
	h.t.Helper()
	h.sh(name, "ln -sfn /nix/var/nixcloud-container/profile/hosts /etc/hosts")
}

// TestLinks: app allows proxy on tcp/80 and tcp/81 (network.allowFrom),
// on both bridges. proxy reaches app there, by address and by name; on
// another port it does not; app does not reach proxy, not even from an
// allowed port as its source (no stateless reverse rule); a third
// container reaches app neither by address nor by name. The link waits
// for proxy, which is created after it; `list --json` shows it; after a
// rollback of app to its generation without the link proxy is blocked
// again; host teardown leaves nothing.
func TestLinks(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "app", h.natFile("app.nix", probeMount()), "--start")
	allow := `network.allowFrom = [ { container = "proxy"; ports = [ "tcp/80" "tcp/81" ]; } ];`
	r := h.run("update", "app", h.natFile("app-linked.nix", probeMount()+allow))
	if r.code != 0 || !strings.Contains(r.stderr, `network.allowFrom proxy: container "proxy" does not exist (yet)`) {
		t.Fatalf("update with a link to a missing container: exit %d, want 0 and a warning:\n%s", r.code, r.stderr)
	}
	for _, c := range []string{"proxy", "other"} {
		h.must("create", c, h.natFile(c+".nix", probeMount()), "--start")
	}
	h.guestAddr("app", "internet", "10.202.0.10")
	h.serveInContainer("app", "tcp", "80", "app")
	h.serveInContainer("proxy", "tcp", "82", "proxy")
	for _, c := range []string{"proxy", "other"} {
		h.guestHosts(c)
	}
	app, proxy := h.addrs("app"), h.addrs("proxy")
	if app[0] != "10.101.0.2" || proxy[0] != "10.101.0.3" {
		t.Fatalf("addresses app %v, proxy %v", app, proxy)
	}
	for _, addr := range []string{"10.101.0.2:80", "10.202.0.10:80", "app:80"} {
		waitFor(t, "proxy to reach app at "+addr, 10*time.Second, func() bool {
			out, ok := h.dialFrom("proxy", "tcp", addr)
			return ok && strings.HasPrefix(out, "app ")
		})
	}
	// From a chosen source port too (the attack below needs it to work).
	if out, ok := h.dialFrom("proxy", "tcp", "10.101.0.2:80", ":81"); !ok || !strings.HasPrefix(out, "app ") {
		t.Errorf("proxy from source port 81 to app: %q, %v", out, ok)
	}
	if out, ok := h.dialFrom("proxy", "tcp", "10.101.0.2:81"); ok || strings.HasPrefix(out, "app") {
		t.Errorf("proxy got an answer from app's 81, where nothing listens: %q", out)
	}
	h.serveInContainer("app", "tcp", "8080", "app8080")
	waitFor(t, "app's second server", 10*time.Second, func() bool {
		return h.run("run", "app", "--", "/probe/probe", "dial", "tcp", "127.0.0.1:8080").code == 0
	})
	for _, addr := range []string{"10.101.0.2:8080", "10.202.0.10:8080"} {
		if out, ok := h.dialFrom("proxy", "tcp", addr); ok {
			t.Errorf("proxy reached app on a port the link does not name (%s): %q", addr, out)
		}
	}
	// The other way: app reaches none of proxy's ports, not even from
	// an allowed port (81) as its source port.
	for _, addr := range []string{"10.101.0.3:82", proxy[1] + ":82"} {
		if out, ok := h.dialFrom("app", "tcp", addr); ok {
			t.Errorf("app reached proxy at %s: %q", addr, out)
		}
		if out, ok := h.dialFrom("app", "tcp", addr, ":81"); ok {
			t.Errorf("app reached proxy at %s from source port 81: %q", addr, out)
		}
	}
	// A third container: blocked, and the name does not resolve.
	for _, addr := range []string{"10.101.0.2:80", "10.202.0.10:80"} {
		if out, ok := h.dialFrom("other", "tcp", addr); ok {
			t.Errorf("other reached app at %s: %q", addr, out)
		}
	}
	if r := h.run("run", "other", "--", "/probe/probe", "dial", "tcp", "app:80"); r.code == 0 || !strings.Contains(r.stderr, "no such host") {
		t.Errorf("the name app in other: exit %d, %q (want: no such host)", r.code, r.stderr)
	}
	if r := h.run("run", "app", "--", "/probe/probe", "dial", "tcp", "proxy:82"); !strings.Contains(r.stderr, "no such host") {
		t.Errorf("the name proxy in app: exit %d, %q (want: no such host)", r.code, r.stderr)
	}
	// Nor does the internet bridge's DNS tell anyone a container's name.
	for _, q := range []string{"app", "proxy", "other"} {
		if r := h.run("run", "other", "--", "nslookup", "-type=a", q, "10.202.0.1"); r.code == 0 || strings.Contains(r.stdout, "10.") && strings.Contains(r.stdout, "Name:") {
			t.Errorf("dnsmasq told other the address of %s: %s", q, r.stdout)
		}
	}

	// list --json shows the link on both bridges, for both ends.
	var list []struct {
		Name  string
		Links []struct {
			From, To string
			Ports    []string
			Bridges  []string
			Note     string
		}
	}
	if err := json.Unmarshal([]byte(h.must("list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		want := map[string]int{"app": 1, "proxy": 1, "other": 0}[c.Name]
		if len(c.Links) != want {
			t.Errorf("list --json: %s has links %+v, want %d", c.Name, c.Links, want)
			continue
		}
		if want == 1 {
			l := c.Links[0]
			if l.From != "proxy" || l.To != "app" || strings.Join(l.Ports, " ") != "tcp/80 tcp/81" || strings.Join(l.Bridges, " ") != "brNC-hostonly brNC-internet" || l.Note != "" {
				t.Errorf("list --json: %s's link %+v", c.Name, l)
			}
		}
	}
	if out := h.must("host", "status"); !strings.Contains(out, "link proxy -> app") {
		t.Errorf("host status does not check the link:\n%s", out)
	}

	// Rollback: app's generation without the link. It restarts (its
	// host-side settings changed), and proxy is blocked again.
	h.must("rollback", "app")
	h.serveInContainer("app", "tcp", "80", "app")
	waitFor(t, "app's server after the rollback", 10*time.Second, func() bool {
		return h.run("run", "app", "--", "/probe/probe", "dial", "tcp", "127.0.0.1:80").code == 0
	})
	for _, addr := range []string{"10.101.0.2:80", "10.202.0.10:80"} {
		if out, ok := h.dialFrom("proxy", "tcp", addr); ok {
			t.Errorf("after the rollback proxy still reached app at %s: %q", addr, out)
		}
	}
	if hosts := h.sh("proxy", "cat /etc/hosts"); strings.Contains(hosts, " app\n") {
		t.Errorf("after the rollback proxy's hosts file still names app:\n%s", hosts)
	}
	// (A DNS query may time out while the bridge settles after app's
	// restart; the answer that counts is dnsmasq's "not found".)
	waitFor(t, "the name app to stop resolving in proxy", 20*time.Second, func() bool {
		r := h.run("run", "proxy", "--", "/probe/probe", "dial", "tcp", "app:80")
		return r.code != 0 && strings.Contains(r.stderr, "no such host")
	})

	// Teardown leaves no table, chain, bridge or veth.
	for _, c := range []string{"app", "proxy", "other"} {
		h.must("stop", c)
	}
	h.must("host", "teardown")
	if out := inNetns(t, h.netns, "nft", "list", "ruleset"); strings.Contains(out, "nixcloud") {
		t.Errorf("nftables after teardown:\n%s", out)
	}
	if out, _ := exec.Command("ip", "-n", h.netns, "-br", "link").Output(); strings.Contains(string(out), "brNC") {
		t.Errorf("bridges after teardown:\n%s", out)
	}
}

// TestLinksSlotReuse: when the allowed container is destroyed, a new
// container that gets its slot (and so its veth names and addresses)
// does not inherit the link, not even one way (a datagram app would see);
// the link names a missing container again.
func TestLinksSlotReuse(t *testing.T) {
	h := newHost(t, "")
	allow := `network.allowFrom = [ { container = "proxy"; ports = [ "tcp/80" "udp/5353" ]; } ];`
	h.must("create", "proxy", h.busyboxFile("proxy.nix", "", probeMount()), "--start")
	h.must("create", "app", h.busyboxFile("app.nix", "", probeMount()+allow), "--start")
	h.sh("app", "/probe/probe serve udp 5353 app >>/run/seen 2>&1 &")
	waitFor(t, "proxy to reach app", 10*time.Second, func() bool {
		out, ok := h.dialFrom("proxy", "udp", "10.101.0.3:5353")
		return ok && strings.HasPrefix(out, "app ")
	})
	h.must("destroy", "proxy", "--force")
	h.must("create", "evil", h.busyboxFile("evil.nix", "", probeMount()), "--start")
	if a := h.addrs("evil"); a[0] != "10.101.0.2" {
		t.Fatalf("evil did not get proxy's slot: %v", a)
	}
	h.sh("app", ": > /run/seen")
	// The attacker knows app's MAC (it follows from the slot): no ARP
	// answer needed.
	mac := strings.TrimSpace(h.sh("app", "cat /sys/class/net/hostonly/address"))
	h.sh("evil", "arp -s 10.101.0.3 "+mac+" -i hostonly")
	for i := 0; i < 3; i++ {
		if out, ok := h.dialFrom("evil", "udp", "10.101.0.3:5353"); ok {
			t.Errorf("evil, on proxy's old slot, reached app: %q", out)
		}
	}
	if seen := h.sh("app", "cat /run/seen"); seen != "" {
		t.Errorf("app heard from evil, on proxy's old slot: %q", seen)
	}
	var list []struct {
		Name  string
		Links []struct{ From, Note string }
	}
	if err := json.Unmarshal([]byte(h.must("list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Name == "app" && (len(c.Links) != 1 || !strings.Contains(c.Links[0].Note, "does not exist")) {
			t.Errorf("app's links after proxy went: %+v", c.Links)
		}
	}
}
