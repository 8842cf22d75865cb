package integration

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestMeasureLockAndIntent measures start and a no-op update (median of
// several runs) with this tree's binary and, when NCC_MEASURE_OLD names
// one, another binary (the tree before the lock and intent records).
// It only reports; it asserts nothing about time. Opt-in: NCC_MEASURE=1.
func TestMeasureLockAndIntent(t *testing.T) {
	if os.Getenv("NCC_MEASURE") == "" {
		t.Skip("measurement only: set NCC_MEASURE=1 (and NCC_MEASURE_OLD=/path/to/old/binary)")
	}
	bins := map[string]string{"new": binary}
	if old := os.Getenv("NCC_MEASURE_OLD"); old != "" {
		bins["old"] = old
	}
	defer func(b string) { binary = b }(binary)
	const runs = 15
	for _, label := range []string{"old", "new", "old", "new"} {
		b, ok := bins[label]
		if !ok {
			continue
		}
		binary = b
		h := newHost(t, "")
		h.must("create", "--start", "m", exampleFile())
		var starts, updates []time.Duration
		for i := 0; i < runs; i++ {
			h.must("terminate", "m")
			t0 := time.Now()
			h.must("start", "m")
			starts = append(starts, time.Since(t0))
			t0 = time.Now()
			h.must("update", "m")
			updates = append(updates, time.Since(t0))
		}
		slices.Sort(starts)
		slices.Sort(updates)
		t.Logf("%s: start median %v (min %v), no-op update median %v (min %v)", label,
			starts[runs/2].Round(time.Millisecond), starts[0].Round(time.Millisecond),
			updates[runs/2].Round(time.Millisecond), updates[0].Round(time.Millisecond))
		h.must("destroy", "--force", "m")
	}
}
