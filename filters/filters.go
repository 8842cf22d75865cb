// Package filters is the packet filter that keeps containers in their
// place: what a container may send into a bridge (its own MAC, ARP for its
// own IPv4, its own source addresses), what it may reach on the host
// (DHCP, DNS, ICMP echo and the ports the admin allows), that nothing from
// a bridge reaches the host's loopback, and that containers on an isolated
// bridge cannot reach each other, on the bridge or by routing through the
// host, except by the links they allow (Port.Links, one direction, by
// port, with the replies).
//
// Everything lives in two nftables tables the tool owns, named after the
// install (Table): one in the bridge family with one chain per container
// port, one in the inet family for the host. Rules are rendered as nft
// scripts from data and applied with `nft -f -`, each script one atomic
// transaction. Teardown deletes both tables.
//
// The filters are independent of the iptables chains in package bridges:
// a drop here wins over an accept there, since every base chain of a hook
// must accept a packet.
package filters

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Service is a host port containers may reach from a bridge.
type Service struct {
	Proto string // "tcp" or "udp"
	Port  int
}

// String is the service as host.toml spells it: "tcp/5432".
func (s Service) String() string { return s.Proto + "/" + strconv.Itoa(s.Port) }

// ErrInvalidService means a host port is not "tcp/N" or "udp/N".
var ErrInvalidService = errors.New(`host port must be "tcp/PORT" or "udp/PORT" with PORT 1 to 65535`)

// ParseService parses "tcp/5432" or "udp/53".
func ParseService(s string) (Service, error) {
	proto, port, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(port)
	if !ok || (proto != "tcp" && proto != "udp") || err != nil || n < 1 || n > 65535 {
		return Service{}, fmt.Errorf("%q: %w", s, ErrInvalidService)
	}
	return Service{Proto: proto, Port: n}, nil
}

// Bridge is one of the tool's bridges as the host filter sees it.
type Bridge struct {
	Name string
	// Isolated keeps containers from reaching each other by routing
	// through the host (bridge port isolation stops them on the bridge).
	Isolated bool
	// Subnets are the only sources forwarded from the bridge (to the
	// uplink); empty means nothing is forwarded but port forwards.
	Subnets []netip.Prefix
	// Services are the host ports containers on the bridge may reach.
	Services []Service
}

// Host is the host-wide part of the filter.
type Host struct {
	Table   string
	Bridges []Bridge
}

// DNATMark is the packet mark bit the host filter sets on port-forward
// (DNAT) traffic from the bridges, so that the bridge filter, which has
// no connection tracking, lets a forward through to an isolated port when
// br_netfilter bridges it there.
const DNATMark = "0x01000000"

// ReplyMark is the mark bit the host filter sets on packets of connections
// conntrack has seen both ways (and on related ones, ICMP errors), so the
// bridge filter can let the replies of an allowed link through.
const ReplyMark = "0x02000000"

// LinkMark is the mark bit the bridge filter sets on what it lets through
// by a link, so the host's forward chain, which sees bridged packets
// through br_netfilter, lets them through too.
const LinkMark = "0x04000000"

// Link lets one neighbour connect to some of a port's services.
type Link struct {
	From     string // the neighbour's container name (for messages)
	Veth     string // the neighbour's host veth on the same bridge
	Services []Service
}

// Port is one container port on a bridge and what may come out of it.
type Port struct {
	Container string
	Veth      string // host-side veth name
	MAC       string
	IPv4      netip.Addr   // invalid: the port may send no IPv4
	IPv6      []netip.Addr // global addresses; link-local ones are always allowed
	DHCP      bool         // may send DHCPv4 requests from 0.0.0.0
	// AnyIPv6 lets IPv6 out from any source: the port is on a bridge of
	// the user's, whose IPv6 (SLAAC, DHCPv6 from the LAN) the tool does
	// not know.
	AnyIPv6 bool
	// Isolated: the port receives nothing bridged from another port but
	// port forwards (DNAT) and its links, so neighbours cannot reach it
	// while a neighbour's (or its own) connection to a forward still can.
	Isolated bool
	// Links are the neighbours that may connect to the port, and to
	// which services (with Isolated only; without, everyone may).
	Links []Link
	// Peers are the host veths of the neighbours the port may connect to
	// (their Links name it): their replies, and only those, come through.
	Peers []string
	// Neighbour: the port is another container's, whose filter is in
	// place; RenderPorts renders only its links again (RenderEgress).
	Neighbour bool
}

// TableName is the name of the tool's tables for an install, derived from
// its hostonly bridge (two installs in one network namespace need two
// bridges, so they get two tables).
func TableName(hostonlyBridge string) string {
	return TablePrefix + regexp.MustCompile(`[^A-Za-z0-9_]`).ReplaceAllString(hostonlyBridge, "_")
}

// TablePrefix starts the name of every table of the tool's.
const TablePrefix = "nixcloud_"

var (
	validName  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	validTable = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	validMAC   = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)
)

func quote(s string) string { return `"` + s + `"` }

// RenderHost is the script that makes the host part converge: the inet
// table is replaced whole (it holds nothing per container), the bridge
// table and its port map are created when missing and its base chain
// rewritten, keeping the per-port chains.
func RenderHost(h Host) (string, error) {
	if !validTable.MatchString(h.Table) {
		return "", fmt.Errorf("table name %q", h.Table)
	}
	var b strings.Builder
	t := h.Table
	names := make([]string, len(h.Bridges))
	for i, br := range h.Bridges {
		if !validName.MatchString(br.Name) {
			return "", fmt.Errorf("bridge name %q", br.Name)
		}
		names[i] = quote(br.Name)
	}
	all := "{ " + strings.Join(names, ", ") + " }"

	b.WriteString(renderPortBase(t))

	// The inet family: loopback, host services, routing between containers.
	fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\n", t, t)
	fmt.Fprintf(&b, "table inet %s {\n", t)
	if len(h.Bridges) > 0 {
		// Before conntrack: a packet from a bridge addressed to the
		// loopback range is dropped as it arrives (route_localnet is on
		// for the bridges so port forwards work from the host's own
		// 127.0.0.1; this is the other direction, CVE-2020-8558).
		b.WriteString("\tchain prerouting {\n\t\ttype filter hook prerouting priority -300; policy accept;\n")
		fmt.Fprintf(&b, "\t\tiifname %s ip daddr 127.0.0.0/8 drop\n", all)
		fmt.Fprintf(&b, "\t\tiifname %s ip saddr 127.0.0.0/8 drop\n", all)
		fmt.Fprintf(&b, "\t\tiifname %s ip6 daddr ::1 drop\n", all)
		b.WriteString("\t}\n")
		// After DNAT (priority -100): mark forwarded connections for
		// the bridge filter (see DNATMark).
		b.WriteString("\tchain mark_dnat {\n\t\ttype filter hook prerouting priority -99; policy accept;\n")
		fmt.Fprintf(&b, "\t\tiifname %s ct status dnat meta mark set meta mark | %s\n", all, DNATMark)
		// Replies of links (see ReplyMark).
		fmt.Fprintf(&b, "\t\tiifname %s ct state established,related meta mark set meta mark | %s\n", all, ReplyMark)
		b.WriteString("\t}\n")
	}
	b.WriteString("\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n")
	for i, br := range h.Bridges {
		fmt.Fprintf(&b, "\t\tiifname %s jump from_%d\n", quote(br.Name), i)
	}
	b.WriteString("\t}\n")
	for i, br := range h.Bridges {
		fmt.Fprintf(&b, "\tchain from_%d {\n", i)
		b.WriteString("\t\tct state established,related accept\n")
		b.WriteString("\t\ticmp type echo-request accept\n")
		b.WriteString("\t\ticmpv6 type { echo-request, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept\n")
		if len(br.Services) > 0 {
			svcs := make([]string, len(br.Services))
			for j, s := range br.Services {
				if _, err := ParseService(s.String()); err != nil {
					return "", fmt.Errorf("bridge %s: %w", br.Name, err)
				}
				svcs[j] = s.Proto + " . " + strconv.Itoa(s.Port)
			}
			fmt.Fprintf(&b, "\t\tmeta l4proto . th dport { %s } accept\n", strings.Join(svcs, ", "))
		}
		b.WriteString("\t\treject with icmpx type admin-prohibited\n\t}\n")
	}
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n")
	for _, br := range h.Bridges {
		n := quote(br.Name)
		if br.Isolated {
			// Port forwards (DNAT) between containers, and a container's
			// own forward (hairpin), stay open; anything else sent to a
			// neighbour through the host is dropped.
			fmt.Fprintf(&b, "\t\tiifname %s oifname %s ct status dnat accept\n", n, n)
			// What the bridge filter let through by a link.
			fmt.Fprintf(&b, "\t\tiifname %s oifname %s meta mark & %s == %s accept\n", n, n, LinkMark, LinkMark)
			fmt.Fprintf(&b, "\t\tiifname %s oifname %s drop\n", n, n)
		}
		var v4, v6 []string
		for _, p := range br.Subnets {
			if p.Addr().Is4() {
				v4 = append(v4, p.Masked().String())
			} else {
				v6 = append(v6, p.Masked().String())
			}
		}
		// Only the bridge's own subnets are forwarded: a forged source
		// never leaves the host. Replies to port forwards come from the
		// container's own address, which is in the subnet.
		fmt.Fprintf(&b, "\t\tiifname %s oifname != %s ip saddr != %s drop\n", n, n, addrSet(v4, "0.0.0.0/32"))
		fmt.Fprintf(&b, "\t\tiifname %s oifname != %s ip6 saddr != %s drop\n", n, n, addrSet(v6, "::/128"))
	}
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

// addrSet renders a set of prefixes, or none when there are none (a
// prefix that no forwarded packet has as its source).
func addrSet(prefixes []string, none string) string {
	if len(prefixes) == 0 {
		return none
	}
	return "{ " + strings.Join(prefixes, ", ") + " }"
}

// renderPortBase makes the bridge table, its port maps and the base
// chains that send each port's frames to the port's chains: what enters
// the bridge from a port (prerouting, by ingress port) and what the bridge
// forwards to a port (forward, by egress port). The port chains and map
// entries are kept.
func renderPortBase(t string) string {
	return fmt.Sprintf("add table bridge %[1]s\n"+
		"add map bridge %[1]s ports { type ifname : verdict; }\n"+
		"add map bridge %[1]s egress { type ifname : verdict; }\n"+
		"add chain bridge %[1]s prerouting { type filter hook prerouting priority -200; policy accept; }\n"+
		"flush chain bridge %[1]s prerouting\n"+
		"add rule bridge %[1]s prerouting iifname vmap @ports\n"+
		"add chain bridge %[1]s forward { type filter hook forward priority -200; policy accept; }\n"+
		"flush chain bridge %[1]s forward\n"+
		"add rule bridge %[1]s forward oifname vmap @egress\n", t)
}

func portChain(veth string) string   { return "port_" + strings.ReplaceAll(veth, "-", "_") }
func egressChain(veth string) string { return "to_" + strings.ReplaceAll(veth, "-", "_") }

// EgressChain is the name of the chain of what the bridge forwards to the
// port of host veth (with its links).
func EgressChain(veth string) string { return egressChain(veth) }

// removeChain is the script that removes a port's chain and its map
// element, present or not (each is added first, so the deletes succeed).
func removeChain(table, m, chain, veth string) string {
	return fmt.Sprintf("add chain bridge %[1]s %[2]s\n"+
		"add element bridge %[1]s %[3]s { %[4]s : jump %[2]s }\n"+
		"delete element bridge %[1]s %[3]s { %[4]s }\n"+
		"delete chain bridge %[1]s %[2]s\n", table, chain, m, quote(veth))
}

// RenderPorts is the script that sets the filters of a container's ports
// (RenderPort of each), creating the bridge table when it is missing.
func RenderPorts(table string, ports []Port) (string, error) {
	if !validTable.MatchString(table) {
		return "", fmt.Errorf("table name %q", table)
	}
	var b strings.Builder
	b.WriteString(renderPortBase(table))
	for _, p := range ports {
		render := RenderPort
		if p.Neighbour {
			render = RenderEgress
		}
		s, err := render(table, p)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// RenderPort is the script that sets the filter of one container port:
// its chain is rewritten and the port map sends the port's frames to it.
// The frames a container may send: from its own MAC; ARP for its own IPv4
// (or 0.0.0.0 for address probes); IPv4 from its own address, and with
// DHCP a DHCP request from 0.0.0.0 for its own MAC; IPv6 from ::, its
// link-local addresses and its global ones, with neighbour advertisements
// only for those. Router advertisements, redirects and DHCP server answers
// are dropped, and so is every other kind of frame (VLAN tags among them).
func RenderPort(table string, p Port) (string, error) {
	if !validTable.MatchString(table) || !validName.MatchString(p.Veth) {
		return "", fmt.Errorf("container %q: filter: invalid table %q or veth %q", p.Container, table, p.Veth)
	}
	mac := strings.ToLower(p.MAC)
	if !validMAC.MatchString(mac) {
		return "", fmt.Errorf("container %q: filter: invalid MAC %q", p.Container, p.MAC)
	}
	if p.IPv4.IsValid() && !p.IPv4.Is4() {
		return "", fmt.Errorf("container %q: filter: %s is not an IPv4 address", p.Container, p.IPv4)
	}
	for _, a := range p.IPv6 {
		if !a.Is6() || a.Is4In6() {
			return "", fmt.Errorf("container %q: filter: %s is not an IPv6 address", p.Container, a)
		}
	}
	c := portChain(p.Veth)
	var b strings.Builder
	rule := func(format string, args ...any) {
		fmt.Fprintf(&b, "add rule bridge %s %s "+format+"\n", append([]any{table, c}, args...)...)
	}
	fmt.Fprintf(&b, "add chain bridge %s %s\nflush chain bridge %s %s\n", table, c, table, c)
	rule("ether saddr != %s drop", mac)
	rule("arp saddr ether != %s drop", mac)
	arpIPs := []string{"0.0.0.0"}
	if p.IPv4.IsValid() {
		arpIPs = append(arpIPs, p.IPv4.String())
	}
	rule("arp saddr ip != { %s } drop", strings.Join(arpIPs, ", "))
	rule("ether type arp accept")
	if p.DHCP {
		// DHCP's client hardware address (28 bytes into the payload)
		// must be the port's MAC: no lease of a neighbour's.
		hex := "0x" + strings.ReplaceAll(mac, ":", "")
		dhcp := "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67"
		rule("%s @th,288,48 != %s drop", dhcp, hex)
		rule("%s accept", dhcp)
	}
	rule("ether type ip udp sport 67 drop")
	if p.IPv4.IsValid() {
		rule("ip saddr != %s drop", p.IPv4)
		rule("ether type ip accept")
	}
	v6 := []string{"::", "fe80::/10"}
	targets := make([]string, 0, len(p.IPv6))
	for _, a := range p.IPv6 {
		v6 = append(v6, a.String())
		targets = append(targets, fmt.Sprintf("@th,64,128 != 0x%x", a.AsSlice()))
	}
	if !p.AnyIPv6 {
		rule("ip6 saddr != { %s } drop", strings.Join(v6, ", "))
	}
	rule("icmpv6 type { nd-router-advert, nd-redirect } drop")
	if !p.AnyIPv6 {
		// A neighbour advertisement's target (8 bytes into the ICMPv6
		// header, past any extension headers) must be link-local or one
		// of the port's own addresses.
		rule("icmpv6 type nd-neighbor-advert @th,64,16 & 0xffc0 != 0xfe80 %sdrop", strings.Join(append(targets, ""), " "))
	}
	rule("ether type ip6 udp sport 547 drop")
	rule("ether type ip6 accept")
	rule("drop")
	fmt.Fprintf(&b, "add element bridge %s ports { %s : jump %s }\n", table, quote(p.Veth), c)
	if err := renderEgress(&b, table, p); err != nil {
		return "", err
	}
	return b.String(), nil
}

// RenderEgress is the script that sets only what a port receives from its
// neighbours (RenderPort does it too): after a neighbour's start, stop or
// destroy its links are rendered again, with the neighbour's veth or
// without.
func RenderEgress(table string, p Port) (string, error) {
	if !validTable.MatchString(table) || !validName.MatchString(p.Veth) {
		return "", fmt.Errorf("container %q: filter: invalid table %q or veth %q", p.Container, table, p.Veth)
	}
	var b strings.Builder
	if err := renderEgress(&b, table, p); err != nil {
		return "", err
	}
	return b.String(), nil
}

// renderEgress writes the chain of what the bridge forwards to an
// isolated port: port forwards (DNATMark); from each linked neighbour
// its services, and ARP and neighbour discovery to find each other; from
// each peer (a neighbour the port may connect to) the replies
// (ReplyMark), ARP and neighbour discovery; nothing else from another
// port. A port that is not isolated gets no chain.
func renderEgress(b *strings.Builder, table string, p Port) error {
	// Bridge port isolation would do the same, but it also stops a
	// forward that br_netfilter DNATs to a neighbour, or hairpins back to
	// the container itself, while the frame is bridged.
	e := egressChain(p.Veth)
	if !p.Isolated {
		b.WriteString(removeChain(table, "egress", e, p.Veth))
		return nil
	}
	rule := func(format string, args ...any) {
		fmt.Fprintf(b, "add rule bridge %s %s "+format+"\n", append([]any{table, e}, args...)...)
	}
	mark := "meta mark set meta mark | " + LinkMark + " accept"
	fmt.Fprintf(b, "add chain bridge %s %s\nflush chain bridge %s %s\n", table, e, table, e)
	rule("iifname != %s meta mark & %s == %s accept", quote(p.Veth), DNATMark, DNATMark)
	// A link's connections and replies must be addressed to this port's
	// own addresses: a neighbour that routes cannot be used to carry
	// another connection's packets through a link.
	var toPort []string
	if p.IPv4.IsValid() {
		toPort = append(toPort, "ip daddr "+p.IPv4.String())
	}
	v6 := []string{"fe80::/10"}
	for _, a := range p.IPv6 {
		v6 = append(v6, a.String())
	}
	toPort = append(toPort, "ip6 daddr { "+strings.Join(v6, ", ")+" }")
	seen := map[string]bool{}
	neighbour := func(veth string) error {
		if !validName.MatchString(veth) || veth == p.Veth {
			return fmt.Errorf("container %q: filter: invalid link veth %q", p.Container, veth)
		}
		if !seen[veth] {
			seen[veth] = true
			rule("iifname %s ether type arp accept", quote(veth))
			rule("iifname %s icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } %s", quote(veth), mark)
		}
		return nil
	}
	for _, l := range p.Links {
		if err := neighbour(l.Veth); err != nil {
			return err
		}
		if len(l.Services) == 0 {
			continue
		}
		svcs := make([]string, len(l.Services))
		for j, s := range l.Services {
			if _, err := ParseService(s.String()); err != nil {
				return fmt.Errorf("container %q: filter: link from %q: %w", p.Container, l.From, err)
			}
			svcs[j] = s.Proto + " . " + strconv.Itoa(s.Port)
		}
		for _, to := range toPort {
			rule("iifname %s %s meta l4proto . th dport { %s } %s", quote(l.Veth), to, strings.Join(svcs, ", "), mark)
		}
	}
	for _, v := range p.Peers {
		if err := neighbour(v); err != nil {
			return err
		}
		for _, to := range toPort {
			rule("iifname %s %s meta mark & %s == %s %s", quote(v), to, ReplyMark, ReplyMark, mark)
		}
	}
	rule("iifname != %s drop", quote(p.Veth))
	fmt.Fprintf(b, "add element bridge %s egress { %s : jump %s }\n", table, quote(p.Veth), e)
	return nil
}

// RenderRemovePort is the script that removes the filter of one port; it
// succeeds whether or not the port had one, as long as the table exists.
func RenderRemovePort(table, veth string) (string, error) {
	if !validTable.MatchString(table) || !validName.MatchString(veth) {
		return "", fmt.Errorf("filter: invalid table %q or veth %q", table, veth)
	}
	return removeChain(table, "ports", portChain(veth), veth) + removeChain(table, "egress", egressChain(veth), veth), nil
}

// RenderTeardown is the script that deletes both tables, present or not.
func RenderTeardown(table string) (string, error) {
	if !validTable.MatchString(table) {
		return "", fmt.Errorf("table name %q", table)
	}
	return fmt.Sprintf("add table bridge %[1]s\ndelete table bridge %[1]s\nadd table inet %[1]s\ndelete table inet %[1]s\n", table), nil
}
