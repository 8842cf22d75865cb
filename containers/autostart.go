package containers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
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
// autostart = true. Priority groups go in order, highest
// autostartPriority first: every container of one priority is started
// (and its autostartDelay has passed) before the next priority begins.
// Within a group up to jobs containers start at once (1: one after the
// other, by name); a container's delay holds its slot, and the next
// group, for that many seconds after it started, unless nothing is left
// to start. A container that already runs counts as a success. It calls
// report once per container it looked at, one call at a time: every
// autostart container, and every container whose settings could not be
// read (it cannot tell whether those should start). One failure does not
// stop the others; the returned error wraps ErrAutostartFailed when any
// failed.
func (m *Manager) Autostart(ctx context.Context, jobs int, report func(AutostartResult)) error {
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
	failed += runAutostart(ctx, autostartOrder(entries), jobs, start, sleepCtx, report)
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

// priorityGroups splits entries (in autostartOrder) into runs of equal
// priority.
func priorityGroups(entries []autostartEntry) [][]autostartEntry {
	var groups [][]autostartEntry
	for i := 0; i < len(entries); {
		j := i + 1
		for j < len(entries) && entries[j].priority == entries[i].priority {
			j++
		}
		groups = append(groups, entries[i:j])
		i = j
	}
	return groups
}

// runAutostart starts the entries (in autostartOrder) one priority group
// after the other, up to jobs at once within a group. After starting an
// entry that was not running, its worker sleeps the entry's delay when
// anything is left to start: another entry of its group not yet taken,
// or a later group (which waits for every worker of this one). start
// reports whether the container was already running. report is called
// once per entry, never concurrently. It returns the number of failures;
// once ctx is done, the remaining entries fail with its error.
func runAutostart(ctx context.Context, entries []autostartEntry, jobs int,
	start func(name string) (alreadyRunning bool, err error),
	sleep func(context.Context, time.Duration) error,
	report func(AutostartResult)) int {
	if jobs < 1 {
		jobs = 1
	}
	var mu sync.Mutex
	failed := 0
	done := func(r AutostartResult) {
		mu.Lock()
		defer mu.Unlock()
		if r.Err != nil {
			failed++
		}
		report(r)
	}
	groups := priorityGroups(entries)
	for gi, group := range groups {
		laterGroups := gi < len(groups)-1
		var next atomic.Int64 // index of the next entry of the group to take
		worker := func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(group) {
					return
				}
				e := group[i]
				if err := ctx.Err(); err != nil {
					done(AutostartResult{Name: e.name, Err: wrap(e.name, "start", err)})
					continue
				}
				already, err := start(e.name)
				done(AutostartResult{Name: e.name, AlreadyRunning: already && err == nil, Err: err})
				left := laterGroups || int(next.Load()) < len(group)
				if err == nil && !already && e.delay > 0 && left {
					sleep(ctx, e.delay) // a cancelled wait shows in ctx.Err above
				}
			}
		}
		n := min(jobs, len(group))
		var wg sync.WaitGroup
		for w := 0; w < n; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				worker()
			}()
		}
		wg.Wait()
	}
	return failed
}

// DefaultAutostartJobs is how many containers autostart starts at once
// unless told: four per CPU. A start mostly waits (for the host network
// lock, nft, liblxc's helpers and the guest's first steps); on 2 cores,
// 16 containers took 730 ms one after the other, 450 ms 2 at once, 360 ms
// 8 at once.
func DefaultAutostartJobs() int {
	return 4 * runtime.NumCPU()
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
