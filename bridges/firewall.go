package bridges

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"
)

// firewall is the part of go-iptables the package uses; *iptables.IPTables
// implements it, fakeFirewall (fake.go) stands in for it in tests.
type firewall interface {
	ChainExists(table, chain string) (bool, error)
	NewChain(table, chain string) error
	ClearChain(table, chain string) error
	DeleteChain(table, chain string) error
	ListChains(table string) ([]string, error)
	List(table, chain string) ([]string, error)
	Exists(table, chain string, rulespec ...string) (bool, error)
	Append(table, chain string, rulespec ...string) error
	Insert(table, chain string, pos int, rulespec ...string) error
	DeleteById(table, chain string, id int) error
	// Dump lists every chain and rule of a table, as iptables -S does.
	Dump(table string) ([]string, error)
}

// xtables is go-iptables for one family, plus Dump. go-iptables runs
// `iptables --version` when it is set up, so that happens at its first use:
// a start whose rules are all in place (Dump shows them) runs no iptables
// process but the Dump of each table.
type xtables struct {
	proto iptables.Protocol
	bin   string
	// save is iptables-save of the same family and backend ("" if there
	// is none): one run lists every table, and stays valid until the
	// next change made through this runner.
	save  string
	saved map[string][]string
	once  sync.Once
	ipt   *iptables.IPTables
	err   error
}

// newFirewall builds the real go-iptables runner for one family.
func newFirewall(proto iptables.Protocol) (firewall, error) {
	bin := "iptables"
	if proto == iptables.ProtocolIPv6 {
		bin = "ip6tables"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, err
	}
	save, _ := exec.LookPath(bin + "-save")
	return &xtables{proto: proto, bin: path, save: save}, nil
}

// get sets go-iptables up on first use.
func (x *xtables) get() (*iptables.IPTables, error) {
	x.once.Do(func() {
		x.ipt, x.err = iptables.New(iptables.IPFamily(x.proto), iptables.Timeout(30))
	})
	return x.ipt, x.err
}

// change makes a change through go-iptables; the saved listing (Dump)
// no longer holds.
func (x *xtables) change(f func(*iptables.IPTables) error) error {
	x.saved = nil
	ipt, err := x.get()
	if err != nil {
		return err
	}
	return f(ipt)
}

func (x *xtables) ChainExists(table, chain string) (bool, error) {
	ipt, err := x.get()
	if err != nil {
		return false, err
	}
	return ipt.ChainExists(table, chain)
}

func (x *xtables) NewChain(table, chain string) error {
	return x.change(func(ipt *iptables.IPTables) error { return ipt.NewChain(table, chain) })
}

func (x *xtables) ClearChain(table, chain string) error {
	return x.change(func(ipt *iptables.IPTables) error { return ipt.ClearChain(table, chain) })
}

func (x *xtables) DeleteChain(table, chain string) error {
	return x.change(func(ipt *iptables.IPTables) error { return ipt.DeleteChain(table, chain) })
}

func (x *xtables) ListChains(table string) ([]string, error) {
	ipt, err := x.get()
	if err != nil {
		return nil, err
	}
	return ipt.ListChains(table)
}

func (x *xtables) List(table, chain string) ([]string, error) {
	ipt, err := x.get()
	if err != nil {
		return nil, err
	}
	return ipt.List(table, chain)
}

func (x *xtables) Exists(table, chain string, rulespec ...string) (bool, error) {
	ipt, err := x.get()
	if err != nil {
		return false, err
	}
	return ipt.Exists(table, chain, rulespec...)
}

func (x *xtables) Append(table, chain string, rulespec ...string) error {
	return x.change(func(ipt *iptables.IPTables) error { return ipt.Append(table, chain, rulespec...) })
}

func (x *xtables) Insert(table, chain string, pos int, rulespec ...string) error {
	return x.change(func(ipt *iptables.IPTables) error { return ipt.Insert(table, chain, pos, rulespec...) })
}

func (x *xtables) DeleteById(table, chain string, id int) error {
	return x.change(func(ipt *iptables.IPTables) error { return ipt.DeleteById(table, chain, id) })
}

// Dump lists every chain and rule of a table as `iptables -S` prints
// them. With iptables-save, one run lists every table and later calls
// are answered from it until a change through x; without, it runs
// `iptables -w 30 -t TABLE -S` (go-iptables lists one chain at a time).
func (x *xtables) Dump(table string) ([]string, error) {
	if x.save != "" {
		if x.saved == nil {
			var stderr bytes.Buffer
			cmd := exec.Command(x.save)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				return nil, fmt.Errorf("%s: %w: %s", filepath.Base(x.save), err, strings.TrimSpace(stderr.String()))
			}
			x.saved = parseSave(string(out))
		}
		if lines, ok := x.saved[table]; ok {
			return lines, nil
		}
		// A table nothing has used yet is not in the listing; -S loads it.
	}
	var stderr bytes.Buffer
	cmd := exec.Command(x.bin, "-w", "30", "-t", table, "-S")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s -t %s -S: %w: %s", filepath.Base(x.bin), table, err, strings.TrimSpace(stderr.String()))
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), nil
}

// parseSave turns iptables-save output into `iptables -S` lines per
// table: ":CHAIN POLICY [n:m]" is "-P CHAIN POLICY" for a built-in chain
// and "-N CHAIN" for another (policy "-"); rules are printed alike.
func parseSave(out string) map[string][]string {
	tables := map[string][]string{}
	table := ""
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			table = l[1:]
			tables[table] = nil
		case table == "" || l == "" || l == "COMMIT" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, ":"):
			f := strings.Fields(l[1:])
			if len(f) >= 2 && f[1] != "-" {
				tables[table] = append(tables[table], "-P "+f[0]+" "+f[1])
			} else if len(f) >= 1 {
				tables[table] = append(tables[table], "-N "+f[0])
			}
		default:
			tables[table] = append(tables[table], l)
		}
	}
	return tables
}

// chainListed reports whether c, all its rules and its jumps are in the
// listing of c's table (Dump). A rule iptables prints differently from
// how it is written counts as missing; chainPresent then asks iptables.
func chainListed(listing map[string]bool, c chainSpec) bool {
	if !listing["-N "+c.Name] {
		return false
	}
	for _, r := range c.ruleSpecs() {
		if !listing["-A "+c.Name+" "+quoteArgs(r)] {
			return false
		}
	}
	for _, h := range c.Hooks {
		if !listing["-A "+h.From+" "+quoteArgs(c.hookSpec(h))] {
			return false
		}
	}
	return true
}

// errNotExist is what a firewall other than go-iptables (the tests' fake)
// returns for a missing chain or rule.
var errNotExist = errors.New("no such chain or rule")

// isNotExist reports whether err says a chain or rule is missing.
func isNotExist(err error) bool {
	var e *iptables.Error
	if errors.As(err, &e) {
		return e.IsNotExist()
	}
	return errors.Is(err, errNotExist)
}

// ensureChain makes c exist with exactly its rules (unless Keep) and its
// jumps present once, inserted first in their chains.
func ensureChain(ipt firewall, c chainSpec) error {
	if c.Keep {
		ok, err := ipt.ChainExists(c.Table, c.Name)
		if err != nil {
			return fmt.Errorf("chain %s/%s: check: %w", c.Table, c.Name, err)
		}
		if !ok {
			if err := ipt.NewChain(c.Table, c.Name); err != nil {
				return fmt.Errorf("chain %s/%s: create: %w", c.Table, c.Name, err)
			}
		}
	} else {
		if err := ipt.ClearChain(c.Table, c.Name); err != nil {
			return fmt.Errorf("chain %s/%s: create or flush: %w", c.Table, c.Name, err)
		}
	}
	for _, r := range c.ruleSpecs() {
		if c.Keep {
			ok, err := ipt.Exists(c.Table, c.Name, r...)
			if err != nil {
				return fmt.Errorf("chain %s/%s: check rule: %w", c.Table, c.Name, err)
			}
			if ok {
				continue
			}
		}
		if err := ipt.Append(c.Table, c.Name, r...); err != nil {
			return fmt.Errorf("chain %s/%s: append %s: %w", c.Table, c.Name, quoteArgs(r), err)
		}
	}
	for _, h := range c.Hooks {
		spec := c.hookSpec(h)
		ok, err := ipt.Exists(c.Table, h.From, spec...)
		if err != nil {
			return fmt.Errorf("chain %s/%s: check jump: %w", c.Table, h.From, err)
		}
		if ok {
			continue
		}
		if err := ipt.Insert(c.Table, h.From, 1, spec...); err != nil {
			return fmt.Errorf("chain %s/%s: insert jump to %s: %w", c.Table, h.From, c.Name, err)
		}
	}
	return nil
}

// chainPresent reports whether c, all its rules and its jumps are there.
func chainPresent(ipt firewall, c chainSpec) (bool, error) {
	ok, err := ipt.ChainExists(c.Table, c.Name)
	if err != nil || !ok {
		return false, err
	}
	for _, r := range c.ruleSpecs() {
		if ok, err := ipt.Exists(c.Table, c.Name, r...); err != nil || !ok {
			return false, err
		}
	}
	for _, h := range c.Hooks {
		if ok, err := ipt.Exists(c.Table, h.From, c.hookSpec(h)...); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// deleteMatching deletes the rules of table/chain whose -S line satisfies
// match, highest position first so positions stay valid.
func deleteMatching(ipt firewall, table, chain string, match func(line string) bool) error {
	// Listing a missing chain fails with odd messages on the nft
	// backend ("incompatible"), so ask first.
	ok, err := ipt.ChainExists(table, chain)
	if err != nil {
		return fmt.Errorf("chain %s/%s: check: %w", table, chain, err)
	}
	if !ok {
		return nil
	}
	lines, err := ipt.List(table, chain)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("chain %s/%s: list: %w", table, chain, err)
	}
	var ids []int
	n := 0
	for _, l := range lines {
		if !strings.HasPrefix(l, "-A ") {
			continue
		}
		n++
		if match(l) {
			ids = append(ids, n)
		}
	}
	var errs []error
	for i := len(ids) - 1; i >= 0; i-- {
		if err := ipt.DeleteById(table, chain, ids[i]); err != nil && !isNotExist(err) {
			errs = append(errs, fmt.Errorf("chain %s/%s: delete rule %d: %w", table, chain, ids[i], err))
		}
	}
	return errors.Join(errs...)
}

// removeChain deletes the jumps into name from the chains in from, then
// flushes and deletes name. Absence is not an error.
func removeChain(ipt firewall, table, name string, from []string) error {
	var errs []error
	for _, f := range from {
		errs = append(errs, deleteMatching(ipt, table, f, func(l string) bool { return jumpsTo(l, name) }))
	}
	ok, err := ipt.ChainExists(table, name)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("chain %s/%s: check: %w", table, name, err))...)
	}
	if ok {
		if err := ipt.ClearChain(table, name); err != nil {
			errs = append(errs, fmt.Errorf("chain %s/%s: flush: %w", table, name, err))
		} else if err := ipt.DeleteChain(table, name); err != nil && !isNotExist(err) {
			errs = append(errs, fmt.Errorf("chain %s/%s: delete: %w", table, name, err))
		}
	}
	return errors.Join(errs...)
}

func jumpsTo(line, chain string) bool {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if (f[i] == "-j" || f[i] == "-g") && f[i+1] == chain {
			return true
		}
	}
	return false
}

func ownedLine(line string) bool {
	if strings.Contains(line, `--comment "`+tagPrefix+" ") {
		return true
	}
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if (f[i] == "-j" || f[i] == "-g") && strings.HasPrefix(f[i+1], chainPrefix) {
			return true
		}
	}
	return false
}

// sweepFirewall removes everything the tool owns in one family: jumps and
// tagged rules in the built-in chains, then every NCC- chain.
func sweepFirewall(ipt firewall) error {
	var errs []error
	for _, table := range []string{tableNAT, tableFilter} {
		for _, b := range builtinChains[table] {
			errs = append(errs, deleteMatching(ipt, table, b, ownedLine))
		}
		chains, err := ipt.ListChains(table)
		if err != nil {
			errs = append(errs, fmt.Errorf("table %s: list chains: %w", table, err))
			continue
		}
		var ours []string
		for _, c := range chains {
			if strings.HasPrefix(c, chainPrefix) {
				ours = append(ours, c)
			}
		}
		// Flush all first: owned chains may jump to each other.
		for _, c := range ours {
			if err := ipt.ClearChain(table, c); err != nil {
				errs = append(errs, fmt.Errorf("chain %s/%s: flush: %w", table, c, err))
			}
		}
		for _, c := range ours {
			if err := ipt.DeleteChain(table, c); err != nil && !isNotExist(err) {
				errs = append(errs, fmt.Errorf("chain %s/%s: delete: %w", table, c, err))
			}
		}
	}
	return errors.Join(errs...)
}
