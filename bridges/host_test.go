package bridges

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/internal/golden"
)

type fakeHost struct {
	*host
	fw4, fw6 *fakeFirewall
	nl       *fakeNet
	sc       *fakeSysctl
	dhcp     *fakeDHCP
	nft      *fakeNft
}

func newFakeHost(cfg hostconfig.Config) *fakeHost {
	f := &fakeHost{fw4: newFakeFirewall(), fw6: newFakeFirewall(), nl: newFakeNet("eth0"), sc: newFakeSysctl(), dhcp: newFakeDHCP(), nft: newFakeNft()}
	f.host = &host{cfg: cfg, net: f.nl, sys: f.sc, ipt4: f.fw4, ipt6: f.fw6, dns: f.dhcp, nft: f.nft}
	return f
}

func (f *fakeHost) dump() string {
	return "links:\n" + f.nl.dump() + "ip4:\n" + f.fw4.dump() + "ip6:\n" + f.fw6.dump() + "nft tables:\n" + f.nft.dump()
}

func TestSetupIdempotentAndTeardown(t *testing.T) {
	cfg := testConfig(t)
	cfg.Internet.IPv6.Prefix = "fd00:1::/64"
	f := newFakeHost(cfg)
	pristine := f.dump()
	if err := f.setup(true, true, nil); err != nil {
		t.Fatal(err)
	}
	first := f.dump()
	if err := f.setup(true, true, nil); err != nil {
		t.Fatal(err)
	}
	if again := f.dump(); again != first {
		t.Errorf("second setup changed state:\n--- first\n%s--- again\n%s", first, again)
	}
	if err := f.setup(true, false, nil); err != nil {
		t.Fatal(err)
	}
	if again := f.dump(); again != first {
		t.Errorf("ensure after setup changed state")
	}
	for _, want := range []string{
		"brNC-hostonly bridge=true up=true addrs=[10.101.0.1/16]",
		"brNC-internet bridge=true up=true addrs=[10.202.0.1/16 fd00:1::1/64] routes=[fd00:1::/64]",
		"nat/POSTROUTING:\n  -m comment --comment \"nixcloud-container bridge brNC-internet\" -j NCC-brNC-internet-POST\n  -m comment --comment \"nixcloud-container bridge brNC-hostonly\" -j NCC-brNC-hostonly-POST\n",
		"-o eth0 -m comment",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("state lacks %q:\n%s", want, first)
		}
	}
	// accept_ra=2 on the uplink must come before IPv6 forwarding.
	log := strings.Join(f.sc.log, " ")
	ra, fwd := strings.Index(log, "net/ipv6/conf/eth0/accept_ra=2"), strings.Index(log, "net/ipv6/conf/all/forwarding=1")
	if ra < 0 || fwd < 0 || ra > fwd {
		t.Errorf("sysctl order wrong: %s", log)
	}
	if len(f.dhcp.running) != 1 {
		t.Errorf("dnsmasq instances = %d, want 1", len(f.dhcp.running))
	}
	st, err := f.status()
	if err != nil {
		t.Fatal(err)
	}
	if !st.OK() {
		t.Errorf("status after setup not OK:\n%s", st)
	}

	// Forwards and a lease survive a rebuild of the host chains.
	if err := f.addForwards("web", netip.MustParseAddr("10.202.0.10"), netip.MustParseAddr("fd00:1::5"), []Forward{{"tcp", 8080, 80}}); err != nil {
		t.Fatal(err)
	}
	if err := f.addLease("web", MAC(0, 1), netip.MustParseAddr("10.202.0.10"), netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := f.setup(true, true, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.fw4.dump(), "-j NCC-web-DNAT") || !strings.Contains(f.fw6.dump(), "-j NCC-web-DNAT") {
		t.Errorf("setup dropped the container's forward jump:\n%s", f.dump())
	}

	if err := f.teardown(); err != nil {
		t.Fatal(err)
	}
	if got := f.dump(); got != pristine {
		t.Errorf("teardown left state:\n--- got\n%s--- want\n%s", got, pristine)
	}
	if len(f.dhcp.running) != 0 {
		t.Errorf("dnsmasq still running after teardown")
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "dnsmasq")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dnsmasq files left: %v", err)
	}
	if err := f.teardown(); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	st, err = f.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range st.Items {
		if it.Present && !strings.HasPrefix(it.Name, "sysctl") {
			t.Errorf("after teardown %q still present", it.Name)
		}
	}
}

func TestEnsureForStartHostonlyOnly(t *testing.T) {
	f := newFakeHost(testConfig(t))
	if err := f.setup(false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.nl.links["brNC-internet"]; ok {
		t.Errorf("internet bridge created without need")
	}
	if len(f.dhcp.running) != 0 {
		t.Errorf("dnsmasq started without need")
	}
	golden.Check(t, "ensure-hostonly-state", f.dump())
}

func TestEnsureForStartRestartsDnsmasq(t *testing.T) {
	f := newFakeHost(testConfig(t))
	if err := f.setup(true, true, nil); err != nil {
		t.Fatal(err)
	}
	for k := range f.dhcp.running {
		delete(f.dhcp.running, k) // killed behind our back
	}
	if err := f.setup(true, false, nil); err != nil {
		t.Fatal(err)
	}
	if len(f.dhcp.running) != 1 {
		t.Errorf("dnsmasq not brought back")
	}
}

func TestEnsureRepairsDamagedChain(t *testing.T) {
	f := newFakeHost(testConfig(t))
	if err := f.setup(true, true, nil); err != nil {
		t.Fatal(err)
	}
	want := f.fw4.dump()
	f.fw4.chains["nat/NCC-brNC-internet-POST"] = f.fw4.chains["nat/NCC-brNC-internet-POST"][1:]
	if err := f.setup(true, false, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.fw4.dump(); got != want {
		t.Errorf("damaged chain not repaired:\n%s", got)
	}
}

func TestForwardsAddRemove(t *testing.T) {
	f := newFakeHost(testConfig(t))
	before := f.dump()
	fw := []Forward{{"tcp", 8080, 80}, {"udp", 5353, 53}}
	if err := f.addForwards("web", netip.MustParseAddr("10.101.0.2"), netip.Addr{}, fw); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps exactly one copy.
	if err := f.addForwards("web", netip.MustParseAddr("10.101.0.2"), netip.Addr{}, fw); err != nil {
		t.Fatal(err)
	}
	if err := f.addForwards("db", netip.MustParseAddr("10.101.0.3"), netip.Addr{}, []Forward{{"tcp", 5432, 5432}}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "forwards-state", f.fw4.dump())
	if f.fw6.dump() != "" {
		t.Errorf("ip6 rules without an IPv6 address:\n%s", f.fw6.dump())
	}
	if err := f.removeForwards("web"); err != nil {
		t.Fatal(err)
	}
	if err := f.removeForwards("web"); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if strings.Contains(f.fw4.dump(), "web") {
		t.Errorf("web forwards left:\n%s", f.fw4.dump())
	}
	if err := f.addForwards("db", netip.Addr{}, netip.Addr{}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.fw4.dump(), "db") {
		t.Errorf("empty forward list should remove db's chain")
	}
	if err := f.teardown(); err != nil {
		t.Fatal(err)
	}
	if got := f.dump(); got != before {
		t.Errorf("teardown left:\n%s", got)
	}
	if err := f.addForwards("x", netip.MustParseAddr("10.101.0.2"), netip.Addr{}, []Forward{{"icmp", 1, 1}}); err == nil {
		t.Errorf("bad protocol accepted")
	}
}

func TestLeases(t *testing.T) {
	cfg := testConfig(t)
	f := newFakeHost(cfg)
	if err := f.setup(true, true, nil); err != nil {
		t.Fatal(err)
	}
	pid := f.dhcp.running[pathsFor(cfg, cfg.Internet.Bridge).Pid]
	if err := f.addLease("web", MAC(3, 1), netip.MustParseAddr("10.202.0.13"), netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(cfg.StateDir, "dnsmasq", "brNC-internet", "hosts", "web")
	b, err := os.ReadFile(file)
	if err != nil || string(b) != "02:4e:43:00:00:31,10.202.0.13\n" {
		t.Errorf("hosts file = %q, %v", b, err)
	}
	if err := f.removeLease("web"); err != nil {
		t.Fatal(err)
	}
	if err := f.removeLease("web"); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Errorf("hosts file left")
	}
	want := []string{itoa(pid) + " hangup", itoa(pid) + " hangup"}
	if strings.Join(f.dhcp.signals, ",") != strings.Join(want, ",") {
		t.Errorf("signals = %v, want %v", f.dhcp.signals, want)
	}
	if err := f.addLease("../x", MAC(3, 1), netip.Addr{}, netip.Addr{}); err == nil {
		t.Errorf("bad name accepted")
	}
	if err := f.addLease("web", "nope", netip.Addr{}, netip.Addr{}); err == nil {
		t.Errorf("bad MAC accepted")
	}
}

func TestStatusText(t *testing.T) {
	f := newFakeHost(testConfig(t))
	if err := f.setup(false, true, nil); err != nil {
		t.Fatal(err)
	}
	st, err := f.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.OK() {
		t.Errorf("status OK without the internet bridge")
	}
	golden.Check(t, "status-hostonly", st.String())
}

func itoa(i int) string { return strconv.Itoa(i) }
