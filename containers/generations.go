package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
)

// Activation says what happened to a running container after its current
// generation changed.
type Activation string

// The possible activations.
const (
	// NotRunning: the container is stopped; it boots the new generation at its next start.
	NotRunning Activation = "not running: the new generation boots at the next start"
	// Unchanged: the current generation did not change.
	Unchanged Activation = "unchanged"
	// Switched: switch-to-configuration switch ran inside the guest.
	Switched Activation = "switched in place"
	// Restarted: host-side settings changed or the guest cannot switch.
	Restarted Activation = "restarted"
)

// Result reports a generation change.
type Result struct {
	Generation int
	// Added is false when update built what the current generation holds.
	Added      bool
	Activation Activation
	// Warning is set when switch-to-configuration exited 2, 4 or 100, or
	// its pre-switch checks refused.
	Warning string
}

// ErrSwitchFailed means switch-to-configuration failed inside the guest.
var ErrSwitchFailed = errors.New("switch-to-configuration failed")

// StopTimeout is how long restarts wait for a clean shutdown.
const StopTimeout = 30 * time.Second

// ErrUpdateFailed means the new generation of a running container could
// not be activated; the container was returned to the generation that ran.
var ErrUpdateFailed = errors.New("the new generation failed")

// Update builds a new generation from file (default: the recorded one)
// and activates it. lxcArgs, when not nil, replace the recorded -l items;
// a running container restarts to apply them.
func (m *Manager) Update(ctx context.Context, name, file string, lxcArgs []string) (Result, error) {
	l, rec, err := m.begin(ctx, name, true)
	if err != nil {
		return Result{}, err
	}
	defer l.Unlock()
	if file == "" {
		file = rec.File
	}
	abs, err := checkFile(file)
	if err != nil {
		return Result{}, wrap(name, "container file", err)
	}
	nixArgs := rec.NixArgs
	if m.NixArgs != nil {
		nixArgs = m.NixArgs
	}
	nix, err := m.nix(nixArgs)
	if err != nil {
		return Result{}, wrap(name, "update", err)
	}
	prof := m.profile(name, nix)
	old, err := prof.Current()
	if err != nil {
		return Result{}, wrap(name, "profile", err)
	}
	// One evaluation: with the record's address, the generation's
	// derivation comes with the settings; it is built without evaluating
	// again unless the settings change the address (see build).
	ev, err := nix.Evaluate(ctx, guestInput(abs, rec))
	if err != nil {
		return Result{}, wrap(name, "evaluate", err)
	}
	settings := ev.Settings
	if err := m.checkSettings(settings); err != nil {
		return Result{}, wrap(name, "container file", err)
	}
	lxcChanged := false
	if lxcArgs != nil {
		if _, err := lxc.ParseRawItems(lxcArgs, m.Cfg.AllowPrivilegedLXCItems); err != nil {
			return Result{}, wrap(name, "-l", err)
		}
		lxcChanged = !slices.Equal(lxcArgs, rec.LXCArgs)
	}
	run, err := m.running(name)
	if err != nil {
		return Result{}, err
	}
	// The build needs the address (NixOS guests get it as `ip`), so it is
	// claimed under the records lock now, with the record saved together
	// with the intent; a failed build puts the record back as it was. The
	// file and arguments become the record's only with their generation.
	saved := *rec
	next := *rec
	next.Intent = &records.Intent{Op: records.OpUpdate, FromGeneration: old.Number, WasRunning: run,
		File: abs, NixArgs: nixArgs, LXCArgs: lxcArgs, PrevLXCArgs: rec.LXCArgs, PID: os.Getpid(), Since: time.Now().UTC()}
	if err := m.planNetwork(&next, settings, true); err != nil {
		return Result{}, err
	}
	rec = &next
	step("update:intent")
	if err := m.checkOwnBridges(rec); err != nil {
		return Result{}, errors.Join(err, m.saveLocked(&saved))
	}
	added, err := m.build(ctx, rec, abs, nix, prof, ev)
	if err != nil {
		if rerr := m.saveLocked(&saved); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return Result{}, err
	}
	step("update:built")
	if added {
		cur, err := prof.Current()
		if err != nil {
			return Result{}, wrap(name, "profile", err)
		}
		addSource(rec, cur.Number, abs, nixArgs)
		syncSource(rec, cur.Number)
	}
	if lxcArgs != nil {
		rec.LXCArgs = lxcArgs
	}
	if added || lxcArgs != nil {
		if err := m.Store.Save(rec); err != nil {
			return Result{}, err
		}
	}
	step("update:recorded")
	res, err := m.activate(ctx, rec, prof, old, added)
	if err != nil {
		return res, m.settledAfter(rec, err)
	}
	if lxcChanged && (res.Activation == Unchanged || res.Activation == Switched) && run {
		res.Activation = Restarted
		cur, err := prof.Current()
		if err != nil {
			return res, wrap(name, "profile", err)
		}
		if err := m.restartOrReturn(ctx, rec, prof, cur, cur, nil); err != nil {
			return res, m.settledAfter(rec, err)
		}
	}
	return res, m.done(rec)
}

// SwitchGeneration makes generation n current and activates it.
func (m *Manager) SwitchGeneration(ctx context.Context, name string, n int) (Result, error) {
	return m.changeGeneration(ctx, name, func(prof generations.Profile) error {
		return prof.Switch(ctx, n)
	})
}

// Rollback makes the generation before the current one current.
func (m *Manager) Rollback(ctx context.Context, name string) (Result, error) {
	return m.changeGeneration(ctx, name, func(prof generations.Profile) error {
		prev, err := prof.Previous()
		if err != nil {
			return err
		}
		return prof.Switch(ctx, prev)
	})
}

// DeleteGenerations deletes generations; the current one is never deleted.
func (m *Manager) DeleteGenerations(ctx context.Context, name string, specs []string) (Result, error) {
	return m.changeGeneration(ctx, name, func(prof generations.Profile) error {
		return prof.Delete(ctx, specs)
	})
}

func (m *Manager) changeGeneration(ctx context.Context, name string, change func(generations.Profile) error) (Result, error) {
	l, rec, err := m.begin(ctx, name, true)
	if err != nil {
		return Result{}, err
	}
	defer l.Unlock()
	nix, err := m.nix(rec.NixArgs)
	if err != nil {
		return Result{}, wrap(name, "generations", err)
	}
	prof := m.profile(name, nix)
	old, err := m.repairLink(rec, prof)
	if err != nil {
		return Result{}, err
	}
	run, err := m.running(name)
	if err != nil {
		return Result{}, err
	}
	if err := m.intend(rec, records.Intent{Op: records.OpSwitch, FromGeneration: old.Number, WasRunning: run}); err != nil {
		return Result{}, err
	}
	if err := change(prof); err != nil {
		return Result{}, errors.Join(wrap(name, "generations", err), m.done(rec))
	}
	cur, err := prof.Current()
	if err != nil {
		return Result{}, wrap(name, "profile", err)
	}
	syncSource(rec, cur.Number)
	for n := range rec.Sources {
		if _, err := os.Lstat(filepath.Join(prof.Dir, fmt.Sprintf("system-%d-link", n))); err != nil {
			delete(rec.Sources, n) // a deleted generation
		}
	}
	if err := m.Store.Save(rec); err != nil {
		return Result{}, err
	}
	res, err := m.activate(ctx, rec, prof, old, true)
	if err != nil {
		return res, m.settledAfter(rec, err)
	}
	return res, m.done(rec)
}

// settledAfter clears the intent of a generation change whose activation
// failed with err when the container was returned to the generation that
// ran and runs (nothing is left to finish); otherwise the intent stays for
// the next verb to finish. It returns err.
func (m *Manager) settledAfter(rec *records.Record, err error) error {
	if !errors.Is(err, ErrUpdateFailed) {
		return err
	}
	if run, rerr := m.running(rec.Name); rerr == nil && run {
		return errors.Join(err, m.done(rec))
	}
	return err
}

// repairLink returns the current generation; when the profile link was
// lost while generations remain, it first points the link at the
// generation the record says is current (else the newest) and says so.
func (m *Manager) repairLink(rec *records.Record, prof generations.Profile) (generations.Generation, error) {
	cur, err := prof.Current()
	if err == nil || !errors.Is(err, generations.ErrNoGeneration) {
		if err != nil {
			return cur, wrap(rec.Name, "profile", err)
		}
		return cur, nil
	}
	gens, gerr := prof.Generations()
	if gerr != nil || len(gens) == 0 {
		return cur, wrap(rec.Name, "profile", err)
	}
	n := gens[len(gens)-1].Number
	for _, g := range gens {
		if g.Number == rec.Generation {
			n = g.Number
		}
	}
	if err := prof.Relink(n); err != nil {
		return cur, wrap(rec.Name, "profile", err)
	}
	m.notify("container %q: its profile link was lost; pointed it at generation %d again", rec.Name, n)
	cur, err = prof.Current()
	if err != nil {
		return cur, wrap(rec.Name, "profile", err)
	}
	return cur, nil
}

// Generations lists the container's generations.
func (m *Manager) Generations(name string) ([]generations.Generation, error) {
	if _, err := m.load(name); err != nil {
		return nil, err
	}
	gens, err := m.profile(name, generations.Nix{}).Generations()
	if err != nil {
		return nil, wrap(name, "list generations", err)
	}
	return gens, nil
}

// activate brings a running container onto the profile's current
// generation: in place with switch-to-configuration when only the guest
// system changed and it can switch, else by a restart. When the new
// generation fails to start or to switch, the container goes back to the
// generation that ran (old), running, and the error names both.
func (m *Manager) activate(ctx context.Context, rec *records.Record, prof generations.Profile, old generations.Generation, added bool) (Result, error) {
	name := rec.Name
	cur, err := prof.Current()
	if err != nil {
		return Result{}, wrap(name, "profile", err)
	}
	res := Result{Generation: cur.Number, Added: added}
	if cur.StorePath == old.StorePath {
		res.Activation = Unchanged
		return res, nil
	}
	run, err := m.running(name)
	if err != nil {
		return res, err
	}
	if !run {
		res.Activation = NotRunning
		return res, nil
	}
	same, err := sameSettings(old, cur)
	if err != nil {
		return res, wrap(name, "activate", err)
	}
	if !same || !cur.HasSwitch() {
		res.Activation = Restarted
		return res, m.restartOrReturn(ctx, rec, prof, old, cur, nil)
	}
	// The new generation's store paths go into the container's store
	// view before anything in it may use them.
	if err := m.injectStore(ctx, rec, cur); err != nil {
		res.Activation = Restarted
		res.Warning = fmt.Sprintf("the new generation's store paths could not be added to the running container's /nix/store (%v): restarted into it", err)
		return res, m.restartOrReturn(ctx, rec, prof, old, cur, nil)
	}
	step("switch:store")
	res.Activation = Switched
	code, out, err := m.switchInPlace(name)
	if err != nil {
		return res, err
	}
	v := readSwitch(code, out)
	res.Warning = v.Warning
	switch {
	case v.Restart:
		// It refused and did nothing: restart into the new generation.
		res.Activation = Restarted
		return res, m.restartOrReturn(ctx, rec, prof, old, cur, nil)
	case v.Failed:
		why := fmt.Errorf("switch-to-configuration exited %d", code)
		res.Activation = Restarted
		res.Generation = old.Number
		return res, m.restartOrReturn(ctx, rec, prof, old, cur, why)
	}
	return res, m.markRunning(name, cur)
}

// restartOrReturn restarts the locked container into generation cur; when
// failed is set (cur could not be activated) or cur does not start, it
// makes old current again and starts that.
func (m *Manager) restartOrReturn(ctx context.Context, rec *records.Record, prof generations.Profile, old, cur generations.Generation, failed error) error {
	name := rec.Name
	if failed == nil {
		failed = m.restart(ctx, rec, StopTimeout)
		if failed == nil {
			return nil
		}
	}
	if err := prof.Switch(ctx, old.Number); err != nil {
		return errors.Join(wrap(name, "activate", failed), wrap(name, "return to the generation that ran", err))
	}
	syncSource(rec, old.Number)
	// An update that gave new -l items returns to the ones that ran too.
	what := fmt.Sprintf("generation %d", cur.Number)
	back := fmt.Sprintf("generation %d", old.Number)
	if in := rec.Intent; in != nil && in.Op == records.OpUpdate && in.LXCArgs != nil && !slices.Equal(in.LXCArgs, in.PrevLXCArgs) {
		rec.LXCArgs = in.PrevLXCArgs
		what += " with the new -l items"
		back += " with the -l items it ran with"
	}
	if err := m.Store.Save(rec); err != nil {
		return errors.Join(wrap(name, "activate", failed), err)
	}
	if err := m.restart(ctx, rec, StopTimeout); err != nil {
		return fmt.Errorf("container %q: %s: %w: %v; returning to %s failed too: %v", name, what, ErrUpdateFailed, failed, back, err)
	}
	return fmt.Errorf("container %q: %s: %w: %v; back on %s, running", name, what, ErrUpdateFailed, failed, back)
}

func sameSettings(a, b generations.Generation) (bool, error) {
	sa, err := a.Settings()
	if err != nil {
		return false, err
	}
	sb, err := b.Settings()
	if err != nil {
		return false, err
	}
	ja, _ := json.Marshal(sa)
	jb, _ := json.Marshal(sb)
	return bytes.Equal(ja, jb), nil
}
