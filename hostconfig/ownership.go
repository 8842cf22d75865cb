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
	for _, p := range []struct{ key, dir string }{
		{"state_dir", c.ContainersDir()}, {"profiles_dir", c.ProfilesDir},
	} {
		if err := checkOwnedByRoot(p.dir); err != nil {
			return fmt.Errorf("%s: %w", p.key, err)
		}
	}
	return nil
}

// checkOwnedByRoot checks dir and each folder above it; only folders above
// dir's parent may be sticky and writable by others.
func checkOwnedByRoot(dir string) error {
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
	// The leaf and its parent (the tool's own folders) must not be
	// sticky-writable; state_dir is the parent of the containers folder.
	own := map[string]bool{}
	full := filepath.Join(real, rest)
	own[full], own[filepath.Dir(full)] = true, true
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
			return fmt.Errorf("%s is owned by uid %d, not root: whoever owns it can replace the tool's state (chown root %s)", d, sys.Uid, d)
		}
		if mode.Perm()&0o022 != 0 && (own[d] || mode&fs.ModeSticky == 0) {
			return fmt.Errorf("%s (mode %o) is writable by group or others, who could replace the tool's state (chmod go-w %s)", d, mode.Perm(), d)
		}
		if d == "/" {
			return nil
		}
	}
}
