package integration

// Container options (issue 5): bind mounts, limits, raw LXC items,
// autostart, ephemeral, and bad input for each of them. Every test name
// starts with TestOpt: go test -run TestOpt ./integration/

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// lxcConfig returns the container's rendered LXC configuration.
func (h *host) lxcConfig(name string) string {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.dir, "state", "containers", name, "config"))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(data)
}

// wantConfig fails unless every line is in the container's configuration.
func (h *host) wantConfig(name string, lines ...string) {
	h.t.Helper()
	cfg := h.lxcConfig(name)
	for _, l := range lines {
		if !slices.Contains(strings.Split(cfg, "\n"), l) {
			h.t.Errorf("config of %s lacks %q:\n%s", name, l, cfg)
		}
	}
}

// mkdirOwned makes a folder in the host's temp folder owned by uid.
func (h *host) mkdirOwned(name string, uid int) string {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func fileOwner(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// runSh runs a shell command in the container and returns its result.
func (h *host) runSh(name, cmd string) result {
	h.t.Helper()
	return h.run("run", name, "--", "sh", "-c", cmd)
}

func TestOptBindMounts(t *testing.T) {
	h := newHost(t, "")
	ro := h.mkdirOwned("ro", 0)
	h.writeFile("ro/hello", "hello from the host\n")
	rw := h.mkdirOwned("rw", 0) // given to the container's root below
	rwRoot := h.mkdirOwned("rw-root", 0)
	shift := h.mkdirOwned("shift", 0)
	file := h.writeFile("motd", "message of the day\n")
	f := h.busyboxFile("c.nix", "", fmt.Sprintf(`
  bindMounts."/mnt/ro".hostPath = %q;
  bindMounts."/mnt/rw" = { hostPath = %q; isReadOnly = false; };
  bindMounts."/mnt/rw-root" = { hostPath = %q; isReadOnly = false; };
  bindMounts."/mnt/shift" = { hostPath = %q; isReadOnly = false; shift = true; };
  bindMounts."/etc/motd".hostPath = %q;`, ro, rw, rwRoot, shift, file))

	h.must("create", "c", f)

	// A missing hostPath is refused before anything changes.
	before := h.hostState() // after the first create made the state folders
	missing := h.busyboxFile("missing.nix", "", fmt.Sprintf(`bindMounts."/mnt/x".hostPath = %q;`, filepath.Join(h.dir, "nope")))
	r := h.run("create", "m", missing)
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "does not exist") || !strings.Contains(r.stderr, "/mnt/x") {
		t.Fatalf("create with a missing hostPath: exit %d, stderr %q; want 1 and one line saying it does not exist", r.code, r.stderr)
	}
	if after := h.hostState(); after != before {
		t.Fatalf("a refused create changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	base := h.record("c").UIDBase
	if err := os.Chown(rw, int(base), int(base)); err != nil {
		t.Fatal(err)
	}
	h.must("start", "c")
	h.wantConfig("c",
		"lxc.mount.entry = "+ro+" mnt/ro none bind,ro,create=dir 0 0",
		"lxc.mount.entry = "+rw+" mnt/rw none bind,create=dir 0 0",
		"lxc.mount.entry = "+shift+" mnt/shift none bind,create=dir,idmap=container 0 0",
		"lxc.mount.entry = "+file+" etc/motd none bind,ro,create=file 0 0")

	// Read-only: readable, but not writable, even by the container's root.
	if out := h.must("run", "c", "--", "cat", "/mnt/ro/hello", "/etc/motd"); out != "hello from the host\nmessage of the day\n" {
		t.Fatalf("read-only mounts read %q", out)
	}
	for _, target := range []string{"/mnt/ro/new", "/mnt/ro/hello", "/etc/motd"} {
		if r := h.runSh("c", "echo x > "+target); r.code == 0 {
			t.Errorf("container root could write %s on a read-only mount", target)
		}
	}
	if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
		t.Errorf("a file appeared in the read-only host folder")
	}
	if data, _ := os.ReadFile(filepath.Join(ro, "hello")); string(data) != "hello from the host\n" {
		t.Errorf("read-only host file changed: %q", data)
	}
	// Host files owned by uids outside the container's range show up as
	// nobody (the overflow uid).
	if out := strings.TrimSpace(h.must("run", "c", "--", "stat", "-c", "%u:%g", "/mnt/ro/hello")); out != "65534:65534" {
		t.Errorf("a host root file appears as %s in the container, want 65534:65534 (nobody)", out)
	}

	// Read-write, owned by the container's mapped root: writable, and the
	// file belongs to the mapped root on the host.
	h.must("run", "c", "--", "sh", "-c", "echo written > /mnt/rw/f && mkdir /mnt/rw/d")
	if data, err := os.ReadFile(filepath.Join(rw, "f")); err != nil || string(data) != "written\n" {
		t.Fatalf("file written in the container: %q, %v", data, err)
	}
	for _, p := range []string{"f", "d"} {
		if uid, gid := fileOwner(t, filepath.Join(rw, p)); uid != base || gid != base {
			t.Errorf("%s written by container root is owned by %d:%d on the host, want %d:%d", p, uid, gid, base, base)
		}
	}
	if out := strings.TrimSpace(h.must("run", "c", "--", "stat", "-c", "%u", "/mnt/rw/f")); out != "0" {
		t.Errorf("the file appears as uid %s in the container, want 0", out)
	}
	// Read-write but owned by host root: the container's root is "others"
	// there and cannot write.
	if r := h.runSh("c", "echo x > /mnt/rw-root/f"); r.code == 0 {
		t.Errorf("container root could write into a folder of host root")
	}

	// shift = true (idmapped mount): host root's folder is root's in the
	// container, and what container root writes belongs to host root.
	if out := strings.TrimSpace(h.must("run", "c", "--", "stat", "-c", "%u", "/mnt/shift")); out != "0" {
		t.Errorf("shifted mount appears as uid %s in the container, want 0", out)
	}
	h.must("run", "c", "--", "sh", "-c", "echo shifted > /mnt/shift/f")
	if uid, gid := fileOwner(t, filepath.Join(shift, "f")); uid != 0 || gid != 0 {
		t.Errorf("file written through a shifted mount is owned by %d:%d on the host, want 0:0", uid, gid)
	}

	// A hostPath that disappears later stops the next start, with a
	// clear message, and nothing starts.
	h.must("stop", "c")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	r = h.run("start", "c")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("start with a vanished hostPath: exit %d, %q", r.code, r.stderr)
	}
	if st := h.state("c"); st != "STOPPED" {
		t.Fatalf("after a refused start: %s", st)
	}
}

// cgroupFile reads a file of the cgroup that process pid is in: the
// controller's hierarchy on cgroup v1, the unified one on v2.
func cgroupFile(t *testing.T, pid int, v2 bool, controller, file string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		dir := ""
		switch {
		case v2 && parts[0] == "0" && parts[1] == "":
			dir = filepath.Join("/sys/fs/cgroup", parts[2])
		case !v2 && slices.Contains(strings.Split(parts[1], ","), controller):
			dir = filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
		default:
			continue
		}
		if !strings.Contains(parts[2], "lxc.payload") {
			t.Fatalf("process %d is in cgroup %s, not one LXC made for the container", pid, parts[2])
		}
		out, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	t.Fatalf("process %d: no %s cgroup in %q", pid, controller, data)
	return ""
}

// cgroupCounter returns the value of key in a flat-keyed cgroup file
// ("oom_kill 1", "max 3").
func cgroupCounter(t *testing.T, content, key string) int {
	t.Helper()
	for _, l := range strings.Split(content, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == key {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %q in %q", key, content)
	return 0
}

func TestOptLimits(t *testing.T) {
	h := newHost(t, "")
	v2 := false
	if st, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil && st.Mode().IsRegular() {
		v2 = true
	}
	f := h.busyboxFile("c.nix", "", `limits = { memory = "64M"; cpus = 0.5; processes = 32; };`)
	h.must("create", "c", f)
	h.must("start", "c")
	pid := h.initPID("c")

	if v2 {
		h.wantConfig("c", "lxc.cgroup2.memory.max = 67108864", "lxc.cgroup2.cpu.max = 50000 100000", "lxc.cgroup2.pids.max = 32")
		for file, want := range map[string]string{"memory.max": "67108864", "cpu.max": "50000 100000", "pids.max": "32"} {
			if got := cgroupFile(t, pid, true, "", file); got != want {
				t.Errorf("%s of the container's cgroup: %q, want %q", file, got, want)
			}
		}
	} else {
		h.wantConfig("c", "lxc.cgroup.memory.limit_in_bytes = 67108864",
			"lxc.cgroup.cpu.cfs_period_us = 100000", "lxc.cgroup.cpu.cfs_quota_us = 50000", "lxc.cgroup.pids.max = 32")
		for _, c := range []struct{ ctrl, file, want string }{
			{"memory", "memory.limit_in_bytes", "67108864"},
			{"cpu", "cpu.cfs_period_us", "100000"},
			{"cpu", "cpu.cfs_quota_us", "50000"},
			{"pids", "pids.max", "32"},
		} {
			if got := cgroupFile(t, pid, false, c.ctrl, c.file); got != c.want {
				t.Errorf("%s of the container's cgroup: %q, want %q", c.file, got, c.want)
			}
		}
	}
	oomKills := func() int {
		if v2 {
			return cgroupCounter(t, cgroupFile(t, pid, true, "", "memory.events"), "oom_kill")
		}
		return cgroupCounter(t, cgroupFile(t, pid, false, "memory", "memory.oom_control"), "oom_kill")
	}

	// Memory: 16 MiB in one buffer is fine, 100 MiB is killed by the
	// kernel (SIGKILL, 128+9) and counted as an OOM kill; the container
	// lives on.
	if r := h.run("run", "c", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=16M", "count=1"); r.code != 0 {
		t.Fatalf("dd of 16 MiB under a 64 MiB limit: exit %d, %q", r.code, r.stderr)
	}
	kills := oomKills()
	if r := h.run("run", "c", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"); r.code != 128+9 {
		t.Fatalf("dd of 100 MiB under a 64 MiB limit: exit %d, %q; want %d (killed)", r.code, r.stderr, 128+9)
	}
	if now := oomKills(); now <= kills {
		t.Errorf("oom_kill count stayed at %d", now)
	}
	if st := strings.TrimSpace(h.must("state", "c")); st != "RUNNING" {
		t.Fatalf("after the OOM kill: %s", st)
	}

	// Processes: forking past 32 fails. The sleeps stay until the
	// container is terminated.
	pidsEvents := func() int {
		return cgroupCounter(t, cgroupFile(t, pid, v2, "pids", "pids.events"), "max")
	}
	refused := pidsEvents()
	r := h.run("run", "c", "--", "sh", "-c", `i=0; while [ $i -lt 64 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & i=$((i+1)); done`)
	if r.code == 0 || !strings.Contains(r.stderr, "can't fork") {
		t.Fatalf("64 processes under a limit of 32: exit %d, %q; want a fork failure", r.code, r.stderr)
	}
	if now := pidsEvents(); now <= refused {
		t.Errorf("pids.events max stayed at %d", now)
	}
	h.must("terminate", "c")
}

func TestOptExtraLxcConfig(t *testing.T) {
	h := newHost(t, "")
	f := h.busyboxFile("c.nix", "", `extraLxcConfig = [ "lxc.environment = FROM_FILE=file value" "lxc.prlimit.nofile = 1234" ];`)
	h.must("create", "c", f, "-l", "lxc.environment=FROM_FLAG=flag", "--start")
	h.wantConfig("c", "lxc.environment = FROM_FILE=file value", "lxc.prlimit.nofile = 1234", "lxc.environment = FROM_FLAG=flag")
	// The environment reaches init and commands run with `run`.
	if out := h.must("run", "c", "--", "sh", "-c", `echo "$FROM_FILE|$FROM_FLAG"`); out != "file value|flag\n" {
		t.Errorf("environment of run: %q", out)
	}
	env := strings.Split(h.must("run", "c", "--", "cat", "/proc/1/environ"), "\x00")
	for _, kv := range []string{"FROM_FILE=file value", "FROM_FLAG=flag"} {
		if !slices.Contains(env, kv) {
			t.Errorf("init's environment lacks %s: %q", kv, env)
		}
	}
	// The resource limit is set on init.
	limits := h.must("run", "c", "--", "cat", "/proc/1/limits")
	found := false
	for _, l := range strings.Split(limits, "\n") {
		if strings.HasPrefix(l, "Max open files") {
			f := strings.Fields(strings.TrimPrefix(l, "Max open files"))
			found = len(f) >= 2 && f[0] == "1234" && f[1] == "1234"
		}
	}
	if !found {
		t.Errorf("lxc.prlimit.nofile = 1234 did not reach init:\n%s", limits)
	}
	// -l is remembered: a restart renders it again.
	h.must("restart", "c")
	h.wantConfig("c", "lxc.environment = FROM_FLAG=flag")
}

func TestOptAutostart(t *testing.T) {
	h := newHost(t, "")
	if r := h.run("autostart"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("autostart without containers: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	gone := h.mkdirOwned("gone", 0)
	files := map[string]string{
		"low":    `autostart = true; autostartPriority = 10;`,
		"high":   `autostart = true; autostartPriority = 20; autostartDelay = 0.5;`,
		"manual": `autostartPriority = 30;`,
		"broken": fmt.Sprintf(`autostart = true; autostartPriority = 15; bindMounts."/mnt/gone".hostPath = %q;`, gone),
	}
	for _, name := range []string{"low", "high", "manual", "broken"} {
		h.must("create", name, h.busyboxFile(name+".nix", "", files[name]))
	}
	// broken cannot start any more: its bind mount's source is gone.
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	states := func() string {
		var s []string
		for _, n := range []string{"high", "broken", "low", "manual"} {
			s = append(s, n+"="+h.state(n))
		}
		return strings.Join(s, " ")
	}

	r := h.run("autostart")
	if r.code != 1 {
		t.Fatalf("autostart with a broken container: exit %d, want 1 (stderr %q)", r.code, r.stderr)
	}
	if r.stdout != "high: started\nlow: started\n" {
		t.Errorf("autostart stdout %q, want high then low", r.stdout)
	}
	// Other installs on this machine (other test runs) may have removed
	// a subordinate id line this host's containers share; the tool adds
	// it back and says so. Those notices are not failures.
	r.stderr = dropSubIDNotices(r.stderr)
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, `nixcloud-container: container "broken": `) || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("autostart stderr %q: want one line about broken's missing hostPath", r.stderr)
	}
	if got := states(); got != "high=RUNNING broken=STOPPED low=RUNNING manual=STOPPED" {
		t.Fatalf("after autostart: %s", got)
	}
	var infos []struct {
		Name      string `json:"name"`
		Autostart bool   `json:"autostart"`
	}
	if err := json.Unmarshal([]byte(h.must("list", "--json")), &infos); err != nil {
		t.Fatal(err)
	}
	var auto []string
	for _, i := range infos {
		if i.Autostart {
			auto = append(auto, i.Name)
		}
	}
	if strings.Join(auto, " ") != "broken high low" {
		t.Errorf("list --json: autostart containers %v", auto)
	}

	// Fixed, a second run starts broken and leaves the others alone.
	if err := os.Mkdir(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	r = h.run("autostart")
	if r.code != 0 || r.stdout != "high: already running\nbroken: started\nlow: already running\n" || r.stderr != "" {
		t.Fatalf("second autostart: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := states(); got != "high=RUNNING broken=RUNNING low=RUNNING manual=STOPPED" {
		t.Fatalf("after the second autostart: %s", got)
	}
}

func TestOptEphemeral(t *testing.T) {
	h := newHost(t, "")
	data := h.mkdirOwned("data", 0)
	settings := func(ephemeral bool) string {
		return fmt.Sprintf(`ephemeral = %v; bindMounts."/mnt/data" = { hostPath = %q; isReadOnly = false; };`, ephemeral, data)
	}
	h.must("create", "c", h.busyboxFile("eph.nix", "", settings(true)))
	base := h.record("c").UIDBase
	if err := os.Chown(data, int(base), int(base)); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(h.dir, "state", "containers", "c", "rootfs")
	exists := func(path string) bool {
		r := h.run("run", "c", "--", "test", "-e", path)
		if r.code > 1 {
			t.Fatalf("test -e %s: exit %d, %q", path, r.code, r.stderr)
		}
		return r.code == 0
	}

	h.must("start", "c")
	h.must("run", "c", "--", "sh", "-c", "echo r > /root/f && echo v > /var/f && echo d > /mnt/data/f")
	if _, err := os.Stat(filepath.Join(rootfs, "root", "f")); err != nil {
		t.Fatalf("the file is not in the rootfs on the host: %v", err)
	}
	h.must("stop", "c")
	h.must("start", "c")
	for _, p := range []string{"/root/f", "/var/f"} {
		if exists(p) {
			t.Errorf("%s survived stop/start of an ephemeral container", p)
		}
	}
	if _, err := os.Stat(filepath.Join(rootfs, "root", "f")); err == nil {
		t.Errorf("the file is still in the rootfs on the host")
	}
	if out := h.must("run", "c", "--", "cat", "/mnt/data/f"); out != "d\n" {
		t.Errorf("bind mount after stop/start: %q", out)
	}
	if uid, _ := fileOwner(t, rootfs); uid != base {
		t.Errorf("the new rootfs is owned by %d, want the mapped root %d", uid, base)
	}
	// A restart resets it too.
	h.must("run", "c", "--", "sh", "-c", "echo r > /root/f")
	h.must("restart", "c")
	if exists("/root/f") {
		t.Errorf("/root/f survived a restart of an ephemeral container")
	}

	// The same container without ephemeral keeps its rootfs (the update
	// changes host settings, so the running container restarts).
	h.must("update", "c", h.busyboxFile("keep.nix", "", settings(false)))
	h.must("run", "c", "--", "sh", "-c", "echo r > /root/f")
	h.must("stop", "c")
	h.must("start", "c")
	if !exists("/root/f") {
		t.Errorf("/root/f is gone after stop/start of a container that is not ephemeral")
	}
}

func TestOptBadInput(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", exampleFile())
	dir := h.dir // exists, absolute
	cases := []struct {
		name, settings, want string
		update               bool // also try it as an update of c
	}{
		{"autostart string", `autostart = "yes";`, "autostart", true},
		{"autostartPriority float", `autostartPriority = 1.5;`, "autostartPriority", false},
		{"autostartPriority string", `autostartPriority = "high";`, "autostartPriority", false},
		{"autostartDelay negative", `autostartDelay = -1;`, "autostartDelay", true},
		{"autostartDelay string", `autostartDelay = "5s";`, "autostartDelay", false},
		{"ephemeral string", `ephemeral = "yes";`, "ephemeral", false},
		{"bindMounts not a set", `bindMounts = [ "/srv" ];`, "bindMounts", false},
		{"bindMount is a string", `bindMounts."/mnt/x" = "/srv";`, "bindMounts", false},
		{"bindMount without hostPath", `bindMounts."/mnt/x" = { isReadOnly = true; };`, "hostPath", false},
		{"hostPath relative", `bindMounts."/mnt/x".hostPath = "srv/www";`, "hostPath", true},
		{"hostPath missing", fmt.Sprintf(`bindMounts."/mnt/x".hostPath = %q;`, filepath.Join(dir, "nope")), "does not exist", true},
		{"hostPath not a string", `bindMounts."/mnt/x".hostPath = 5;`, "hostPath", false},
		{"target relative", fmt.Sprintf(`bindMounts."mnt/x".hostPath = %q;`, dir), "absolute", false},
		{"target not clean", fmt.Sprintf(`bindMounts."/mnt/../etc".hostPath = %q;`, dir), "clean", false},
		{"target root", fmt.Sprintf(`bindMounts."/".hostPath = %q;`, dir), "bindMounts", false},
		{"target with a space", fmt.Sprintf(`bindMounts."/mnt/a b".hostPath = %q;`, dir), "white space", false},
		{"isReadOnly string", fmt.Sprintf(`bindMounts."/mnt/x" = { hostPath = %q; isReadOnly = "no"; };`, dir), "isReadOnly", false},
		{"shift string", fmt.Sprintf(`bindMounts."/mnt/x" = { hostPath = %q; shift = "yes"; };`, dir), "shift", false},
		{"bindMount unknown key", fmt.Sprintf(`bindMounts."/mnt/x" = { hostPath = %q; readOnly = true; };`, dir), "readOnly", false},
		{"limits not a set", `limits = "big";`, "limits", false},
		{"limits unknown key", `limits.swap = "1G";`, "swap", false},
		{"memory a number", `limits.memory = 512;`, "limits.memory", true},
		{"memory unknown unit", `limits.memory = "512X";`, "limits.memory", true},
		{"memory negative", `limits.memory = "-5M";`, "limits.memory", false},
		{"memory zero", `limits.memory = "0";`, "limits.memory", false},
		{"memory fractional", `limits.memory = "1.5G";`, "limits.memory", false},
		{"memory empty unit", `limits.memory = "M";`, "limits.memory", false},
		{"cpus negative", `limits.cpus = -1;`, "limits.cpus", true},
		{"cpus string", `limits.cpus = "two";`, "limits.cpus", false},
		{"processes negative", `limits.processes = -5;`, "limits.processes", true},
		{"processes float", `limits.processes = 1.5;`, "limits.processes", false},
		{"extraLxcConfig a string", `extraLxcConfig = "lxc.environment = A=b";`, "extraLxcConfig", false},
		{"extraLxcConfig not key = value", `extraLxcConfig = [ "garbage" ];`, "key = value", false},
		{"extraLxcConfig unknown key", `extraLxcConfig = [ "lxc.no.such.key = 1" ];`, "unknown key", true},
		{"extraLxcConfig lxc 2 spelling", `extraLxcConfig = [ "lxc.network.type = veth" ];`, "lxc.net.type", false},
		{"extraLxcConfig idmap", `extraLxcConfig = [ "lxc.idmap = u 0 0 65536" ];`, "unprivileged", true},
		{"extraLxcConfig rootfs", `extraLxcConfig = [ "lxc.rootfs.path = dir:/" ];`, "rootfs", false},
		{"extraLxcConfig store mount", `extraLxcConfig = [ "lxc.mount.entry = /tmp nix/store none bind 0 0" ];`, "nix store", true},
		{"extraLxcConfig over the store", `extraLxcConfig = [ "lxc.mount.entry = /tmp nix none bind 0 0" ];`, "would cover", false},
		{"extraLxcConfig absolute mount target", `extraLxcConfig = [ "lxc.mount.entry = /tmp /mnt none bind 0 0" ];`, "relative", false},
		{"extraLxcConfig include", `extraLxcConfig = [ "lxc.include = /etc/lxc/default.conf" ];`, "include", false},
		{"extraLxcConfig init", `extraLxcConfig = [ "lxc.init.cmd = /bin/sh" ];`, "init", false},
		{"extraLxcConfig network", `extraLxcConfig = [ "lxc.net.0.type = empty" ];`, "network", false},
		{"extraLxcConfig lxc.ephemeral", `extraLxcConfig = [ "lxc.ephemeral = 1" ];`, "ephemeral = true", false},
		{"extraLxcConfig lxc.start.auto", `extraLxcConfig = [ "lxc.start.auto = 1" ];`, "autostart", false},
	}
	flags := []struct{ item, want string }{
		{"lxc.rootfs.path=dir:/", "rootfs"},
		{"lxc.mount.entry=/tmp nix/store none bind 0 0", "nix store"},
		{"lxc.include=/etc/lxc/default.conf", "include"},
		{"lxc.uts.name=other", "host name"},
		{"lxc.cgroup.memory=1", "unknown key"},
		{"=1", "key = value"},
	}
	gensBefore := h.must("list-generations", "c")
	before := h.hostState()
	check := func(t *testing.T, r result, want string) {
		t.Helper()
		if r.code != 1 {
			t.Fatalf("exit %d, want 1 (stderr %q)", r.code, r.stderr)
		}
		if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "nixcloud-container: ") || !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr %q: want one line from the tool mentioning %q", r.stderr, want)
		}
		if after := h.hostState(); after != before {
			t.Fatalf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := h.busyboxFile(fmt.Sprintf("bad%d.nix", i), "", tc.settings)
			check(t, h.run("create", "c2", file), tc.want)
			if tc.update {
				check(t, h.run("update", "c", file), tc.want)
			}
		})
	}
	for _, tc := range flags {
		t.Run("-l "+tc.item, func(t *testing.T) {
			check(t, h.run("create", "c2", exampleFile(), "-l", tc.item), tc.want)
		})
	}
	t.Run("autostart with an argument", func(t *testing.T) {
		r := h.run("autostart", "c")
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("exit %d, stderr %q; want 2 and one line", r.code, r.stderr)
		}
	})
	if after := h.must("list-generations", "c"); after != gensBefore {
		t.Fatalf("generations of c changed: %q → %q", gensBefore, after)
	}
}

// TestOptUpdateLXCArgs: update -l replaces the recorded items; a running
// container restarts to apply them; a refused item changes nothing.
func TestOptUpdateLXCArgs(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", exampleFile(), "-l", "lxc.environment=NCC_A=1", "--start")
	echo := func() string { return strings.TrimSpace(h.must("run", "c", "--", "sh", "-c", "echo $NCC_A")) }
	if got := echo(); got != "1" {
		t.Fatalf("NCC_A = %q after create, want 1", got)
	}
	if r := h.run("update", "c", "-l", "lxc.environment=NCC_A=2"); r.code != 0 || !strings.Contains(r.stderr, "restarted") {
		t.Fatalf("update -l on a running container: exit %d, %q; want a restart", r.code, r.stderr)
	}
	if got := echo(); got != "2" {
		t.Fatalf("NCC_A = %q after update -l, want 2", got)
	}
	record := filepath.Join(h.dir, "state", "containers", "c", "container.json")
	before, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	r := h.run("update", "c", "-l", "lxc.idmap=u 0 0 1")
	if r.code != 1 || !strings.Contains(r.stderr, "lxc.idmap") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("update with a refused -l: exit %d, %q", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(record); string(after) != string(before) {
		t.Fatal("a refused update -l changed the record")
	}
	if got := echo(); got != "2" {
		t.Fatalf("NCC_A = %q after a refused update, want 2", got)
	}
}
