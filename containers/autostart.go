package containers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/nixcloud/nixcloud-container/records"
)

// ErrAutostartFailed means at least one autostart container could not be
// started; each failure was reported on its own.
var ErrAutostartFailed = errors.New("autostart failed")

// AutostartResult is what Autostart did with one container.
type AutostartResult struct {
	Name string
	// AlreadyRunning: the container was running before; nothing was done.
	AlreadyRunning bool
	// Err says why the container could not be started (or why its
	// settings could not be read); nil on success.
	Err error
}

// autostartEntry is one container to start: its name and the ordering and
// delay of its current generation's settings.
type autostartEntry struct {
	name     string
	priority int
	delay    time.Duration
}

// autostartOrder sorts the entries to start: highest autostartPriority
// first, equal priorities by name.
func autostartOrder(entries []autostartEntry) []autostartEntry {
	out := append([]autostartEntry(nil), entries...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].priority != out[j].priority {
			return out[i].priority > out[j].priority
		}
		return out[i].name < out[j].name
	})
	return out
}

// Autostart starts every container whose current generation says
// autostart = true, highest autostartPriority first (ties by name), one
// after the other, waiting autostartDelay seconds after each container it
// started. A container that already runs counts as a success. It calls
// report once per container it looked at: every autostart container, and
// every container whose settings could not be read (it cannot tell
// whether those should start). One failure does not stop the others; the
// returned error wraps ErrAutostartFailed when any failed.
func (m *Manager) Autostart(ctx context.Context, report func(AutostartResult)) error {
	entries, failed, err := m.autostartEntries(report)
	if err != nil {
		return err
	}
	start := func(name string) (bool, error) {
		l, rec, err := m.begin(ctx, name, true)
		if err != nil {
			return false, err
		}
		defer l.Unlock()
		return m.start(ctx, rec)
	}
	failed += runAutostart(ctx, autostartOrder(entries), start, sleepCtx, report)
	if failed > 0 {
		return fmt.Errorf("%w: %d container(s) could not be started", ErrAutostartFailed, failed)
	}
	return nil
}

// autostartEntries reads every finished container's current settings and
// returns the autostart ones. A container whose record or settings cannot
// be read is reported as failed and counted.
func (m *Manager) autostartEntries(report func(AutostartResult)) ([]autostartEntry, int, error) {
	dirents, err := os.ReadDir(m.Store.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("autostart: list containers: %w", err)
	}
	var entries []autostartEntry
	failed := 0
	for _, d := range dirents {
		name := d.Name()
		if !d.IsDir() || records.ValidateName(name) != nil {
			continue
		}
		rec, _, s, err := m.current(name)
		if errors.Is(err, records.ErrNotExist) {
			continue // no record, or a create that has not finished
		}
		if err == nil && rec.Declared != nil && rec.Declared.Dropped {
			continue // dropped from its SPEC: kept, stopped
		}
		if err != nil {
			report(AutostartResult{Name: name, Err: err})
			failed++
			continue
		}
		if s.Autostart {
			entries = append(entries, autostartEntry{
				name:     name,
				priority: s.AutostartPriority,
				delay:    time.Duration(s.AutostartDelay * float64(time.Second)),
			})
		}
	}
	return entries, failed, nil
}

// runAutostart starts the entries in order, sleeping an entry's delay after
// starting it when another entry follows. start reports whether the
// container was already running. It returns the number of failures; once
// ctx is done, the remaining entries fail with its error.
func runAutostart(ctx context.Context, entries []autostartEntry,
	start func(name string) (alreadyRunning bool, err error),
	sleep func(context.Context, time.Duration) error,
	report func(AutostartResult)) int {
	failed := 0
	for i, e := range entries {
		if err := ctx.Err(); err != nil {
			report(AutostartResult{Name: e.name, Err: wrap(e.name, "start", err)})
			failed++
			continue
		}
		already, err := start(e.name)
		report(AutostartResult{Name: e.name, AlreadyRunning: already && err == nil, Err: err})
		if err != nil {
			failed++
			continue
		}
		if !already && e.delay > 0 && i < len(entries)-1 {
			sleep(ctx, e.delay) // a cancelled wait shows in ctx.Err above
		}
	}
	return failed
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
