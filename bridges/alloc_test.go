package bridges

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/records"
)

// testConfig is the default host config with state in a folder other
// users can reach (dnsmasq reads it unprivileged).
func testConfig(t *testing.T) hostconfig.Config {
	t.Helper()
	dir, err := os.MkdirTemp("", "bridges-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := hostconfig.Default()
	cfg.StateDir = dir
	return cfg
}

func rec(name string, addrs ...string) *records.Record {
	r := &records.Record{Name: name}
	for _, a := range addrs {
		r.Interfaces = append(r.Interfaces, records.Interface{Name: "hostonly", IPv4: a})
	}
	return r
}

func TestHostVethAndMAC(t *testing.T) {
	tests := []struct {
		slot int
		nic  string
		want string
	}{
		{0, NICHostonly, "nc0h"},
		{7, NICInternet, "nc7i"},
		{999999999999, NICInternet, "nc999999999999i"},
	}
	for _, tt := range tests {
		if got := HostVeth(tt.slot, tt.nic); got != tt.want || len(got) > 15 {
			t.Errorf("HostVeth(%d, %q) = %q, want %q", tt.slot, tt.nic, got, tt.want)
		}
	}
	seen := map[string]bool{}
	for slot := 0; slot < 2000; slot++ {
		for nic := 0; nic < 2; nic++ {
			m := MAC(slot, nic)
			if seen[m] {
				t.Fatalf("MAC(%d, %d) = %s: duplicate", slot, nic, m)
			}
			seen[m] = true
			if !strings.HasPrefix(m, "02:4e:43:") || len(m) != 17 {
				t.Fatalf("MAC(%d, %d) = %s: want 02:4e:43:xx:xx:xx", slot, nic, m)
			}
		}
	}
	if got := MAC(5, 1); got != "02:4e:43:00:00:51" {
		t.Errorf("MAC(5, 1) = %s, want 02:4e:43:00:00:51", got)
	}
}

func TestChainName(t *testing.T) {
	if got := chainName("brNC-internet", "POST"); got != "NCC-brNC-internet-POST" {
		t.Errorf("chainName = %q", got)
	}
	long := containerChain("a-very-long-container-name-that-goes-on")
	if len(long) > maxChainLen || !strings.HasPrefix(long, "NCC-") || !strings.HasSuffix(long, "-DNAT") {
		t.Errorf("containerChain(long) = %q (%d chars)", long, len(long))
	}
	if long == containerChain("a-very-long-container-name-that-goes-on2") {
		t.Errorf("hashed chain names collide")
	}
}

func TestAllocateHostonly(t *testing.T) {
	cfg := hostconfig.Default()
	tests := []struct {
		name    string
		recs    []*records.Record
		fixed   string
		self    string
		want    string
		wantErr error
		errText string
	}{
		{name: "first", want: "10.101.0.2/16"},
		{name: "lowest free", recs: []*records.Record{rec("a", "10.101.0.2/16"), rec("b", "10.101.0.4/16")}, want: "10.101.0.3/16"},
		{name: "reuses freed", recs: []*records.Record{rec("b", "10.101.0.3/16")}, want: "10.101.0.2/16"},
		{name: "self ignored", recs: []*records.Record{rec("a", "10.101.0.2/16")}, self: "a", want: "10.101.0.2/16"},
		{name: "fixed", fixed: "10.101.0.50", want: "10.101.0.50/16"},
		{name: "fixed with prefix", fixed: "10.101.3.4/16", want: "10.101.3.4/16"},
		{name: "fixed taken", recs: []*records.Record{rec("web", "10.101.0.50/16")}, fixed: "10.101.0.50", wantErr: ErrAddressTaken, errText: `"web"`},
		{name: "fixed taken by self is fine", recs: []*records.Record{rec("web", "10.101.0.50/16")}, fixed: "10.101.0.50", self: "web", want: "10.101.0.50/16"},
		{name: "fixed outside", fixed: "10.102.0.5", wantErr: ErrOutsideSubnet},
		{name: "fixed bridge address", fixed: "10.101.0.1", wantErr: ErrOutsideSubnet, errText: "bridge"},
		{name: "fixed network", fixed: "10.101.0.0", wantErr: ErrOutsideSubnet},
		{name: "fixed broadcast", fixed: "10.101.255.255", wantErr: ErrOutsideSubnet},
		{name: "fixed wrong length", fixed: "10.101.0.9/24", errText: "prefix length"},
		{name: "fixed garbage", fixed: "nope", errText: "want an IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AllocateHostonly(cfg, tt.recs, tt.fixed, tt.self)
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("got %s, want error", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q does not mention %q", err, tt.errText)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestAllocateHostonlyExhausted(t *testing.T) {
	cfg := hostconfig.Default()
	cfg.Hostonly.Address = "192.168.5.1/29" // .2 .. .6 usable
	var recs []*records.Record
	for _, a := range []string{"192.168.5.2", "192.168.5.3", "192.168.5.4", "192.168.5.5"} {
		recs = append(recs, rec("c"+a[len(a)-1:], a+"/29"))
	}
	got, err := AllocateHostonly(cfg, recs, "", "")
	if err != nil || got.String() != "192.168.5.6/29" {
		t.Fatalf("got %s, %v; want 192.168.5.6/29", got, err)
	}
	recs = append(recs, rec("c6", "192.168.5.6/29"))
	if _, err := AllocateHostonly(cfg, recs, "", ""); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("err = %v, want ErrPoolExhausted", err)
	}
}

func TestInternetAddresses(t *testing.T) {
	cfg := hostconfig.Default()
	for _, tt := range []struct {
		slot int
		want string
	}{{0, "10.202.0.10"}, {1, "10.202.0.11"}, {300, "10.202.1.54"}} {
		got, err := InternetIPv4(cfg, tt.slot)
		if err != nil || got.String() != tt.want {
			t.Errorf("InternetIPv4(%d) = %s, %v; want %s", tt.slot, got, err, tt.want)
		}
	}
	small := cfg
	small.Internet.DHCPRange = "10.202.0.10-10.202.0.11"
	if _, err := InternetIPv4(small, 2); !errors.Is(err, ErrPoolExhausted) {
		t.Errorf("InternetIPv4 beyond range: err = %v", err)
	}

	if a, err := InternetIPv6(cfg, 3); err != nil || a.IsValid() {
		t.Errorf("InternetIPv6 without prefix = %s, %v; want invalid, nil", a, err)
	}
	cfg.Internet.IPv6.Prefix = "fd00:1::/64"
	a, err := InternetIPv6(cfg, 3)
	want := netip.MustParseAddr("fd00:1::4e:43ff:fe00:31")
	if err != nil || a != want {
		t.Errorf("InternetIPv6(3) = %s, %v; want %s", a, err, want)
	}
	b, _ := InternetIPv6(cfg, 4)
	if a == b {
		t.Errorf("InternetIPv6 not unique per slot")
	}
	cfg.Internet.IPv6.Prefix = "fd00:2::/56"
	cfg.Internet.IPv6.Address = "fd00:2:0:7::1/64"
	if a, _ := InternetIPv6(cfg, 3); a != netip.MustParseAddr("fd00:2:0:7:4e:43ff:fe00:31") {
		t.Errorf("InternetIPv6 with bridge address = %s, want inside the bridge's /64", a)
	}
}
