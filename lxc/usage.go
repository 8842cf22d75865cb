package lxc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Usage is what a running container uses now, from its cgroups (v2, or
// the v1 memory, cpuacct and pids controllers).
type Usage struct {
	// Cgroup is the container's cgroup (LXC's lxc.payload.NAME), below the
	// hierarchies' mount points.
	Cgroup        string  `json:"cgroup"`
	MemoryCurrent uint64  `json:"memory_current"` // bytes
	MemoryPeak    uint64  `json:"memory_peak"`    // bytes (0 when the kernel keeps none)
	CPUSeconds    float64 `json:"cpu_seconds"`
	Processes     uint64  `json:"processes"`
}

// ErrNoCgroup means the container's cgroup could not be found (it runs in
// no cgroup LXC made).
var ErrNoCgroup = errors.New("no cgroup of the container")

// cgroupOf is a process's cgroup per hierarchy.
type cgroupOf struct {
	paths  map[string]string // controller ("" for v2) -> path
	mounts []cgroupMount
}

func readCgroupOf(pid int) (cgroupOf, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return cgroupOf{}, fmt.Errorf("cgroup of pid %d: %w", pid, err)
	}
	cg := cgroupOf{paths: map[string]string{}, mounts: cgroupMounts()}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			cg.paths[""] = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			cg.paths[c] = f[2]
		}
	}
	return cg, nil
}

// payload cuts a cgroup path to the container's lxc.payload.NAME folder:
// the outermost one, since the container's root may make cgroups below
// its own, named as it likes (lxc.payload.NAME too), and move its
// processes there, which would hide the others' usage.
func payload(path, name string) (string, bool) {
	found := ""
	for dir := filepath.Clean(path); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if strings.HasPrefix(filepath.Base(dir), "lxc.payload.") {
			found = dir
		}
	}
	if found == "" || !IsCgroupOf(filepath.Base(found), name) {
		return "", false
	}
	return found, true
}

// dir returns the folder of the container's cgroup holding controller's
// files: a v1 hierarchy of that controller, else the v2 one.
func (cg cgroupOf) dir(controller, name string) (dir string, v2 bool, err error) {
	if p, ok := cg.paths[controller]; ok {
		for _, m := range cg.mounts {
			if !m.v2 && slices.Contains(m.options, controller) {
				if rel, ok := payload(p, name); ok {
					return filepath.Join(m.dir, rel), false, nil
				}
			}
		}
	}
	if p, ok := cg.paths[""]; ok {
		for _, m := range cg.mounts {
			if m.v2 {
				if rel, ok := payload(p, name); ok {
					return filepath.Join(m.dir, rel), true, nil
				}
			}
		}
	}
	return "", false, fmt.Errorf("%s controller: %w", controller, ErrNoCgroup)
}

// ReadUsage reads the usage of the container name whose init is pid.
func ReadUsage(pid int, name string) (Usage, error) {
	var u Usage
	cg, err := readCgroupOf(pid)
	if err != nil {
		return u, err
	}
	for _, p := range cg.paths {
		if rel, ok := payload(p, name); ok {
			u.Cgroup = rel
		}
	}
	if u.Cgroup == "" {
		return u, ErrNoCgroup
	}
	dir, v2, err := cg.dir("memory", name)
	if err != nil {
		return u, err
	}
	current, peak := "memory.current", "memory.peak"
	if !v2 {
		current, peak = "memory.usage_in_bytes", "memory.max_usage_in_bytes"
	}
	if u.MemoryCurrent, err = readUint(dir, current); err != nil {
		return u, err
	}
	if u.MemoryPeak, err = readUint(dir, peak); err != nil && !errors.Is(err, os.ErrNotExist) {
		return u, err
	}
	if dir, _, err = cg.dir("pids", name); err != nil {
		return u, err
	}
	if u.Processes, err = readUint(dir, "pids.current"); err != nil {
		return u, err
	}
	if dir, v2, err = cg.dir("cpuacct", name); err == nil && !v2 {
		ns, err := readUint(dir, "cpuacct.usage")
		u.CPUSeconds = float64(ns) / 1e9
		return u, err
	}
	if dir, _, err = cg.dir("cpu", name); err != nil {
		return u, err
	}
	stat, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return u, fmt.Errorf("usage: %w", err)
	}
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			usec, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return u, fmt.Errorf("usage: cpu.stat: %w", err)
			}
			u.CPUSeconds = float64(usec) / 1e6
		}
	}
	return u, nil
}

func readUint(dir, file string) (uint64, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("usage: %s: %w", file, err)
	}
	return n, nil
}

// Counters are one interface's traffic as the container sees it: what it
// received (rx) and sent (tx).
type Counters struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
}

// VethCounters reads the counters of a container interface from its host
// side veth (in the caller's network namespace): what the host side sent,
// the container received.
func VethCounters(hostVeth string) (Counters, error) {
	dir := filepath.Join("/sys/class/net", hostVeth, "statistics")
	var c Counters
	for _, f := range []struct {
		file string
		to   *uint64
	}{{"tx_bytes", &c.RxBytes}, {"tx_packets", &c.RxPackets}, {"rx_bytes", &c.TxBytes}, {"rx_packets", &c.TxPackets}} {
		n, err := readUint(dir, f.file)
		if err != nil {
			return c, err
		}
		*f.to = n
	}
	return c, nil
}

// ProcessStart returns when a process started, from /proc/PID/stat and
// the boot time.
func ProcessStart(pid int) (time.Time, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, err
	}
	// Fields after the command (which may hold spaces) in parentheses.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return time.Time{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return time.Time{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64) // field 22: starttime
	if err != nil {
		return time.Time{}, err
	}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	var btime int64
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			btime, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	const hz = 100 // USER_HZ, fixed on Linux
	return time.Unix(btime, 0).Add(time.Duration(ticks) * time.Second / hz), nil
}
