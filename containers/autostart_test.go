package containers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
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
	failed := runAutostart(context.Background(), entries,
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
	failed := runAutostart(ctx, entries, f.start(nil, nil), sleep, f.report)
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
