package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
)

// Change is one key whose value differs: Old is empty for an added key,
// New for a removed one. Values are JSON.
type Change struct {
	Key string `json:"key"`
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
}

func (c Change) String() string {
	switch {
	case c.Old == "":
		return fmt.Sprintf("%s: added %s", c.Key, c.New)
	case c.New == "":
		return fmt.Sprintf("%s: removed (was %s)", c.Key, c.Old)
	}
	return fmt.Sprintf("%s: %s → %s", c.Key, c.Old, c.New)
}

// SettingsChanges compares two generations' host-side settings key by key
// (nested keys joined with dots, keys holding dots or slashes quoted as
// in Nix: bindMounts."/srv".hostPath; lists compared whole).
func SettingsChanges(a, b *generations.Settings) []Change {
	fa, fb := flattenSettings(a), flattenSettings(b)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var out []Change
	for k := range keys {
		if fa[k] != fb[k] {
			out = append(out, Change{Key: k, Old: fa[k], New: fb[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func flattenSettings(s *generations.Settings) map[string]string {
	out := map[string]string{}
	if s == nil {
		return out
	}
	data, _ := json.Marshal(s)
	var v map[string]any
	json.Unmarshal(data, &v)
	flatten("", v, out)
	return out
}

func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if strings.ContainsAny(k, "./ \"") {
				k = strconv.Quote(k)
			}
			if prefix != "" {
				k = prefix + "." + k
			}
			flatten(k, x, out)
		}
		return
	}
	data, _ := json.Marshal(v)
	out[prefix] = string(data)
}

// networkChanges compares interfaces by name: address and bridge changes,
// interfaces added or removed.
func networkChanges(old, new []records.Interface) []Change {
	fields := func(nics []records.Interface) map[string]string {
		m := map[string]string{}
		for _, n := range nics {
			m[n.Name+".bridge"] = n.Bridge
			if n.IPv4 != "" {
				m[n.Name+".ipv4"] = n.IPv4
			}
			if n.IPv6 != "" {
				m[n.Name+".ipv6"] = n.IPv6
			}
		}
		return m
	}
	fo, fn := fields(old), fields(new)
	var out []Change
	for _, k := range sortedKeys(fo, fn) {
		if fo[k] != fn[k] {
			out = append(out, Change{Key: k, Old: fo[k], New: fn[k]})
		}
	}
	return out
}

func sortedKeys(ms ...map[string]string) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// Plan is what an update would do.
type Plan struct {
	Name    string `json:"name"`
	Running bool   `json:"running"`
	// Current is the current generation; Build the store path the update
	// built.
	Current int    `json:"current_generation"`
	Build   string `json:"build"`
	// Same: the build equals the current generation (no new generation).
	Same bool `json:"same"`
	// Settings are the host-side settings that change, Network the
	// interfaces' addresses and bridges, LXC the -l items.
	Settings []Change `json:"settings"`
	Network  []Change `json:"network"`
	LXC      *Change  `json:"lxc,omitempty"`
	// Activation is what would happen to the container.
	Activation Activation `json:"activation"`
	// Why says why a running container would restart.
	Why string `json:"why,omitempty"`
}

// PlanUpdate evaluates and builds what `update` would (file, default the
// recorded one; lxcArgs nil keeps the -l items) and says what would
// change, changing nothing: no generation, no record, no lock taken, no
// interrupted verb finished. The build lands in the Nix store, unrooted.
func (m *Manager) PlanUpdate(ctx context.Context, name, file string, lxcArgs []string) (Plan, error) {
	rec, err := m.load(name)
	if err != nil {
		return Plan{}, err
	}
	if file == "" {
		file = rec.File
	}
	abs, err := checkFile(file)
	if err != nil {
		return Plan{}, wrap(name, "container file", err)
	}
	nixArgs := rec.NixArgs
	if m.NixArgs != nil {
		nixArgs = m.NixArgs
	}
	nix, err := m.nix(nixArgs)
	if err != nil {
		return Plan{}, wrap(name, "update", err)
	}
	cur, curSettings, err := m.currentOf(rec)
	if err != nil {
		return Plan{}, err
	}
	settings, err := nix.EvalSettings(ctx, generations.Input{File: abs, Name: name})
	if err != nil {
		return Plan{}, wrap(name, "evaluate", err)
	}
	if err := m.checkSettings(settings); err != nil {
		return Plan{}, wrap(name, "container file", err)
	}
	p := Plan{Name: name, Current: cur.Number, Settings: SettingsChanges(curSettings, settings), Network: []Change{}}
	if p.Settings == nil {
		p.Settings = []Change{}
	}
	if lxcArgs != nil {
		if _, err := lxc.ParseRawItems(lxcArgs, m.Cfg.AllowPrivilegedLXCItems); err != nil {
			return Plan{}, wrap(name, "-l", err)
		}
		if !slices.Equal(lxcArgs, rec.LXCArgs) {
			o, _ := json.Marshal(rec.LXCArgs)
			n, _ := json.Marshal(lxcArgs)
			p.LXC = &Change{Key: "-l", Old: string(o), New: string(n)}
		}
	}
	recs, err := m.Store.List()
	if err != nil {
		return Plan{}, wrap(name, "network", err)
	}
	next := *rec
	nics, err := planInterfaces(m.Cfg, recs, &next, settings)
	if err != nil {
		return Plan{}, wrap(name, "container file", err)
	}
	next.Interfaces = nics
	p.Network = append(p.Network, networkChanges(rec.Interfaces, nics)...)
	if p.Build, err = nix.Build(ctx, guestInput(abs, &next)); err != nil {
		return Plan{}, wrap(name, "build", err)
	}
	p.Same = p.Build == cur.StorePath
	if p.Running, err = m.running(name); err != nil {
		return Plan{}, err
	}
	switch {
	case p.Same && p.LXC == nil:
		p.Activation = Unchanged
	case !p.Running:
		p.Activation = NotRunning
	case p.LXC != nil:
		p.Activation, p.Why = Restarted, "the -l items change"
	case len(p.Settings) > 0 || len(p.Network) > 0:
		p.Activation, p.Why = Restarted, "host-side settings change"
	case !(generations.Generation{StorePath: p.Build}).HasSwitch():
		p.Activation, p.Why = Restarted, "the guest cannot switch in place"
	default:
		p.Activation = Switched
	}
	return p, nil
}

// PackageChange is one package whose versions differ between two
// closures: Old empty means added, New empty removed.
type PackageChange struct {
	Name string   `json:"name"`
	Old  []string `json:"old,omitempty"`
	New  []string `json:"new,omitempty"`
}

func (c PackageChange) String() string {
	show := func(vs []string) string {
		for i, v := range vs {
			if v == "" {
				vs[i] = "(no version)"
			}
		}
		return strings.Join(vs, ", ")
	}
	switch {
	case c.Old == nil:
		return fmt.Sprintf("%s: added %s", c.Name, show(c.New))
	case c.New == nil:
		return fmt.Sprintf("%s: removed %s", c.Name, show(c.Old))
	}
	return fmt.Sprintf("%s: %s → %s", c.Name, show(c.Old), show(c.New))
}

// splitStorePath splits a store path's name into package name and version
// as Nix does: the version starts after the first dash that is not
// followed by a letter ("hello-2.12" → "hello", "2.12").
func splitStorePath(path string) (name, version string) {
	base := filepath.Base(path)
	if i := strings.IndexByte(base, '-'); i == 32 {
		base = base[33:] // the hash
	}
	for i := 0; i+1 < len(base); i++ {
		if base[i] == '-' && !(base[i+1] >= 'a' && base[i+1] <= 'z' || base[i+1] >= 'A' && base[i+1] <= 'Z') {
			return base[:i], base[i+1:]
		}
	}
	return base, ""
}

// ClosureChanges compares two closures (lists of store paths) by package
// name, as `nix store diff-closures`: a name whose set of versions differs.
func ClosureChanges(old, new []string) []PackageChange {
	versions := func(paths []string) map[string][]string {
		m := map[string][]string{}
		for _, p := range paths {
			n, v := splitStorePath(p)
			if !slices.Contains(m[n], v) {
				m[n] = append(m[n], v)
			}
		}
		for _, vs := range m {
			sort.Strings(vs)
		}
		return m
	}
	vo, vn := versions(old), versions(new)
	var names []string
	for n := range vo {
		names = append(names, n)
	}
	for n := range vn {
		if _, ok := vo[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []PackageChange
	for _, n := range names {
		if !slices.Equal(vo[n], vn[n]) {
			out = append(out, PackageChange{Name: n, Old: vo[n], New: vn[n]})
		}
	}
	return out
}

// Diff is what differs between two generations.
type Diff struct {
	Name     string          `json:"name"`
	From     int             `json:"from"`
	To       int             `json:"to"`
	Settings []Change        `json:"settings"`
	Packages []PackageChange `json:"packages"`
}

// ErrNoOtherGeneration means diff has nothing to compare the current
// generation with.
var ErrNoOtherGeneration = errors.New("nothing to compare: only one generation (give GEN numbers)")

// DiffGenerations compares generation from with to. to 0 means the
// current generation; from 0 the running one when that is known and not
// the current one, else the one before the current one.
func (m *Manager) DiffGenerations(ctx context.Context, name string, from, to int) (Diff, error) {
	rec, err := m.load(name)
	if err != nil {
		return Diff{}, err
	}
	prof := m.profile(name, generations.Nix{})
	cur, _, err := m.currentOf(rec)
	if err != nil {
		return Diff{}, err
	}
	if to == 0 {
		to = cur.Number
	}
	if from == 0 {
		if pid, err := lxc.InitPID(m.Cfg.ContainersDir(), name); err == nil && pid > 0 {
			if run := m.runningGeneration(name, pid); run != to {
				from = run
			}
		}
		if from == 0 {
			if from, err = prof.Previous(); err != nil {
				return Diff{}, wrap(name, "diff", ErrNoOtherGeneration)
			}
		}
	}
	a, err := prof.Generation(from)
	if err != nil {
		return Diff{}, wrap(name, "diff", err)
	}
	b, err := prof.Generation(to)
	if err != nil {
		return Diff{}, wrap(name, "diff", err)
	}
	sa, err := a.Settings()
	if err != nil {
		return Diff{}, wrap(name, "diff", err)
	}
	sb, err := b.Settings()
	if err != nil {
		return Diff{}, wrap(name, "diff", err)
	}
	d := Diff{Name: name, From: from, To: to, Settings: SettingsChanges(sa, sb)}
	ca, err := closure(ctx, a.StorePath)
	if err != nil {
		return Diff{}, wrap(name, "diff", err)
	}
	cb, err := closure(ctx, b.StorePath)
	if err != nil {
		return Diff{}, wrap(name, "diff", err)
	}
	d.Packages = ClosureChanges(ca, cb)
	if d.Settings == nil {
		d.Settings = []Change{}
	}
	if d.Packages == nil {
		d.Packages = []PackageChange{}
	}
	return d, nil
}

// closure lists the store paths a store path needs, itself included.
func closure(ctx context.Context, path string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "nix-store", "--query", "--requisites", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("nix-store --query --requisites %s: %s", path, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("nix-store: %w", err)
	}
	return strings.Fields(string(out)), nil
}
