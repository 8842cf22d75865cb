//go:build linux && cgo

package lxc

import (
	"errors"
	"fmt"
	"os"
)

// The start helper: when the binary is executed with argv[0] set to
// startHelperArg0 it starts one container and exits, before main runs.
// This keeps the long-lived LXC monitor a fork of a process that did
// nothing else.
func init() {
	if len(os.Args) != 3 || os.Args[0] != startHelperArg0 {
		return
	}
	// Standard input and output are /dev/null (set by Start); they must stay
	// open, or liblxc's own descriptors would take their numbers and be
	// redirected to /dev/null when it daemonises.
	err := startInProcess(os.Args[1], os.Args[2])
	if errors.Is(err, ErrRunning) {
		os.Exit(startHelperRunning)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
