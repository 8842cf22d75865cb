package lxc

import "errors"

// Sentinel errors of the package, matched with errors.Is.
var (
	// ErrNotRunning: the operation needs a running container.
	ErrNotRunning = errors.New("container is not running")
	// ErrRunning: the operation needs a stopped container.
	ErrRunning = errors.New("container is running")
	// ErrNotDefined: LXC has no such container.
	ErrNotDefined = errors.New("container is not defined in LXC")
)
