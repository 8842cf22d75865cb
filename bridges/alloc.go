package bridges

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/records"
)

// HostonlyPrefix is the hostonly bridge's own address with its prefix length.
func HostonlyPrefix(cfg hostconfig.Config) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cfg.Hostonly.Address)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("hostonly.address %q: want an IPv4 address with prefix length", cfg.Hostonly.Address)
	}
	return p, nil
}

// InternetPrefix is the internet bridge's own address with its prefix length.
func InternetPrefix(cfg hostconfig.Config) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cfg.Internet.Address)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("internet.address %q: want an IPv4 address with prefix length", cfg.Internet.Address)
	}
	return p, nil
}

// InternetIPv6Prefix is the internet bridge's IPv6 address with its prefix
// length: internet.ipv6.address, else the first address of the prefix's
// first /64. ok is false when IPv6 is off (no prefix).
func InternetIPv6Prefix(cfg hostconfig.Config) (netip.Prefix, bool, error) {
	v := cfg.Internet.IPv6
	if v.Prefix == "" {
		return netip.Prefix{}, false, nil
	}
	if v.Address != "" {
		a, err := netip.ParsePrefix(v.Address)
		if err != nil || !a.Addr().Is6() {
			return netip.Prefix{}, false, fmt.Errorf("internet.ipv6.address %q: want an IPv6 address with prefix length", v.Address)
		}
		return a, true, nil
	}
	p, err := netip.ParsePrefix(v.Prefix)
	if err != nil || !p.Addr().Is6() || p.Bits() > 64 {
		return netip.Prefix{}, false, fmt.Errorf("internet.ipv6.prefix %q: want an IPv6 network of /64 or shorter", v.Prefix)
	}
	return netip.PrefixFrom(p.Masked().Addr().Next(), 64), true, nil
}

// ipv6Routed is the configured IPv6 prefix routed to the internet bridge.
func ipv6Routed(cfg hostconfig.Config) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cfg.Internet.IPv6.Prefix)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("internet.ipv6.prefix %q: %w", cfg.Internet.IPv6.Prefix, err)
	}
	return p.Masked(), nil
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], v)
	return netip.AddrFrom4(out)
}

// AllocateHostonly returns the hostonly address of container self, with the
// bridge's prefix length. With fixed empty it is the lowest free address from
// .0.2 (network+2) up; otherwise fixed ("10.101.0.50" or "10.101.0.50/16")
// is checked: inside the subnet, not the network, broadcast or bridge
// address, and not held by any other container's interface. Interfaces of
// the record named self are ignored, so re-allocating for an update keeps
// the same address.
func AllocateHostonly(cfg hostconfig.Config, recs []*records.Record, fixed string, self string) (netip.Prefix, error) {
	bridge, err := HostonlyPrefix(cfg)
	if err != nil {
		return netip.Prefix{}, err
	}
	subnet := bridge.Masked()
	taken := map[netip.Addr]string{}
	for _, r := range recs {
		if r == nil || r.Name == self {
			continue
		}
		for _, ifc := range r.Interfaces {
			if a, ok := parseAddr(ifc.IPv4); ok && subnet.Contains(a) {
				taken[a] = r.Name
			}
		}
	}
	usable := func(a netip.Addr) error {
		if !subnet.Contains(a) || a == subnet.Addr() || a == broadcast(subnet) {
			return fmt.Errorf("address %s: %w %s", a, ErrOutsideSubnet, subnet)
		}
		if a == bridge.Addr() {
			return fmt.Errorf("address %s: %w %s: it is the bridge's own address", a, ErrOutsideSubnet, subnet)
		}
		return nil
	}
	if fixed != "" {
		a, bits, err := parseFixed(fixed)
		if err != nil {
			return netip.Prefix{}, err
		}
		if bits >= 0 && bits != bridge.Bits() {
			return netip.Prefix{}, fmt.Errorf("address %s: prefix length /%d differs from the bridge's /%d", fixed, bits, bridge.Bits())
		}
		if err := usable(a); err != nil {
			return netip.Prefix{}, err
		}
		if holder, ok := taken[a]; ok {
			return netip.Prefix{}, fmt.Errorf("address %s: %w by container %q", a, ErrAddressTaken, holder)
		}
		return netip.PrefixFrom(a, bridge.Bits()), nil
	}
	last := broadcast(subnet)
	for a := subnet.Addr().Next().Next(); a.IsValid() && a.Less(last); a = a.Next() {
		if a == bridge.Addr() {
			continue
		}
		if _, ok := taken[a]; !ok {
			return netip.PrefixFrom(a, bridge.Bits()), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("hostonly subnet %s: %w", subnet, ErrPoolExhausted)
}

// parseFixed accepts an IPv4 address with or without prefix length; bits is
// -1 without one.
func parseFixed(s string) (netip.Addr, int, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return netip.Addr{}, 0, fmt.Errorf("address %q: want an IPv4 address like 10.101.0.50", s)
		}
		return p.Addr(), p.Bits(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, 0, fmt.Errorf("address %q: want an IPv4 address like 10.101.0.50", s)
	}
	return a, -1, nil
}

// parseAddr reads a record's address, with or without prefix length.
func parseAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr(), true
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// InternetIPv4 is the fixed DHCP lease of the container in slot: the first
// address of dhcp_range plus the slot.
func InternetIPv4(cfg hostconfig.Config, slot int) (netip.Addr, error) {
	first, last, err := cfg.Internet.Range()
	if err != nil {
		return netip.Addr{}, err
	}
	if slot < 0 {
		return netip.Addr{}, fmt.Errorf("slot %d: negative", slot)
	}
	b := first.As4()
	v := uint64(binary.BigEndian.Uint32(b[:])) + uint64(slot)
	if v > 0xffffffff {
		return netip.Addr{}, fmt.Errorf("slot %d: internet.dhcp_range %s: %w", slot, cfg.Internet.DHCPRange, ErrPoolExhausted)
	}
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], uint32(v))
	a := netip.AddrFrom4(out)
	if last.Less(a) {
		return netip.Addr{}, fmt.Errorf("slot %d: internet.dhcp_range %s: %w", slot, cfg.Internet.DHCPRange, ErrPoolExhausted)
	}
	if ip, err := InternetPrefix(cfg); err == nil && ip.Addr() == a {
		return netip.Addr{}, fmt.Errorf("slot %d: internet.dhcp_range %s contains the bridge address %s", slot, cfg.Internet.DHCPRange, a)
	}
	return a, nil
}

// InternetIPv6 is the stable IPv6 address of the container in slot: the
// bridge's /64 with the EUI-64 interface identifier of the container's
// internet MAC, so SLAAC inside the guest lands on the same address. With no
// IPv6 prefix configured it returns the invalid Addr and no error.
func InternetIPv6(cfg hostconfig.Config, slot int) (netip.Addr, error) {
	br, ok, err := InternetIPv6Prefix(cfg)
	if err != nil || !ok {
		return netip.Addr{}, err
	}
	mac, err := net.ParseMAC(MAC(slot, NICIndex(NICInternet)))
	if err != nil {
		return netip.Addr{}, err
	}
	out := netip.PrefixFrom(br.Addr(), 64).Masked().Addr().As16()
	out[8] = mac[0] ^ 0x02
	out[9], out[10] = mac[1], mac[2]
	out[11], out[12] = 0xff, 0xfe
	out[13], out[14], out[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(out), nil
}
