package containers

import (
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/bridges"
	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/records"
)

func hostonlyRec(name string, slot int, ip string) *records.Record {
	return &records.Record{Name: name, Slot: slot, Interfaces: []records.Interface{
		{Name: "hostonly", Bridge: "brNC-hostonly", HostVeth: bridges.HostVeth(slot, "hostonly"), MAC: bridges.MAC(slot, 0), IPv4: ip},
	}}
}

func TestPlanInterfaces(t *testing.T) {
	cfg := hostconfig.Default()
	v6 := hostconfig.Default()
	v6.Internet.IPv6.Prefix = "fd42:4e43::/64"
	others := []*records.Record{
		hostonlyRec("a", 0, "10.101.0.2/16"),
		hostonlyRec("b", 1, "10.101.0.4/16"),
		{Name: "u", Slot: 2, Interfaces: []records.Interface{{Name: "hostonly", Bridge: "br-user", IPv4: "192.168.7.5/24"}}},
	}
	tests := []struct {
		name    string
		cfg     hostconfig.Config
		self    *records.Record
		net     generations.Network
		want    string // interfaces as "name bridge veth mac ipv4 ipv6;"
		wantErr string
	}{
		{name: "lowest free", cfg: cfg, self: &records.Record{Name: "c", Slot: 3},
			want: "hostonly brNC-hostonly nc3h 02:4e:43:00:00:30 10.101.0.3/16 ;"},
		{name: "keeps the address it holds", cfg: cfg, self: hostonlyRec("c", 3, "10.101.0.9/16"),
			want: "hostonly brNC-hostonly nc3h 02:4e:43:00:00:30 10.101.0.9/16 ;"},
		{name: "fixed", cfg: cfg, self: hostonlyRec("c", 3, "10.101.0.9/16"), net: generations.Network{IP: "10.101.0.50"},
			want: "hostonly brNC-hostonly nc3h 02:4e:43:00:00:30 10.101.0.50/16 ;"},
		{name: "fixed taken", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{IP: "10.101.0.4"},
			wantErr: `already in use by container "b"`},
		{name: "fixed outside", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{IP: "10.99.0.4"},
			wantErr: "not usable"},
		{name: "nat", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{EnableNat: true},
			want: "hostonly brNC-hostonly nc3h 02:4e:43:00:00:30 10.101.0.3/16 ;internet brNC-internet nc3i 02:4e:43:00:00:31 10.202.0.13/16 ;"},
		{name: "nat with ipv6", cfg: v6, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{EnableNat: true},
			want: "hostonly brNC-hostonly nc3h 02:4e:43:00:00:30 10.101.0.3/16 ;internet brNC-internet nc3i 02:4e:43:00:00:31 10.202.0.13/16 fd42:4e43::4e:43ff:fe00:31/64;"},
		{name: "own bridge", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{Bridge: "br-user", IP: "192.168.7.6/24"},
			want: "hostonly br-user nc3h 02:4e:43:00:00:30 192.168.7.6/24 ;"},
		{name: "own bridge without prefix", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{Bridge: "br-user", IP: "192.168.7.6"},
			wantErr: "prefix length"},
		{name: "own bridge without ip", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{Bridge: "br-user"},
			wantErr: "set network.ip"},
		{name: "own bridge taken", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{Bridge: "br-user", IP: "192.168.7.5/24"},
			wantErr: `already in use by container "u"`},
		{name: "internet bridge", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{Bridge: "brNC-internet", IP: "10.202.0.5/16"},
			wantErr: "enableNat"},
		{name: "bad bridge name", cfg: cfg, self: &records.Record{Name: "c", Slot: 3}, net: generations.Network{Bridge: "a-name-far-too-long", IP: "10.0.0.2/8"},
			wantErr: "network.bridge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := append(append([]*records.Record{}, others...), tt.self)
			nics, err := planInterfaces(tt.cfg, recs, tt.self, &generations.Settings{Network: tt.net})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, n := range nics {
				got.WriteString(strings.Join([]string{n.Name, n.Bridge, n.HostVeth, n.MAC, n.IPv4, n.IPv6}, " ") + ";")
			}
			if got.String() != tt.want {
				t.Fatalf("got  %s\nwant %s", got.String(), tt.want)
			}
		})
	}
}

func TestGuestInputAndLXCInterfaces(t *testing.T) {
	rec := &records.Record{Name: "c", Interfaces: []records.Interface{
		{Name: "hostonly", Bridge: "brNC-hostonly", HostVeth: "nc3h", MAC: "m0", IPv4: "10.101.0.3/16"},
		{Name: "internet", Bridge: "brNC-internet", HostVeth: "nc3i", MAC: "m1", IPv4: "10.202.0.13/16", IPv6: "fd42::1/64"},
	}}
	in := guestInput("/f.nix", rec)
	if in.IP != "10.101.0.3" || in.PrefixLength != 16 || !in.EnableNat || in.Name != "c" || in.File != "/f.nix" {
		t.Fatalf("guest input %+v", in)
	}
	nics := lxcInterfaces(rec)
	if len(nics) != 2 || nics[0].IPv4 != "10.101.0.3/16" || nics[1].IPv4 != "" || nics[1].IPv6 != "" || nics[1].HostVeth != "nc3i" {
		t.Fatalf("LXC interfaces %+v: LXC sets hostonly only, internet is the guest's (DHCP, RA)", nics)
	}
	if got := strings.Join(Addresses(rec), " "); got != "10.101.0.3 10.202.0.13 fd42::1" {
		t.Fatalf("Addresses = %q", got)
	}
}
