package hostconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckOwnership makes sure no one but root can replace the tool's state:
// the containers folder (and so state_dir), profiles_dir and every folder
// above them must be owned by root and not writable by group or others,
// as sshd's StrictModes reasons. A folder above them may be writable by
// others when it is sticky (like /tmp): then no one else can rename or
// remove what root made in it. Folders that do not exist yet are skipped
// (the tool makes them, root's, mode 0755). Else a container whose mapped
// root owns a folder on the way could swap a record for one that runs its
// code as host root at the next start.
func (c Config) CheckOwnership() error {
	for _, p := range []struct {
		key, dir string
		own      int // folders at the end of dir that are the tool's own
	}{
		{"state_dir", c.ContainersDir(), 2}, {"profiles_dir", c.ProfilesDir, 1},
	} {
		if err := checkOwnedByRoot(p.dir, p.own); err != nil {
			return fmt.Errorf("%s: %w", p.key, err)
		}
	}
	return nil
}

// checkOwnedByRoot checks dir and each folder above it; the last own
// folders of dir may not be writable by others even when sticky.
func checkOwnedByRoot(dir string, own int) error {
	// Resolve symbolic links in the part that exists: the folders that
	// count are the ones the path leads through.
	existing, rest := filepath.Clean(dir), ""
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = filepath.Dir(existing)
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return err
	}
	ours := map[string]bool{}
	for d, i := filepath.Join(real, rest), 0; i < own; d, i = filepath.Dir(d), i+1 {
		ours[d] = true
	}
	for d := real; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", d)
		}
		mode := st.Mode()
		if sys.Uid != 0 {
			return fmt.Errorf("%s is owned by uid %d, not root: whoever owns it can replace what lies below it (chown root %s)", d, sys.Uid, d)
		}
		if mode.Perm()&0o022 != 0 && (ours[d] || mode&fs.ModeSticky == 0) {
			return fmt.Errorf("%s (mode %o) is writable by group or others, who could replace what lies below it (chmod go-w %s)", d, mode.Perm(), d)
		}
		if d == "/" {
			return nil
		}
	}
}

// CheckParentsOwnedByRoot checks that every folder above path (symbolic
// links resolved) is root's and not writable by group or others, unless
// sticky: no one else can swap a folder on the way for a link between a
// check of path and its use.
func CheckParentsOwnedByRoot(path string) error {
	return checkOwnedByRoot(filepath.Dir(filepath.Clean(path)), 0)
}
