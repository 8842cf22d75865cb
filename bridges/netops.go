package bridges

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netOps is the netlink work the package does, phrased like ip commands.
// nlOps is the real one, fakeNet (fake_test.go) the one for tests.
type netOps interface {
	// ensureBridge adds the bridge unless it exists, checks it is one and
	// sets it up.
	ensureBridge(name string) error
	// linkState reports whether name exists, is a bridge and is up.
	linkState(name string) (exists, bridge, up bool, err error)
	// linkDel deletes name; a missing link is not an error.
	linkDel(name string) error
	addrReplace(link string, p netip.Prefix) error
	hasAddr(link string, p netip.Prefix) (bool, error)
	// routeReplace routes dst to link.
	routeReplace(dst netip.Prefix, link string) error
	hasRoute(dst netip.Prefix, link string) (bool, error)
	// defaultRouteLink is the interface of the main table's default route
	// of the family, "" when there is none.
	defaultRouteLink(v6 bool) (string, error)
}

// sysctlOps reads and writes /proc/sys entries given as slash paths
// ("net/ipv4/ip_forward"), in the calling thread's network namespace.
type sysctlOps interface {
	set(path, value string) error
	get(path string) (string, error)
}

type nlOps struct{}

// retryDump repeats a netlink dump interrupted by concurrent changes.
func retryDump[T any](f func() (T, error)) (T, error) {
	var v T
	var err error
	for range 5 {
		v, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

func linkByName(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("%s: %w", name, ErrLinkNotFound)
	}
	return l, err
}

func (nlOps) ensureBridge(name string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.HardwareAddr = BridgeMAC(name)
	err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
	if err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add: %w", err)
	}
	l, err := linkByName(name)
	if err != nil {
		return fmt.Errorf("look up: %w", err)
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return fmt.Errorf("type %s: %w", l.Type(), ErrNotBridge)
	}
	// A bridge made before, or by someone else, gets its fixed address
	// too (an address set by hand no longer follows the ports).
	if mac := BridgeMAC(name); !bytes.Equal(l.Attrs().HardwareAddr, mac) {
		if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
			return fmt.Errorf("set address %s: %w", mac, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

func (nlOps) linkState(name string) (bool, bool, bool, error) {
	l, err := linkByName(name)
	if errors.Is(err, ErrLinkNotFound) {
		return false, false, false, nil
	}
	if err != nil {
		return false, false, false, err
	}
	_, isBr := l.(*netlink.Bridge)
	return true, isBr, l.Attrs().Flags&net.FlagUp != 0, nil
}

func (nlOps) linkDel(name string) error {
	l, err := linkByName(name)
	if errors.Is(err, ErrLinkNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, syscall.ENODEV) {
		return err
	}
	return nil
}

func toIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func (nlOps) addrReplace(link string, p netip.Prefix) error {
	l, err := linkByName(link)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: toIPNet(p)}
	if p.Addr().Is6() {
		// A bridge without ports must accept the address at once so
		// dnsmasq can bind to it: no duplicate address detection.
		a.Flags = unix.IFA_F_NODAD
	}
	return netlink.AddrReplace(l, a)
}

func (nlOps) hasAddr(link string, p netip.Prefix) (bool, error) {
	l, err := linkByName(link)
	if errors.Is(err, ErrLinkNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fam := netlink.FAMILY_V4
	if p.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(l, fam) })
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		ones, _ := a.Mask.Size()
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == p.Addr() && ones == p.Bits() {
			return true, nil
		}
	}
	return false, nil
}

func (nlOps) routeReplace(dst netip.Prefix, link string) error {
	l, err := linkByName(link)
	if err != nil {
		return err
	}
	return netlink.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: toIPNet(dst.Masked()), Scope: netlink.SCOPE_LINK})
}

func (nlOps) hasRoute(dst netip.Prefix, link string) (bool, error) {
	l, err := linkByName(link)
	if errors.Is(err, ErrLinkNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{LinkIndex: l.Attrs().Index}, netlink.RT_FILTER_OIF)
	})
	if err != nil {
		return false, err
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == toIPNet(dst.Masked()).String() {
			return true, nil
		}
	}
	return false, nil
}

func (nlOps) defaultRouteLink(v6 bool) (string, error) {
	fam := netlink.FAMILY_V4
	if v6 {
		fam = netlink.FAMILY_V6
	}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return "", fmt.Errorf("list routes: %w", err)
	}
	best := -1
	var idx int
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if r.LinkIndex == 0 && len(r.MultiPath) > 0 {
			r.LinkIndex = r.MultiPath[0].LinkIndex
		}
		if r.LinkIndex != 0 && (best < 0 || r.Priority < best) {
			best, idx = r.Priority, r.LinkIndex
		}
	}
	if best < 0 {
		return "", nil
	}
	l, err := netlink.LinkByIndex(idx)
	if err != nil {
		return "", fmt.Errorf("link %d of the default route: %w", idx, err)
	}
	return l.Attrs().Name, nil
}

type procSysctl struct{}

func sysctlPath(path string) (string, error) {
	clean := filepath.Clean("/" + path)
	if clean != "/"+path || strings.Contains(path, "..") {
		return "", fmt.Errorf("sysctl %q: invalid path", path)
	}
	return filepath.Join("/proc/sys", clean), nil
}

func (procSysctl) set(path, value string) error {
	p, err := sysctlPath(path)
	if err != nil {
		return err
	}
	if cur, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(cur)) == value {
		return nil
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", path, value, err)
	}
	return nil
}

func (procSysctl) get(path string) (string, error) {
	p, err := sysctlPath(path)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
