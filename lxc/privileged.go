package lxc

// Raw LXC items that run code on the host or give the container more than
// LXC's unprivileged defaults. They are refused unless host.toml sets
// allow_privileged_lxc_items = true; see PrivilegedReason.

import (
	"errors"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrPrivileged: the item runs code on the host or widens what the
// container may do; host.toml's allow_privileged_lxc_items accepts it.
var ErrPrivileged = errors.New("privileged")

// AllowHint ends the message of every ErrPrivileged error.
const AllowHint = "allow_privileged_lxc_items = true in host.toml accepts it"

// Reasons for refusing privileged items, one line each.
const (
	reasonHook        = "hooks run as root on the host"
	reasonAppArmor    = "the AppArmor profile is the tool's (LXC's generated one where AppArmor is enabled)"
	reasonSeccomp     = "LXC's default seccomp filter stays in effect"
	reasonSELinux     = "the SELinux context is the host's default for containers"
	reasonCapKeep     = "lxc.cap.keep overrides every lxc.cap.drop; drop capabilities with lxc.cap.drop"
	reasonCapDropNone = "an empty lxc.cap.drop gives back the capabilities dropped before it"
	reasonDevices     = "allowing devices opens the host's device nodes to the container"
	reasonCgroupDir   = "the container's cgroup is placed by LXC, under its limits"
	reasonCgroupCore  = "the cgroup core files (cgroup.*) are LXC's"
	reasonConsolePath = "a console path hands a host terminal to the container; only none is accepted"
	reasonConsoleSize = "the console log on the host keeps LXC's automatic size"
	reasonSysctl      = "only network sysctls (lxc.sysctl.net.*) belong to the container; the others are the host's"
	reasonShareNS     = "sharing a namespace with another container or a host process lets the container into it"
	reasonProc        = "only lxc.proc.oom_score_adj from 0 to 1000 is accepted (below 0 the host's processes die first)"
	reasonMountAuto   = "only LXC's unprivileged defaults (proc:mixed, sys:mixed, sys:rw, cgroup:mixed, or read-only) are accepted"
	reasonIdmapMount  = "an idmapped mount (idmap=) gives the container's root host root's rights on the source; use bindMounts with shift = true on a data folder"
	reasonPropagation = "shared mount propagation lets mounts cross between the container and the host"
	reasonKeyring     = "lxc.keyring.session = 0 shares the host's session keyring with the container"
	reasonNoNewPrivs  = "only lxc.no_new_privs = 1 is accepted (0 undoes it)"
	reasonPtyMax      = "more ptys than LXC's default (1024) let one container use up the host's"
	reasonTTYMax      = "more ttys than LXC's default (4) take ptys from the host's"
	reasonPrlimit     = "a realtime or raised nice priority lets the container starve the host's processes"
)

// privilegedKeys are fixed keys refused whatever their value.
var privilegedKeys = map[string]string{
	"lxc.apparmor.allow_incomplete":  reasonAppArmor,
	"lxc.apparmor.allow_nesting":     reasonAppArmor,
	"lxc.apparmor.profile":           reasonAppArmor,
	"lxc.apparmor.raw":               reasonAppArmor,
	"lxc.cap.keep":                   reasonCapKeep,
	"lxc.cgroup.dir":                 reasonCgroupDir,
	"lxc.cgroup.dir.container":       reasonCgroupDir,
	"lxc.cgroup.dir.container.inner": reasonCgroupDir,
	"lxc.cgroup.dir.monitor":         reasonCgroupDir,
	"lxc.cgroup.dir.monitor.pivot":   reasonCgroupDir,
	"lxc.cgroup.relative":            reasonCgroupDir,
	"lxc.console.buffer.size":        reasonConsoleSize,
	"lxc.console.rotate":             reasonConsoleSize,
	"lxc.console.size":               reasonConsoleSize,
	"lxc.seccomp.allow_nesting":      reasonSeccomp,
	"lxc.seccomp.notify.cookie":      reasonSeccomp,
	"lxc.seccomp.notify.proxy":       reasonSeccomp,
	"lxc.seccomp.profile":            reasonSeccomp,
	"lxc.selinux.context":            reasonSELinux,
	"lxc.selinux.context.keyring":    reasonSELinux,
}

// PrivilegedReason returns why the item is refused unless
// allow_privileged_lxc_items is set, or "" when it only narrows what the
// container may do (or changes nothing of the host's). The key is one LXC
// knows; the value is trimmed.
func PrivilegedReason(key, value string) string {
	if r, ok := privilegedKeys[key]; ok {
		return r
	}
	if strings.HasPrefix(key, "lxc.hook.") {
		return reasonHook
	}
	if strings.HasPrefix(key, "lxc.namespace.share.") {
		return reasonShareNS
	}
	if tail, ok := strings.CutPrefix(key, "lxc.sysctl."); ok && !strings.HasPrefix(tail, "net.") {
		return reasonSysctl
	}
	for _, p := range []string{"lxc.cgroup.", "lxc.cgroup2."} {
		if tail, ok := strings.CutPrefix(key, p); ok {
			if tail == "devices.allow" {
				return reasonDevices
			}
			if strings.HasPrefix(tail, "cgroup.") {
				return reasonCgroupCore
			}
		}
	}
	if tail, ok := strings.CutPrefix(key, "lxc.proc."); ok {
		n, err := strconv.Atoi(value)
		if tail != "oom_score_adj" || err != nil || n < 0 || n > 1000 {
			return reasonProc
		}
	}
	if tail, ok := strings.CutPrefix(key, "lxc.prlimit."); ok {
		if (tail == "rtprio" || tail == "nice" || tail == "14" || tail == "13") && value != "0" && value != "0:0" {
			return reasonPrlimit
		}
		if r := raisedLimit(tail, value); r != "" {
			return r
		}
	}
	switch key {
	case "lxc.cap.drop":
		if value == "" {
			return reasonCapDropNone
		}
	case "lxc.console.path":
		if value != "none" {
			return reasonConsolePath
		}
	case "lxc.keyring.session":
		if value != "1" {
			return reasonKeyring
		}
	case "lxc.no_new_privs":
		if value != "1" {
			return reasonNoNewPrivs
		}
	case "lxc.pty.max":
		if n, err := strconv.Atoi(value); err != nil || n < 0 || n > 1024 {
			return reasonPtyMax
		}
	case "lxc.tty.max":
		if n, err := strconv.Atoi(value); err != nil || n < 0 || n > 4 {
			return reasonTTYMax
		}
	case "lxc.mount.auto":
		for _, f := range strings.Fields(value) {
			if !safeMountAuto[f] {
				return reasonMountAuto + "; not " + f
			}
		}
	case "lxc.mount.entry":
		// LXC finds "idmap=" anywhere in the options (strstr), so any
		// mention of it is refused, wherever it stands.
		if strings.Contains(strings.ToLower(value), "idmap") {
			return reasonIdmapMount
		}
		fields := mountFields(value)
		if len(fields) >= 4 {
			for _, o := range strings.Split(fields[3], ",") {
				if strings.Contains(o, "shared") {
					return reasonPropagation
				}
			}
		}
	}
	return ""
}

// safeMountAuto are the lxc.mount.auto words that give no more than
// LXC's unprivileged defaults (common.conf's cgroup:mixed proc:mixed
// sys:mixed, then userns.conf's sys:rw). Bare "cgroup" and "cgroup-full"
// mean rw when the container keeps CAP_SYS_ADMIN (it does, in its user
// namespace); shmounts: bind-mounts a host path.
var safeMountAuto = map[string]bool{
	"proc": true, "proc:mixed": true,
	"sys": true, "sys:mixed": true, "sys:ro": true, "sys:rw": true,
	"cgroup:mixed": true, "cgroup:ro": true, "cgroup-full:mixed": true, "cgroup-full:ro": true,
}

// SystemTrees are host folders a shifted (idmapped) bind mount may not
// show, contain or sit in: with shift = true the container's root acts as
// host root on the mount, and in these it could read secrets (/etc/shadow,
// /root), plant code that host root runs (/etc, /nix, /usr, /var/spool/cron,
// /home/*/.profile) or rewrite the tool's own state.
var SystemTrees = []string{
	"/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
	"/nix", "/proc", "/root", "/run", "/sbin", "/sys", "/usr",
	"/var/cache", "/var/db", "/var/lib/nixos", "/var/lib/systemd", "/var/lib/dpkg", "/var/lib/apt",
	"/var/lib/lxc", "/var/log", "/var/run", "/var/spool",
}

// CheckShiftSource checks the host folder of a shifted bind mount. dir is
// absolute with symbolic links resolved (LXC follows them too); protected
// adds the tool's own folders (state_dir, profiles_dir, ...) to
// SystemTrees. It refuses "/" and any path that is one of them, lies
// inside one or holds one.
func CheckShiftSource(dir string, protected []string) error {
	dir = path.Clean(dir)
	if dir == "/" {
		return fmt.Errorf("%w: shift = true on / gives the container's root host root's rights on every file; shift only a folder of its own data (%s)", ErrPrivileged, AllowHint)
	}
	for _, p := range append(append([]string(nil), SystemTrees...), protected...) {
		p = filepath.Clean(p)
		if dir == p || strings.HasPrefix(dir, p+"/") || strings.HasPrefix(p, dir+"/") {
			return fmt.Errorf("%w: shift = true on %s gives the container's root host root's rights on %s; shift only a folder of its own data (%s)", ErrPrivileged, dir, p, AllowHint)
		}
	}
	return nil
}

// rlimits are Linux's RLIMIT_ numbers by LXC's names for them.
var rlimits = map[string]int{
	"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
	"memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14, "rttime": 15,
}

// raisedLimit says why a prlimit above the host's own hard limit for the
// resource is refused: LXC sets it as host root, so the container could
// lock, queue or open more than any process of the host's may.
func raisedLimit(name, value string) string {
	res, ok := rlimits[name]
	if !ok {
		n, err := strconv.Atoi(name)
		if err != nil {
			return "" // LXC refuses unknown names itself
		}
		res = n
	}
	var host syscall.Rlimit
	if err := syscall.Getrlimit(res, &host); err != nil {
		return ""
	}
	for _, v := range strings.SplitN(value, ":", 2) {
		n := uint64(math.MaxUint64) // unlimited
		if v = strings.TrimSpace(v); v != "unlimited" {
			var err error
			if n, err = strconv.ParseUint(v, 10, 64); err != nil {
				return "" // LXC refuses it itself
			}
		}
		if n > host.Max {
			return fmt.Sprintf("a limit above the host's own hard limit for %s (%s) would let the container use more than any host process may", name, limitString(host.Max))
		}
	}
	return ""
}

func limitString(n uint64) string {
	if n == math.MaxUint64 {
		return "unlimited"
	}
	return strconv.FormatUint(n, 10)
}
