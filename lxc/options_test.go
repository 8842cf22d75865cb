package lxc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLimitItems(t *testing.T) {
	tests := []struct {
		name      string
		memory    uint64
		cpus      float64
		processes int
		v2        bool
		want      string
	}{
		{
			name: "v1 all", memory: 512 << 20, cpus: 1.5, processes: 1024,
			want: `lxc.cgroup.memory.limit_in_bytes = 536870912
lxc.cgroup.cpu.cfs_period_us = 100000
lxc.cgroup.cpu.cfs_quota_us = 150000
lxc.cgroup.pids.max = 1024
`,
		},
		{
			name: "v2 all", memory: 512 << 20, cpus: 1.5, processes: 1024, v2: true,
			want: `lxc.cgroup2.memory.max = 536870912
lxc.cgroup2.cpu.max = 150000 100000
lxc.cgroup2.pids.max = 1024
`,
		},
		{name: "v1 none", want: ""},
		{name: "v2 none", v2: true, want: ""},
		{name: "v1 memory only", memory: 1 << 30, want: "lxc.cgroup.memory.limit_in_bytes = 1073741824\n"},
		{name: "v2 processes only", processes: 64, v2: true, want: "lxc.cgroup2.pids.max = 64\n"},
		{
			name: "v2 tiny cpu share is raised to the kernel's minimum quota", cpus: 0.001, v2: true,
			want: "lxc.cgroup2.cpu.max = 1000 100000\n",
		},
		{
			name: "v1 cpu rounds to microseconds", cpus: 0.3333333,
			want: "lxc.cgroup.cpu.cfs_period_us = 100000\nlxc.cgroup.cpu.cfs_quota_us = 33333\n",
		},
		{name: "negative values set nothing", cpus: -1, processes: -5, v2: true, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LimitItems(tt.memory, tt.cpus, tt.processes, tt.v2).String()
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestLimitItemsParseAsRaw(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		for _, it := range LimitItems(1<<30, 2, 100, v2) {
			if _, err := ParseRawItem(it.String(), false); err != nil {
				t.Errorf("rendered limit is refused as a raw item: %v", err)
			}
		}
	}
}

func TestLimitCgroupV2(t *testing.T) {
	write := func(t *testing.T, p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		want  bool
	}{
		{
			name: "unified",
			setup: func(t *testing.T, root string) {
				write(t, filepath.Join(root, "cgroup.controllers"), "cpuset cpu io memory pids\n")
				write(t, filepath.Join(root, "cgroup.subtree_control"), "cpu memory pids\n")
			},
			want: true,
		},
		{
			name: "hybrid, controller-less cgroup2 at unified",
			setup: func(t *testing.T, root string) {
				for _, c := range []string{"cpu", "memory", "pids"} {
					write(t, filepath.Join(root, c, "cgroup.procs"), "")
				}
				write(t, filepath.Join(root, "unified", "cgroup.controllers"), "")
			},
			want: false,
		},
		{
			name: "v1 only",
			setup: func(t *testing.T, root string) {
				write(t, filepath.Join(root, "memory", "memory.limit_in_bytes"), "9223372036854771712\n")
			},
			want: false,
		},
		{
			name: "cgroup.controllers is a folder",
			setup: func(t *testing.T, root string) {
				if err := os.MkdirAll(filepath.Join(root, "cgroup.controllers"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: false,
		},
		{name: "empty", setup: func(*testing.T, string) {}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.setup(t, root)
			if got := CgroupV2(root); got != tt.want {
				t.Errorf("CgroupV2 = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("missing root", func(t *testing.T) {
		if CgroupV2(filepath.Join(t.TempDir(), "nope")) {
			t.Error("CgroupV2 of a missing folder = true")
		}
	})
}

func TestBindMountItem(t *testing.T) {
	tests := []struct {
		name                   string
		host, target           string
		isDir, readOnly, shift bool
		want                   string
	}{
		{
			name: "read-only folder", host: "/srv/www", target: "/var/www", isDir: true, readOnly: true,
			want: "lxc.mount.entry = /srv/www var/www none bind,ro,create=dir 0 0",
		},
		{
			name: "writable folder", host: "/srv/data", target: "/data", isDir: true,
			want: "lxc.mount.entry = /srv/data data none bind,create=dir 0 0",
		},
		{
			name: "read-only file", host: "/etc/resolv.conf", target: "/etc/resolv.conf.host", readOnly: true,
			want: "lxc.mount.entry = /etc/resolv.conf etc/resolv.conf.host none bind,ro,create=file 0 0",
		},
		{
			name: "shifted writable folder", host: "/srv/data", target: "/data", isDir: true, shift: true,
			want: "lxc.mount.entry = /srv/data data none bind,create=dir,idmap=container 0 0",
		},
		{
			name: "shifted read-only file", host: "/srv/f", target: "/f", readOnly: true, shift: true,
			want: "lxc.mount.entry = /srv/f f none bind,ro,create=file,idmap=container 0 0",
		},
		{
			name: "relative target, unclean", host: "/srv/a", target: "mnt//a/", isDir: true, readOnly: true,
			want: "lxc.mount.entry = /srv/a mnt/a none bind,ro,create=dir 0 0",
		},
		{
			name: "white space is escaped fstab-style", host: `/srv/my dir`, target: "/mnt/my dir", isDir: true, readOnly: true,
			want: `lxc.mount.entry = /srv/my\040dir mnt/my\040dir none bind,ro,create=dir 0 0`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := BindMountItem(tt.host, tt.target, tt.isDir, tt.readOnly, tt.shift)
			if got := it.String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			// A shifted mount is privileged as a raw item (the shift
			// check of bindMounts is CheckShiftSource).
			if _, err := ParseRawItem(it.String(), tt.shift); err != nil {
				t.Errorf("the bind mount is refused as a raw item: %v", err)
			}
		})
	}
}

func TestBindMountItemIntoStoreIsRefusedAsRaw(t *testing.T) {
	it := BindMountItem("/srv/x", "/nix/store/x", true, true, false)
	if _, err := ParseRawItem(it.String(), false); !errors.Is(err, ErrRefused) {
		t.Errorf("ParseRawItem(%q) error = %v, want ErrRefused", it, err)
	}
}

func TestParseRawItem(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Item
		wantErr error
		errHas  string // part of the message
	}{
		// accepted
		{name: "spaced", in: "lxc.cap.drop = sys_time", want: Item{"lxc.cap.drop", "sys_time"}},
		{name: "-l spelling", in: "lxc.cap.drop=sys_time", want: Item{"lxc.cap.drop", "sys_time"}},
		{name: "trimmed", in: "  lxc.log.level \t=  DEBUG  ", want: Item{"lxc.log.level", "DEBUG"}},
		{name: "environment keeps its =", in: "lxc.environment=FOO=bar baz", want: Item{"lxc.environment", "FOO=bar baz"}},
		{name: "empty value clears a list", in: "lxc.environment =", want: Item{"lxc.environment", ""}},
		{name: "cgroup v1 file", in: "lxc.cgroup.devices.deny = c 10:200 rwm", want: Item{"lxc.cgroup.devices.deny", "c 10:200 rwm"}},
		{name: "cgroup v2 file", in: "lxc.cgroup2.memory.high = 400M", want: Item{"lxc.cgroup2.memory.high", "400M"}},
		{name: "sysctl", in: "lxc.sysctl.net.ipv4.ip_forward = 1", want: Item{"lxc.sysctl.net.ipv4.ip_forward", "1"}},
		{name: "proc", in: "lxc.proc.oom_score_adj = 10", want: Item{"lxc.proc.oom_score_adj", "10"}},
		{name: "prlimit", in: "lxc.prlimit.nofile = 1024:4096", want: Item{"lxc.prlimit.nofile", "1024:4096"}},
		{name: "mount entry", in: "lxc.mount.entry = tmpfs tmp tmpfs defaults,size=64m 0 0", want: Item{"lxc.mount.entry", "tmpfs tmp tmpfs defaults,size=64m 0 0"}},
		{name: "mount entry in nix but beside the managed mounts", in: "lxc.mount.entry = /srv/c nix/var/cache none bind,create=dir 0 0", want: Item{"lxc.mount.entry", "/srv/c nix/var/cache none bind,create=dir 0 0"}},
		{name: "mount entry next to the store", in: "lxc.mount.entry = /srv/s nix/store2 none bind,create=dir", want: Item{"lxc.mount.entry", "/srv/s nix/store2 none bind,create=dir"}},

		// malformed
		{name: "no =", in: "lxc.cap.drop sys_time", wantErr: ErrInvalidItem, errHas: `want "key = value"`},
		{name: "empty key", in: " = 1", wantErr: ErrInvalidItem},
		{name: "empty", in: "", wantErr: ErrInvalidItem},
		{name: "space in key", in: "lxc.cap drop = x", wantErr: ErrInvalidItem},
		{name: "newline in value", in: "lxc.environment = A=1\nlxc.idmap = u 0 0 1", wantErr: ErrInvalidItem},
		{name: "mount entry too short", in: "lxc.mount.entry = /srv/x mnt/x", wantErr: ErrInvalidItem},
		{name: "mount entry absolute target", in: "lxc.mount.entry = /srv/x /mnt/x none bind 0 0", wantErr: ErrInvalidItem, errHas: "relative"},

		// unknown
		{name: "unknown key", in: "lxc.foo = 1", wantErr: ErrUnknownKey, errHas: "unknown key lxc.foo"},
		{name: "not lxc", in: "memory = 1G", wantErr: ErrUnknownKey},
		{name: "legacy spelling", in: "lxc.aa_profile = unconfined", wantErr: ErrUnknownKey, errHas: "lxc 5 calls it lxc.apparmor.profile"},
		{name: "legacy network", in: "lxc.network.type = veth", wantErr: ErrUnknownKey, errHas: "lxc.net.type"},
		{name: "cgroup key without file", in: "lxc.cgroup2.memory = 1", wantErr: ErrUnknownKey},
		{name: "unknown rlimit", in: "lxc.prlimit.files = 10", wantErr: ErrUnknownKey},
		{name: "unknown hook", in: "lxc.hook.post-start = /bin/true", wantErr: ErrUnknownKey},
		{name: "keys are case-sensitive", in: "LXC.CAP.DROP=sys_time", wantErr: ErrUnknownKey},

		// refused
		{name: "idmap", in: "lxc.idmap = u 0 0 65536", wantErr: ErrRefused, errHas: "unprivileged"},
		{name: "rootfs path", in: "lxc.rootfs.path = dir:/srv/root", wantErr: ErrRefused, errHas: "rootfs"},
		{name: "rootfs options", in: "lxc.rootfs.options = idmap=container", wantErr: ErrRefused, errHas: "rootfs"},
		{name: "init cmd", in: "lxc.init.cmd = /bin/sh", wantErr: ErrRefused, errHas: "init"},
		{name: "init uid", in: "lxc.init.uid=1000", wantErr: ErrRefused, errHas: "init"},
		{name: "uts name", in: "lxc.uts.name = other", wantErr: ErrRefused, errHas: "container's name"},
		{name: "net type", in: "lxc.net.0.type = veth", wantErr: ErrRefused, errHas: "networking"},
		{name: "net index 1", in: "lxc.net.1.link = br0", wantErr: ErrRefused, errHas: "networking"},
		{name: "net clear", in: "lxc.net =", wantErr: ErrRefused, errHas: "networking"},
		{name: "include", in: "lxc.include = /etc/lxc/extra.conf", wantErr: ErrRefused, errHas: "included"},
		{name: "log file", in: "lxc.log.file = /tmp/x.log", wantErr: ErrRefused, errHas: "logs"},
		{name: "console log file", in: "lxc.console.logfile = /tmp/c.log", wantErr: ErrRefused, errHas: "logs"},
		{name: "fstab", in: "lxc.mount.fstab = /etc/fstab.c", wantErr: ErrRefused},
		{name: "ephemeral", in: "lxc.ephemeral = 1", wantErr: ErrRefused, errHas: "ephemeral = true"},
		{name: "start auto", in: "lxc.start.auto = 1", wantErr: ErrRefused, errHas: "autostart"},
		{name: "keep user namespace", in: "lxc.namespace.keep = user", wantErr: ErrRefused},
		{name: "share user namespace", in: "lxc.namespace.share.user = /proc/1/ns/user", wantErr: ErrRefused},
		{name: "clear all cgroup items", in: "lxc.cgroup2 =", wantErr: ErrRefused, errHas: "limits"},
		{name: "mount over the store", in: "lxc.mount.entry = /srv/s nix/store none bind,create=dir 0 0", wantErr: ErrRefused, errHas: "nix store"},
		{name: "mount over a parent of the store", in: "lxc.mount.entry = tmpfs nix tmpfs defaults 0 0", wantErr: ErrRefused, errHas: "would cover the nix store"},
		{name: "mount into the store", in: "lxc.mount.entry = /srv/s nix/store/abc-x none bind 0 0", wantErr: ErrRefused, errHas: "inside the nix store"},
		{name: "mount over the profile", in: "lxc.mount.entry = /srv/p nix/var/nixcloud-container/profile none bind 0 0", wantErr: ErrRefused, errHas: "profile"},
		{name: "mount over nix/var", in: "lxc.mount.entry = /srv/v nix/var none bind 0 0", wantErr: ErrRefused, errHas: "profile"},
		{name: "mount over the root", in: "lxc.mount.entry = /srv/r . none bind 0 0", wantErr: ErrRefused},
		{name: "mount through dot-dot", in: "lxc.mount.entry = /srv/r mnt/../nix none bind 0 0", wantErr: ErrRefused},
		{name: "mount escaping the root", in: "lxc.mount.entry = /srv/r ../x none bind 0 0", wantErr: ErrRefused, errHas: "leaves"},
		{name: "mount with escaped target", in: `lxc.mount.entry = /srv/r nix\134store none bind 0 0`, want: Item{"lxc.mount.entry", `/srv/r nix\134store none bind 0 0`}},
		{name: "clear all mount entries", in: "lxc.mount.entry =", wantErr: ErrRefused, errHas: "clears every mount entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRawItem(tt.in, false)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseRawItem(%q): %v", tt.in, err)
				}
				if got != tt.want {
					t.Errorf("ParseRawItem(%q) = %#v, want %#v", tt.in, got, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseRawItem(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.errHas) {
				t.Errorf("error %q does not mention %q", msg, tt.errHas)
			}
			if strings.Contains(msg, "\n") || msg != strings.ToLower(msg[:1])+msg[1:] || !strings.HasPrefix(msg, "lxc item ") {
				t.Errorf("error %q: want one lowercase line naming the item", msg)
			}
		})
	}
}

func TestParseRawItems(t *testing.T) {
	got, err := ParseRawItems([]string{"lxc.cap.drop = sys_time", "lxc.environment=A=1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "lxc.cap.drop = sys_time\nlxc.environment = A=1\n"
	if got.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	_, err = ParseRawItems([]string{"lxc.cap.drop = sys_time", "lxc.idmap = u 0 0 1"}, true)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "lxc.idmap") {
		t.Errorf("error = %v, want ErrRefused naming lxc.idmap", err)
	}
}
