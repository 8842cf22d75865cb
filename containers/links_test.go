package containers

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/bridges"
	"github.com/nixcloud/nixcloud-container/filters"
	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/records"
)

func allowing(from ...string) *generations.Settings {
	s := &generations.Settings{}
	for _, f := range from {
		s.Network.AllowFrom = append(s.Network.AllowFrom, generations.AllowFrom{Container: f, Ports: []string{"tcp/80"}})
	}
	return s
}

// portLinks renders a port's links as "veth<-from:svc,...;peers".
func portLinks(p *filters.Port) string {
	if p == nil {
		return ""
	}
	var parts []string
	for _, l := range p.Links {
		parts = append(parts, fmt.Sprintf("%s:%v", l.Veth, l.Services))
	}
	return strings.Join(parts, ",") + ";" + strings.Join(p.Peers, ",")
}

func TestPlanLinks(t *testing.T) {
	cfg := hostconfig.Default()
	open := hostconfig.Default()
	open.Hostonly.IsolateContainers = false
	proxy, app, db := hostonlyRec("proxy", 1, "10.101.0.3/16"), hostonlyRec("app", 2, "10.101.0.4/16"), hostonlyRec("db", 3, "10.101.0.5/16")
	user := &records.Record{Name: "user", Slot: 4, Interfaces: []records.Interface{{Name: "hostonly", Bridge: "br-user", HostVeth: "nc4h", IPv4: "192.168.7.5/24"}}}
	recs := []*records.Record{app, db, proxy, user}
	tests := []struct {
		name      string
		cfg       hostconfig.Config
		settings  map[string]*generations.Settings
		app, prox string // portLinks of app's and proxy's hostonly veths
		note      string // of the first link
		hosts     string // proxy's hosts
	}{
		{name: "proxy to app", cfg: cfg, settings: map[string]*generations.Settings{"app": allowing("proxy")},
			app: "nc1h:[tcp/80];", prox: ";nc2h", hosts: "app[10.101.0.4]"},
		{name: "a container that does not exist", cfg: cfg, settings: map[string]*generations.Settings{"app": allowing("ghost")},
			note: `container "ghost" does not exist (yet)`},
		{name: "no shared bridge", cfg: cfg, settings: map[string]*generations.Settings{"app": allowing("user")},
			note: "app share no bridge"},
		{name: "isolation off: moot, names still resolve", cfg: open, settings: map[string]*generations.Settings{"app": allowing("proxy")},
			note: "does not isolate containers", hosts: "app[10.101.0.4]"},
		{name: "two ways", cfg: cfg, settings: map[string]*generations.Settings{"app": allowing("proxy"), "proxy": allowing("app"), "db": allowing("app")},
			app: "nc1h:[tcp/80];nc3h,nc1h", prox: "nc2h:[tcp/80];nc2h", hosts: "app[10.101.0.4]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planLinks(tt.cfg, recs, tt.settings)
			if got := portLinks(plan.ports["nc2h"]); got != tt.app {
				t.Errorf("app's links %q, want %q", got, tt.app)
			}
			if got := portLinks(plan.ports["nc1h"]); got != tt.prox {
				t.Errorf("proxy's links %q, want %q", got, tt.prox)
			}
			if note := plan.links[0].Note; tt.note == "" && note != "" || !strings.Contains(note, tt.note) {
				t.Errorf("note %q, want %q", note, tt.note)
			}
			var hosts []string
			for _, h := range plan.hosts["proxy"] {
				hosts = append(hosts, fmt.Sprintf("%s%v", h.Name, h.Addrs))
			}
			if got := strings.Join(hosts, " "); got != tt.hosts {
				t.Errorf("proxy's hosts %q, want %q", got, tt.hosts)
			}
			if len(plan.hosts["db"]) != 0 && tt.name != "two ways" {
				t.Errorf("db may reach %v", plan.hosts["db"])
			}
		})
	}
}

func TestHostsText(t *testing.T) {
	got := string(hostsText(hostonlyRec("proxy", 1, "10.101.0.3/16"), []hostName{{Name: "app", Addrs: []netip.Addr{netip.MustParseAddr("10.101.0.4")}}}))
	for _, want := range []string{"127.0.0.1 localhost\n", "10.101.0.3 proxy\n", "10.101.0.4 app\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts file lacks %q:\n%s", want, got)
		}
	}
}

func TestWithLinksOnlyIsolated(t *testing.T) {
	plan := planLinks(hostconfig.Default(), []*records.Record{hostonlyRec("proxy", 1, "10.101.0.3/16"), hostonlyRec("app", 2, "10.101.0.4/16")},
		map[string]*generations.Settings{"app": allowing("proxy")})
	ports := plan.withLinks([]filters.Port{{Veth: bridges.HostVeth(2, "hostonly"), Isolated: true}, {Veth: bridges.HostVeth(1, "hostonly")}})
	if len(ports[0].Links) != 1 || len(ports[1].Peers) != 0 {
		t.Errorf("links %+v", ports)
	}
}
