package lxc

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestPrivilegedItems(t *testing.T) {
	refused := []struct{ in, reason string }{
		{"lxc.hook.pre-start = /bin/sh -c 'id > /tmp/x'", "hooks run as root"},
		{"lxc.hook.start-host = /bin/true", "hooks run as root"},
		{"lxc.hook.mount = /bin/true", "hooks run as root"},
		{"lxc.hook.autodev = /bin/true", "hooks run as root"},
		{"lxc.hook.post-stop = /bin/true", "hooks run as root"},
		{"lxc.hook.version = 1", "hooks run as root"},
		{"lxc.mount.entry = /etc etc/hostetc none bind,idmap=container 0 0", "idmapped mount"},
		{"lxc.mount.entry = /etc mnt none bind,ro,idmap=/proc/1/ns/user 0 0", "idmapped mount"},
		{"lxc.mount.entry = /srv/x mnt/x none rbind,rshared 0 0", "propagation"},
		// LXC finds "idmap=" anywhere in the options.
		{"lxc.mount.entry = /etc etc2 none bind,create=dir,xidmap=container 0 0", "idmapped mount"},
		{"lxc.mount.entry = /etc etc2 none bind,create=dir,x-idmap=container", "idmapped mount"},
		{"lxc.apparmor.profile = unconfined", "AppArmor"},
		{"lxc.apparmor.allow_nesting = 1", "AppArmor"},
		{"lxc.apparmor.allow_incomplete = 1", "AppArmor"},
		{"lxc.apparmor.raw = mount,", "AppArmor"},
		{"lxc.seccomp.profile =", "seccomp"},
		{"lxc.seccomp.profile = /tmp/allow-all", "seccomp"},
		{"lxc.seccomp.allow_nesting = 1", "seccomp"},
		{"lxc.seccomp.notify.proxy = unix:/run/x", "seccomp"},
		{"lxc.selinux.context = unconfined_t", "SELinux"},
		{"lxc.cap.keep = sys_admin", "lxc.cap.keep overrides"},
		{"lxc.cap.drop =", "gives back the capabilities"},
		{"lxc.cgroup.devices.allow = b 8:* rwm", "device"},
		{"lxc.cgroup2.devices.allow = a", "device"},
		{"lxc.cgroup2.cgroup.procs = 1", "cgroup core files"},
		{"lxc.cgroup.dir = /", "cgroup is placed"},
		{"lxc.cgroup.dir.container = ../../system.slice", "cgroup is placed"},
		{"lxc.cgroup.dir.monitor = x", "cgroup is placed"},
		{"lxc.cgroup.relative = 1", "cgroup is placed"},
		{"lxc.mount.auto = proc:rw", "not proc:rw"},
		{"lxc.mount.auto = cgroup:rw", "not cgroup:rw"},
		{"lxc.mount.auto = cgroup", "not cgroup"},
		{"lxc.mount.auto = proc:mixed shmounts:/srv:/mnt", "not shmounts"},
		{"lxc.console.path = /dev/tty1", "host terminal"},
		{"lxc.console.size = 0", "console log"},
		{"lxc.console.rotate = 1", "console log"},
		{"lxc.sysctl.kernel.core_pattern = |/tmp/x", "network sysctls"},
		{"lxc.sysctl.vm.overcommit_memory = 1", "network sysctls"},
		{"lxc.namespace.share.pid = 1", "sharing a namespace"},
		{"lxc.namespace.share.ipc = other", "sharing a namespace"},
		{"lxc.namespace.share.cgroup = other", "sharing a namespace"},
		{"lxc.namespace.share.time = 1", "sharing a namespace"},
		{"lxc.proc.oom_score_adj = -1000", "oom_score_adj from 0"},
		{"lxc.proc.oom_score_adj = 1001", "oom_score_adj from 0"},
		{"lxc.proc.attr/current = unconfined", "oom_score_adj from 0"},
		{"lxc.keyring.session = 0", "session keyring"},
		{"lxc.no_new_privs = 0", "no_new_privs = 1"},
		{"lxc.pty.max = 100000", "ptys"},
		{"lxc.tty.max = 64", "ttys"},
		{"lxc.prlimit.rtprio = 99", "realtime"},
		{"lxc.prlimit.nice = 40", "realtime"},
		{"lxc.prlimit.14 = 99", "realtime"},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.in, func(t *testing.T) {
			_, err := ParseRawItem(tt.in, false)
			if !errors.Is(err, ErrPrivileged) {
				t.Fatalf("error = %v, want ErrPrivileged", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.reason) || !strings.Contains(msg, AllowHint) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "lxc item ") {
				t.Errorf("error %q: want one line naming the item, %q and the host.toml switch", msg, tt.reason)
			}
			if _, err := ParseRawItem(tt.in, true); err != nil {
				t.Errorf("with allow_privileged_lxc_items: %v", err)
			}
		})
	}
	accepted := []string{
		"lxc.cap.drop = sys_admin net_raw",
		"lxc.cgroup2.memory.max = 1G",
		"lxc.cgroup2.pids.max = 100",
		"lxc.cgroup.devices.deny = a",
		"lxc.prlimit.nofile = 1024:4096",
		"lxc.prlimit.rtprio = 0",
		"lxc.environment = A=1",
		"lxc.sysctl.net.ipv4.ip_forward = 1",
		"lxc.proc.oom_score_adj = 500",
		"lxc.proc.oom_score_adj = 0",
		"lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
		"lxc.mount.auto = sys:rw",
		"lxc.mount.auto =",
		"lxc.mount.entry = /srv/x mnt/x none bind,ro,create=dir 0 0",
		"lxc.mount.entry = tmpfs tmp tmpfs defaults,size=64m 0 0",
		"lxc.console.path = none",
		"lxc.no_new_privs = 1",
		"lxc.keyring.session = 1",
		"lxc.pty.max = 16",
		"lxc.tty.max = 1",
		"lxc.signal.stop = SIGKILL",
		"lxc.tty.dir = lxc",
		"lxc.monitor.unshare = 1",
	}
	for _, in := range accepted {
		t.Run("accepted "+in, func(t *testing.T) {
			if _, err := ParseRawItem(in, false); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
	// White space that getmntent does not split on, and cgroup file names
	// that leave the container's cgroup, are refused whatever the switch.
	for _, in := range []string{
		"lxc.mount.entry = /etc etc2 none bind,create=dir,x\vy,shared 0 0",
		"lxc.mount.entry = /etc\fetc2 none bind 0 0",
		"lxc.cgroup2.a/../../cgroup.procs = 1",
		"lxc.cgroup.memory..limit_in_bytes = 1",
	} {
		if _, err := ParseRawItem(in, true); err == nil {
			t.Errorf("ParseRawItem(%q, true) accepted", in)
		}
	}
	// Items the tool manages stay refused with the switch on.
	for _, in := range []string{"lxc.idmap = u 0 0 65536", "lxc.autodev = 0", "lxc.namespace.share.user = 1", "lxc.include = /x"} {
		if _, err := ParseRawItem(in, true); !errors.Is(err, ErrRefused) {
			t.Errorf("ParseRawItem(%q, true) error = %v, want ErrRefused", in, err)
		}
	}
}

func TestCheckShiftSource(t *testing.T) {
	protected := []string{"/var/lib/nixcloud-container", "/nix/var/nix/profiles/nixcloud-container"}
	tests := []struct {
		dir  string
		ok   bool
		hint string
	}{
		{dir: "/", hint: "every file"},
		{dir: "/etc", hint: "/etc"},
		{dir: "/etc/ssl", hint: "/etc"},
		{dir: "/root", hint: "/root"},
		{dir: "/nix", hint: "/nix"},
		{dir: "/nix/store/abc", hint: "/nix"},
		{dir: "/var", hint: "/var/"},
		{dir: "/var/lib", hint: "/var/lib/"},
		{dir: "/var/lib/nixcloud-container", hint: "nixcloud-container"},
		{dir: "/var/lib/nixcloud-container/containers/web/rootfs", hint: "nixcloud-container"},
		{dir: "/var/spool/cron", hint: "/var/spool"},
		{dir: "/home/alice", hint: "/home"},
		{dir: "/usr/", hint: "/usr"},
		{dir: "/srv/db", ok: true},
		{dir: "/srv", ok: true},
		{dir: "/var/lib/postgresql", ok: true},
		{dir: "/tmp/data", ok: true},
		{dir: "/etcetera", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			err := CheckShiftSource(tt.dir, protected)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrPrivileged) || !strings.Contains(err.Error(), tt.hint) || !strings.Contains(err.Error(), AllowHint) {
				t.Fatalf("error = %v, want ErrPrivileged mentioning %q", err, tt.hint)
			}
		})
	}
}

func TestAppArmorEnabled(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]bool{"Y\n": true, "N\n": false, "": false} {
		p := filepath.Join(dir, "enabled")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := AppArmorEnabled(p); got != want {
			t.Errorf("AppArmorEnabled with %q = %v, want %v", content, got, want)
		}
	}
	if AppArmorEnabled(filepath.Join(dir, "missing")) {
		t.Error("AppArmorEnabled without the parameter file = true, want false")
	}
}

func TestPrlimitAboveHostRefused(t *testing.T) {
	var host syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &host); err != nil {
		t.Fatal(err)
	}
	if host.Max == math.MaxUint64 {
		t.Skip("the host's nofile hard limit is unlimited: nothing is above it")
	}
	max := strconv.FormatUint(host.Max, 10)
	above := strconv.FormatUint(host.Max+1, 10)
	for _, in := range []string{"lxc.prlimit.nofile = " + above, "lxc.prlimit.nofile = 10:" + above, "lxc.prlimit.nofile = unlimited", "lxc.prlimit.7 = unlimited"} {
		if _, err := ParseRawItem(in, false); !errors.Is(err, ErrPrivileged) || !strings.Contains(err.Error(), "hard limit") {
			t.Errorf("ParseRawItem(%q) error = %v, want refused above the host's hard limit", in, err)
		}
	}
	if _, err := ParseRawItem("lxc.prlimit.nofile = "+max+":"+max, false); err != nil {
		t.Errorf("the host's own hard limit: %v", err)
	}
}
