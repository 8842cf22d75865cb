package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/records"
)

// DieAtEnv names a step boundary at which the tool kills itself with
// SIGKILL, for the fault-injection tests: "create:built", "update:stopped"
// and the like (see the step calls). Never set it outside tests.
const DieAtEnv = "NIXCLOUD_CONTAINER_TEST_DIE_AT"

// step marks a step boundary of a multi-step verb.
func step(name string) {
	if v := os.Getenv(DieAtEnv); v != "" && v == name {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

// ErrInterruptedDestroy means a destroy was interrupted; only destroy
// finishes it.
var ErrInterruptedDestroy = errors.New("its destroy was interrupted")

// notify passes a message for the user to the caller (cmd prints it on
// stderr).
func (m *Manager) notify(format string, args ...any) {
	if m.Notify != nil {
		m.Notify(fmt.Sprintf(format, args...))
	}
}

// lock takes the container's lock (records.Store.LockContainer), telling
// the user once whom it waits for.
func (m *Manager) lock(name string) (*records.ContainerLock, error) {
	who := m.Verb
	if who == "" {
		who = "nixcloud-container"
	}
	return m.Store.LockContainer(name, who, func(holder string) {
		if holder == "" {
			holder = "another nixcloud-container process"
		}
		m.notify("container %q: waiting for %s", name, holder)
	})
}

// begin locks a finished container, loads its record and settles what an
// interrupted verb left (see settle). The caller unlocks.
func (m *Manager) begin(ctx context.Context, name string, resume bool) (*records.ContainerLock, *records.Record, error) {
	if err := records.ValidateName(name); err != nil {
		return nil, nil, err
	}
	l, err := m.lock(name)
	if err != nil {
		return nil, nil, err
	}
	rec, err := m.load(name)
	if err == nil {
		err = m.settle(ctx, rec, resume)
	}
	if err != nil {
		m.release(l, name)
		return nil, nil, err
	}
	return l, rec, nil
}

// release unlocks a container's lock and removes its file when there is
// no such container (a verb on a missing name, a refused create), so that
// nothing of it stays on the host.
func (m *Manager) release(l *records.ContainerLock, name string) {
	if _, err := m.Store.Load(name); errors.Is(err, records.ErrNotExist) && !m.hasRemains(name) {
		l.Remove()
		return
	}
	l.Unlock()
}

// intend records the verb about to run in the record, before its first step.
func (m *Manager) intend(rec *records.Record, in records.Intent) error {
	in.PID = os.Getpid()
	in.Since = time.Now().UTC()
	rec.Intent = &in
	return m.Store.Save(rec)
}

// done clears the record's intent after the verb's last step.
func (m *Manager) done(rec *records.Record) error {
	if rec.Intent == nil {
		return nil
	}
	rec.Intent = nil
	return m.Store.Save(rec)
}

// syncSource makes the record's container file and -n arguments those of
// generation n (when known) and remembers n as current.
func syncSource(rec *records.Record, n int) {
	if src, ok := rec.Sources[n]; ok {
		rec.File, rec.NixArgs = src.File, src.NixArgs
	}
	rec.Generation = n
}

// addSource records what generation n was built from.
func addSource(rec *records.Record, n int, file string, nixArgs []string) {
	if rec.Sources == nil {
		rec.Sources = map[int]records.Source{}
	}
	rec.Sources[n] = records.Source{File: file, NixArgs: nixArgs}
}

// settle finishes or undoes what an interrupted verb left in the record's
// intent; the caller holds the container's lock, so that verb is dead.
//   - The record's file follows the current generation: an update whose
//     generation landed gets its file recorded, one whose did not leaves
//     the old file.
//   - A container that ran when the verb began runs again (resume; stop,
//     terminate and destroy do not resume it): on its current generation,
//     else on the one it ran before.
//   - A running container gets its host side re-asserted.
//
// An interrupted destroy is finished only by destroy.
func (m *Manager) settle(ctx context.Context, rec *records.Record, resume bool) error {
	in := rec.Intent
	if in == nil {
		return nil
	}
	name := rec.Name
	if in.Op == records.OpDestroy {
		return wrap(name, "settle", fmt.Errorf("%w: run 'nixcloud-container destroy %s' to finish it", ErrInterruptedDestroy, name))
	}
	m.notify("container %q: finishing an interrupted %s (pid %d, %s)", name, in.Op, in.PID, in.Since.Local().Format(time.DateTime))
	prof := m.profile(name, generations.Nix{})
	cur, curErr := prof.Current()
	if curErr == nil {
		if in.Op == records.OpUpdate && cur.Number != in.FromGeneration {
			if _, ok := rec.Sources[cur.Number]; !ok {
				addSource(rec, cur.Number, in.File, in.NixArgs)
				if in.LXCArgs != nil {
					rec.LXCArgs = in.LXCArgs
				}
			}
		}
		syncSource(rec, cur.Number)
	}
	run, err := m.running(name)
	if err != nil {
		return err
	}
	changed := (in.Op == records.OpUpdate || in.Op == records.OpSwitch) && curErr == nil && in.FromGeneration != 0 && cur.Number != in.FromGeneration
	switch {
	case run && changed && resume:
		// It may still run the generation it ran before: restart it into
		// the current one (or back to that one, if the current fails).
		nix, err := m.nix(rec.NixArgs)
		if err != nil {
			return err
		}
		p := m.profile(name, nix)
		from, err := p.Generation(in.FromGeneration)
		if err != nil {
			return wrap(name, "settle", err)
		}
		if err := m.restartOrReturn(ctx, rec, p, from, cur, nil); err != nil {
			if !errors.Is(err, ErrUpdateFailed) {
				return err
			}
			m.notify("%v", err)
		}
	case run:
		_, s, err := m.currentOf(rec)
		if err != nil {
			return err
		}
		// An update killed before its build landed left the interfaces it
		// planned for the new generation: plan them for the one that runs.
		if err := m.planNetwork(rec, s, false); err != nil {
			return err
		}
		if err := m.reassert(rec, s); err != nil {
			return err
		}
	case in.WasRunning && resume:
		if err := m.resume(ctx, rec, in.FromGeneration); err != nil {
			return err
		}
	}
	return m.done(rec)
}

// resume starts a container that an interrupted verb left stopped: on its
// current generation, else back on generation from.
func (m *Manager) resume(ctx context.Context, rec *records.Record, from int) error {
	_, err := m.start(ctx, rec)
	if err == nil {
		m.notify("container %q: started again", rec.Name)
		return nil
	}
	if from == 0 || from == rec.Generation {
		return err
	}
	nix, nerr := m.nix(rec.NixArgs)
	if nerr != nil {
		return errors.Join(err, nerr)
	}
	if serr := m.profile(rec.Name, nix).Switch(ctx, from); serr != nil {
		return errors.Join(err, wrap(rec.Name, "return to the generation that ran", serr))
	}
	failed := rec.Generation
	syncSource(rec, from)
	if serr := m.Store.Save(rec); serr != nil {
		return errors.Join(err, serr)
	}
	if _, serr := m.start(ctx, rec); serr != nil {
		return errors.Join(err, serr)
	}
	m.notify("container %q: generation %d did not start (%v); back on generation %d, running", rec.Name, failed, err, from)
	return nil
}
