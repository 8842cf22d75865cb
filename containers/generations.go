package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Warning is set when switch-to-configuration exited 2.
	Warning string
}

// ErrSwitchFailed means switch-to-configuration failed inside the guest.
var ErrSwitchFailed = errors.New("switch-to-configuration failed")

// StopTimeout is how long restarts wait for a clean shutdown.
const StopTimeout = 30 * time.Second

// Update builds a new generation from file (default: the recorded one)
// and activates it. lxcArgs, when not nil, replace the recorded -l items;
// a running container restarts to apply them.
func (m *Manager) Update(ctx context.Context, name, file string, lxcArgs []string) (Result, error) {
	rec, err := m.load(name)
	if err != nil {
		return Result{}, err
	}
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
	in := generations.Input{File: abs, Name: name}
	settings, err := nix.EvalSettings(ctx, in)
	if err != nil {
		return Result{}, wrap(name, "evaluate", err)
	}
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
	// The build needs the address (NixOS guests get it as `ip`), so it is
	// claimed under the records lock now, with the record saved; a failed
	// build puts the record back as it was.
	saved := *rec
	next := *rec
	next.File, next.NixArgs = abs, nixArgs
	if lxcArgs != nil {
		next.LXCArgs = lxcArgs
	}
	if err := m.planNetwork(&next, settings, true); err != nil {
		return Result{}, err
	}
	rec = &next
	if err := m.checkOwnBridges(rec); err != nil {
		return Result{}, errors.Join(err, m.saveLocked(&saved))
	}
	added, err := m.build(ctx, rec, nix, prof)
	if err != nil {
		if rerr := m.saveLocked(&saved); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return Result{}, err
	}
	res, err := m.activate(ctx, rec, prof, old, added)
	if err != nil || !lxcChanged || (res.Activation != Unchanged && res.Activation != Switched) {
		return res, err
	}
	if run, err := m.running(name); err != nil || !run {
		return res, err
	}
	res.Activation = Restarted
	return res, m.Restart(ctx, name, StopTimeout)
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
	rec, err := m.load(name)
	if err != nil {
		return Result{}, err
	}
	nix, err := m.nix(rec.NixArgs)
	if err != nil {
		return Result{}, wrap(name, "generations", err)
	}
	prof := m.profile(name, nix)
	old, err := prof.Current()
	if err != nil {
		return Result{}, wrap(name, "profile", err)
	}
	if err := change(prof); err != nil {
		return Result{}, wrap(name, "generations", err)
	}
	return m.activate(ctx, rec, prof, old, true)
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
// system changed and it can switch, else by a restart.
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
		if err := m.Restart(ctx, name, StopTimeout); err != nil {
			return res, err
		}
		return res, nil
	}
	res.Activation = Switched
	code, err := m.Run(name, []string{lxc.GuestProfileDir + "/system/bin/switch-to-configuration", "switch"},
		Stdio{Stdin: devNull(), Stdout: progressFile(m), Stderr: progressFile(m), Terminal: TerminalOff})
	if err != nil {
		return res, err
	}
	switch code {
	case 0:
	case 2:
		res.Warning = "switch-to-configuration exited 2 (some units or remounts failed, expected under unprivileged LXC)"
	default:
		return res, wrap(name, "activate", fmt.Errorf("%w with exit code %d: the guest may be half-switched; run 'nixcloud-container rollback %s'", ErrSwitchFailed, code, name))
	}
	return res, nil
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
