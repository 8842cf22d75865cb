package lxc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// RemoveCgroups removes the cgroups LXC made for a stopped container that
// it leaves behind after a failed start or a kill: lxc.monitor.NAME and
// lxc.payload.NAME (with their children) below the caller's cgroup in
// every hierarchy, cgroup v1 controllers included. Only empty cgroups can
// be removed, so a running container's are never touched; errors are
// ignored (best effort).
//
// taken reports whether another container has a name; its cgroups are
// never taken for a NAME-N one of this container's ("web-1" is a
// container of its own, not the second cgroup of "web").
func RemoveCgroups(name string, taken func(name string) bool) {
	for _, p := range CgroupLeftovers(name) {
		if other := strings.TrimPrefix(strings.TrimPrefix(filepath.Base(p), "lxc.monitor."), "lxc.payload."); other != name && taken(other) {
			continue
		}
		removeCgroupTree(p)
	}
}

// CgroupLeftovers lists the cgroups of a container that exist:
// lxc.monitor.NAME and lxc.payload.NAME, and NAME-N, the names LXC picks
// when NAME is taken (by a leftover).
func CgroupLeftovers(name string) []string {
	var out []string
	for _, dir := range cgroupDirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() && IsCgroupOf(e.Name(), name) {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	return out
}

// IsCgroupOf reports whether a cgroup folder name is one LXC made for the
// container name: lxc.monitor.NAME, lxc.payload.NAME, or either with -N.
func IsCgroupOf(dir, name string) bool {
	for _, prefix := range []string{"lxc.monitor.", "lxc.payload."} {
		rest, ok := strings.CutPrefix(dir, prefix+name)
		if !ok {
			continue
		}
		if rest == "" {
			return true
		}
		if n, ok := strings.CutPrefix(rest, "-"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			return true
		}
	}
	return false
}

// removeCgroupTree removes a cgroup folder and its child cgroups, deepest
// first (a cgroup folder is removed with rmdir, never by deleting files).
func removeCgroupTree(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(dir, e.Name()))
		}
	}
	os.Remove(dir)
}

// cgroupDirs are the folders LXC makes a container's cgroups in, one or
// two per mounted hierarchy: the caller's cgroup and, as LXC does for root
// unless lxc.cgroup.relative is set, init's (PID 1's) cgroup.
func cgroupDirs() []string {
	mounts := cgroupMounts()
	var out []string
	for _, proc := range []string{"/proc/self/cgroup", "/proc/1/cgroup"} {
		out = appendCgroupDirs(out, mounts, proc)
	}
	return out
}

func appendCgroupDirs(out []string, mounts []cgroupMount, proc string) []string {
	data, err := os.ReadFile(proc)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, mt := range mounts {
			if mt.matches(f[1]) {
				d := filepath.Join(mt.dir, f[2])
				if !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

type cgroupMount struct {
	dir     string
	v2      bool
	options []string
}

// matches reports whether the mount holds the hierarchy of a
// /proc/self/cgroup line with the given controller list.
func (m cgroupMount) matches(controllers string) bool {
	if controllers == "" {
		return m.v2
	}
	if m.v2 {
		return false
	}
	for _, c := range strings.Split(controllers, ",") {
		if !slices.Contains(m.options, c) {
			return false
		}
	}
	return true
}

func cgroupMounts() []cgroupMount {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []cgroupMount
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			continue
		}
		switch f[sep+1] {
		case "cgroup":
			out = append(out, cgroupMount{dir: f[4], options: strings.Split(f[sep+3], ",")})
		case "cgroup2":
			out = append(out, cgroupMount{dir: f[4], v2: true})
		}
	}
	return out
}
