//go:build linux && cgo

package lxc

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"syscall"
)

// commandSocket is the abstract unix socket name ("@...") on which the
// monitor of a running container answers LXC's commands, named as liblxc
// names it: "@LXCPATH/NAME/command", or, when that does not fit in a
// socket address (106 bytes), "@lxc/HASH/command" with HASH the FNV-1a
// 64-bit hash of "LXCPATH/NAME" in 16 hex digits.
func commandSocket(lxcpath, name string) string {
	const max = 108 - 2 // sun_path, less the leading and trailing NUL
	s := lxcpath + "/" + name + "/command"
	if len(s) < max {
		return "@" + s
	}
	h := fnv.New64a()
	h.Write([]byte(lxcpath + "/" + name))
	return fmt.Sprintf("@lxc/%016x/command", h.Sum64())
}

// monitorListens reports whether a monitor accepts connections on the
// container's command socket. When none does, liblxc reports the
// container STOPPED (its own state query fails to connect the same way);
// abstract sockets belong to a network namespace, as liblxc's query does.
func monitorListens(lxcpath, name string) (bool, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("state: socket: %w", err)
	}
	defer syscall.Close(fd)
	err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: commandSocket(lxcpath, name)})
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state: connect to the command socket: %w", err)
	}
	return true, nil
}

// State returns LXC's word for the container's state (RUNNING, STOPPED,
// ...), as lxc-info does. A container without a monitor is STOPPED without
// asking liblxc (which parses the whole configuration first); one with a
// monitor is asked through liblxc.
func State(lxcpath, name string) (string, error) {
	st, _, err := StateAndPID(lxcpath, name)
	return st, err
}

// StateAndPID is State and, for a running container, its init's host pid
// (-1 otherwise), from one query.
func StateAndPID(lxcpath, name string) (string, int, error) {
	if _, err := os.Stat(filepath.Join(lxcpath, name, "config")); errors.Is(err, os.ErrNotExist) {
		return "", -1, ErrNotDefined
	}
	if up, err := monitorListens(lxcpath, name); err == nil && !up {
		return "STOPPED", -1, nil
	}
	return stateLiblxc(lxcpath, name)
}
