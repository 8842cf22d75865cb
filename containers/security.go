package containers

import (
	"fmt"
	"path/filepath"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/lxc"
)

// checkShift refuses a shifted bind mount of a system folder or of the
// tool's own state (see lxc.CheckShiftSource). Symbolic links are
// resolved first, at every check: the mount follows them too.
func checkShift(hostPath string, cfg hostconfig.Config) error {
	real, err := filepath.EvalSymlinks(hostPath)
	if err != nil {
		return fmt.Errorf("hostPath: %w", err)
	}
	if err := lxc.CheckShiftSource(real, []string{cfg.StateDir, cfg.ProfilesDir}); err != nil {
		return err
	}
	// LXC resolves the path again when it mounts: no one but root may be
	// able to swap a folder on the way (for a link to /etc, say).
	if err := hostconfig.CheckParentsOwnedByRoot(real); err != nil {
		return fmt.Errorf("hostPath %s: shift = true needs the folders above it root's: %w", hostPath, err)
	}
	return nil
}

// withDefaults fills each limit the container does not set from host.toml's
// defaults; a container's own limit wins.
func withDefaults(own generations.Limits, def hostconfig.Limits) generations.Limits {
	if own.Memory == "" {
		own.Memory = def.Memory
	}
	if own.CPUs == 0 {
		own.CPUs = def.CPUs
	}
	if own.Processes == 0 {
		own.Processes = def.Processes
	}
	return own
}

// AppArmorStatus is host status' line about confinement: containers run
// under LXC's generated AppArmor profile where the kernel has AppArmor
// enabled; elsewhere that is worth knowing, but no failure.
func AppArmorStatus() string {
	if lxc.AppArmorEnabled(lxc.AppArmorParam) {
		return "present  apparmor (containers run under LXC's generated profile)"
	}
	return "note     apparmor is not enabled in the kernel: containers run without AppArmor confinement (the user namespace and LXC's seccomp filter still apply)"
}
