package integration

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/containers"
)

func (h *host) info(name string) containers.Info {
	h.t.Helper()
	var i containers.Info
	if err := json.Unmarshal([]byte(h.must("info", "--json", name)), &i); err != nil {
		h.t.Fatal(err)
	}
	return i
}

// readNum reads a number from a cgroup or sysfs file (key: a line of a
// flat-keyed file such as cpu.stat).
func readNum(t *testing.T, file, key string) uint64 {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(data))
	if key != "" {
		for _, l := range strings.Split(s, "\n") {
			if v, ok := strings.CutPrefix(l, key+" "); ok {
				s = v
			}
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return n
}

// vethCounter reads a host veth's counter inside the host's namespace.
func (h *host) vethCounter(veth, counter string) uint64 {
	h.t.Helper()
	out := inNetns(h.t, h.netns, "cat", filepath.Join("/sys/class/net", veth, "statistics", counter))
	n, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// cgroupFiles are the files a container's usage comes from.
type cgroupFiles struct {
	peak, pids, cpu, cpuKey string
	cpuPerSecond            float64
}

// usageFiles finds them from the cgroups of pid: cgroup v1 controllers
// where the host mounts them, else cgroup v2.
func usageFiles(t *testing.T, pid int) cgroupFiles {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, ":", 3)
		for _, c := range strings.Split(f[1], ",") {
			paths[c] = f[2]
		}
	}
	v1 := func(c string) string {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, "tasks")); err == nil {
			return filepath.Join("/sys/fs/cgroup", c, paths[c])
		}
		return ""
	}
	v2 := filepath.Join("/sys/fs/cgroup", paths[""])
	f := cgroupFiles{peak: v2 + "/memory.peak", pids: v2 + "/pids.current", cpu: v2 + "/cpu.stat", cpuKey: "usage_usec", cpuPerSecond: 1e6}
	if d := v1("memory"); d != "" {
		f.peak = d + "/memory.max_usage_in_bytes"
	}
	if d := v1("pids"); d != "" {
		f.pids = d + "/pids.current"
	}
	if d := v1("cpuacct"); d != "" {
		f.cpu, f.cpuKey, f.cpuPerSecond = d+"/cpuacct.usage", "", 1e9
	}
	return f
}

func TestInfo(t *testing.T) {
	h := newHost(t, "")
	settings := probeMount() + `forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];
limits.memory = "256M";`
	h.must("create", "infoc", h.natFile("infoc.nix", settings))

	stopped := h.info("infoc")
	if stopped.State != "STOPPED" || stopped.InitPID != 0 || stopped.Usage != nil || stopped.RunningGeneration != 0 {
		t.Errorf("stopped: %+v", stopped)
	}
	h.must("start", "infoc")
	// Some traffic on both interfaces: the guest pings the host.
	h.run("run", "infoc", "--", "ping", "-c", "2", "-W", "1", containers.Addresses(h.record("infoc"))[0])

	// Every cgroup file and counter is read before and after info: the
	// monotonic ones must lie in between, the others be equal.
	pid := h.initPID("infoc")
	files := usageFiles(t, pid)
	rec := h.record("infoc")
	type bounds struct{ lo, hi uint64 }
	peak, cpu := bounds{lo: readNum(t, files.peak, "")}, bounds{lo: readNum(t, files.cpu, files.cpuKey)}
	pids := readNum(t, files.pids, "")
	traffic := map[string][4]bounds{}
	counters := []string{"tx_bytes", "tx_packets", "rx_bytes", "rx_packets"} // host side: rx, tx of the guest
	for _, nic := range rec.Interfaces {
		var b [4]bounds
		for k, c := range counters {
			b[k].lo = h.vethCounter(nic.HostVeth, c)
		}
		traffic[nic.Name] = b
	}
	i := h.info("infoc")
	peak.hi, cpu.hi = readNum(t, files.peak, ""), readNum(t, files.cpu, files.cpuKey)
	for _, nic := range rec.Interfaces {
		b := traffic[nic.Name]
		for k, c := range counters {
			b[k].hi = h.vethCounter(nic.HostVeth, c)
		}
		traffic[nic.Name] = b
	}

	if i.State != "RUNNING" || i.InitPID != pid || i.Started == nil || i.Generation != 1 || i.RunningGeneration != 1 {
		t.Errorf("state %s, init %d (want %d), started %v, generation %d running %d", i.State, i.InitPID, pid, i.Started, i.Generation, i.RunningGeneration)
	}
	if len(i.Interfaces) != 2 {
		t.Fatalf("interfaces: %+v", i.Interfaces)
	}
	for k, nic := range rec.Interfaces {
		got := i.Interfaces[k]
		if got.Name != nic.Name || got.MAC != nic.MAC || got.MAC == "" || got.HostVeth != nic.HostVeth || got.IPv4 != nic.IPv4 || got.Bridge != nic.Bridge {
			t.Errorf("interface %d: %+v, record %+v", k, got, nic)
		}
	}
	if len(i.Forwards) != 1 || i.Forwards[0] != (containers.ForwardInfo{Protocol: "tcp", HostPort: 8080, ContainerPort: 80}) {
		t.Errorf("forwards: %+v", i.Forwards)
	}
	if len(i.BindMounts) != 1 || i.BindMounts[0].Target != "/probe" || i.BindMounts[0].HostPath != filepath.Dir(probe) || !i.BindMounts[0].ReadOnly {
		t.Errorf("bind mounts: %+v", i.BindMounts)
	}
	if i.Limits.Memory != "256M" {
		t.Errorf("limits: %+v", i.Limits)
	}
	u := i.Usage
	if u == nil {
		t.Fatal("no usage for a running container")
	}
	if u.Cgroup != "/lxc.payload.infoc" {
		t.Errorf("cgroup %q", u.Cgroup)
	}
	in := func(what string, v uint64, b bounds) {
		if v == 0 || v < b.lo || v > b.hi {
			t.Errorf("%s: info says %d, the files %d..%d", what, v, b.lo, b.hi)
		}
	}
	in("memory.peak", u.MemoryPeak, peak)
	in("cpu usage", uint64(math.Round(u.CPUSeconds*files.cpuPerSecond)), cpu)
	if u.Processes != pids || u.Processes == 0 || u.MemoryCurrent == 0 || u.MemoryCurrent > u.MemoryPeak {
		t.Errorf("processes %d (pids.current %d), memory current %d peak %d", u.Processes, pids, u.MemoryCurrent, u.MemoryPeak)
	}
	if len(u.Interfaces) != 2 {
		t.Fatalf("usage interfaces: %+v", u.Interfaces)
	}
	for _, n := range u.Interfaces {
		b := traffic[n.Name]
		in(n.Name+" rx_bytes", n.RxBytes, b[0])
		in(n.Name+" rx_packets", n.RxPackets, b[1])
		in(n.Name+" tx_bytes", n.TxBytes, b[2])
		in(n.Name+" tx_packets", n.TxPackets, b[3])
	}
	// The text form names the same things.
	text := h.must("info", "infoc")
	for _, want := range []string{"RUNNING", rec.Interfaces[0].MAC, rec.Interfaces[0].HostVeth, "tcp host port 8080 -> 80", "/probe", "memory 256M", "Processes:"} {
		if !strings.Contains(text, want) {
			t.Errorf("info text lacks %q:\n%s", want, text)
		}
	}

	// list --json carries the same, without the counters.
	var list []containers.Info
	if err := json.Unmarshal([]byte(h.must("list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("list: %+v", list)
	}
	l := list[0]
	if l.Usage != nil {
		t.Errorf("list carries usage: %+v", l.Usage)
	}
	strip := func(x containers.Info) string {
		x.Usage, x.Started, x.UptimeSeconds = nil, nil, 0
		data, _ := json.Marshal(x)
		return string(data)
	}
	if strip(l) != strip(i) || l.Started == nil || !l.Started.Equal(*i.Started) {
		t.Errorf("list --json differs from info --json:\n%s\n%s", strip(l), strip(i))
	}
	if r := h.run("info", "nosuch"); r.code == 0 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("info of a missing container: exit %d, stderr %q", r.code, r.stderr)
	}
}

// The running generation follows in-place switches and restarts; a
// stopped container has none.
func TestInfoRunningGeneration(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", h.busyboxFile("a.nix", `marker = "a"; switchExitCode = 0;`, ""))
	if i := h.info("c"); i.Generation != 1 || i.RunningGeneration != 1 {
		t.Errorf("after start: generation %d, running %d", i.Generation, i.RunningGeneration)
	}
	h.must("update", "c", h.busyboxFile("b.nix", `marker = "b"; switchExitCode = 0;`, ""))
	if i := h.info("c"); i.Generation != 2 || i.RunningGeneration != 2 {
		t.Errorf("after a switch in place: generation %d, running %d", i.Generation, i.RunningGeneration)
	}
	h.must("update", "c", h.busyboxFile("f.nix", `marker = "a"; switchExitCode = 0;`, `limits.memory = "300M";`))
	if i := h.info("c"); i.Generation != 3 || i.RunningGeneration != 3 {
		t.Errorf("after a restart: generation %d, running %d", i.Generation, i.RunningGeneration)
	}
	h.must("stop", "c")
	h.must("rollback", "c")
	if i := h.info("c"); i.Generation != 2 || i.RunningGeneration != 0 || i.InitPID != 0 {
		t.Errorf("stopped: generation %d, running %d, init %d", i.Generation, i.RunningGeneration, i.InitPID)
	}
	if out := h.must("info", "c"); !strings.Contains(out, "2 (current)") {
		t.Errorf("info text: %s", out)
	}
}

// The container's root makes a cgroup below its own, named like its own
// (lxc.payload.NAME), and moves its init there, while a process stays
// in its own: info still reports the whole container, from its own
// cgroup, not the one the guest chose.
func TestInfoUsageNestedCgroup(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "nest", exampleFile())
	pid := h.initPID("nest")
	files := usageFiles(t, pid) // the container's own cgroup, before the attack
	// A process that stays in the container's own cgroup.
	h.must("run", "nest", "--", guestSh, "-c", "sleep 1000 </dev/null >/dev/null 2>&1 &")
	r := h.run("run", "nest", "--", guestSh, "-c", `
for c in pids memory cpuacct cpu; do
  mkdir -p /run/cg-$c && mount -t cgroup -o $c cgroup /run/cg-$c &&
    mkdir -p /run/cg-$c/lxc.payload.nest &&
    echo 1 > /run/cg-$c/lxc.payload.nest/cgroup.procs && echo "moved $c"
done
mkdir -p /run/cg2 && mount -t cgroup2 cgroup2 /run/cg2 && mkdir -p /run/cg2/lxc.payload.nest &&
  echo 1 > /run/cg2/lxc.payload.nest/cgroup.procs && echo "moved v2"
cat /proc/1/cgroup`)
	out := r.stdout + r.stderr
	if !strings.Contains(out, "moved") {
		t.Fatalf("the guest could not move its init to a cgroup of its own:\n%s", out)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil || !strings.Contains(string(data), "/lxc.payload.nest/lxc.payload.nest") {
		t.Fatalf("init's cgroups after the move: %s %v", data, err)
	}
	pids := readNum(t, files.pids, "")
	u := h.info("nest").Usage
	if u == nil {
		t.Fatal("no usage")
	}
	if u.Cgroup != "/lxc.payload.nest" || u.Processes != pids || pids < 2 {
		t.Errorf("usage from cgroup %q with %d processes; the container's cgroup has %d (%s)", u.Cgroup, u.Processes, pids, files.pids)
	}
}
