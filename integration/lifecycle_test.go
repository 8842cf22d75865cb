package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nixcloud/nixcloud-container/records"
)

func exampleFile() string { return filepath.Join(repoRoot(), "examples", "busybox", "container.nix") }

func TestLifecycle(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c1", exampleFile())
	if st := h.state("c1"); st != "STOPPED" {
		t.Fatalf("after create: state %s, want STOPPED", st)
	}
	if r := h.run("exists", "c1"); r.code != 0 {
		t.Fatalf("exists after create: exit %d", r.code)
	}
	h.must("start", "c1")
	if st := h.state("c1"); st != "RUNNING" {
		t.Fatalf("after start: state %s", st)
	}
	if out := h.must("run", "c1", "--", "cat", "/run/marker"); strings.TrimSpace(out) != "busybox" {
		t.Fatalf("run: marker %q", out)
	}
	r := h.run("stop", "c1", "--timeout", "20s")
	if r.code != 0 || strings.Contains(r.stderr, "killed") {
		t.Fatalf("stop: exit %d, stderr %q (want a clean shutdown)", r.code, r.stderr)
	}
	if st := h.state("c1"); st != "STOPPED" {
		t.Fatalf("after stop: state %s", st)
	}
	h.must("start", "c1")
	if st := h.state("c1"); st != "RUNNING" {
		t.Fatalf("after second start: state %s", st)
	}
	if r := h.run("start", "c1"); r.code != 0 || !strings.Contains(r.stderr, "already running") || !strings.Contains(r.stderr, "re-asserted") {
		t.Fatalf("start of a running container: exit %d, %q", r.code, r.stderr)
	}
	if r := h.run("destroy", "c1"); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("destroy of a running container without --force: exit %d, %q", r.code, r.stderr)
	}
	h.must("terminate", "c1")
	if st := h.state("c1"); st != "STOPPED" {
		t.Fatalf("after terminate: state %s", st)
	}
	h.must("destroy", "c1")
	if r := h.run("exists", "c1"); r.code != 1 {
		t.Fatalf("exists after destroy: exit %d", r.code)
	}
	for _, p := range []string{filepath.Join(h.dir, "state", "containers", "c1"), filepath.Join(h.dir, "profiles", "c1")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after destroy", p)
		}
	}
}

func TestDestroyForceRunning(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c1", exampleFile())
	h.must("destroy", "c1", "--force") // flag after the name
	if r := h.run("exists", "c1"); r.code != 1 {
		t.Fatalf("exists after destroy --force: exit %d", r.code)
	}
}

// hostUID returns the host uid of a process.
func hostUID(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no Uid line")
	return -1
}

func (h *host) record(name string) *records.Record {
	h.t.Helper()
	rec, err := records.Store{Dir: filepath.Join(h.dir, "state", "containers")}.Load(name)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec
}

// initPID returns the host pid of the container's init: the child of
// the LXC monitor of this host's container (the monitor's command line
// names the container folder, so containers of other tests that share the
// name or uid range never match).
func (h *host) initPID(name string) int {
	h.t.Helper()
	want := "[lxc monitor] " + filepath.Join(h.dir, "state", "containers") + " " + name
	entries, _ := os.ReadDir("/proc")
	monitor := -1
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.TrimRight(strings.ReplaceAll(string(cmd), "\x00", " "), " ") == want {
			monitor = pid
			break
		}
	}
	if monitor < 0 {
		h.t.Fatalf("no LXC monitor of %s", name)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// pid (comm) state ppid ...; comm may hold spaces.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(monitor) {
				return pid
			}
		}
	}
	h.t.Fatalf("the LXC monitor %d of %s has no child", monitor, name)
	return -1
}

func TestUnprivileged(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "a", exampleFile())
	h.must("create", "--start", "b", exampleFile())
	ra, rb := h.record("a"), h.record("b")
	if ra.UIDBase < 100000 || rb.UIDBase < 100000 || ra.UIDBase == rb.UIDBase {
		t.Fatalf("uid bases %d and %d: want distinct and >= 100000", ra.UIDBase, rb.UIDBase)
	}
	for _, name := range []string{"a", "b"} {
		pid := h.initPID(name)
		if uid := hostUID(t, pid); uid != int(h.record(name).UIDBase) {
			t.Errorf("%s: init runs as host uid %d, want %d", name, uid, h.record(name).UIDBase)
		}
	}
	// Container root cannot write the store, its profile, or host files
	// reached through /proc.
	for _, target := range []string{"/nix/store/ncc-test", "/nix/var/nixcloud-container/profile/x", "/proc/sysrq-trigger"} {
		r := h.run("run", "a", "--", "sh", "-c", "echo x > "+target)
		if r.code == 0 {
			t.Errorf("container root could write %s", target)
		}
	}
	if _, err := os.Stat("/nix/store/ncc-test"); err == nil {
		os.Remove("/nix/store/ncc-test")
		t.Fatal("a file appeared in the host's /nix/store")
	}
	// What container root writes lands in its rootfs, owned by its base uid.
	h.must("run", "a", "--", "sh", "-c", "echo hi > /root/file")
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(h.dir, "state", "containers", "a", "rootfs", "root", "file"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != ra.UIDBase {
		t.Errorf("file written by container root is owned by host uid %d, want %d", st.Uid, ra.UIDBase)
	}
	// /etc/subuid covers both ranges for root.
	sub, _ := os.ReadFile("/etc/subuid")
	for _, rec := range []*records.Record{ra, rb} {
		if !strings.Contains(string(sub), fmt.Sprintf("root:%d:%d", rec.UIDBase, rec.UIDSize)) {
			t.Errorf("/etc/subuid lacks root's range %d:%d:\n%s", rec.UIDBase, rec.UIDSize, sub)
		}
	}
}

func TestRunExitCodeAndStdin(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	if r := h.run("run", "c", "--", "sh", "-c", "exit 7"); r.code != 7 {
		t.Fatalf("run exit 7: got %d (%s)", r.code, r.stderr)
	}
	r := h.runStdin("hello from stdin\n", "run", "c", "--", "sh", "-c", "read line; echo got:$line; echo err >&2")
	if r.code != 0 || r.stdout != "got:hello from stdin\n" || r.stderr != "err\n" {
		t.Fatalf("stdin/stdout/stderr: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := h.run("run", "c", "--", "ls", "-l", "/"); r.code != 0 {
		t.Fatalf("run with a flag after --: exit %d %s", r.code, r.stderr)
	}
}

func TestConcurrentCreates(t *testing.T) {
	h := newHost(t, "")
	const n = 8
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = h.run("create", "--start", fmt.Sprintf("c%d", i), exampleFile())
		}(i)
	}
	wg.Wait()
	slots, bases := map[int]bool{}, map[uint32]bool{}
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("create c%d: exit %d: %s", i, r.code, r.stderr)
		}
		rec := h.record(fmt.Sprintf("c%d", i))
		slots[rec.Slot], bases[rec.UIDBase] = true, true
		if st := h.state(rec.Name); st != "RUNNING" {
			t.Errorf("%s: %s", rec.Name, st)
		}
	}
	if len(slots) != n || len(bases) != n {
		t.Fatalf("want %d distinct slots and uid ranges, got %d and %d", n, len(slots), len(bases))
	}
}
