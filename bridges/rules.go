package bridges

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nixcloud/nixcloud-container/hostconfig"
)

// Tables and built-in chains the tool hooks into.
const (
	tableNAT    = "nat"
	tableFilter = "filter"
)

// builtinChains lists, per table, the built-in chains teardown sweeps.
var builtinChains = map[string][]string{
	tableNAT:    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	tableFilter: {"INPUT", "FORWARD", "OUTPUT"},
}

// hook is a jump into an owned chain from another (usually built-in) chain.
type hook struct {
	From  string   // the chain holding the jump
	Match []string // extra match before the jump
}

// chainSpec is one chain the tool owns, with its rules and the jumps into
// it. Rules are written the way iptables -S prints them back (matches in
// its order, implicit modules and default options spelled out), so that
// one listing of a table shows whether they are all there.
type chainSpec struct {
	Table string
	Name  string
	Tag   string     // comment on every rule and jump
	Rules [][]string // matches and target, without the comment
	Hooks []hook
	// Keep means the chain is created when missing but never flushed,
	// because other chains' jumps live in it (the shared DNAT chain).
	Keep bool
}

// withTag inserts the comment match before the target ("-j ...") of spec.
func withTag(spec []string, tag string) []string {
	out := make([]string, 0, len(spec)+4)
	for i, a := range spec {
		if a == "-j" {
			out = append(out, "-m", "comment", "--comment", tag)
			return append(out, spec[i:]...)
		}
		out = append(out, a)
	}
	return append(out, "-m", "comment", "--comment", tag)
}

// ruleSpecs is the rule list of c as passed to iptables, comments included.
func (c chainSpec) ruleSpecs() [][]string {
	out := make([][]string, len(c.Rules))
	for i, r := range c.Rules {
		out[i] = withTag(r, c.Tag)
	}
	return out
}

// hookSpec is the jump rule of h, comment included.
func (c chainSpec) hookSpec(h hook) []string {
	spec := append(append([]string{}, h.Match...), "-j", c.Name)
	return withTag(spec, c.Tag)
}

// hostPlan is everything the host needs in one address family. uplink is
// the interface NAT goes out of ("" = no restriction). internet adds the
// internet bridge's chains; v6 selects the ip6tables family.
type hostPlan struct {
	V4, V6 []chainSpec
}

func planHost(cfg hostconfig.Config, uplink string, internet bool) (hostPlan, error) {
	var p hostPlan
	if _, err := HostonlyPrefix(cfg); err != nil {
		return p, err
	}
	hb := cfg.Hostonly.Bridge
	hTag := bridgeTag(hb)
	p.V4 = append(p.V4,
		chainSpec{Table: tableFilter, Name: chainName(hb, "FWD"), Tag: hTag,
			Hooks: []hook{{From: "FORWARD"}},
			Rules: [][]string{
				// Bridged traffic when br_netfilter is loaded.
				{"-i", hb, "-o", hb, "-j", "ACCEPT"},
				// Port forwards to hostonly containers and their replies.
				{"-o", hb, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"},
				{"-i", hb, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
				// Hostonly containers reach the host only: nothing is routed.
				{"-i", hb, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
				{"-o", hb, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
			}},
		chainSpec{Table: tableNAT, Name: chainName(hb, "POST"), Tag: hTag,
			Hooks: []hook{{From: "POSTROUTING"}},
			Rules: [][]string{
				// Hostonly containers have no default route: forwarded
				// connections must come from the bridge address.
				{"-o", hb, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"},
			}},
	)
	p.V4 = append(p.V4, dnatBase(forwardsTag()))
	if !internet {
		return p, nil
	}
	ip, err := InternetPrefix(cfg)
	if err != nil {
		return p, err
	}
	ib := cfg.Internet.Bridge
	iTag := bridgeTag(ib)
	subnet := ip.Masked().String()
	masq := []string{"-s", subnet, "!", "-d", subnet}
	if uplink != "" {
		masq = append(masq, "-o", uplink)
	}
	masq = append(masq, "-j", "MASQUERADE")
	fwd := func() chainSpec {
		return chainSpec{Table: tableFilter, Name: chainName(ib, "FWD"), Tag: iTag,
			Hooks: []hook{{From: "FORWARD"}},
			Rules: [][]string{
				// Containers reach everything but the hostonly network.
				{"-i", ib, "!", "-o", hb, "-j", "ACCEPT"},
				{"-o", ib, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
				{"-o", ib, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"},
			}}
	}
	p.V4 = append(p.V4,
		fwd(),
		chainSpec{Table: tableNAT, Name: chainName(ib, "POST"), Tag: iTag,
			Hooks: []hook{{From: "POSTROUTING"}},
			Rules: [][]string{
				masq,
				// Forwards used from the host's loopback and hairpin
				// forwards from a container to its own bridge.
				{"-s", "127.0.0.0/8", "-o", ib, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"},
				{"-s", subnet, "-o", ib, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"},
			}},
		chainSpec{Table: tableFilter, Name: chainName(ib, "IN"), Tag: iTag,
			Hooks: []hook{{From: "INPUT"}},
			Rules: [][]string{
				{"-i", ib, "-p", "udp", "-m", "udp", "--dport", "67", "-j", "ACCEPT"},
				{"-i", ib, "-p", "udp", "-m", "udp", "--dport", "53", "-j", "ACCEPT"},
				{"-i", ib, "-p", "tcp", "-m", "tcp", "--dport", "53", "-j", "ACCEPT"},
			}},
	)
	if cfg.Internet.IPv6.Prefix == "" {
		return p, nil
	}
	p.V6 = append(p.V6,
		fwd(),
		chainSpec{Table: tableFilter, Name: chainName(ib, "IN"), Tag: iTag,
			Hooks: []hook{{From: "INPUT"}},
			Rules: [][]string{
				{"-i", ib, "-p", "ipv6-icmp", "-j", "ACCEPT"},
				{"-i", ib, "-p", "udp", "-m", "udp", "--dport", "547", "-j", "ACCEPT"},
				{"-i", ib, "-p", "udp", "-m", "udp", "--dport", "53", "-j", "ACCEPT"},
				{"-i", ib, "-p", "tcp", "-m", "tcp", "--dport", "53", "-j", "ACCEPT"},
			}},
		dnatBase(forwardsTag()),
	)
	return p, nil
}

// dnatBase is the shared nat chain for port forwards: traffic to any local
// address, from outside (PREROUTING) or from the host itself (OUTPUT).
func dnatBase(tag string) chainSpec {
	local := []string{"-m", "addrtype", "--dst-type", "LOCAL"}
	return chainSpec{Table: tableNAT, Name: dnatChain, Tag: tag, Keep: true,
		Hooks: []hook{{From: "PREROUTING", Match: local}, {From: "OUTPUT", Match: local}}}
}

// Forward is one port forward from the host to a container.
type Forward struct {
	Protocol      string // "tcp" or "udp"
	HostPort      int
	ContainerPort int
}

func (f Forward) validate() error {
	if f.Protocol != "tcp" && f.Protocol != "udp" {
		return fmt.Errorf("forward %s %d->%d: protocol must be tcp or udp: %w", f.Protocol, f.HostPort, f.ContainerPort, ErrInvalidForward)
	}
	if f.HostPort < 1 || f.HostPort > 65535 || f.ContainerPort < 1 || f.ContainerPort > 65535 {
		return fmt.Errorf("forward %s %d->%d: ports must be 1 to 65535: %w", f.Protocol, f.HostPort, f.ContainerPort, ErrInvalidForward)
	}
	return nil
}

// planForwards is the per-container DNAT chain for one address family,
// hooked below the shared DNAT chain.
func planForwards(name string, ip netip.Addr, fwds []Forward) chainSpec {
	c := chainSpec{Table: tableNAT, Name: containerChain(name), Tag: containerTag(name),
		Hooks: []hook{{From: dnatChain}}}
	for _, f := range fwds {
		dest := netip.AddrPortFrom(ip, uint16(f.ContainerPort)).String()
		c.Rules = append(c.Rules, []string{"-p", f.Protocol, "-m", f.Protocol,
			"--dport", strconv.Itoa(f.HostPort), "-j", "DNAT", "--to-destination", dest})
	}
	return c
}

// renderChains renders chain specs as text, the way they are applied:
// chain, jumps into it, then its rules.
func renderChains(family string, chains []chainSpec) string {
	var b strings.Builder
	for _, c := range chains {
		fmt.Fprintf(&b, "%s %s -N %s", family, c.Table, c.Name)
		if c.Keep {
			b.WriteString(" (kept)")
		}
		b.WriteByte('\n')
		for _, h := range c.Hooks {
			fmt.Fprintf(&b, "%s %s -I %s 1 %s\n", family, c.Table, h.From, quoteArgs(c.hookSpec(h)))
		}
		for _, r := range c.ruleSpecs() {
			fmt.Fprintf(&b, "%s %s -A %s %s\n", family, c.Table, c.Name, quoteArgs(r))
		}
	}
	return b.String()
}

// quoteArgs joins args the way iptables -S prints them: arguments with
// spaces in double quotes.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"") || a == "" {
			a = `"` + strings.ReplaceAll(a, `"`, `\"`) + `"`
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
