package lxc

// Container options as LXC items: cgroup limits for either cgroup layout,
// bind mounts, and the raw items of extraLxcConfig / -l, checked against
// the keys LXC 5.0 knows and the ones the design manages itself.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// Errors of raw LXC items, matched with errors.Is.
var (
	// ErrInvalidItem: the item is not "key = value", or its value is malformed.
	ErrInvalidItem = errors.New("invalid")
	// ErrUnknownKey: LXC 5.0 has no such configuration key.
	ErrUnknownKey = errors.New("unknown key")
	// ErrRefused: LXC knows the item, but it would break what the tool
	// manages (id mapping, rootfs, init, network, the store mount, ...).
	ErrRefused = errors.New("refused")
)

// CgroupRoot is where the host's cgroup file systems are mounted.
const CgroupRoot = "/sys/fs/cgroup"

// CgroupV2 reports whether root (usually CgroupRoot) holds the unified
// cgroup v2 hierarchy, as on current NixOS. A v1 or hybrid host has one
// folder per controller there (a hybrid host adds a controller-less cgroup2
// at root/unified) and gets false. The unified hierarchy is the only layout
// with cgroup.controllers at its root.
func CgroupV2(root string) bool {
	fi, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return err == nil && fi.Mode().IsRegular()
}

// cfsPeriod is the CPU bandwidth period in microseconds (the kernel's
// default); minCFSQuota is the smallest quota the kernel accepts.
const (
	cfsPeriod   = 100000
	minCFSQuota = 1000
)

// LimitItems returns the cgroup items limiting a container's memory (bytes),
// CPUs (may be fractional: 1.5 is one and a half CPUs of time per period)
// and number of processes. A zero value sets no item. v2 selects the
// lxc.cgroup2.* keys of the unified hierarchy, else the lxc.cgroup.* keys of
// the cgroup v1 controllers; see CgroupV2.
//
// Swap is left alone in both layouts: v1 sets memory.limit_in_bytes only
// (memory.memsw.* exists only with swap accounting), and v2 sets memory.max
// without memory.swap.max, which is missing on kernels booted with
// cgroup.memory=noswap and would make LXC fail the start. A container
// may thus swap beyond its memory limit where the host has swap. For a hard
// limit, add "lxc.cgroup2.memory.swap.max = 0" (or, on v1 with swap
// accounting, lxc.cgroup.memory.memsw.limit_in_bytes) to extraLxcConfig.
func LimitItems(memoryBytes uint64, cpus float64, processes int, v2 bool) Items {
	var items Items
	quota := int64(0)
	if cpus > 0 && !math.IsInf(cpus, 0) {
		quota = max(int64(math.Round(cpus*cfsPeriod)), minCFSQuota)
	}
	mem := strconv.FormatUint(memoryBytes, 10)
	pids := strconv.Itoa(processes)
	if v2 {
		if memoryBytes > 0 {
			items = append(items, Item{"lxc.cgroup2.memory.max", mem})
		}
		if quota > 0 {
			items = append(items, Item{"lxc.cgroup2.cpu.max", fmt.Sprintf("%d %d", quota, cfsPeriod)})
		}
		if processes > 0 {
			items = append(items, Item{"lxc.cgroup2.pids.max", pids})
		}
		return items
	}
	if memoryBytes > 0 {
		items = append(items, Item{"lxc.cgroup.memory.limit_in_bytes", mem})
	}
	if quota > 0 {
		items = append(items,
			Item{"lxc.cgroup.cpu.cfs_period_us", strconv.Itoa(cfsPeriod)},
			Item{"lxc.cgroup.cpu.cfs_quota_us", strconv.FormatInt(quota, 10)},
		)
	}
	if processes > 0 {
		items = append(items, Item{"lxc.cgroup.pids.max", pids})
	}
	return items
}

// BindMountItem mounts the host path hostPath at target in the container
// (absolute or relative to its root; LXC wants it relative). isDir says
// whether hostPath is a folder, so LXC creates a folder or an empty file as
// the mount point. readOnly makes the mount read-only.
//
// shift makes it an idmapped mount (option idmap=container, LXC 5.0 with
// Linux 5.12 or later, on file systems that support it: ext4, xfs, btrfs,
// tmpfs since 6.3, ...): host uid/gid 0 appears as root in the container and
// files the container's root creates belong to host uid 0, instead of
// host-owned files showing up as nobody (65534) and writes needing the
// container's mapped uid. Checked on this host's ext4 with LXC 5.0.2 and
// Linux 6.18, for folders and files, read-write and read-only.
func BindMountItem(hostPath, target string, isDir, readOnly, shift bool) Item {
	opts := "bind"
	if readOnly {
		opts += ",ro"
	}
	if isDir {
		opts += ",create=dir"
	} else {
		opts += ",create=file"
	}
	if shift {
		opts += ",idmap=container"
	}
	rel := strings.TrimPrefix(path.Clean("/"+target), "/")
	return Item{"lxc.mount.entry", escapeMountField(hostPath) + " " + escapeMountField(rel) + " none " + opts + " 0 0"}
}

// escapeMountField escapes what would split an fstab field, the way
// getmntent(3), which LXC parses mount entries with, decodes it.
func escapeMountField(s string) string {
	return strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(s)
}

func unescapeMountField(s string) string {
	return strings.NewReplacer(`\134`, `\`, `\040`, " ", `\011`, "\t", `\012`, "\n").Replace(s)
}

// ParseRawItems parses extraLxcConfig entries in order; see ParseRawItem.
func ParseRawItems(entries []string, allowPrivileged bool) (Items, error) {
	items := make(Items, 0, len(entries))
	for _, e := range entries {
		it, err := ParseRawItem(e, allowPrivileged)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// ParseRawItem parses one raw LXC item, spelt "key = value" (extraLxcConfig)
// or "key=value" (-l), and checks that LXC 5.0 knows the key and that the
// tool does not manage it. Unless allowPrivileged, items that run code on
// the host or widen the container's privileges are refused too (see
// PrivilegedReason). Errors name the item and wrap ErrInvalidItem,
// ErrUnknownKey, ErrRefused or ErrPrivileged.
func ParseRawItem(s string, allowPrivileged bool) (Item, error) {
	s = strings.TrimSpace(s)
	key, value, ok := strings.Cut(s, "=")
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	if !ok || key == "" {
		return Item{}, fmt.Errorf("lxc item %q: %w: want \"key = value\"", s, ErrInvalidItem)
	}
	if strings.IndexFunc(key, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return Item{}, fmt.Errorf("lxc item %q: %w: the key contains white space or control characters", s, ErrInvalidItem)
	}
	if strings.ContainsAny(value, "\n\r\x00") {
		return Item{}, fmt.Errorf("lxc item %q: %w: the value spans lines", s, ErrInvalidItem)
	}
	known, reason := lookupKey(key)
	if !known {
		hint := ""
		if newKey := legacyKey(key); newKey != "" {
			hint = " (an lxc 2 spelling; lxc 5 calls it " + newKey + ")"
		}
		return Item{}, fmt.Errorf("lxc item %q: %w %s%s", s, ErrUnknownKey, key, hint)
	}
	if reason != "" {
		return Item{}, fmt.Errorf("lxc item %q: %w: %s", s, ErrRefused, reason)
	}
	if key == "lxc.mount.entry" {
		if err := checkMountEntry(value); err != nil {
			return Item{}, fmt.Errorf("lxc item %q: %w", s, err)
		}
	}
	if !allowPrivileged {
		if reason := PrivilegedReason(key, value); reason != "" {
			return Item{}, fmt.Errorf("lxc item %q: %w: %s (%s)", s, ErrPrivileged, reason, AllowHint)
		}
	}
	return Item{Key: key, Value: value}, nil
}

// Reasons for refusing keys the tool manages.
const (
	reasonIdmap   = "the container stays unprivileged, with the uid/gid range allocated to it"
	reasonRootfs  = "the rootfs is managed by nixcloud-container"
	reasonInit    = "the container boots its generation's init as root"
	reasonUTS     = "the host name is the container's name"
	reasonNet     = "networking is managed by nixcloud-container (network in the container file)"
	reasonInclude = "an included file could set any key, past these checks"
	reasonLog     = "logs are kept in the container's folder"
	reasonFstab   = "mounts are checked one by one; use lxc.mount.entry or bindMounts"
	reasonEph     = "lxc.ephemeral destroys the container when it stops; use ephemeral = true in the container file"
	reasonStart   = "use autostart, autostartPriority and autostartDelay in the container file"
	reasonNS      = "the container keeps its own user, mount, network and uts namespaces"
	reasonAutodev = "the tool sets up /dev (lxc.autodev = 1)"
	reasonCgroup  = "without a controller file this clears every cgroup item, the limits too; name one, like lxc.cgroup2.memory.high"
)

// lxcKeys are the fixed keys of LXC 5.0 (its config_jump_table and
// lxc.container.conf(5)), mapped to why the tool refuses them, or "".
var lxcKeys = map[string]string{
	"lxc.apparmor.allow_incomplete":  "",
	"lxc.apparmor.allow_nesting":     "",
	"lxc.apparmor.profile":           "",
	"lxc.apparmor.raw":               "",
	"lxc.arch":                       "",
	"lxc.autodev":                    reasonAutodev,
	"lxc.autodev.tmpfs.size":         "",
	"lxc.cap.drop":                   "",
	"lxc.cap.keep":                   "",
	"lxc.cgroup":                     reasonCgroup,
	"lxc.cgroup.dir":                 "",
	"lxc.cgroup.dir.container":       "",
	"lxc.cgroup.dir.container.inner": "",
	"lxc.cgroup.dir.monitor":         "",
	"lxc.cgroup.dir.monitor.pivot":   "",
	"lxc.cgroup.relative":            "",
	"lxc.cgroup2":                    reasonCgroup,
	"lxc.console.buffer.size":        "",
	"lxc.console.logfile":            reasonLog,
	"lxc.console.path":               "",
	"lxc.console.rotate":             "",
	"lxc.console.size":               "",
	"lxc.environment":                "",
	"lxc.ephemeral":                  reasonEph,
	"lxc.execute.cmd":                "",
	"lxc.group":                      "",
	"lxc.hook.autodev":               "",
	"lxc.hook.clone":                 "",
	"lxc.hook.destroy":               "",
	"lxc.hook.mount":                 "",
	"lxc.hook.post-stop":             "",
	"lxc.hook.pre-mount":             "",
	"lxc.hook.pre-start":             "",
	"lxc.hook.start":                 "",
	"lxc.hook.start-host":            "",
	"lxc.hook.stop":                  "",
	"lxc.hook.version":               "",
	"lxc.idmap":                      reasonIdmap,
	"lxc.include":                    reasonInclude,
	"lxc.init.cmd":                   reasonInit,
	"lxc.init.cwd":                   reasonInit,
	"lxc.init.gid":                   reasonInit,
	"lxc.init.groups":                reasonInit,
	"lxc.init.uid":                   reasonInit,
	"lxc.keyring.session":            "",
	"lxc.log.file":                   reasonLog,
	"lxc.log.level":                  "",
	"lxc.log.syslog":                 "",
	"lxc.monitor.signal.pdeath":      "",
	"lxc.monitor.unshare":            "",
	"lxc.mount.auto":                 "",
	"lxc.mount.entry":                "", // checked by checkMountEntry
	"lxc.mount.fstab":                reasonFstab,
	"lxc.namespace.clone":            reasonNS,
	"lxc.namespace.keep":             reasonNS,
	"lxc.namespace.share.cgroup":     "",
	"lxc.namespace.share.ipc":        "",
	"lxc.namespace.share.mnt":        reasonNS,
	"lxc.namespace.share.net":        reasonNS,
	"lxc.namespace.share.pid":        "",
	"lxc.namespace.share.time":       "",
	"lxc.namespace.share.user":       reasonNS,
	"lxc.namespace.share.uts":        reasonNS,
	"lxc.net":                        reasonNet,
	"lxc.no_new_privs":               "",
	"lxc.pty.max":                    "",
	"lxc.rootfs.managed":             reasonRootfs,
	"lxc.rootfs.mount":               reasonRootfs,
	"lxc.rootfs.options":             reasonRootfs,
	"lxc.rootfs.path":                reasonRootfs,
	"lxc.sched.core":                 "",
	"lxc.seccomp.allow_nesting":      "",
	"lxc.seccomp.notify.cookie":      "",
	"lxc.seccomp.notify.proxy":       "",
	"lxc.seccomp.profile":            "",
	"lxc.selinux.context":            "",
	"lxc.selinux.context.keyring":    "",
	"lxc.signal.halt":                "",
	"lxc.signal.reboot":              "",
	"lxc.signal.stop":                "",
	"lxc.start.auto":                 reasonStart,
	"lxc.start.delay":                reasonStart,
	"lxc.start.order":                reasonStart,
	"lxc.time.offset.boot":           "",
	"lxc.time.offset.monotonic":      "",
	"lxc.tty.dir":                    "",
	"lxc.tty.max":                    "",
	"lxc.uts.name":                   reasonUTS,
}

// lxcKeyFamilies are LXC 5.0's keys with a variable tail, checked after
// lxcKeys; valid reports whether LXC knows the tail.
var lxcKeyFamilies = []struct {
	prefix string
	valid  func(tail string) bool
	reason string
}{
	{"lxc.cgroup2.", isControllerFile, ""},
	{"lxc.cgroup.", isControllerFile, ""},
	{"lxc.sysctl.", nonEmpty, ""},
	{"lxc.proc.", nonEmpty, ""},
	{"lxc.prlimit.", isRlimit, ""},
	// lxc.net.N.type, .link, .flags, .hwaddr, .name, .mtu, .veth.pair,
	// .ipv4.address, ...: all of them configure the managed network.
	{"lxc.net.", nonEmpty, reasonNet},
	{"lxc.rootfs.", nonEmpty, reasonRootfs},
	{"lxc.init.", nonEmpty, reasonInit},
}

// lookupKey reports whether LXC 5.0 knows key, and why the tool refuses it.
func lookupKey(key string) (known bool, reason string) {
	if reason, ok := lxcKeys[key]; ok {
		return true, reason
	}
	for _, f := range lxcKeyFamilies {
		if tail, ok := strings.CutPrefix(key, f.prefix); ok {
			if f.reason != "" {
				// Refuse typos in a managed family too: the reason helps more.
				return true, f.reason
			}
			return f.valid(tail), ""
		}
	}
	return false, ""
}

func nonEmpty(tail string) bool { return tail != "" }

// isControllerFile accepts "memory.high", "devices.allow", ...
func isControllerFile(tail string) bool {
	ctrl, file, ok := strings.Cut(tail, ".")
	// LXC opens the file by this name beneath the container's cgroup.
	return ok && ctrl != "" && file != "" && !strings.ContainsAny(tail, "/\\") && !strings.Contains(tail, "..")
}

// mountFields splits an fstab line as glibc's getmntent does: on spaces
// and tabs.
func mountFields(value string) []string {
	return strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == '\t' })
}

// isRlimit accepts the RLIMIT_ names LXC knows, lower case without the
// prefix, or a resource number.
func isRlimit(tail string) bool {
	switch tail {
	case "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
		"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack":
		return true
	}
	_, err := strconv.ParseUint(tail, 10, 8)
	return err == nil
}

// legacyKey returns the LXC 3+ spelling of an LXC 2 key, or "".
func legacyKey(key string) string {
	if tail, ok := strings.CutPrefix(key, "lxc.network."); ok {
		return "lxc.net." + tail
	}
	if tail, ok := strings.CutPrefix(key, "lxc.limit."); ok {
		return "lxc.prlimit." + tail
	}
	return legacyKeys[key]
}

var legacyKeys = map[string]string{
	"lxc.aa_allow_incomplete": "lxc.apparmor.allow_incomplete",
	"lxc.aa_profile":          "lxc.apparmor.profile",
	"lxc.console":             "lxc.console.path",
	"lxc.devttydir":           "lxc.tty.dir",
	"lxc.haltsignal":          "lxc.signal.halt",
	"lxc.id_map":              "lxc.idmap",
	"lxc.init_cmd":            "lxc.init.cmd",
	"lxc.init_gid":            "lxc.init.gid",
	"lxc.init_uid":            "lxc.init.uid",
	"lxc.logfile":             "lxc.log.file",
	"lxc.loglevel":            "lxc.log.level",
	"lxc.mount":               "lxc.mount.fstab",
	"lxc.pts":                 "lxc.pty.max",
	"lxc.rebootsignal":        "lxc.signal.reboot",
	"lxc.rootfs":              "lxc.rootfs.path",
	"lxc.se_context":          "lxc.selinux.context",
	"lxc.seccomp":             "lxc.seccomp.profile",
	"lxc.stopsignal":          "lxc.signal.stop",
	"lxc.syslog":              "lxc.log.syslog",
	"lxc.tty":                 "lxc.tty.max",
	"lxc.utsname":             "lxc.uts.name",
}

// managedMounts are the mount points (relative to the container's root)
// that Render sets up; no other mount may cover them or sit in them.
var managedMounts = []struct{ target, what string }{
	{"nix/store", "the nix store"},
	{"nix/var/nixcloud-container", "the container's profile"}, // holds GuestProfileDir
}

// checkMountEntry checks an lxc.mount.entry value: fstab fields, a target
// relative to the container's root, and no managed mount covered.
func checkMountEntry(value string) error {
	if value == "" {
		return fmt.Errorf("%w: an empty lxc.mount.entry clears every mount entry, the nix store's too", ErrRefused)
	}
	if strings.IndexFunc(value, func(r rune) bool { return r != ' ' && r != '\t' && (unicode.IsSpace(r) || unicode.IsControl(r)) }) >= 0 {
		// glibc's getmntent splits on spaces and tabs only: other white
		// space would make LXC see other fields than the checks here.
		return fmt.Errorf("%w: lxc.mount.entry may hold no white space but spaces and tabs, and no control characters", ErrInvalidItem)
	}
	fields := mountFields(value)
	if len(fields) < 4 || len(fields) > 6 {
		return fmt.Errorf("%w: lxc.mount.entry wants \"source target fstype options [dump [pass]]\"", ErrInvalidItem)
	}
	target := unescapeMountField(fields[1])
	if strings.HasPrefix(target, "/") {
		// LXC ignores absolute targets outside the rootfs path and maps
		// those inside it; both hide what is mounted where.
		return fmt.Errorf("%w: the mount target must be relative to the container's root, like mnt/data", ErrInvalidItem)
	}
	t := path.Clean(target)
	if t == ".." || strings.HasPrefix(t, "../") {
		return fmt.Errorf("%w: the mount target %s leaves the container's root", ErrRefused, target)
	}
	for _, m := range managedMounts {
		if within(t, m.target) {
			return fmt.Errorf("%w: the mount target %s is inside %s (/%s)", ErrRefused, target, m.what, m.target)
		}
		if within(m.target, t) {
			return fmt.Errorf("%w: the mount target %s would cover %s (/%s)", ErrRefused, target, m.what, m.target)
		}
	}
	return nil
}

// within reports whether p is dir or below it; both are clean relative
// paths, "." being the root.
func within(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}
