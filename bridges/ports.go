package bridges

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Port is one container interface as the host sees it: the host veth, the
// bridge it belongs on, and what the guest side carries.
type Port struct {
	Container string
	Veth      string // host side
	Bridge    string
	NIC       string       // name inside the guest
	MAC       string       // of the guest side
	IPv4      netip.Prefix // static address of the guest side; invalid: none
	Gateway   netip.Addr   // default route of the guest through this port; invalid: none
}

// AttachPort makes a container's host veth a port of its bridge (again,
// when the bridge was deleted and made anew), up, with hairpin mode on and
// bridge port isolation off: a container's connection to its own port
// forward is DNATed by br_netfilter while it is bridged and must leave by
// the port it came in by, and isolation would drop that frame and any
// forward to a neighbour. Isolation between containers is the packet
// filter's (filters.Port.Isolated). Call it after the container started
// (LXC creates and attaches the veth then).
func AttachPort(hostVeth, bridge string) error {
	l, err := linkByName(hostVeth)
	if err != nil {
		return fmt.Errorf("veth %s: %w", hostVeth, err)
	}
	br, err := linkByName(bridge)
	if err != nil {
		return fmt.Errorf("veth %s: bridge: %w", hostVeth, err)
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("veth %s: attach to %s: %w", hostVeth, bridge, err)
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("veth %s: set up: %w", hostVeth, err)
		}
	}
	if err := netlink.LinkSetIsolated(l, false); err != nil {
		return fmt.Errorf("veth %s: port isolation off: %w", hostVeth, err)
	}
	if err := netlink.LinkSetHairpin(l, true); err != nil {
		return fmt.Errorf("veth %s: hairpin mode: %w", hostVeth, err)
	}
	return nil
}

// PortProblem says what is wrong with a running container's port on the
// host: "" when nothing is.
func PortProblem(p Port) (string, error) {
	l, err := linkByName(p.Veth)
	if errors.Is(err, ErrLinkNotFound) {
		return "veth missing", nil
	}
	if err != nil {
		return "", fmt.Errorf("veth %s: %w", p.Veth, err)
	}
	br, err := linkByName(p.Bridge)
	if errors.Is(err, ErrLinkNotFound) {
		return "bridge " + p.Bridge + " missing", nil
	}
	if err != nil {
		return "", fmt.Errorf("bridge %s: %w", p.Bridge, err)
	}
	var problems []string
	if l.Attrs().MasterIndex != br.Attrs().Index {
		problems = append(problems, "not a port of "+p.Bridge)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		problems = append(problems, "down")
	}
	if pi, err := netlink.LinkGetProtinfo(l); err == nil && !pi.Hairpin && l.Attrs().MasterIndex == br.Attrs().Index {
		problems = append(problems, "hairpin off")
	}
	return strings.Join(problems, ", "), nil
}

// RecreatePort makes a container's deleted veth pair anew: the host side
// on its bridge, the guest side moved into the network namespace of the
// container's init (pid), renamed, with its MAC, static address and
// default route, up. The guest's own configuration of the interface (DHCP,
// SLAAC) picks up from there.
func RecreatePort(p Port, pid int) error {
	tmp := p.Veth + "g"
	if len(tmp) > 15 {
		tmp = tmp[len(tmp)-15:]
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = p.Veth
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: tmp}); err != nil {
		return fmt.Errorf("veth %s: add: %w", p.Veth, err)
	}
	peer, err := linkByName(tmp)
	if err != nil {
		return fmt.Errorf("veth %s: peer: %w", p.Veth, err)
	}
	if err := netlink.LinkSetNsPid(peer, pid); err != nil {
		_ = netlink.LinkDel(peer)
		return fmt.Errorf("veth %s: move into container: %w", p.Veth, err)
	}
	if err := inNetns(pid, func() error { return guestSide(tmp, p) }); err != nil {
		return fmt.Errorf("veth %s: guest side: %w", p.Veth, err)
	}
	return AttachPort(p.Veth, p.Bridge)
}

// guestSide configures the guest end of a new veth pair; it runs in the
// container's network namespace.
func guestSide(tmp string, p Port) error {
	l, err := linkByName(tmp)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetName(l, p.NIC); err != nil {
		return fmt.Errorf("rename to %s: %w", p.NIC, err)
	}
	mac, err := net.ParseMAC(p.MAC)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
		return fmt.Errorf("MAC %s: %w", p.MAC, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	if p.IPv4.IsValid() {
		if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: toIPNet(p.IPv4)}); err != nil {
			return fmt.Errorf("address %s: %w", p.IPv4, err)
		}
	}
	if p.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(p.Gateway.AsSlice())}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s: %w", p.Gateway, err)
		}
	}
	return nil
}

// inNetns runs f in the network namespace of process pid, on a thread of
// its own that is thrown away afterwards.
func inNetns(pid int, f func() error) error {
	ch := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		target, err := netns.GetFromPid(pid)
		if err != nil {
			ch <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			ch <- err
			return
		}
		ch <- f()
	}()
	return <-ch
}
