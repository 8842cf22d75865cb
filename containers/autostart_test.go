package containers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func names(entries []autostartEntry) string {
	var s []string
	for _, e := range entries {
		s = append(s, e.name)
	}
	return strings.Join(s, " ")
}

func TestAutostartOrder(t *testing.T) {
	tests := []struct {
		name string
		in   []autostartEntry
		want string
	}{
		{"empty", nil, ""},
		{"by name without priorities", []autostartEntry{{name: "web"}, {name: "db"}, {name: "cache"}}, "cache db web"},
		{"higher priority first", []autostartEntry{{name: "a", priority: 1}, {name: "b", priority: 10}, {name: "c", priority: 5}}, "b c a"},
		{"negative after default", []autostartEntry{{name: "late", priority: -5}, {name: "plain"}, {name: "early", priority: 3}}, "early plain late"},
		{"ties by name", []autostartEntry{{name: "z", priority: 2}, {name: "m", priority: 2}, {name: "a", priority: 1}, {name: "b", priority: 2}}, "b m z a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]autostartEntry(nil), tt.in...)
			if got := names(autostartOrder(tt.in)); got != tt.want {
				t.Errorf("order %q, want %q", got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.in) {
				t.Errorf("autostartOrder changed its input")
			}
		})
	}
}

// fakeRun records what runAutostart does, in order.
type fakeRun struct {
	events []string
}

func (f *fakeRun) start(fail map[string]bool, running map[string]bool) func(string) (bool, error) {
	return func(name string) (bool, error) {
		f.events = append(f.events, "start "+name)
		if fail[name] {
			return false, fmt.Errorf("container %q: start: boom", name)
		}
		return running[name], nil
	}
}

func (f *fakeRun) sleep(_ context.Context, d time.Duration) error {
	f.events = append(f.events, "sleep "+d.String())
	return nil
}

func (f *fakeRun) report(r AutostartResult) {
	switch {
	case r.Err != nil:
		f.events = append(f.events, "report "+r.Name+": "+r.Err.Error())
	case r.AlreadyRunning:
		f.events = append(f.events, "report "+r.Name+": already running")
	default:
		f.events = append(f.events, "report "+r.Name+": started")
	}
}

func TestRunAutostart(t *testing.T) {
	entries := []autostartEntry{
		{name: "a", delay: time.Second},
		{name: "b", delay: 2 * time.Second},
		{name: "c", delay: 3 * time.Second},
		{name: "d", delay: 4 * time.Second},
		{name: "e"},
		{name: "f", delay: 5 * time.Second},
	}
	var f fakeRun
	failed := runAutostart(context.Background(), entries, 1,
		f.start(map[string]bool{"b": true}, map[string]bool{"c": true}), f.sleep, f.report)
	want := []string{
		"start a", "report a: started", "sleep 1s", // started: wait its delay
		"start b", `report b: container "b": start: boom`, // failed: no wait, and go on
		"start c", "report c: already running", // was running: no wait
		"start d", "report d: started", "sleep 4s",
		"start e", "report e: started", // no delay
		"start f", "report f: started", // last: nothing to wait for
	}
	if failed != 1 {
		t.Errorf("failed = %d, want 1", failed)
	}
	if !reflect.DeepEqual(f.events, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(f.events, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunAutostartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var f fakeRun
	sleep := func(ctx context.Context, d time.Duration) error {
		f.events = append(f.events, "sleep "+d.String())
		cancel() // e.g. systemd stops the unit during the delay
		return ctx.Err()
	}
	entries := []autostartEntry{{name: "a", delay: time.Second}, {name: "b"}, {name: "c"}}
	failed := runAutostart(ctx, entries, 1, f.start(nil, nil), sleep, f.report)
	want := []string{
		"start a", "report a: started", "sleep 1s",
		`report b: container "b": start: context canceled`,
		`report c: container "c": start: context canceled`,
	}
	if failed != 2 {
		t.Errorf("failed = %d, want 2", failed)
	}
	if !reflect.DeepEqual(f.events, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(f.events, "\n"), strings.Join(want, "\n"))
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleepCtx on a cancelled context: %v", err)
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("sleepCtx: %v", err)
	}
}

// parallelRun is a thread-safe record of what runAutostart does with
// jobs > 1: the order of events, and how many starts were in flight.
type parallelRun struct {
	mu       sync.Mutex
	cond     *sync.Cond
	events   []string
	inFlight int
	max      int
	// wave: the first starts wait until this many are in flight at once,
	// which only bounded parallel starting reaches.
	wave    int
	waited  int
	reached bool
	stalled bool
}

func newParallelRun(wave int) *parallelRun {
	p := &parallelRun{wave: wave}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *parallelRun) log(e string) { p.events = append(p.events, e) }

func (p *parallelRun) start(name string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log("begin " + name)
	p.inFlight++
	p.max = max(p.max, p.inFlight)
	if p.inFlight >= p.wave {
		p.reached = true
	}
	if p.waited < p.wave {
		p.waited++
		p.cond.Broadcast()
		// A guard against a scheduler that never runs wave starts at
		// once: give up waiting (the test then fails on p.max), rather
		// than hang.
		guard := time.AfterFunc(10*time.Second, func() {
			p.mu.Lock()
			p.stalled = true
			p.cond.Broadcast()
			p.mu.Unlock()
		})
		for !p.reached && !p.stalled {
			p.cond.Wait()
		}
		guard.Stop()
	}
	p.inFlight--
	p.log("end " + name)
	return false, nil
}

func (p *parallelRun) sleep(_ context.Context, d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log("sleep " + d.String())
	return nil
}

func (p *parallelRun) index(e string) int {
	for i, x := range p.events {
		if x == e {
			return i
		}
	}
	return -1
}

func TestRunAutostartParallel(t *testing.T) {
	entries := autostartOrder([]autostartEntry{
		{name: "a", priority: 2, delay: time.Second},
		{name: "b", priority: 2},
		{name: "c", priority: 2, delay: 3 * time.Second},
		{name: "d", priority: 2},
		{name: "e", priority: 1},
		{name: "f", priority: 1, delay: 6 * time.Second},
		{name: "g", priority: 0, delay: 7 * time.Second},
	})
	p := newParallelRun(3)
	var reported []string
	report := func(r AutostartResult) { reported = append(reported, r.Name) } // never concurrent
	if failed := runAutostart(context.Background(), entries, 3, p.start, p.sleep, report); failed != 0 {
		t.Fatalf("failed = %d", failed)
	}
	t.Logf("events: %s", strings.Join(p.events, ", "))
	if p.max != 3 {
		t.Errorf("at most %d starts ran at once, want 3 (--jobs 3)", p.max)
	}
	sort.Strings(reported)
	if got := strings.Join(reported, " "); got != "a b c d e f g" {
		t.Errorf("reported %q, want every container once", got)
	}
	// Every container of a priority, and the delays after them, come
	// before the first start of the next priority.
	groups := [][]string{{"a", "b", "c", "d"}, {"e", "f"}, {"g"}}
	after := map[int][]string{0: {"sleep 1s", "sleep 3s"}, 1: {"sleep 6s"}}
	for gi := 0; gi+1 < len(groups); gi++ {
		last := -1
		for _, n := range groups[gi] {
			last = max(last, p.index("end "+n))
		}
		for _, s := range after[gi] {
			if i := p.index(s); i < 0 {
				t.Errorf("%s missing: a delay before a later priority is waited", s)
			} else {
				last = max(last, i)
			}
		}
		for _, n := range groups[gi+1] {
			if i := p.index("begin " + n); i < last {
				t.Errorf("%s began at event %d, before priority group %d finished (event %d)", n, i, gi, last)
			}
		}
	}
	if p.index("sleep 7s") >= 0 {
		t.Errorf("slept after the last container: nothing was left to start")
	}
}

func TestPriorityGroups(t *testing.T) {
	entries := autostartOrder([]autostartEntry{{name: "x", priority: 1}, {name: "y"}, {name: "z", priority: 1}, {name: "w", priority: -1}})
	var got []string
	for _, g := range priorityGroups(entries) {
		got = append(got, names(g))
	}
	if want := []string{"x z", "y", "w"}; !reflect.DeepEqual(got, want) {
		t.Errorf("groups %q, want %q", got, want)
	}
	if g := priorityGroups(nil); len(g) != 0 {
		t.Errorf("groups of nothing: %v", g)
	}
}
