// Package bridges is the host side of container networking: the hostonly
// and internet bridges with their addresses, sysctls, the dnsmasq serving
// the internet bridge, the iptables chains the tool owns (NAT, forwarding,
// port forwards, v4 and v6) and the allocation of addresses, MACs and veth
// names. Every host change is idempotent; Teardown removes every trace.
//
// All functions act in the network namespace of the calling thread.
package bridges

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"github.com/nixcloud/nixcloud-container/filters"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/records"
)

// host bundles the system interfaces one operation uses; tests build it
// from the fakes in fake_test.go.
type host struct {
	cfg  hostconfig.Config
	net  netOps
	sys  sysctlOps
	ipt4 firewall
	ipt6 firewall // nil when ip6tables is unusable and IPv6 is off
	dns  dhcpServer
	nft  filters.Runner
}

// newHost builds the real host for cfg.
func newHost(cfg hostconfig.Config) (*host, error) {
	h := newFilesHost(cfg)
	var err error
	if h.ipt4, err = newFirewall(iptables.ProtocolIPv4); err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	if h.ipt6, err = newFirewall(iptables.ProtocolIPv6); err != nil {
		if cfg.Internet.IPv6.Prefix != "" {
			return nil, fmt.Errorf("ip6tables: %w", err)
		}
		h.ipt6 = nil
	}
	return h, nil
}

// newFilesHost is a host for work that needs no firewall.
func newFilesHost(cfg hostconfig.Config) *host {
	return &host{cfg: cfg, net: nlOps{}, sys: procSysctl{}, dns: dnsmasqProc{}, nft: filters.Nft{}}
}

// Setup prepares the host: both bridges with their addresses, sysctls,
// the owned iptables chains (rebuilt) and the internet bridge's dnsmasq.
// Running it again converges to the same state.
func Setup(cfg hostconfig.Config) error {
	h, err := newHost(cfg)
	if err != nil {
		return fmt.Errorf("host setup: %w", err)
	}
	if err := h.setup(true, true, nil); err != nil {
		return fmt.Errorf("host setup: %w", err)
	}
	return nil
}

// EnsureForStart makes sure what starting a container needs is there: the
// hostonly bridge and its chains, and with needInternet the internet bridge,
// NAT and a running dnsmasq (started again if it died); the packet filter,
// with the filters of the container's ports (see SetPortFilters) in the
// same transaction. Chains that are complete are left alone, so running
// containers keep their traffic.
func EnsureForStart(cfg hostconfig.Config, needInternet bool, ports []filters.Port) error {
	h, err := newHost(cfg)
	if err != nil {
		return fmt.Errorf("host network: %w", err)
	}
	if err := h.setup(needInternet, false, ports); err != nil {
		return fmt.Errorf("host network: %w", err)
	}
	return nil
}

// uplink is the interface NAT goes out of: internet.uplink, else the
// interface of the default route of the family ("" when there is none).
func (h *host) uplink(v6 bool) (string, error) {
	if up := h.cfg.Internet.Uplink; up != "" {
		// MASQUERADE out of a missing interface would silently NAT nothing.
		exists, _, _, err := h.net.linkState(up)
		if err == nil && !exists {
			err = ErrLinkNotFound
		}
		if err != nil {
			return "", fmt.Errorf("internet.uplink %s: %w", up, err)
		}
		return up, nil
	}
	l, err := h.net.defaultRouteLink(v6)
	if err != nil {
		return "", fmt.Errorf("uplink: %w", err)
	}
	if l == "" && v6 {
		return h.net.defaultRouteLink(false)
	}
	return l, nil
}

func (h *host) bridge(name string, addrs ...netip.Prefix) error {
	if err := hostconfig.ValidBridgeName(name); err != nil {
		return err
	}
	if err := h.net.ensureBridge(name); err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	for _, a := range addrs {
		if a.Addr().Is6() {
			// The bridge routes IPv6 and sends its own RAs.
			if err := h.sys.set("net/ipv6/conf/"+name+"/disable_ipv6", "0"); err != nil {
				return fmt.Errorf("bridge %s: %w", name, err)
			}
			if err := h.sys.set("net/ipv6/conf/"+name+"/accept_ra", "0"); err != nil {
				return fmt.Errorf("bridge %s: %w", name, err)
			}
		}
		if err := h.net.addrReplace(name, a); err != nil {
			return fmt.Errorf("bridge %s: address %s: %w", name, a, err)
		}
	}
	// Port forwards used from the host's loopback go out with 127.0.0.1
	// until masqueraded.
	if err := h.sys.set("net/ipv4/conf/"+name+"/route_localnet", "1"); err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	return nil
}

// setup converges the host. rebuild flushes and refills owned chains;
// without it complete chains are kept as they are. ports are container
// ports whose filters are set with the host's.
func (h *host) setup(internet, rebuild bool, ports []filters.Port) error {
	ho, err := HostonlyPrefix(h.cfg)
	if err != nil {
		return err
	}
	// A new install in this namespace (its hostonly bridge is not there
	// yet), or host setup: make sure no other install uses it.
	if exists, _, _, err := h.net.linkState(h.cfg.Hostonly.Bridge); err != nil {
		return err
	} else if rebuild || !exists {
		if err := h.checkOneInstall(); err != nil {
			return err
		}
	}
	if err := h.bridge(h.cfg.Hostonly.Bridge, ho); err != nil {
		return err
	}
	if err := h.setGlobal("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	uplink := ""
	if internet {
		ip, err := InternetPrefix(h.cfg)
		if err != nil {
			return err
		}
		addrs := []netip.Prefix{ip}
		v6, hasV6, err := InternetIPv6Prefix(h.cfg)
		if err != nil {
			return err
		}
		if hasV6 {
			addrs = append(addrs, v6)
		}
		if err := h.bridge(h.cfg.Internet.Bridge, addrs...); err != nil {
			return err
		}
		if uplink, err = h.uplink(false); err != nil {
			return err
		}
		if hasV6 {
			if err := h.setupIPv6(); err != nil {
				return err
			}
		}
	}
	plan, err := planHost(h.cfg, uplink, internet)
	if err != nil {
		return err
	}
	// The packet filter (nftables) and the chains (iptables) are
	// independent: nft runs while the chains are checked.
	waitFilter, err := h.startHostFilter(ports)
	if err != nil {
		return err
	}
	chainsErr := h.applyChains(h.ipt4, plan.V4, rebuild)
	if chainsErr != nil {
		chainsErr = fmt.Errorf("iptables: %w", chainsErr)
	} else if len(plan.V6) > 0 {
		if err := h.applyChains(h.ipt6, plan.V6, rebuild); err != nil {
			chainsErr = fmt.Errorf("ip6tables: %w", err)
		}
	}
	if err := errors.Join(chainsErr, waitFilter()); err != nil {
		return err
	}
	if internet {
		return h.ensureDnsmasq()
	}
	return nil
}

// setupIPv6 routes the prefix to the internet bridge and switches IPv6
// forwarding on, after telling the uplink to keep accepting router
// advertisements.
func (h *host) setupIPv6() error {
	prefix, err := ipv6Routed(h.cfg)
	if err != nil {
		return err
	}
	// A prefix wider than the bridge's own /64 needs a route; the /64
	// itself is routed by the bridge address already.
	if br, _, _ := InternetIPv6Prefix(h.cfg); br.Masked() != prefix {
		if err := h.net.routeReplace(prefix, h.cfg.Internet.Bridge); err != nil {
			return fmt.Errorf("route %s to %s: %w", prefix, h.cfg.Internet.Bridge, err)
		}
	}
	up, err := h.uplink(true)
	if err != nil {
		return err
	}
	if up != "" {
		if err := h.setGlobal("net/ipv6/conf/"+up+"/accept_ra", "2"); err != nil {
			return fmt.Errorf("uplink %s: %w", up, err)
		}
	}
	return h.setGlobal("net/ipv6/conf/all/forwarding", "1")
}

func (h *host) applyChains(ipt firewall, chains []chainSpec, rebuild bool) error {
	if ipt == nil {
		return errors.New("not available")
	}
	// One listing per table tells which chains are complete; a chain that
	// does not look complete there is asked about rule by rule before it
	// is repaired (iptables may print a rule differently).
	listings := map[string]map[string]bool{}
	for _, c := range chains {
		if rebuild && !c.Keep {
			if err := ensureChain(ipt, c); err != nil {
				return err
			}
			continue
		}
		listing, ok := listings[c.Table]
		if !ok {
			lines, err := ipt.Dump(c.Table)
			if err != nil {
				return fmt.Errorf("table %s: list: %w", c.Table, err)
			}
			listing = map[string]bool{}
			for _, l := range lines {
				listing[l] = true
			}
			listings[c.Table] = listing
		}
		if chainListed(listing, c) {
			continue
		}
		present, err := chainPresent(ipt, c)
		if err != nil {
			return fmt.Errorf("chain %s/%s: check: %w", c.Table, c.Name, err)
		}
		if present {
			continue
		}
		if err := ensureChain(ipt, c); err != nil {
			return err
		}
	}
	return nil
}

// Teardown removes everything Setup, EnsureForStart, AddLease and
// AddForwards made: dnsmasq and its files, every owned chain, rule and
// jump (v4 and v6), the packet filter, and both bridges, and puts back the
// global sysctls the tool changed (ip_forward, IPv6 forwarding, the
// uplink's accept_ra). Missing pieces are fine; every step runs and the
// errors are joined.
func Teardown(cfg hostconfig.Config) error {
	h, err := newHost(cfg)
	if err != nil {
		return fmt.Errorf("host teardown: %w", err)
	}
	if err := h.teardown(); err != nil {
		return fmt.Errorf("host teardown: %w", err)
	}
	return nil
}

func (h *host) teardown() error {
	var errs []error
	p := pathsFor(h.cfg, h.cfg.Internet.Bridge)
	if err := h.stopDnsmasq(p); err != nil {
		errs = append(errs, fmt.Errorf("dnsmasq %s: %w", h.cfg.Internet.Bridge, err))
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		errs = append(errs, fmt.Errorf("dnsmasq %s: remove files: %w", h.cfg.Internet.Bridge, err))
	}
	// The parent dnsmasq folder goes when no other bridge uses it.
	_ = os.Remove(filepath.Dir(p.Dir))
	if err := h.removeFilters(); err != nil {
		errs = append(errs, err)
	}
	if err := sweepFirewall(h.ipt4); err != nil {
		errs = append(errs, fmt.Errorf("iptables: %w", err))
	}
	if h.ipt6 != nil {
		if err := sweepFirewall(h.ipt6); err != nil {
			errs = append(errs, fmt.Errorf("ip6tables: %w", err))
		}
	}
	for _, br := range []string{h.cfg.Internet.Bridge, h.cfg.Hostonly.Bridge} {
		if err := h.net.linkDel(br); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: delete: %w", br, err))
		}
	}
	if err := h.restoreSysctls(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// StatusItem is one piece of host networking and whether it is in place.
type StatusItem struct {
	Name    string `json:"name"`
	Present bool   `json:"present"`
	Detail  string `json:"detail,omitempty"`
}

// Status lists the pieces of host networking.
type Status struct {
	Items []StatusItem `json:"items"`
}

// OK reports whether every piece is present.
func (s Status) OK() bool {
	for _, it := range s.Items {
		if !it.Present {
			return false
		}
	}
	return true
}

// String renders one line per item: "present", or "missing", the item and
// any detail.
func (s Status) String() string {
	var b strings.Builder
	for _, it := range s.Items {
		word := "present"
		if !it.Present {
			word = "missing"
		}
		fmt.Fprintf(&b, "%-8s %s", word, it.Name)
		if it.Detail != "" {
			fmt.Fprintf(&b, " (%s)", it.Detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// HostStatus reports which pieces of host networking are there.
func HostStatus(cfg hostconfig.Config) (Status, error) {
	h, err := newHost(cfg)
	if err != nil {
		return Status{}, fmt.Errorf("host status: %w", err)
	}
	st, err := h.status()
	if err != nil {
		return st, fmt.Errorf("host status: %w", err)
	}
	return st, nil
}

func (h *host) status() (Status, error) {
	var st Status
	add := func(name string, ok bool, detail string) {
		st.Items = append(st.Items, StatusItem{Name: name, Present: ok, Detail: detail})
	}
	ho, err := HostonlyPrefix(h.cfg)
	if err != nil {
		return st, err
	}
	ip, err := InternetPrefix(h.cfg)
	if err != nil {
		return st, err
	}
	v6, hasV6, err := InternetIPv6Prefix(h.cfg)
	if err != nil {
		return st, err
	}
	bridges := []struct {
		name  string
		addrs []netip.Prefix
	}{{h.cfg.Hostonly.Bridge, []netip.Prefix{ho}}, {h.cfg.Internet.Bridge, []netip.Prefix{ip}}}
	if hasV6 {
		bridges[1].addrs = append(bridges[1].addrs, v6)
	}
	for _, b := range bridges {
		exists, isBr, up, err := h.net.linkState(b.name)
		if err != nil {
			return st, fmt.Errorf("bridge %s: %w", b.name, err)
		}
		detail := ""
		switch {
		case !exists:
		case !isBr:
			detail = "not a bridge"
		case !up:
			detail = "down"
		}
		add("bridge "+b.name, exists && isBr && up, detail)
		for _, a := range b.addrs {
			ok, err := h.net.hasAddr(b.name, a)
			if err != nil {
				return st, fmt.Errorf("bridge %s: %w", b.name, err)
			}
			add("address "+a.String()+" on "+b.name, ok, "")
		}
	}
	sysctl := func(path, want string) {
		got, err := h.sys.get(path)
		detail := ""
		if err != nil {
			detail = err.Error()
		} else if got != want {
			detail = "is " + got
		}
		add("sysctl "+strings.ReplaceAll(path, "/", ".")+"="+want, err == nil && got == want, detail)
	}
	sysctl("net/ipv4/ip_forward", "1")
	uplink := h.cfg.Internet.Uplink
	if uplink != "" {
		exists, _, _, err := h.net.linkState(uplink)
		if err != nil {
			return st, fmt.Errorf("uplink %s: %w", uplink, err)
		}
		add("uplink "+uplink, exists, "")
	} else if uplink, err = h.uplink(false); err != nil {
		return st, err
	}
	if hasV6 {
		prefix, err := ipv6Routed(h.cfg)
		if err != nil {
			return st, err
		}
		ok, err := h.net.hasRoute(prefix, h.cfg.Internet.Bridge)
		if err != nil {
			return st, err
		}
		add("route "+prefix.String()+" to "+h.cfg.Internet.Bridge, ok, "")
		if up6, err := h.uplink(true); err == nil && up6 != "" {
			sysctl("net/ipv6/conf/"+up6+"/accept_ra", "2")
		}
		sysctl("net/ipv6/conf/all/forwarding", "1")
	}
	plan, err := planHost(h.cfg, uplink, true)
	if err != nil {
		return st, err
	}
	for _, fam := range []struct {
		name   string
		ipt    firewall
		chains []chainSpec
	}{{"iptables", h.ipt4, plan.V4}, {"ip6tables", h.ipt6, plan.V6}} {
		for _, c := range fam.chains {
			name := fam.name + " " + c.Table + " " + c.Name
			if fam.ipt == nil {
				add(name, false, "ip6tables unavailable")
				continue
			}
			ok, err := chainPresent(fam.ipt, c)
			if err != nil {
				return st, fmt.Errorf("%s: %w", name, err)
			}
			add(name, ok, "")
		}
	}
	table := filterTable(h.cfg)
	for _, fam := range []string{"inet", "bridge"} {
		ok, err := h.nft.TableExists(fam, table)
		if err != nil {
			return st, fmt.Errorf("packet filter: %w", err)
		}
		add("nftables "+fam+" "+table, ok, "")
	}
	p := pathsFor(h.cfg, h.cfg.Internet.Bridge)
	pid, err := h.dns.pid(p)
	if err != nil {
		return st, fmt.Errorf("dnsmasq %s: %w", h.cfg.Internet.Bridge, err)
	}
	detail := ""
	if pid != 0 {
		detail = fmt.Sprintf("pid %d", pid)
	}
	add("dnsmasq "+h.cfg.Internet.Bridge, pid != 0, detail)
	return st, nil
}

// AddForwards installs the port forwards of container name: DNAT from any
// local address of the host (from outside and from the host itself) to
// ipv4 and, when valid, ipv6. It replaces the container's previous
// forwards. Call it after EnsureForStart so the forward and masquerade
// rules of the bridges are in place.
func AddForwards(cfg hostconfig.Config, name string, ipv4, ipv6 netip.Addr, fwds []Forward) error {
	h, err := newHost(cfg)
	if err != nil {
		return fmt.Errorf("container %q: port forwards: %w", name, err)
	}
	return h.addForwards(name, ipv4, ipv6, fwds)
}

func (h *host) addForwards(name string, ipv4, ipv6 netip.Addr, fwds []Forward) (retErr error) {
	if err := records.ValidateName(name); err != nil {
		return err
	}
	for _, f := range fwds {
		if err := f.validate(); err != nil {
			return fmt.Errorf("container %q: %w", name, err)
		}
	}
	if err := h.removeForwards(name); err != nil {
		return err
	}
	if len(fwds) == 0 {
		return nil
	}
	defer func() {
		if retErr != nil {
			_ = h.removeForwards(name)
		}
	}()
	for _, fam := range []struct {
		ipt firewall
		ip  netip.Addr
		v4  bool
	}{{h.ipt4, ipv4, true}, {h.ipt6, ipv6, false}} {
		if !fam.ip.IsValid() {
			continue
		}
		if fam.ip.Is4() != fam.v4 {
			return fmt.Errorf("container %q: port forwards: address %s is of the wrong family", name, fam.ip)
		}
		if fam.ipt == nil {
			return fmt.Errorf("container %q: port forwards: ip6tables unavailable", name)
		}
		for _, c := range []chainSpec{dnatBase(forwardsTag()), planForwards(name, fam.ip, fwds)} {
			if err := ensureChain(fam.ipt, c); err != nil {
				return fmt.Errorf("container %q: port forwards: %w", name, err)
			}
		}
	}
	return nil
}

// ForwardsPresent reports whether the IPv4 port forward chain of
// container name is there and hooked into the shared DNAT chain.
func ForwardsPresent(cfg hostconfig.Config, name string) (bool, error) {
	h, err := newHost(cfg)
	if err != nil {
		return false, fmt.Errorf("container %q: port forwards: %w", name, err)
	}
	c := planForwards(name, netip.Addr{}, nil)
	ok, err := h.ipt4.ChainExists(c.Table, c.Name)
	if err != nil || !ok {
		return false, err
	}
	return h.ipt4.Exists(c.Table, dnatChain, c.hookSpec(c.Hooks[0])...)
}

// RemoveForwards removes the port forwards of container name, v4 and v6;
// missing ones are fine.
func RemoveForwards(cfg hostconfig.Config, name string) error {
	h, err := newHost(cfg)
	if err != nil {
		return fmt.Errorf("container %q: port forwards: %w", name, err)
	}
	return h.removeForwards(name)
}

func (h *host) removeForwards(name string) error {
	if err := records.ValidateName(name); err != nil {
		return err
	}
	var errs []error
	for _, ipt := range []firewall{h.ipt4, h.ipt6} {
		if ipt == nil {
			continue
		}
		if err := removeChain(ipt, tableNAT, containerChain(name), []string{dnatChain}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("container %q: remove port forwards: %w", name, err)
	}
	return nil
}
