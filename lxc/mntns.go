//go:build linux && cgo

package lxc

import (
	"os"
	"os/exec"

	"github.com/nixcloud/nixcloud-container/internal/mntns"
)

// StartOption changes how Start runs its helper.
type StartOption func(*exec.Cmd)

// InMountNamespace makes the start helper enter the mount namespace ns
// (an open /proc/PID/ns/mnt) before liblxc runs, so the container's LXC
// monitor lives in it and the container's own namespace is copied from
// it (a store view made there, see package storeview). The constructor
// in internal/mntns does it, before the helper's Go runtime or any C
// constructor of default priority runs.
func InMountNamespace(ns *os.File) StartOption {
	return func(cmd *exec.Cmd) { mntns.Enter(cmd, ns) }
}
