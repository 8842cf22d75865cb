package containers

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/nixcloud/nixcloud-container/bridges"
	"github.com/nixcloud/nixcloud-container/filters"
	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
)

// planInterfaces returns the network interfaces container rec has with
// settings, given every other record (for address collisions):
//
//   - hostonly: on network.bridge (default the hostonly bridge). On the
//     hostonly bridge the address is network.ip, else the address rec
//     already holds, else the lowest free one. On a bridge of the user's own
//     network.ip with its prefix length is required.
//   - internet, with network.enableNat: on the internet bridge, with the
//     fixed lease and stable IPv6 address of the slot.
//
// Veth names and MACs come from the slot. Nothing on the host changes.
func planInterfaces(cfg hostconfig.Config, recs []*records.Record, rec *records.Record, s *generations.Settings) ([]records.Interface, error) {
	bridge := s.Network.Bridge
	if bridge == "" {
		bridge = cfg.Hostonly.Bridge
	}
	if err := hostconfig.ValidBridgeName(bridge); err != nil {
		return nil, fmt.Errorf("network.bridge: %w", err)
	}
	if bridge == cfg.Internet.Bridge {
		return nil, fmt.Errorf("network.bridge: %s is the internet bridge; use network.enableNat", bridge)
	}
	ho := records.Interface{
		Name:     bridges.NICHostonly,
		Bridge:   bridge,
		HostVeth: bridges.HostVeth(rec.Slot, bridges.NICHostonly),
		MAC:      bridges.MAC(rec.Slot, bridges.NICIndex(bridges.NICHostonly)),
	}
	var addr netip.Prefix
	var err error
	if bridge == cfg.Hostonly.Bridge {
		addr, err = hostonlyAddress(cfg, recs, rec, s.Network.IP)
	} else {
		addr, err = ownBridgeAddress(recs, rec, bridge, s.Network.IP)
	}
	if err != nil {
		return nil, fmt.Errorf("network.ip: %w", err)
	}
	ho.IPv4 = addr.String()
	nics := []records.Interface{ho}
	if !s.Network.EnableNat {
		return nics, nil
	}
	inet := records.Interface{
		Name:     bridges.NICInternet,
		Bridge:   cfg.Internet.Bridge,
		HostVeth: bridges.HostVeth(rec.Slot, bridges.NICInternet),
		MAC:      bridges.MAC(rec.Slot, bridges.NICIndex(bridges.NICInternet)),
	}
	v4, err := bridges.InternetIPv4(cfg, rec.Slot)
	if err != nil {
		return nil, fmt.Errorf("network.enableNat: %w", err)
	}
	br, err := bridges.InternetPrefix(cfg)
	if err != nil {
		return nil, err
	}
	inet.IPv4 = netip.PrefixFrom(v4, br.Bits()).String()
	v6, err := bridges.InternetIPv6(cfg, rec.Slot)
	if err != nil {
		return nil, fmt.Errorf("network.enableNat: %w", err)
	}
	if v6.IsValid() {
		inet.IPv6 = netip.PrefixFrom(v6, 64).String()
	}
	return append(nics, inet), nil
}

// hostonlyAddress is the container's address on the hostonly bridge: the
// fixed one, else the one it holds (stable across updates and restarts),
// else the lowest free one.
func hostonlyAddress(cfg hostconfig.Config, recs []*records.Record, rec *records.Record, fixed string) (netip.Prefix, error) {
	if fixed != "" {
		return bridges.AllocateHostonly(cfg, recs, fixed, rec.Name)
	}
	for _, nic := range rec.Interfaces {
		if nic.Name == bridges.NICHostonly && nic.Bridge == cfg.Hostonly.Bridge && nic.IPv4 != "" {
			if p, err := bridges.AllocateHostonly(cfg, recs, nic.IPv4, rec.Name); err == nil {
				return p, nil
			}
		}
	}
	return bridges.AllocateHostonly(cfg, recs, "", rec.Name)
}

// ownBridgeAddress checks the fixed address on a bridge of the user's:
// it needs its prefix length, and no other container may hold it there.
func ownBridgeAddress(recs []*records.Record, rec *records.Record, bridge, fixed string) (netip.Prefix, error) {
	if fixed == "" {
		return netip.Prefix{}, fmt.Errorf("network.bridge %s is not the hostonly bridge: set network.ip with its prefix length, like \"192.168.1.50/24\"", bridge)
	}
	p, err := netip.ParsePrefix(fixed)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("on network.bridge %s the address needs its prefix length, like \"192.168.1.50/24\", got %q", bridge, fixed)
	}
	for _, r := range recs {
		if r.Name == rec.Name {
			continue
		}
		for _, nic := range r.Interfaces {
			if q, err := netip.ParsePrefix(nic.IPv4); err == nil && nic.Bridge == bridge && q.Addr() == p.Addr() {
				return netip.Prefix{}, fmt.Errorf("address %s: %w by container %q", p.Addr(), bridges.ErrAddressTaken, r.Name)
			}
		}
	}
	return p, nil
}

// planNetwork sets the interfaces of rec for settings, planned under the
// records lock, and saves the record: always with saveAlways, else only
// when the interfaces changed.
func (m *Manager) planNetwork(rec *records.Record, s *generations.Settings, saveAlways bool) error {
	unlock, err := m.Store.Lock()
	if err != nil {
		return wrap(rec.Name, "network", err)
	}
	defer unlock()
	recs, err := m.Store.List()
	if err != nil {
		return wrap(rec.Name, "network", err)
	}
	nics, err := planInterfaces(m.Cfg, recs, rec, s)
	if err != nil {
		return wrap(rec.Name, "container file", err)
	}
	if slices.Equal(nics, rec.Interfaces) && !saveAlways {
		return nil
	}
	rec.Interfaces = nics
	return m.Store.Save(rec)
}

// ErrPortTaken means another running container forwards the same host port.
var ErrPortTaken = errors.New("host port already forwarded")

// checkForwards refuses host ports that another running container
// forwards: the later DNAT rule would silently take the port over.
func (m *Manager) checkForwards(rec *records.Record, s *generations.Settings) error {
	if len(s.ForwardPorts) == 0 {
		return nil
	}
	mine := map[string]bool{}
	for _, f := range s.ForwardPorts {
		mine[fmt.Sprintf("%s/%d", f.Protocol, f.HostPort)] = true
	}
	recs, err := m.Store.List()
	if err != nil {
		return wrap(rec.Name, "forwardPorts", err)
	}
	for _, other := range recs {
		if other.Name == rec.Name || other.Creating {
			continue
		}
		_, _, theirs, err := m.current(other.Name)
		if err != nil {
			continue // a broken neighbour forwards nothing
		}
		for _, f := range theirs.ForwardPorts {
			port := fmt.Sprintf("%s/%d", f.Protocol, f.HostPort)
			if !mine[port] {
				continue
			}
			if run, err := m.running(other.Name); err == nil && run {
				return wrap(rec.Name, "forwardPorts", fmt.Errorf("%s: %w to running container %q", port, ErrPortTaken, other.Name))
			}
		}
	}
	return nil
}

// saveLocked saves the record under the records lock.
func (m *Manager) saveLocked(rec *records.Record) error {
	unlock, err := m.Store.Lock()
	if err != nil {
		return wrap(rec.Name, "save record", err)
	}
	defer unlock()
	return m.Store.Save(rec)
}

// guestInput is what the wrapper passes to NixOS guests about the network.
func guestInput(file string, rec *records.Record) generations.Input {
	in := generations.Input{File: file, Name: rec.Name}
	for _, nic := range rec.Interfaces {
		switch nic.Name {
		case bridges.NICHostonly:
			if p, err := netip.ParsePrefix(nic.IPv4); err == nil {
				in.IP, in.PrefixLength = p.Addr().String(), p.Bits()
			}
		case bridges.NICInternet:
			in.EnableNat = true
		}
	}
	return in
}

// lxcInterfaces are the record's interfaces as LXC configures them: the
// hostonly address statically; internet is left to the guest (DHCP for
// IPv4, router advertisements for IPv6), so LXC does not fight it.
func lxcInterfaces(rec *records.Record) []lxc.Interface {
	var out []lxc.Interface
	for _, nic := range rec.Interfaces {
		ifc := lxc.Interface{Name: nic.Name, Bridge: nic.Bridge, HostVeth: nic.HostVeth, MAC: nic.MAC}
		if nic.Name == bridges.NICHostonly {
			ifc.IPv4 = nic.IPv4
		}
		out = append(out, ifc)
	}
	return out
}

// LockNetwork takes the host network lock: changes to the tool's
// bridges, dnsmasq, leases and chains happen one process at a time (two
// starts would otherwise both start a dnsmasq, or both add a jump rule).
func LockNetwork(cfg hostconfig.Config) (func(), error) {
	unlock, err := records.Store{LockPath: filepath.Join(cfg.StateDir, "network.lock")}.Lock()
	if err != nil {
		return nil, fmt.Errorf("network lock: %w", err)
	}
	return unlock, nil
}

// ErrNoBridge means the bridge a container is attached to does not exist.
var ErrNoBridge = errors.New("bridge does not exist")

// checkOwnBridges makes sure the bridges of the user's own that the
// container is attached to exist (the tool makes only its own).
func (m *Manager) checkOwnBridges(rec *records.Record) error {
	for _, nic := range rec.Interfaces {
		if nic.Bridge == m.Cfg.Hostonly.Bridge || nic.Bridge == m.Cfg.Internet.Bridge {
			continue
		}
		if _, err := net.InterfaceByName(nic.Bridge); err != nil {
			return wrap(rec.Name, "network", fmt.Errorf("network.bridge %s: %w", nic.Bridge, ErrNoBridge))
		}
	}
	return nil
}

// networkBeforeStart makes the host ready for the container's interfaces:
// the tool's bridges, chains and dnsmasq when it uses them (EnsureForStart
// converges, so a user who never ran `host setup` still gets a working
// container), its static lease, and a user's own bridge must exist.
func (m *Manager) networkBeforeStart(rec *records.Record) error {
	if err := m.checkOwnBridges(rec); err != nil {
		return err
	}
	usesOurs, nat := false, false
	for _, nic := range rec.Interfaces {
		switch {
		case nic.Bridge == m.Cfg.Hostonly.Bridge:
			usesOurs = true
		case nic.Name == bridges.NICInternet:
			usesOurs, nat = true, true
		}
	}
	// The port filters are set before LXC makes the veths: no frame of
	// the container's is ever unfiltered.
	ports := portFilters(m.Cfg, rec)
	return m.underNetworkLock(rec, func() error {
		// With the links of its ports and those of the neighbours it
		// allows or may reach, in the same transaction.
		ports, err := m.refreshLinks(rec, ports, "")
		if err != nil {
			return err
		}
		if usesOurs {
			if err := bridges.EnsureForStart(m.Cfg, nat, ports); err != nil {
				return wrap(rec.Name, "network", err)
			}
		} else if err := bridges.SetPortFilters(m.Cfg, rec.Name, ports); err != nil {
			return err // names the container and the step
		}
		if !nat {
			return bridges.RemoveLease(m.Cfg, rec.Name) // NAT was switched off: the old lease must go
		}
		nic := interfaceNamed(rec, bridges.NICInternet)
		return bridges.AddLease(m.Cfg, rec.Name, nic.MAC, addrOf(nic.IPv4), addrOf(nic.IPv6)) // names the container and the step
	})
}

// networkAfterStart does what needs the host veths LXC made: each is a
// port of its bridge (again, when the bridge was made anew) with its flags
// (hairpin), on the tool's bridges; and the port forwards.
func (m *Manager) networkAfterStart(rec *records.Record, s *generations.Settings) error {
	for _, nic := range rec.Interfaces {
		if nic.Bridge != m.Cfg.Hostonly.Bridge && nic.Bridge != m.Cfg.Internet.Bridge {
			continue // a bridge of the user's: not ours to change
		}
		if err := bridges.AttachPort(nic.HostVeth, nic.Bridge); err != nil {
			return wrap(rec.Name, "network", err)
		}
	}
	if len(s.ForwardPorts) == 0 {
		return nil
	}
	// Forwards go to the internet interface when there is one (the
	// container's way out and in), else to hostonly.
	primary := interfaceNamed(rec, bridges.NICHostonly)
	if inet := interfaceNamed(rec, bridges.NICInternet); inet.Name != "" {
		primary = inet
	}
	fwds := make([]bridges.Forward, len(s.ForwardPorts))
	for i, f := range s.ForwardPorts {
		fwds[i] = bridges.Forward{Protocol: f.Protocol, HostPort: f.HostPort, ContainerPort: f.ContainerPort}
	}
	return m.underNetworkLock(rec, func() error {
		return bridges.AddForwards(m.Cfg, rec.Name, addrOf(primary.IPv4), addrOf(primary.IPv6), fwds) // names the container and the step
	})
}

// networkAfterStop removes the container's port forwards and the filters
// of its ports.
func (m *Manager) networkAfterStop(rec *records.Record) error {
	return m.underNetworkLock(rec, func() error { return m.removeForwards(rec) })
}

// networkDestroy removes everything the host holds for the container: its
// forwards, the filters of its ports (both it can have, by slot; none for
// a slot below 0) and its lease (also one left from a generation with
// NAT). It needs no readable record.
func (m *Manager) networkDestroy(name string, slot int) error {
	var veths []string
	if slot >= 0 {
		veths = []string{bridges.HostVeth(slot, bridges.NICHostonly), bridges.HostVeth(slot, bridges.NICInternet)}
	}
	rec := &records.Record{Name: name}
	return m.underNetworkLock(rec, func() error {
		err := errors.Join(bridges.RemoveForwards(m.Cfg, name), bridges.RemovePortFilters(m.Cfg, name, veths), bridges.RemoveLease(m.Cfg, name))
		// Its slot's veths may come back as another container's: no
		// neighbour's link may still name them.
		nb, lerr := m.refreshLinks(rec, nil, name)
		if lerr == nil && len(nb) > 0 {
			lerr = bridges.SetPortFilters(m.Cfg, name, nb)
		}
		return errors.Join(err, lerr)
	})
}

// removeForwards removes the container's port forwards and port filters;
// a container without interfaces never had any. The caller holds the
// network lock.
func (m *Manager) removeForwards(rec *records.Record) error {
	if len(rec.Interfaces) == 0 {
		return nil
	}
	if err := bridges.RemoveForwards(m.Cfg, rec.Name); err != nil {
		return err // names the container and the step
	}
	veths := make([]string, len(rec.Interfaces))
	for i, nic := range rec.Interfaces {
		veths[i] = nic.HostVeth
	}
	return bridges.RemovePortFilters(m.Cfg, rec.Name, veths) // names the container and the step
}

// portFilters is what each of the container's ports may send, from the
// record: its MAC, its addresses, and DHCP on the internet interface; and
// whether the port is isolated from its neighbours (isolate_containers of
// the tool's bridges; a bridge of the user's is the user's business).
func portFilters(cfg hostconfig.Config, rec *records.Record) []filters.Port {
	out := make([]filters.Port, 0, len(rec.Interfaces))
	for _, nic := range rec.Interfaces {
		p := filters.Port{Container: rec.Name, Veth: nic.HostVeth, MAC: nic.MAC,
			IPv4: addrOf(nic.IPv4), DHCP: nic.Name == bridges.NICInternet,
			Isolated: nic.Bridge == cfg.Hostonly.Bridge && cfg.Hostonly.IsolateContainers ||
				nic.Bridge == cfg.Internet.Bridge && cfg.Internet.IsolateContainers,
			AnyIPv6: nic.Bridge != cfg.Hostonly.Bridge && nic.Bridge != cfg.Internet.Bridge}
		if a := addrOf(nic.IPv6); a.IsValid() {
			p.IPv6 = []netip.Addr{a}
		}
		out = append(out, p)
	}
	return out
}

// underNetworkLock runs f holding the host network lock (LockNetwork).
func (m *Manager) underNetworkLock(rec *records.Record, f func() error) error {
	unlock, err := LockNetwork(m.Cfg)
	if err != nil {
		return wrap(rec.Name, "network", err)
	}
	defer unlock()
	return f()
}

func interfaceNamed(rec *records.Record, name string) records.Interface {
	for _, nic := range rec.Interfaces {
		if nic.Name == name {
			return nic
		}
	}
	return records.Interface{}
}

// addrOf is the address of "a/len"; the invalid Addr for "".
func addrOf(prefix string) netip.Addr {
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}
