package containers

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nixcloud/nixcloud-container/bridges"
	"github.com/nixcloud/nixcloud-container/filters"
	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
	"github.com/nixcloud/nixcloud-container/records"
)

// Link is one allowed link between containers (network.allowFrom of To):
// From may connect to Ports of To, in that direction only.
type Link struct {
	From  string   `json:"from"`
	To    string   `json:"to"`
	Ports []string `json:"ports"`
	// Bridges are the bridges both containers are on, where the link
	// takes effect (once both run).
	Bridges []string `json:"bridges"`
	// Note says why a link is moot or waiting: From does not exist (yet),
	// the two share no bridge, or a bridge does not isolate containers
	// (everything is open there anyway).
	Note string `json:"note,omitempty"`
}

// linkPlan is every link of the install, resolved to host veths and
// addresses from the records.
type linkPlan struct {
	links []Link
	// ports holds the links of each host veth: who may connect to it
	// (Links) and whom it may connect to (Peers).
	ports map[string]*filters.Port
	// hosts holds, by container, the names it may reach and their
	// addresses (on the bridges they share).
	hosts map[string][]hostName
}

type hostName struct {
	Name  string
	Addrs []netip.Addr
}

// planLinks resolves the network.allowFrom of every container in recs
// (settings by name; a container without readable settings allows
// nothing) to host veths and addresses. Only the tool's bridges with
// isolate_containers get rules: on the others containers reach each other
// anyway.
func planLinks(cfg hostconfig.Config, recs []*records.Record, settings map[string]*generations.Settings) linkPlan {
	plan := linkPlan{ports: map[string]*filters.Port{}, hosts: map[string][]hostName{}}
	byName := map[string]*records.Record{}
	for _, r := range recs {
		if !r.Creating {
			byName[r.Name] = r
		}
	}
	port := func(veth string) *filters.Port {
		if plan.ports[veth] == nil {
			plan.ports[veth] = &filters.Port{Veth: veth}
		}
		return plan.ports[veth]
	}
	for _, to := range recs {
		s := settings[to.Name]
		if to.Creating || s == nil {
			continue
		}
		for _, a := range s.Network.AllowFrom {
			l := Link{From: a.Container, To: to.Name, Ports: a.Ports, Bridges: []string{}}
			from := byName[a.Container]
			switch {
			case from == nil:
				l.Note = fmt.Sprintf("container %q does not exist (yet): the link takes effect when it starts", a.Container)
			case from.Name == to.Name:
				l.Note = "a container always reaches itself"
			}
			if l.Note != "" {
				plan.links = append(plan.links, l)
				continue
			}
			services := make([]filters.Service, 0, len(a.Ports))
			for _, p := range a.Ports {
				if sv, err := filters.ParseService(p); err == nil {
					services = append(services, sv)
				}
			}
			var open []string
			var addrs []netip.Addr
			for _, tn := range to.Interfaces {
				fn := interfaceOnBridge(from, tn.Bridge)
				if fn.HostVeth == "" {
					continue
				}
				l.Bridges = append(l.Bridges, tn.Bridge)
				addrs = appendAddr(appendAddr(addrs, tn.IPv4), tn.IPv6)
				if !isolatedBridge(cfg, tn.Bridge) {
					open = append(open, tn.Bridge)
					continue
				}
				tp := port(tn.HostVeth)
				tp.Links = append(tp.Links, filters.Link{From: from.Name, Veth: fn.HostVeth, Services: services})
				fp := port(fn.HostVeth)
				if !slices.Contains(fp.Peers, tn.HostVeth) {
					fp.Peers = append(fp.Peers, tn.HostVeth)
				}
			}
			switch {
			case len(l.Bridges) == 0:
				l.Note = fmt.Sprintf("%s and %s share no bridge", from.Name, to.Name)
			case len(open) > 0:
				l.Note = fmt.Sprintf("%s does not isolate containers: everything is open there", strings.Join(open, ", "))
			}
			if len(addrs) > 0 {
				plan.hosts[from.Name] = append(plan.hosts[from.Name], hostName{Name: to.Name, Addrs: addrs})
			}
			plan.links = append(plan.links, l)
		}
	}
	return plan
}

// isolatedBridge reports whether bridge is one of the tool's that keeps
// containers apart.
func isolatedBridge(cfg hostconfig.Config, bridge string) bool {
	return bridge == cfg.Hostonly.Bridge && cfg.Hostonly.IsolateContainers ||
		bridge == cfg.Internet.Bridge && cfg.Internet.IsolateContainers
}

func interfaceOnBridge(rec *records.Record, bridge string) records.Interface {
	for _, nic := range rec.Interfaces {
		if nic.Bridge == bridge {
			return nic
		}
	}
	return records.Interface{}
}

func appendAddr(addrs []netip.Addr, prefix string) []netip.Addr {
	if a := addrOf(prefix); a.IsValid() && !slices.Contains(addrs, a) {
		return append(addrs, a)
	}
	return addrs
}

// withLinks sets the links of ports from the plan.
func (plan linkPlan) withLinks(ports []filters.Port) []filters.Port {
	for i := range ports {
		if lp := plan.ports[ports[i].Veth]; lp != nil && ports[i].Isolated {
			ports[i].Links, ports[i].Peers = lp.Links, lp.Peers
		}
	}
	return ports
}

// linksOf are the links that name container name, either way.
func (plan linkPlan) linksOf(name string) []Link {
	out := []Link{}
	for _, l := range plan.links {
		if l.From == name || l.To == name {
			out = append(out, l)
		}
	}
	return out
}

// loadLinkPlan plans the links from every record and its current
// generation's settings. A container whose generation cannot be read
// allows nothing.
// gone names a container being destroyed, left out ("" for none).
func (m *Manager) loadLinkPlan(gone string) (linkPlan, []*records.Record, error) {
	all, err := m.Store.List()
	if err != nil {
		return linkPlan{}, nil, err
	}
	recs := all[:0]
	settings := map[string]*generations.Settings{}
	for _, r := range all {
		if r.Creating || r.Name == gone {
			continue
		}
		recs = append(recs, r)
		if _, s, err := m.currentOf(r); err == nil {
			settings[r.Name] = s
		}
	}
	return planLinks(m.Cfg, recs, settings), recs, nil
}

// LinksInForce are the links that name the container, either way, as the
// host renders them now: from the current generation of every container.
// A link whose Note is set is waiting (its other end does not exist yet)
// or moot (no shared bridge, or isolation is off there).
func (m *Manager) LinksInForce(name string) ([]Link, error) {
	if _, err := m.load(name); err != nil {
		return nil, err
	}
	plan, _, err := m.loadLinkPlan("")
	if err != nil {
		return nil, wrap(name, "links", err)
	}
	return plan.linksOf(name), nil
}

// neighbourPorts are the egress filters of every other running container
// port that has one (present: the bridge table's egress map), with their
// links from plan: rendered in the same transaction as a start, or after
// a destroy, so links follow a container that comes, goes or changes.
func (m *Manager) neighbourPorts(plan linkPlan, recs []*records.Record, except string, present map[string]bool) []filters.Port {
	var out []filters.Port
	for _, r := range recs {
		if r.Name == except || r.Creating {
			continue
		}
		for _, p := range portFilters(m.Cfg, r) {
			if present[p.Veth] && p.Isolated {
				p.Neighbour = true
				out = append(out, p)
			}
		}
	}
	return plan.withLinks(out)
}

// refreshLinks renders the links of the container's own ports (returned,
// for its start's transaction) and those of every running neighbour again,
// and rewrites the hosts files: links follow containers that come, go and
// change. gone names a container being destroyed (its ports are none of
// the returned). The caller holds the network lock.
func (m *Manager) refreshLinks(rec *records.Record, ports []filters.Port, gone string) ([]filters.Port, error) {
	plan, recs, err := m.loadLinkPlan(gone)
	if err != nil {
		return nil, wrap(rec.Name, "links", err)
	}
	present, err := bridges.EgressPorts(m.Cfg)
	if err != nil {
		return nil, wrap(rec.Name, "links", err)
	}
	nb := m.neighbourPorts(plan, recs, rec.Name, present)
	if err := m.writeHostsFiles(plan, recs, rec.Name, present); err != nil {
		return nil, err // names the container
	}
	if gone == "" {
		m.warnMissingLinks(rec.Name, plan)
	}
	return append(plan.withLinks(ports), nb...), nil
}

// warnMissingLinks tells the user about links of the container that wait
// for a container that does not exist.
func (m *Manager) warnMissingLinks(name string, plan linkPlan) {
	for _, l := range plan.linksOf(name) {
		if l.To == name && l.Note != "" {
			m.notify("container %q: warning: network.allowFrom %s: %s", name, l.From, l.Note)
		}
	}
}

// HostsFile is the name of the hosts file the tool keeps in each
// container's profile folder, seen by the guest read-only at
// lxc.GuestProfileDir/hosts (NixOS guests link /etc/hosts to it).
const HostsFile = "hosts"

// hostsText is the hosts file of container rec: localhost, its own name,
// and the containers it may reach by its links.
func hostsText(rec *records.Record, names []hostName) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by nixcloud-container: this container and the containers it may\n# reach (their network.allowFrom names it). Do not edit.\n")
	b.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	var own []netip.Addr
	for _, nic := range rec.Interfaces {
		own = appendAddr(appendAddr(own, nic.IPv4), nic.IPv6)
	}
	for _, a := range own {
		fmt.Fprintf(&b, "%s %s\n", a, rec.Name)
	}
	for _, h := range names {
		for _, a := range h.Addrs {
			fmt.Fprintf(&b, "%s %s\n", a, h.Name)
		}
	}
	return b.Bytes()
}

// writeHostsFiles brings the hosts files up to date with plan: the one of
// container self (unless it is being destroyed) and those of the running
// containers with a port in present (the egress map); only files that
// change are written. Running neighbours' files are best effort: a
// failure there does not fail self's start. A stopped container gets its
// file at its own start. (Writing only what the network lock's holder
// sees running keeps clear of a destroy, which removes the profile folder
// after its ports' filters, under that lock.)
func (m *Manager) writeHostsFiles(plan linkPlan, recs []*records.Record, self string, present map[string]bool) error {
	for _, r := range recs {
		running := false
		for _, nic := range r.Interfaces {
			running = running || present[nic.HostVeth]
		}
		if r.Name != self && !running {
			continue
		}
		path := filepath.Join(m.Cfg.ProfileDir(r.Name), HostsFile)
		want := hostsText(r, plan.hosts[r.Name])
		if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
			continue
		}
		err := atomicfile.WriteFile(path, want, 0o644)
		if err != nil && r.Name == self {
			return wrap(r.Name, "hosts file", err)
		}
		if err != nil {
			m.notify("container %q: warning: hosts file: %v", r.Name, err)
		}
	}
	return nil
}

// linkStatus checks the links to the running container rec: each is in
// the egress filter of its port, from the neighbour's veth to each of the
// services.
func (m *Manager) linkStatus(rec *records.Record, plan linkPlan) ([]bridges.StatusItem, error) {
	var items []bridges.StatusItem
	for _, p := range plan.withLinks(portFilters(m.Cfg, rec)) {
		for _, l := range p.Links {
			problem, err := bridges.LinkProblem(m.Cfg, p.Veth, l)
			if err != nil {
				return nil, wrap(rec.Name, "host status", err)
			}
			svcs := make([]string, len(l.Services))
			for i, s := range l.Services {
				svcs[i] = s.String()
			}
			items = append(items, bridges.StatusItem{
				Name:    fmt.Sprintf("container %s: link %s -> %s on %s (%s)", rec.Name, l.From, rec.Name, interfaceVeth(rec, p.Veth).Bridge, strings.Join(svcs, " ")),
				Present: problem == "", Detail: problem})
		}
	}
	return items, nil
}

func interfaceVeth(rec *records.Record, veth string) records.Interface {
	for _, nic := range rec.Interfaces {
		if nic.HostVeth == veth {
			return nic
		}
	}
	return records.Interface{}
}
