package bridges

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// errFakeNotExist is what fakeFirewall returns for a missing chain or rule.
var errFakeNotExist = fmt.Errorf("fake iptables: %w", errNotExist)

// fakeFirewall is an in-memory iptables: "table/chain" -> rules, each rule
// stored as iptables -S would print it.
type fakeFirewall struct {
	chains map[string][]string
}

func newFakeFirewall() *fakeFirewall {
	f := &fakeFirewall{chains: map[string][]string{}}
	for table, chains := range builtinChains {
		for _, c := range chains {
			f.chains[table+"/"+c] = nil
		}
	}
	return f
}

func isBuiltin(table, chain string) bool { return slices.Contains(builtinChains[table], chain) }

func (f *fakeFirewall) ChainExists(table, chain string) (bool, error) {
	_, ok := f.chains[table+"/"+chain]
	return ok, nil
}

func (f *fakeFirewall) NewChain(table, chain string) error {
	if _, ok := f.chains[table+"/"+chain]; ok {
		return fmt.Errorf("chain %s/%s exists", table, chain)
	}
	f.chains[table+"/"+chain] = nil
	return nil
}

func (f *fakeFirewall) ClearChain(table, chain string) error {
	f.chains[table+"/"+chain] = nil
	return nil
}

func (f *fakeFirewall) DeleteChain(table, chain string) error {
	k := table + "/" + chain
	rules, ok := f.chains[k]
	if !ok {
		return errFakeNotExist
	}
	if len(rules) > 0 || isBuiltin(table, chain) {
		return fmt.Errorf("chain %s not empty or built in", k)
	}
	for other, rs := range f.chains {
		if strings.HasPrefix(other, table+"/") {
			for _, r := range rs {
				if jumpsTo("-A x "+r, chain) {
					return fmt.Errorf("chain %s still referenced from %s", k, other)
				}
			}
		}
	}
	delete(f.chains, k)
	return nil
}

func (f *fakeFirewall) ListChains(table string) ([]string, error) {
	var out []string
	for k := range f.chains {
		if t, c, _ := strings.Cut(k, "/"); t == table {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeFirewall) List(table, chain string) ([]string, error) {
	rules, ok := f.chains[table+"/"+chain]
	if !ok {
		return nil, errFakeNotExist
	}
	head := "-N " + chain
	if isBuiltin(table, chain) {
		head = "-P " + chain + " ACCEPT"
	}
	out := []string{head}
	for _, r := range rules {
		out = append(out, "-A "+chain+" "+r)
	}
	return out, nil
}

func (f *fakeFirewall) Exists(table, chain string, spec ...string) (bool, error) {
	rules, ok := f.chains[table+"/"+chain]
	if !ok {
		return false, errFakeNotExist
	}
	return slices.Contains(rules, quoteArgs(spec)), nil
}

// checkTarget fails like iptables when a jump names a missing chain.
func (f *fakeFirewall) checkTarget(table string, spec []string) error {
	for i := 0; i+1 < len(spec); i++ {
		if spec[i] == "-j" && strings.HasPrefix(spec[i+1], chainPrefix) {
			if _, ok := f.chains[table+"/"+spec[i+1]]; !ok {
				return fmt.Errorf("jump to missing chain %s: %w", spec[i+1], errFakeNotExist)
			}
		}
	}
	return nil
}

func (f *fakeFirewall) Append(table, chain string, spec ...string) error {
	k := table + "/" + chain
	if _, ok := f.chains[k]; !ok {
		return errFakeNotExist
	}
	if err := f.checkTarget(table, spec); err != nil {
		return err
	}
	f.chains[k] = append(f.chains[k], quoteArgs(spec))
	return nil
}

func (f *fakeFirewall) Insert(table, chain string, pos int, spec ...string) error {
	k := table + "/" + chain
	rules, ok := f.chains[k]
	if !ok {
		return errFakeNotExist
	}
	if pos < 1 || pos > len(rules)+1 {
		return fmt.Errorf("insert %s at %d: index out of range", k, pos)
	}
	if err := f.checkTarget(table, spec); err != nil {
		return err
	}
	f.chains[k] = slices.Insert(rules, pos-1, quoteArgs(spec))
	return nil
}

func (f *fakeFirewall) DeleteById(table, chain string, id int) error {
	k := table + "/" + chain
	rules, ok := f.chains[k]
	if !ok || id < 1 || id > len(rules) {
		return errFakeNotExist
	}
	f.chains[k] = slices.Delete(rules, id-1, id)
	return nil
}

// dump renders every chain and rule, sorted by table and chain, skipping
// empty built-in chains.
func (f *fakeFirewall) dump() string {
	keys := make([]string, 0, len(f.chains))
	for k := range f.chains {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		t, c, _ := strings.Cut(k, "/")
		if isBuiltin(t, c) && len(f.chains[k]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", k)
		for _, r := range f.chains[k] {
			fmt.Fprintf(&b, "  %s\n", r)
		}
	}
	return b.String()
}

// fakeNet is an in-memory set of links, addresses and routes.
type fakeNet struct {
	links        map[string]*fakeLink
	defaultRoute string // interface of the default route, v4 and v6
}

type fakeLink struct {
	bridge, up bool
	addrs      []netip.Prefix
	routes     []netip.Prefix
}

func newFakeNet(defaultRoute string) *fakeNet {
	n := &fakeNet{links: map[string]*fakeLink{}, defaultRoute: defaultRoute}
	if defaultRoute != "" {
		n.links[defaultRoute] = &fakeLink{up: true}
	}
	return n
}

func (n *fakeNet) ensureBridge(name string) error {
	l, ok := n.links[name]
	if !ok {
		l = &fakeLink{bridge: true}
		n.links[name] = l
	}
	if !l.bridge {
		return ErrNotBridge
	}
	l.up = true
	return nil
}

func (n *fakeNet) linkState(name string) (bool, bool, bool, error) {
	l, ok := n.links[name]
	if !ok {
		return false, false, false, nil
	}
	return true, l.bridge, l.up, nil
}

func (n *fakeNet) linkDel(name string) error {
	delete(n.links, name)
	return nil
}

func (n *fakeNet) link(name string) (*fakeLink, error) {
	l, ok := n.links[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrLinkNotFound)
	}
	return l, nil
}

func (n *fakeNet) addrReplace(link string, p netip.Prefix) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	if !slices.Contains(l.addrs, p) {
		l.addrs = append(l.addrs, p)
	}
	// Like the kernel, an IPv6 address routes its prefix to the link.
	if p.Addr().Is6() && !slices.Contains(l.routes, p.Masked()) {
		l.routes = append(l.routes, p.Masked())
	}
	return nil
}

func (n *fakeNet) hasAddr(link string, p netip.Prefix) (bool, error) {
	l, ok := n.links[link]
	return ok && slices.Contains(l.addrs, p), nil
}

func (n *fakeNet) routeReplace(dst netip.Prefix, link string) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	if !slices.Contains(l.routes, dst) {
		l.routes = append(l.routes, dst)
	}
	return nil
}

func (n *fakeNet) hasRoute(dst netip.Prefix, link string) (bool, error) {
	l, ok := n.links[link]
	return ok && slices.Contains(l.routes, dst), nil
}

func (n *fakeNet) defaultRouteLink(bool) (string, error) { return n.defaultRoute, nil }

func (n *fakeNet) dump() string {
	names := make([]string, 0, len(n.links))
	for k := range n.links {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		l := n.links[k]
		fmt.Fprintf(&b, "%s bridge=%v up=%v addrs=%v routes=%v\n", k, l.bridge, l.up, l.addrs, l.routes)
	}
	return b.String()
}

// fakeSysctl is an in-memory /proc/sys; set calls are logged in order.
type fakeSysctl struct {
	values map[string]string
	log    []string
}

func newFakeSysctl() *fakeSysctl { return &fakeSysctl{values: map[string]string{}} }

func (s *fakeSysctl) set(path, value string) error {
	s.values[path] = value
	s.log = append(s.log, path+"="+value)
	return nil
}

func (s *fakeSysctl) get(path string) (string, error) {
	v, ok := s.values[path]
	if !ok {
		return "0", nil
	}
	return v, nil
}

// fakeDHCP pretends to run dnsmasq: one pid per pid file path.
type fakeDHCP struct {
	running map[string]int
	args    map[string][]string
	signals []string
	nextPid int
}

func newFakeDHCP() *fakeDHCP {
	return &fakeDHCP{running: map[string]int{}, args: map[string][]string{}, nextPid: 1000}
}

func (d *fakeDHCP) start(p dnsmasqPaths, args []string) error {
	d.nextPid++
	d.running[p.Pid] = d.nextPid
	d.args[p.Pid] = args
	return nil
}

func (d *fakeDHCP) pid(p dnsmasqPaths) (int, error) { return d.running[p.Pid], nil }

func (d *fakeDHCP) signal(pid int, sig syscall.Signal) error {
	d.signals = append(d.signals, fmt.Sprintf("%d %v", pid, sig))
	if sig == syscall.SIGTERM || sig == syscall.SIGKILL {
		for k, v := range d.running {
			if v == pid {
				delete(d.running, k)
			}
		}
	}
	return nil
}

// fakeNft records the nft scripts applied and which tables exist.
type fakeNft struct {
	scripts []string
	tables  map[string]bool // "family name"
}

func newFakeNft() *fakeNft { return &fakeNft{tables: map[string]bool{}} }

func (n *fakeNft) Apply(script string) error {
	n.scripts = append(n.scripts, script)
	for _, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 4 && f[0] == "add" && f[1] == "table":
			n.tables[f[2]+" "+f[3]] = true
		case len(f) >= 4 && f[0] == "delete" && f[1] == "table":
			delete(n.tables, f[2]+" "+f[3])
		case len(f) >= 3 && f[0] == "table":
			n.tables[f[1]+" "+f[2]] = true
		}
	}
	return nil
}

func (n *fakeNft) Start(script string) (func() error, error) {
	err := n.Apply(script)
	return func() error { return err }, nil
}

func (n *fakeNft) TableExists(family, table string) (bool, error) {
	return n.tables[family+" "+table], nil
}

func (n *fakeNft) dump() string {
	var out []string
	for t := range n.tables {
		out = append(out, t)
	}
	sort.Strings(out)
	return strings.Join(out, "\n") + "\n"
}

func (n *fakeNft) MapKeys(family, table, name string) ([]string, error) {
	var keys []string
	for _, sc := range n.scripts {
		for _, line := range strings.Split(sc, "\n") {
			prefix := "add element " + family + " " + table + " " + name + " { \""
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				keys = append(keys, rest[:strings.IndexByte(rest, '"')])
			}
		}
	}
	return keys, nil
}

func (n *fakeNft) Chain(family, table, name string) (string, error) {
	var out strings.Builder
	for _, sc := range n.scripts {
		for _, line := range strings.Split(sc, "\n") {
			if rest, ok := strings.CutPrefix(line, "add rule "+family+" "+table+" "+name+" "); ok {
				out.WriteString(rest + "\n")
			}
		}
	}
	return out.String(), nil
}

func (n *fakeNft) Tables() ([]string, error) {
	var out []string
	for t := range n.tables {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeFirewall) Dump(table string) ([]string, error) {
	var out []string
	for k := range f.chains {
		t, c, _ := strings.Cut(k, "/")
		if t != table {
			continue
		}
		lines, _ := f.List(t, c)
		out = append(out, lines...)
	}
	return out, nil
}
