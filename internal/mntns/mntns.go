// Package mntns lets a process the tool re-executes itself as (see
// storeview and lxc.Start) run in another mount namespace than its
// parent: the parent sets it up on the exec.Cmd (Enter, New), and a C
// constructor linked into every binary that imports this package enters
// or makes the namespace before the Go runtime starts (Go cannot change
// the mount namespace of a running process: it has threads).
package mntns

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// env names what the constructor does: a descriptor to enter, or "new".
const env = "_NIXCLOUD_CONTAINER_MNTNS"

// Enter makes cmd run in the mount namespace ns (an open
// /proc/PID/ns/mnt) from its first instruction on.
func Enter(cmd *exec.Cmd, ns *os.File) {
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, ns)
	setEnv(cmd, strconv.Itoa(fd))
}

// New makes cmd run in a new mount namespace, a slave of the caller's.
func New(cmd *exec.Cmd) { setEnv(cmd, "new") }

func setEnv(cmd *exec.Cmd, v string) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env+"="+v)
}

// Same reports whether ns is the caller's mount namespace.
func Same(ns *os.File) (bool, error) {
	var theirs, ours unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &theirs); err != nil {
		return false, fmt.Errorf("mount namespace %s: %w", ns.Name(), err)
	}
	if err := unix.Stat("/proc/self/ns/mnt", &ours); err != nil {
		return false, fmt.Errorf("own mount namespace: %w", err)
	}
	return theirs.Ino == ours.Ino && theirs.Dev == ours.Dev, nil
}
