package integration

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestMeasureInfoList times info --json (one container) and list --json
// (all) with NCC_MEASURE_INFO running containers (the issue asks for 50),
// median of several runs. It only reports; it asserts nothing about time.
// Opt-in: NCC_MEASURE_INFO=N.
func TestMeasureInfoList(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("NCC_MEASURE_INFO"))
	if n <= 0 {
		t.Skip("measurement only: set NCC_MEASURE_INFO=N (number of running containers, 50 for the report)")
	}
	h := newHost(t, "")
	for i := 0; i < n; i++ {
		h.must("create", "--start", fmt.Sprintf("m%d", i), exampleFile())
	}
	const runs = 11
	median := func(args ...string) time.Duration {
		var d []time.Duration
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			h.must(args...)
			d = append(d, time.Since(t0))
		}
		slices.Sort(d)
		return d[runs/2].Round(time.Millisecond)
	}
	t.Logf("%d running containers: info --json median %v, list --json median %v, list median %v",
		n, median("info", "--json", "m0"), median("list", "--json"), median("list"))
}
