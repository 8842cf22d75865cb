package bridges

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nixcloud/nixcloud-container/filters"
	"github.com/nixcloud/nixcloud-container/hostconfig"
)

// filterTable is the name of the install's nftables tables.
func filterTable(cfg hostconfig.Config) string { return filters.TableName(cfg.Hostonly.Bridge) }

// hostFilter is the host part of the packet filter for cfg: both bridges
// with their isolation, subnets and the host ports containers may reach.
func hostFilter(cfg hostconfig.Config) (filters.Host, error) {
	h := filters.Host{Table: filterTable(cfg)}
	ho, err := HostonlyPrefix(cfg)
	if err != nil {
		return h, err
	}
	hb := filters.Bridge{Name: cfg.Hostonly.Bridge, Isolated: cfg.Hostonly.IsolateContainers, Subnets: []netip.Prefix{ho}}
	ib := filters.Bridge{Name: cfg.Internet.Bridge, Isolated: cfg.Internet.IsolateContainers,
		// The bridge's DHCP and DNS (dnsmasq).
		Services: []filters.Service{{Proto: "udp", Port: 67}, {Proto: "udp", Port: 53}, {Proto: "tcp", Port: 53}}}
	ip, err := InternetPrefix(cfg)
	if err != nil {
		return h, err
	}
	ib.Subnets = append(ib.Subnets, ip)
	if _, ok, err := InternetIPv6Prefix(cfg); err != nil {
		return h, err
	} else if ok {
		routed, err := ipv6Routed(cfg)
		if err != nil {
			return h, err
		}
		ib.Subnets = append(ib.Subnets, routed)
		// Stateless DHCPv6 for the DNS servers.
		ib.Services = append(ib.Services, filters.Service{Proto: "udp", Port: 547})
	}
	for _, b := range []struct {
		br    *filters.Bridge
		key   string
		ports []string
	}{{&hb, "hostonly", cfg.Hostonly.HostPorts}, {&ib, "internet", cfg.Internet.HostPorts}} {
		for _, p := range b.ports {
			s, err := filters.ParseService(p)
			if err != nil {
				return h, fmt.Errorf("%s.host_ports: %w", b.key, err)
			}
			b.br.Services = append(b.br.Services, s)
		}
	}
	h.Bridges = []filters.Bridge{hb, ib}
	return h, nil
}

// startHostFilter starts making the host part of the packet filter
// converge, with the filters of ports in the same transaction, and returns
// the function that waits for it.
func (h *host) startHostFilter(ports []filters.Port) (func() error, error) {
	spec, err := hostFilter(h.cfg)
	if err != nil {
		return nil, err
	}
	script, err := filters.RenderHost(spec)
	if err != nil {
		return nil, err
	}
	if len(ports) > 0 {
		p, err := filters.RenderPorts(spec.Table, ports)
		if err != nil {
			return nil, err // names the container
		}
		script += p
	}
	wait, err := h.nft.Start(script)
	if err != nil {
		return nil, fmt.Errorf("packet filter: %w", err)
	}
	return func() error {
		if err := wait(); err != nil {
			return fmt.Errorf("packet filter: %w", err)
		}
		return nil
	}, nil
}

// removeFilters deletes the install's tables, with every port's filter.
func (h *host) removeFilters() error {
	script, err := filters.RenderTeardown(filterTable(h.cfg))
	if err != nil {
		return err
	}
	if err := h.nft.Apply(script); err != nil {
		return fmt.Errorf("packet filter: %w", err)
	}
	return nil
}

// SetPortFilters pins what container name's ports may send (MAC, ARP,
// source addresses) and makes sure the host part of the filter is there.
// The ports need not exist yet: the filter matches them by name, so
// setting it before the container starts leaves no moment unfiltered.
func SetPortFilters(cfg hostconfig.Config, name string, ports []filters.Port) error {
	script, err := filters.RenderPorts(filterTable(cfg), ports)
	if err != nil {
		return fmt.Errorf("container %q: packet filter: %w", name, err)
	}
	if err := newFilesHost(cfg).nft.Apply(script); err != nil {
		return fmt.Errorf("container %q: packet filter: %w", name, err)
	}
	return nil
}

// RemovePortFilters removes the filters of the host veths; a port without
// one, or a host without the tables, is fine.
func RemovePortFilters(cfg hostconfig.Config, name string, veths []string) error {
	h := newFilesHost(cfg)
	table := filterTable(cfg)
	ok, err := h.nft.TableExists("bridge", table)
	if err != nil {
		return fmt.Errorf("container %q: remove packet filter: %w", name, err)
	}
	if !ok || len(veths) == 0 {
		return nil
	}
	var b strings.Builder
	for _, v := range veths {
		s, err := filters.RenderRemovePort(table, v)
		if err != nil {
			return fmt.Errorf("container %q: remove packet filter: %w", name, err)
		}
		b.WriteString(s)
	}
	if err := h.nft.Apply(b.String()); err != nil {
		return fmt.Errorf("container %q: remove packet filter: %w", name, err)
	}
	return nil
}

// FilteredPorts is the set of host veths that have a packet filter.
func FilteredPorts(cfg hostconfig.Config) (map[string]bool, error) {
	h := newFilesHost(cfg)
	out := map[string]bool{}
	table := filterTable(cfg)
	ok, err := h.nft.TableExists("bridge", table)
	if err != nil || !ok {
		return out, err
	}
	keys, err := h.nft.MapKeys("bridge", table, "ports")
	if err != nil {
		return out, fmt.Errorf("packet filter: %w", err)
	}
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}

// EgressPorts is the set of host veths that have an egress filter (the
// ports of running containers on bridges that isolate containers).
func EgressPorts(cfg hostconfig.Config) (map[string]bool, error) {
	h := newFilesHost(cfg)
	out := map[string]bool{}
	keys, err := h.nft.MapKeys("bridge", filterTable(cfg), "egress")
	if err != nil && strings.Contains(err.Error(), "No such file or directory") {
		return out, nil // no table (yet): no filters
	}
	if err != nil {
		return out, fmt.Errorf("packet filter: %w", err)
	}
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}

// LinkProblem says what is missing of a link in the egress filter of host
// veth (the port a link leads to): "" when its rules are there, from the
// neighbour's veth to each of the services.
func LinkProblem(cfg hostconfig.Config, veth string, link filters.Link) (string, error) {
	rules, err := newFilesHost(cfg).nft.Chain("bridge", filterTable(cfg), filters.EgressChain(veth))
	if err != nil {
		if strings.Contains(err.Error(), "No such file or directory") {
			return "no egress filter on " + veth, nil
		}
		return "", fmt.Errorf("packet filter: %w", err)
	}
	for _, line := range strings.Split(rules, "\n") {
		if !strings.Contains(line, "iifname "+`"`+link.Veth+`"`) || !strings.Contains(line, "th dport") {
			continue
		}
		for _, s := range link.Services {
			if !strings.Contains(line, s.Proto+" . "+strconv.Itoa(s.Port)) {
				return "rule from " + link.Veth + " lacks " + s.String(), nil
			}
		}
		return "", nil
	}
	return "no rule from " + link.Veth + " on " + veth, nil
}

// ErrOtherInstall means another install of the tool uses the network
// namespace.
var ErrOtherInstall = errors.New("another nixcloud-container install uses this network namespace")

// checkOneInstall refuses a second install in the network namespace: two
// installs would share veth names (from slots) and the shared DNAT chain,
// and one's teardown would sweep the other's chains. Each install's packet
// filter tables are named after its hostonly bridge, which tells them
// apart.
func (h *host) checkOneInstall() error {
	tables, err := h.nft.Tables()
	if err != nil {
		return fmt.Errorf("packet filter: %w", err)
	}
	ours := filterTable(h.cfg)
	for _, t := range tables {
		_, name, _ := strings.Cut(t, " ")
		if strings.HasPrefix(name, filters.TablePrefix) && name != ours {
			return fmt.Errorf("%w (nftables table %s; this one's is %s): give each install a network namespace of its own, or remove the other with its host teardown", ErrOtherInstall, t, ours)
		}
	}
	return nil
}
