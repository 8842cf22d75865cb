package integration

// Isolation (issue 9, findings 7-9 and seccomp/AppArmor): raw LXC items and
// shifted mounts that would make the container's root host root, state in
// reach of a container, the default process ceiling and LXC's seccomp
// filter. Every test name starts with TestSec: go test -run TestSec ./integration/

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hookScript writes a start-host hook that creates marker (as whoever runs
// it) and returns the hook's path.
func (h *host) hookScript(marker string) string {
	h.t.Helper()
	p := h.writeFile("hook.sh", fmt.Sprintf("#!/bin/sh\ntouch %s\n", marker))
	if err := os.Chmod(p, 0o755); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// wantRefused fails unless r is exit 1 with one line from the tool that
// mentions want.
func wantRefused(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (stdout %q, stderr %q)", r.code, r.stdout, r.stderr)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "nixcloud-container: ") || !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr %q: want one line from the tool mentioning %q", r.stderr, want)
	}
}

func TestSecPrivilegedItemsRefused(t *testing.T) {
	h := newHost(t, "")
	marker := filepath.Join(h.dir, "hook-ran")
	hook := h.hookScript(marker)
	h.must("create", "c", exampleFile())
	gensBefore := h.must("list-generations", "c")
	before := h.hostState()
	unchanged := func(t *testing.T) {
		t.Helper()
		if after := h.hostState(); after != before {
			t.Fatalf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the hook ran on the host")
		}
	}
	items := []struct{ item, reason string }{
		{"lxc.hook.start-host=" + hook, "hooks run as root on the host"},
		{"lxc.hook.pre-start=" + hook, "hooks run as root on the host"},
		{"lxc.hook.mount=" + hook, "hooks run as root on the host"},
		{"lxc.mount.entry=/etc mnt/hostetc none bind,create=dir,idmap=container 0 0", "idmapped mount"},
		{"lxc.apparmor.profile=unconfined", "AppArmor"},
		{"lxc.apparmor.allow_nesting=1", "AppArmor"},
		{"lxc.seccomp.profile=", "seccomp"},
		{"lxc.cap.keep=sys_admin", "lxc.cap.keep overrides"},
		{"lxc.cgroup2.devices.allow=b 8:* rwm", "device"},
		{"lxc.cgroup.devices.allow=c 1:1 rwm", "device"},
		{"lxc.mount.auto=proc:rw sys:rw", "not proc:rw"},
		{"lxc.cgroup.dir=escape", "cgroup is placed"},
		{"lxc.cgroup.dir.container=escape", "cgroup is placed"},
		{"lxc.console.path=/dev/tty1", "host terminal"},
		{"lxc.sysctl.kernel.core_pattern=|" + hook, "network sysctls"},
		{"lxc.namespace.share.pid=1", "sharing a namespace"},
		{"lxc.proc.oom_score_adj=-1000", "oom_score_adj from 0"},
		{"lxc.keyring.session=0", "session keyring"},
		{"lxc.selinux.context=unconfined_t", "SELinux"},
		{"lxc.prlimit.rtprio=99", "realtime"},
	}
	for _, tc := range items {
		t.Run("-l "+tc.item, func(t *testing.T) {
			wantRefused(t, h.run("create", "c2", exampleFile(), "-l", tc.item), tc.reason)
			unchanged(t)
		})
	}
	// The same through the container file, at create and at update.
	for i, tc := range items[:4] {
		item := strings.Replace(tc.item, "=", " = ", 1)
		t.Run("extraLxcConfig "+item, func(t *testing.T) {
			f := h.busyboxFile(fmt.Sprintf("priv%d.nix", i), "", fmt.Sprintf("extraLxcConfig = [ %q ];", item))
			wantRefused(t, h.run("create", "c2", f), tc.reason)
			wantRefused(t, h.run("update", "c", f), tc.reason)
			wantRefused(t, h.run("update", "c", "-l", tc.item), tc.reason)
			unchanged(t)
		})
	}
	// shift = true on the tool's own state, on a system folder, on /.
	for _, src := range []string{filepath.Join(h.dir, "state"), "/etc", "/"} {
		t.Run("shift "+src, func(t *testing.T) {
			f := h.busyboxFile("shift.nix", "", fmt.Sprintf(`bindMounts."/mnt/host" = { hostPath = %q; isReadOnly = false; shift = true; };`, src))
			wantRefused(t, h.run("create", "c2", f), "host root's rights")
			wantRefused(t, h.run("update", "c", f), "host root's rights")
			unchanged(t)
		})
	}
	if after := h.must("list-generations", "c"); after != gensBefore {
		t.Fatalf("generations of c changed: %q → %q", gensBefore, after)
	}

	// A record written by an older version, with a hook among its -l
	// items, is refused at start before anything runs.
	t.Run("recorded hook refused at start", func(t *testing.T) {
		path := filepath.Join(h.dir, "state", "containers", "c", "container.json")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		rec["lxc_args"] = []string{"lxc.hook.start-host=" + hook}
		out, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		before = h.hostState()
		wantRefused(t, h.run("start", "c"), "hooks run as root on the host")
		unchanged(t)
		if st := h.state("c"); st != "STOPPED" {
			t.Fatalf("state %s after a refused start, want STOPPED", st)
		}
	})
}

// TestSecPrivilegedItemsAllowed: with allow_privileged_lxc_items = true a
// hook is accepted and runs, as host root.
func TestSecPrivilegedItemsAllowed(t *testing.T) {
	h := newHost(t, "allow_privileged_lxc_items = true\n")
	marker := filepath.Join(h.dir, "hook-ran")
	h.must("create", "c", exampleFile(), "-l", "lxc.hook.start-host="+h.hookScript(marker), "--start")
	if uid, _ := fileOwner(t, marker); uid != 0 {
		t.Fatalf("the start-host hook ran as uid %d, want 0 (host root)", uid)
	}
	h.must("terminate", "c")
}

// TestSecIdmapMountAttack: the container's root reads a host file only
// root may read through an idmapped mount (a raw lxc.mount.entry with
// idmap=container, or bindMounts with shift = true on a folder of the
// tool's state). Refused by default; the same container file shows the
// attack working where host.toml allows privileged items.
func TestSecIdmapMountAttack(t *testing.T) {
	secretDir := func(h *host) string {
		if err := os.MkdirAll(filepath.Join(h.dir, "state"), 0o755); err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(h.dir, "state", "secret")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "shadow"), []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	files := func(h *host, dir string) map[string]string {
		return map[string]string{
			"raw idmap mount": h.busyboxFile("raw.nix", "", fmt.Sprintf(`extraLxcConfig = [ "lxc.mount.entry = %s mnt/host none bind,ro,create=dir,idmap=container 0 0" ];`, dir)),
			// LXC finds "idmap=" anywhere in the options.
			"hidden idmap mount": h.busyboxFile("hidden.nix", "", fmt.Sprintf(`extraLxcConfig = [ "lxc.mount.entry = %s mnt/host none bind,ro,create=dir,xidmap=container 0 0" ];`, dir)),
			"shifted state":      h.busyboxFile("shift.nix", "", fmt.Sprintf(`bindMounts."/mnt/host" = { hostPath = %q; shift = true; };`, dir)),
		}
	}

	t.Run("refused", func(t *testing.T) {
		h := newHost(t, "")
		dir := secretDir(h)
		h.must("create", "other", exampleFile()) // the state folder exists
		before := h.hostState()
		i := 0
		for name, f := range files(h, dir) {
			i++
			c := fmt.Sprintf("c%d", i)
			t.Run(name, func(t *testing.T) {
				r := h.run("create", c, f, "--start")
				if out := h.run("run", c, "--", "cat", "/mnt/host/shadow"); strings.Contains(out.stdout, "s3cret") {
					t.Fatalf("the container's root read the host's root-only file")
				}
				wantRefused(t, r, "allow_privileged_lxc_items")
				if after := h.hostState(); after != before {
					t.Fatalf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			})
		}
	})

	t.Run("what allow_privileged_lxc_items gives away", func(t *testing.T) {
		h := newHost(t, "allow_privileged_lxc_items = true\n")
		dir := secretDir(h)
		for name, f := range files(h, dir) {
			t.Run(name, func(t *testing.T) {
				h.must("create", "c", f, "--start")
				defer h.must("destroy", "--force", "c")
				if out := h.must("run", "c", "--", "cat", "/mnt/host/shadow"); out != "s3cret\n" {
					t.Fatalf("read %q through the idmapped mount, want the secret", out)
				}
			})
		}
	})
}

// TestSecStateOwnership: a state_dir or profiles_dir that someone other
// than root could replace is refused by every verb, before anything
// changes.
func TestSecStateOwnership(t *testing.T) {
	h := newHost(t, "")
	rootfs := h.mkdirOwned("rootfs", 100000) // a container's mapped root
	shared := filepath.Join(h.dir, "shared")
	if err := os.Mkdir(shared, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o775); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, toml, want string }{
		{"state inside a container's rootfs",
			fmt.Sprintf("state_dir = %q\nprofiles_dir = %q\n", filepath.Join(rootfs, "var", "state"), filepath.Join(h.dir, "profiles")),
			"owned by uid 100000"},
		{"state in a group-writable folder",
			fmt.Sprintf("state_dir = %q\nprofiles_dir = %q\n", filepath.Join(shared, "state"), filepath.Join(h.dir, "profiles")),
			"writable by group or others"},
		{"profiles in a container's folder",
			fmt.Sprintf("state_dir = %q\nprofiles_dir = %q\n", filepath.Join(h.dir, "state"), filepath.Join(rootfs, "profiles")),
			"profiles_dir"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(h.dir, "bad.toml")
			if err := os.WriteFile(cfg, []byte(tc.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			before := h.hostState() + treeSnapshot(t, rootfs, shared)
			for _, args := range [][]string{{"create", "c", exampleFile()}, {"list"}, {"host", "status"}} {
				wantRefused(t, h.run(append([]string{"--host-config", cfg}, args...)...), tc.want)
			}
			if after := h.hostState() + treeSnapshot(t, rootfs, shared); after != before {
				t.Fatalf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestSecDefaultProcesses: a container without limits gets host.toml's
// default ceiling (shipped: 4096 processes) in its cgroup, a fork beyond it
// fails, and a container's own limit wins.
func TestSecDefaultProcesses(t *testing.T) {
	h := newHost(t, "")
	v2 := false
	if st, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil && st.Mode().IsRegular() {
		v2 = true
	}
	h.must("create", "c", exampleFile(), "--start")
	if got := cgroupFile(t, h.initPID("c"), v2, "pids", "pids.max"); got != "4096" {
		t.Fatalf("pids.max of a container without limits: %q, want the shipped default 4096", got)
	}
	own := h.busyboxFile("own.nix", "", `limits.processes = 100;`)
	h.must("create", "own", own, "--start")

	// A lower default, to fork past it.
	f, err := os.OpenFile(h.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "[defaults]\nlimits = { processes = 32 }")
	f.Close()
	h.must("restart", "c")
	h.must("restart", "own")
	pid := h.initPID("c")
	if got := cgroupFile(t, pid, v2, "pids", "pids.max"); got != "32" {
		t.Fatalf("pids.max with defaults.limits.processes = 32: %q", got)
	}
	if got := cgroupFile(t, h.initPID("own"), v2, "pids", "pids.max"); got != "100" {
		t.Fatalf("pids.max of a container with its own limit: %q, want 100", got)
	}
	r := h.run("run", "c", "--", "sh", "-c", `i=0; while [ $i -lt 64 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & i=$((i+1)); done`)
	if r.code == 0 || !strings.Contains(r.stderr, "can't fork") {
		t.Fatalf("64 processes under a default ceiling of 32: exit %d, %q; want a fork failure", r.code, r.stderr)
	}
	h.must("terminate", "c")
	h.must("terminate", "own")
}

// TestSecSeccomp: LXC's default seccomp filter (common.seccomp, through
// common.conf) blocks open_by_handle_at with EPERM inside the container;
// the same call without it answers EFAULT, in a user namespace on the host
// as in a container whose profile blocks nothing (which only
// allow_privileged_lxc_items permits). host status says whether AppArmor
// confines containers.
func TestSecSeccomp(t *testing.T) {
	h := newHost(t, "allow_privileged_lxc_items = true\n")
	f := h.busyboxFile("c.nix", "", probeMount())
	h.must("create", "c", f, "--start")
	// A profile that blocks nothing, instead of LXC's (an empty
	// lxc.seccomp.profile still leaves LXC's own filter).
	none := h.writeFile("none.seccomp", "2\ndenylist\n")
	h.must("create", "open", f, "-l", "lxc.seccomp.profile="+none, "--start")
	call := func(name string) string {
		return strings.TrimSpace(h.must("run", name, "--", "/probe/probe", "syscall", "open_by_handle_at"))
	}
	if got := call("c"); got != "EPERM" {
		t.Errorf("open_by_handle_at in a container: %s, want EPERM (LXC's seccomp filter)", got)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.initPID("c")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nSeccomp:\t2\n") {
		t.Errorf("the container's init runs without a seccomp filter:\n%s", status)
	}
	// Controls: the errno is the filter's, not a missing capability's.
	if got := call("open"); got != "EFAULT" {
		t.Errorf("open_by_handle_at without the filter: %s, want EFAULT", got)
	}
	out, err := exec.Command("unshare", "-Ur", probe, "syscall", "open_by_handle_at").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "EFAULT" {
		t.Errorf("open_by_handle_at in a user namespace on the host: %q, %v; want EFAULT", out, err)
	}
	h.must("terminate", "c")
	h.must("terminate", "open")

	st := h.run("host", "status")
	enabled, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	want := "apparmor is not enabled in the kernel"
	if strings.TrimSpace(string(enabled)) == "Y" {
		want = "present  apparmor"
	}
	if !strings.Contains(st.stdout, want) {
		t.Errorf("host status does not say %q:\n%s", want, st.stdout)
	}
}
