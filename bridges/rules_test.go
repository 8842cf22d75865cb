package bridges

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/internal/golden"
)

func goldenConfig(ipv6 bool) hostconfig.Config {
	cfg := hostconfig.Default()
	cfg.StateDir = "/var/lib/nixcloud-container"
	if ipv6 {
		cfg.Internet.IPv6.Prefix = "fd00:1::/64"
	}
	return cfg
}

func TestHostPlanGolden(t *testing.T) {
	tests := []struct {
		name     string
		ipv6     bool
		uplink   string
		internet bool
	}{
		{"plan-hostonly", false, "", false},
		{"plan-internet", false, "eth0", true},
		{"plan-internet-ipv6", true, "eth0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planHost(goldenConfig(tt.ipv6), tt.uplink, tt.internet)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tt.name, renderChains("ip4", p.V4)+renderChains("ip6", p.V6))
		})
	}
}

func TestHostPlanNoUplinkMasqueradesEverywhere(t *testing.T) {
	p, err := planHost(goldenConfig(false), "", true)
	if err != nil {
		t.Fatal(err)
	}
	text := renderChains("ip4", p.V4)
	if !strings.Contains(text, "-s 10.202.0.0/16 ! -d 10.202.0.0/16 -m comment") {
		t.Errorf("masquerade without uplink should match any output interface:\n%s", text)
	}
}

func TestForwardsGolden(t *testing.T) {
	fwds := []Forward{{"tcp", 8080, 80}, {"udp", 5353, 53}}
	got := renderChains("ip4", []chainSpec{planForwards("web", netip.MustParseAddr("10.202.0.10"), fwds)}) +
		renderChains("ip6", []chainSpec{planForwards("web", netip.MustParseAddr("fd00:1::4e:43ff:fe00:1"), fwds)})
	golden.Check(t, "forwards", got)
}

func TestForwardValidate(t *testing.T) {
	for _, f := range []Forward{{"sctp", 1, 1}, {"tcp", 0, 80}, {"udp", 80, 65536}} {
		if err := f.validate(); err == nil {
			t.Errorf("%+v: want error", f)
		}
	}
	if err := (Forward{"tcp", 80, 8080}).validate(); err != nil {
		t.Errorf("valid forward: %v", err)
	}
}

func TestDnsmasqArgsGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  hostconfig.Config
	}{
		{"dnsmasq-args", goldenConfig(false)},
		{"dnsmasq-args-ipv6", goldenConfig(true)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args, err := dnsmasqArgs(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tt.name, strings.Join(args, "\n")+"\n")
		})
	}
	cfg := goldenConfig(true)
	cfg.Internet.IPv6.Nameservers = []string{"2001:db8::53", "2001:db8::54"}
	args, _ := dnsmasqArgs(cfg)
	if last := args[len(args)-1]; last != "--dhcp-option=option6:dns-server,[2001:db8::53],[2001:db8::54]" {
		t.Errorf("nameservers: last arg %q", last)
	}
}

func TestHostsLine(t *testing.T) {
	got := hostsLine("02:4e:43:00:00:01", netip.MustParseAddr("10.202.0.10"), netip.Addr{})
	if got != "02:4e:43:00:00:01,10.202.0.10\n" {
		t.Errorf("hostsLine = %q", got)
	}
	got = hostsLine("02:4e:43:00:00:01", netip.MustParseAddr("10.202.0.10"), netip.MustParseAddr("fd00::1"))
	if got != "02:4e:43:00:00:01,10.202.0.10,[fd00::1]\n" {
		t.Errorf("hostsLine v6 = %q", got)
	}
}

func TestIsOurDnsmasq(t *testing.T) {
	p := pathsFor(goldenConfig(false), "brNC-internet")
	ok := []byte("/usr/sbin/dnsmasq\x00--keep-in-foreground\x00--conf-file=" + p.Conf + "\x00")
	if !isOurDnsmasq(ok, p) {
		t.Errorf("own dnsmasq not recognised")
	}
	for _, bad := range []string{"", "/usr/sbin/dnsmasq\x00--conf-file=/etc/other\x00", "/bin/sh\x00--conf-file=" + p.Conf + "\x00"} {
		if isOurDnsmasq([]byte(bad), p) {
			t.Errorf("%q taken for our dnsmasq", bad)
		}
	}
}
