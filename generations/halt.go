package generations

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

// The halt signals LXC sends a guest's init to shut it down cleanly.
const (
	// HaltNixOS is systemd's: NixOS guests.
	HaltNixOS = "SIGRTMIN+3"
	// HaltSystem is LXC's default, SIGPWR, which busybox' and most other
	// inits handle: guests given as a prebuilt `system`.
	HaltSystem = "SIGPWR"
)

var rtSignalRE = regexp.MustCompile(`^SIGRTM(IN\+|AX-)([0-9]|[12][0-9]|3[0-2])$`)

// haltSignals are the signal names LXC's lxc.signal.halt accepts besides
// SIGRTMIN+N, SIGRTMAX-N and numbers.
var haltSignals = []string{
	"SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGPWR", "SIGWINCH", "SIGCONT",
}

func checkHaltSignal(s *Settings) error {
	v := s.HaltSignal
	if v == "" || slices.Contains(haltSignals, v) || rtSignalRE.MatchString(v) {
		return nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 64 && n != 9 && n != 19 {
		return nil
	}
	return fmt.Errorf("haltSignal: %q is not a signal an init can handle (use a name like SIGPWR or SIGRTMIN+3, or a number)", v)
}

// HaltSignal is the signal that asks the generation's init to shut down:
// its haltSignal setting, else SIGRTMIN+3 for a NixOS system (one with
// nixos-version) and SIGPWR for any other system.
func (g Generation) HaltSignal(s *Settings) string {
	if s != nil && s.HaltSignal != "" {
		return s.HaltSignal
	}
	if _, err := os.Stat(filepath.Join(g.StorePath, "nixos-version")); err == nil {
		return HaltNixOS
	}
	return HaltSystem
}
