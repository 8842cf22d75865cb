package filters

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/internal/golden"
)

func testHost() Host {
	return Host{Table: TableName("brNC-hostonly"), Bridges: []Bridge{
		{Name: "brNC-hostonly", Isolated: true, Subnets: []netip.Prefix{netip.MustParsePrefix("10.101.0.1/16")},
			Services: []Service{{"tcp", 5432}}},
		{Name: "brNC-internet", Isolated: true,
			Subnets:  []netip.Prefix{netip.MustParsePrefix("10.202.0.1/16"), netip.MustParsePrefix("fd42:4e43::1/64")},
			Services: []Service{{"udp", 67}, {"udp", 53}, {"tcp", 53}}},
	}}
}

func testPorts() []Port {
	return []Port{
		{Container: "web", Veth: "nc3h", MAC: "02:4e:43:00:00:30", IPv4: netip.MustParseAddr("10.101.0.2"), Isolated: true,
			Links: []Link{{From: "proxy", Veth: "nc5h", Services: []Service{{"tcp", 80}, {"tcp", 443}}}, {From: "sso", Veth: "nc6h", Services: []Service{{"udp", 53}}}},
			Peers: []string{"nc6h", "nc7h"}},
		{Container: "web", Veth: "nc3i", MAC: "02:4E:43:00:00:31", IPv4: netip.MustParseAddr("10.202.0.13"),
			IPv6: []netip.Addr{netip.MustParseAddr("fd42:4e43::4e:43ff:fe00:31")}, DHCP: true},
		{Container: "lan", Veth: "nc4h", MAC: "02:4e:43:00:00:40", IPv4: netip.MustParseAddr("192.168.1.50"), AnyIPv6: true},
	}
}

func TestRenderGolden(t *testing.T) {
	host, err := RenderHost(testHost())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "host", host)
	var ports strings.Builder
	for _, p := range testPorts() {
		s, err := RenderPort(TableName("brNC-hostonly"), p)
		if err != nil {
			t.Fatal(err)
		}
		ports.WriteString(s)
	}
	golden.Check(t, "ports", ports.String())
	rm, err := RenderRemovePort(TableName("brNC-hostonly"), "nc3h")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "remove-port", rm)
	// A neighbour's start renders the port's links again, without it.
	p := testPorts()[0]
	p.Links, p.Peers = p.Links[:1], nil
	eg, err := RenderEgress(TableName("brNC-hostonly"), p)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "egress", eg)
}

func TestRenderRefusesBadInput(t *testing.T) {
	table := TableName("brNC-hostonly")
	good := testPorts()[0]
	for _, tc := range []struct {
		name string
		p    Port
	}{
		{"veth with a space", Port{Veth: "nc3h drop", MAC: good.MAC}},
		{"long veth", Port{Veth: "nc1234567890123h", MAC: good.MAC}},
		{"bad MAC", Port{Veth: "nc3h", MAC: "02:4e:43:00:00"}},
		{"MAC with a rule", Port{Veth: "nc3h", MAC: "02:4e:43:00:00:30 accept"}},
		{"IPv6 as IPv4", Port{Veth: "nc3h", MAC: good.MAC, IPv4: netip.MustParseAddr("fd00::1")}},
		{"IPv4 as IPv6", Port{Veth: "nc3h", MAC: good.MAC, IPv6: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}},
		{"link veth with a rule", Port{Veth: "nc3h", MAC: good.MAC, Isolated: true, Links: []Link{{Veth: `nc5h" accept`, Services: []Service{{"tcp", 80}}}}}},
		{"link to itself", Port{Veth: "nc3h", MAC: good.MAC, Isolated: true, Links: []Link{{Veth: "nc3h", Services: []Service{{"tcp", 80}}}}}},
		{"link with a bad service", Port{Veth: "nc3h", MAC: good.MAC, Isolated: true, Links: []Link{{Veth: "nc5h", Services: []Service{{"icmp", 80}}}}}},
		{"peer veth with a rule", Port{Veth: "nc3h", MAC: good.MAC, Isolated: true, Peers: []string{"nc5h accept"}}},
	} {
		if _, err := RenderPort(table, tc.p); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	h := testHost()
	h.Bridges[0].Name = `br0" accept`
	if _, err := RenderHost(h); err == nil {
		t.Error("a bridge name with a quote was accepted")
	}
}

func TestParseService(t *testing.T) {
	for in, want := range map[string]error{
		"tcp/5432": nil, "udp/53": nil, "tcp/0": ErrInvalidService, "sctp/1": ErrInvalidService,
		"tcp/65536": ErrInvalidService, "tcp": ErrInvalidService, "tcp/x": ErrInvalidService, "": ErrInvalidService,
	} {
		s, err := ParseService(in)
		if !errors.Is(err, want) {
			t.Errorf("ParseService(%q): %v, want %v", in, err, want)
		}
		if err == nil && s.String() != in {
			t.Errorf("ParseService(%q).String() = %q", in, s)
		}
	}
}

// TestScriptsApply feeds every script to the real nft in a network
// namespace of its own (unshare -n), in the order the tool uses them, and
// twice where the tool may repeat them.
func TestScriptsApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: nft in a new network namespace")
	}
	nft, err := nftPath()
	if err != nil {
		t.Fatal(err)
	}
	table := TableName("brNC-hostonly")
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	host := must(RenderHost(testHost()))
	var steps []string
	for _, p := range testPorts() {
		steps = append(steps, must(RenderPort(table, p)))
	}
	rm := must(RenderRemovePort(table, "nc3h"))
	p := testPorts()[0]
	p.Peers = nil
	steps = append(steps, must(RenderEgress(table, p)))
	down := must(RenderTeardown(table))
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("set -e\n")
	for i, s := range []string{host, steps[0], steps[1], steps[0], steps[3], host, rm, rm, down, down, host, steps[1], steps[0], steps[3]} {
		f := filepath.Join(dir, strings.Repeat("s", i+1))
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		script.WriteString(nft + " -f " + f + "\n")
	}
	script.WriteString(nft + " list ruleset\n")
	out, err := exec.Command("unshare", "-n", "sh", "-c", script.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	ruleset := string(out)
	for _, want := range []string{`"nc3i" : jump port_nc3i`, "ip daddr 127.0.0.0/8 drop", "@th,288,48 != 0x24e43000031 drop", "oifname vmap @egress",
		`iifname "nc5h" ip daddr 10.101.0.2 meta l4proto . th dport { tcp . 80, tcp . 443 } meta mark set meta mark | 0x04000000 accept`,
		`iifname "nc5h" ip6 daddr fe80::/10 meta l4proto . th dport { tcp . 80, tcp . 443 } meta mark set meta mark | 0x04000000 accept`,
		"ct state established,related meta mark set meta mark | 0x02000000"} {
		if !strings.Contains(ruleset, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, ruleset)
		}
	}
	// The last render of nc3h's links has no peers.
	if strings.Contains(ruleset, `iifname "nc7h"`) {
		t.Errorf("a dropped peer is still there:\n%s", ruleset)
	}
}
