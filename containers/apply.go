package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
	"github.com/nixcloud/nixcloud-container/records"
)

// ApplyOptions are the flags of apply.
type ApplyOptions struct {
	// DryRun prints the plan and changes nothing.
	DryRun bool
	// Prune destroys containers the SPEC no longer declares.
	Prune bool
}

// ApplyLine is what apply did (or, with DryRun, would do) to one container.
type ApplyLine struct {
	Name string
	// What is "created (generation 1), started", "updated to generation
	// 3, restarted", "unchanged", "stopped, kept (dropped from SPEC)", ...
	What string
	// Err is set when the container failed; What is then empty.
	Err error
}

// ErrApplyFailed means some containers of the SPEC failed; each was
// reported on its own line, the others were done.
var ErrApplyFailed = errors.New("apply: some containers failed")

// applyEntry is one container apply looks at.
type applyEntry struct {
	name     string
	rec      *records.Record // nil: not yet created
	declared bool            // the SPEC declares it
	file     string          // its container file (declared ones)
	input    generations.Input
	plan     *generations.Planned
	err      error // failed before any step
}

// ApplyDir is where apply keeps one container file per declared
// container (state_dir/apply/<name>.nix): it imports the SPEC's entry, so
// `update NAME` without FILE rebuilds what the SPEC says now.
func (m *Manager) ApplyDir() string { return filepath.Join(m.Cfg.StateDir, "apply") }

// Apply converges the containers a SPEC declares: it creates the missing
// ones, adds a generation to those whose build differs from what the SPEC
// built last (activated as update does), starts the autostart ones that
// are not running, stops and keeps the ones the SPEC dropped (destroys
// them with Prune) and never touches a container it did not create.
// All declared containers that exist are evaluated in one Nix evaluation
// and the changed ones built in one Nix call; when that fails, each is
// evaluated on its own, so a broken container fails alone. report gets one
// line per container, in name order.
func (m *Manager) Apply(ctx context.Context, spec string, opts ApplyOptions, report func(ApplyLine)) error {
	abs, err := checkFile(spec)
	if err != nil {
		return fmt.Errorf("apply: SPEC: %w", err)
	}
	if err := m.checkTraversable(false); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if !opts.DryRun {
		// One apply at a time: two would both create what is missing.
		if err := os.MkdirAll(m.Cfg.StateDir, 0o755); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		unlock, err := records.Store{LockPath: filepath.Join(m.Cfg.StateDir, "apply.lock")}.Lock()
		if err != nil {
			return fmt.Errorf("apply: lock: %w", err)
		}
		defer unlock()
	}
	// A dry run writes its container files and the guest patches to a
	// folder of its own: not even state_dir is made.
	dir := m.ApplyDir()
	patches := filepath.Join(m.Cfg.StateDir, "guest-patches")
	if opts.DryRun {
		tmp, err := os.MkdirTemp("", "nixcloud-container-apply")
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir, patches = tmp, filepath.Join(tmp, "guest-patches")
	}
	nix, err := m.nixAt(patches, m.NixArgs)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	names, err := nix.SpecNames(ctx, abs)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	recs, bad, err := m.Store.ListAll()
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	entries := m.applyEntries(abs, dir, names, recs, bad)
	if !opts.DryRun {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	for _, e := range entries {
		if e.declared && e.err == nil {
			if err := writeIfChanged(e.file, generations.SpecEntry(abs, e.name)); err != nil {
				e.err = wrap(e.name, "apply: container file", err)
			}
		}
	}
	m.planAll(ctx, nix, entries, opts.DryRun)

	// The changed ones are built in one Nix call; build then uses them.
	var build []generations.Planned
	var built []*applyEntry
	for _, e := range entries {
		if e.err == nil && e.rec != nil && e.declared && e.plan != nil && m.needsUpdate(e) {
			build = append(build, *e.plan)
			built = append(built, e)
		}
	}
	if !opts.DryRun && len(build) > 0 {
		if err := nix.RealiseMany(ctx, build); err == nil {
			m.prebuilt = map[generations.Input]string{}
			for _, e := range built {
				m.prebuilt[e.input] = e.plan.Out
			}
			defer func() { m.prebuilt = nil }()
		}
	}

	failed := 0
	for _, e := range entries {
		var what string
		err := e.err
		if err == nil {
			if opts.DryRun {
				what = m.dryRun(e, opts)
			} else {
				what, err = m.applyOne(ctx, abs, e, opts)
			}
		}
		if err != nil {
			failed++
		}
		report(ApplyLine{Name: e.name, What: what, Err: err})
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrApplyFailed, failed, len(entries))
	}
	return nil
}

// applyEntries lists the containers of one apply in name order: those the
// SPEC declares and those it declared before.
func (m *Manager) applyEntries(spec, dir string, names []string, recs []*records.Record, bad map[string]error) []*applyEntry {
	byName := map[string]*records.Record{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	var out []*applyEntry
	seen := map[string]bool{}
	for _, name := range names {
		seen[name] = true
		e := &applyEntry{name: name, declared: true, file: filepath.Join(dir, name+".nix")}
		out = append(out, e)
		if err := records.ValidateName(name); err != nil {
			e.err = fmt.Errorf("apply: %w", err)
			continue
		}
		if err := bad[name]; err != nil {
			e.err = err
			continue
		}
		rec := byName[name]
		switch {
		case rec == nil || rec.Creating:
			// Create removes what an interrupted create left.
		case rec.Declared == nil:
			e.err = fmt.Errorf("container %q: apply: a container of that name was made by create, not by apply; apply leaves it alone (destroy it, or rename the SPEC's entry)", name)
		case otherSpec(rec.Declared, spec):
			e.err = fmt.Errorf("container %q: apply: another SPEC, %s, declares it; apply leaves it alone (drop it from that SPEC first, or rename this SPEC's entry)", name, rec.Declared.Spec)
		default:
			e.rec = rec
			e.input = guestInput(e.file, rec)
		}
	}
	for _, rec := range recs {
		// Those whose create apply began and was killed in are its too.
		if !seen[rec.Name] && rec.Declared != nil && rec.Declared.Spec == spec {
			out = append(out, &applyEntry{name: rec.Name, rec: rec})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// otherSpec reports whether another SPEC than spec still declares a
// container: its SPEC file is there and has not dropped it. Two SPECs
// taking a container in turns would undo each other's builds, and one's
// --prune would destroy what the other declares; a SPEC that was moved or
// removed gives its containers up.
func otherSpec(d *records.Declared, spec string) bool {
	if d.Spec == spec || d.Dropped {
		return false
	}
	old, err := os.Stat(d.Spec)
	if err != nil {
		return false
	}
	cur, err := os.Stat(spec)
	return err != nil || !os.SameFile(old, cur)
}

// planAll evaluates the generations of the declared containers that exist
// (with DryRun, of the new ones too) in one Nix evaluation; when that
// fails, each on its own, and those that fail carry their error.
func (m *Manager) planAll(ctx context.Context, nix generations.Nix, entries []*applyEntry, dryRun bool) {
	ins := map[string]generations.Input{}
	for _, e := range entries {
		if !e.declared || e.err != nil {
			continue
		}
		if e.rec == nil {
			if !dryRun {
				continue // create evaluates it with its address
			}
			e.input = generations.Input{File: e.file, Name: e.name}
		}
		ins[e.name] = e.input
	}
	plans, err := nix.PlanMany(ctx, ins)
	for _, e := range entries {
		in, ok := ins[e.name]
		if !ok {
			continue
		}
		if err != nil {
			one, oerr := nix.PlanMany(ctx, map[string]generations.Input{e.name: in})
			if oerr != nil {
				e.err = wrap(e.name, "apply", oerr)
				continue
			}
			p := one[e.name]
			e.plan = &p
			continue
		}
		p := plans[e.name]
		e.plan = &p
	}
}

// needsUpdate reports whether the SPEC builds something else for e than
// what it built last and what the container runs.
func (m *Manager) needsUpdate(e *applyEntry) bool {
	if e.plan.Out == e.rec.Declared.Applied {
		return false // unchanged since the last apply: a rollback by hand stays
	}
	cur, err := m.profile(e.name, generations.Nix{}).Current()
	return err != nil || cur.StorePath != e.plan.Out
}

// dryRun says what applyOne would do.
func (m *Manager) dryRun(e *applyEntry, opts ApplyOptions) string {
	switch {
	case !e.declared && opts.Prune:
		return "would destroy (dropped from SPEC, --prune)"
	case !e.declared && e.rec.Creating:
		return interruptedDropped
	case !e.declared:
		if run, _ := m.running(e.name); run {
			return "would stop and keep (dropped from SPEC)"
		}
		return "kept (dropped from SPEC)"
	case e.rec == nil:
		return "would create"
	case m.needsUpdate(e):
		return "would update (the build differs)"
	default:
		return "unchanged"
	}
}

// interruptedDropped is the line of a dropped container whose create
// (by apply) was interrupted: only destroy or --prune removes it.
const interruptedDropped = "kept (dropped from SPEC; its create was interrupted: apply --prune or destroy removes it)"

// applyOne converges one container.
func (m *Manager) applyOne(ctx context.Context, spec string, e *applyEntry, opts ApplyOptions) (string, error) {
	name := e.name
	if e.rec != nil {
		if err := m.stillListed(e); err != nil {
			return "", err
		}
	}
	if !e.declared {
		if opts.Prune {
			if run, _ := m.running(name); run {
				if _, err := m.Stop(ctx, name, StopTimeout); err != nil && !errors.Is(err, ErrNotRunning) {
					return "", err
				}
			}
			if err := m.Destroy(name, true); err != nil {
				return "", err
			}
			os.Remove(filepath.Join(m.ApplyDir(), name+".nix"))
			return "destroyed (dropped from SPEC, --prune)", nil
		}
		if e.rec.Creating {
			return interruptedDropped, nil
		}
		run, err := m.running(name)
		if err != nil {
			return "", err
		}
		what := "kept (dropped from SPEC)"
		if run {
			if _, err := m.Stop(ctx, name, StopTimeout); err != nil && !errors.Is(err, ErrNotRunning) {
				return "", err
			}
			what = "stopped, kept (dropped from SPEC)"
		}
		if !e.rec.Declared.Dropped {
			if err := m.markDeclared(name, func(d *records.Declared) { d.Dropped = true }); err != nil {
				return "", err
			}
		}
		return what, nil
	}

	var what string
	if e.rec == nil {
		if err := m.Create(ctx, name, e.file, CreateOptions{Declared: &records.Declared{Spec: spec}}); err != nil {
			return "", err
		}
		cur, err := m.profile(name, generations.Nix{}).Current()
		if err != nil {
			return "", wrap(name, "profile", err)
		}
		if err := m.markDeclared(name, func(d *records.Declared) { d.Applied = cur.StorePath }); err != nil {
			return "", err
		}
		what = fmt.Sprintf("created (generation %d)", cur.Number)
	} else if m.needsUpdate(e) {
		res, err := m.Update(ctx, name, e.file, nil)
		if err != nil {
			return "", err
		}
		cur, err := m.profile(name, generations.Nix{}).Current()
		if err != nil {
			return "", wrap(name, "profile", err)
		}
		if err := m.markDeclared(name, func(d *records.Declared) { d.Spec, d.Applied, d.Dropped = spec, cur.StorePath, false }); err != nil {
			return "", err
		}
		switch {
		case !res.Added:
			what = "unchanged"
		case res.Activation == Switched:
			what = fmt.Sprintf("updated to generation %d, switched", res.Generation)
		case res.Activation == Restarted:
			what = fmt.Sprintf("updated to generation %d, restarted", res.Generation)
		default:
			what = fmt.Sprintf("updated to generation %d", res.Generation)
		}
		if res.Warning != "" {
			what += " (warning: " + res.Warning + ")"
		}
	} else {
		what = "unchanged"
		d := e.rec.Declared
		cur, err := m.profile(name, generations.Nix{}).Current()
		if err != nil {
			return "", wrap(name, "profile", err)
		}
		// What the SPEC builds is what runs: remember it as applied, so
		// that a later rollback is kept until the SPEC changes again.
		applied := d.Applied
		if e.plan != nil && (applied == "" || cur.StorePath == e.plan.Out) {
			applied = e.plan.Out
		}
		if d.Spec != spec || d.Dropped || d.Applied != applied {
			if err := m.markDeclared(name, func(d *records.Declared) { d.Spec, d.Applied, d.Dropped = spec, applied, false }); err != nil {
				return "", err
			}
		}
		if e.plan != nil && cur.StorePath != e.plan.Out {
			what = fmt.Sprintf("unchanged (stays on generation %d, set by hand, until the SPEC changes it)", cur.Number)
		}
	}
	started, err := m.startIfAutostart(ctx, name)
	if err != nil {
		return "", err
	}
	if started {
		what += ", started"
	}
	return what, nil
}

// stillListed checks that the container apply listed at its start is
// still the one of that name: one destroyed and made again meanwhile
// (apply evaluates and builds for minutes), by create or otherwise, is
// not apply's to update, stop or destroy.
func (m *Manager) stillListed(e *applyEntry) error {
	rec, err := m.Store.Load(e.name)
	if err != nil {
		return wrap(e.name, "apply", err)
	}
	if rec.Declared == nil || rec.Slot != e.rec.Slot || !rec.Created.Equal(e.rec.Created) {
		return fmt.Errorf("container %q: apply: it was destroyed and made again while apply ran (created %s); apply leaves it alone",
			e.name, rec.Created.Format(time.RFC3339))
	}
	return nil
}

// startIfAutostart starts a stopped container whose current generation
// says autostart.
func (m *Manager) startIfAutostart(ctx context.Context, name string) (bool, error) {
	_, _, s, err := m.current(name)
	if err != nil {
		return false, err
	}
	if !s.Autostart {
		return false, nil
	}
	if run, err := m.running(name); err != nil || run {
		return false, err
	}
	return true, m.Start(ctx, name)
}

// markDeclared changes what the record says about apply, under the
// container's lock.
func (m *Manager) markDeclared(name string, change func(*records.Declared)) error {
	l, err := m.lock(name)
	if err != nil {
		return err
	}
	defer l.Unlock()
	rec, err := m.load(name)
	if err != nil {
		return err
	}
	if rec.Declared == nil {
		rec.Declared = &records.Declared{}
	}
	change(rec.Declared)
	return m.Store.Save(rec)
}

// writeIfChanged writes data to path atomically unless it holds it.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

// FormatApplyLine renders one line of apply's output.
func FormatApplyLine(l ApplyLine) string {
	if l.Err != nil {
		return fmt.Sprintf("%s: failed: %s", l.Name, strings.Join(strings.Fields(l.Err.Error()), " "))
	}
	return fmt.Sprintf("%s: %s", l.Name, l.What)
}
