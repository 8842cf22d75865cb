// Package storeview builds a container's view of the Nix store: a small
// tmpfs on the host holding one read-only bind mount per store path of the
// container's closure, and nothing else. The container mounts the view at
// /nix/store. The view is a shared mount of its own peer group, and the
// container's copy of it is a slave, so a path bound into the view later
// (a switch in place to a generation with new paths) appears in the
// running container at once, while nothing the container does to its copy
// reaches the host.
//
// A view is built only while its container is stopped and removed only
// after it stopped: unmounting binds of a running container's view would
// propagate into it.
package storeview

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// StoreDir is the Nix store.
const StoreDir = "/nix/store"

// ErrNotStorePath means a path is not inside the Nix store.
var ErrNotStorePath = errors.New("not a path in " + StoreDir)

// StorePathOf returns the store path p is in ("/nix/store/h-x" for
// "/nix/store/h-x/bin/sh"), or ErrNotStorePath.
func StorePathOf(p string) (string, error) {
	p = filepath.Clean(p)
	rest, ok := strings.CutPrefix(p, StoreDir+"/")
	if !ok || rest == "" {
		return "", fmt.Errorf("%s: %w", p, ErrNotStorePath)
	}
	base, _, _ := strings.Cut(rest, "/")
	if base == "." || base == ".." || strings.HasPrefix(base, ".") {
		return "", fmt.Errorf("%s: %w", p, ErrNotStorePath)
	}
	return StoreDir + "/" + base, nil
}

// Closure returns the closure of roots (nix-store -qR), sorted as
// nix-store prints it.
func Closure(ctx context.Context, roots []string) ([]string, error) {
	if len(roots) == 0 {
		return nil, nil
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "nix-store", append([]string{"-qR", "--"}, roots...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("nix-store -qR: %w: %s", err, msg)
	}
	var paths []string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		if sp, err := StorePathOf(p); err != nil || sp != p {
			return nil, fmt.Errorf("nix-store -qR: unexpected line %q", p)
		}
		paths = append(paths, p)
	}
	return paths, sc.Err()
}

// Mounted reports whether dir is a view (a tmpfs mounted there).
func Mounted(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("store view %s: %w", dir, err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		return false, nil
	}
	var a, b unix.Stat_t
	if err := unix.Stat(dir, &a); err != nil {
		return false, fmt.Errorf("store view %s: %w", dir, err)
	}
	if err := unix.Stat(filepath.Dir(dir), &b); err != nil {
		return false, fmt.Errorf("store view %s: %w", dir, err)
	}
	return a.Dev != b.Dev, nil
}

// Create makes dir a fresh view holding exactly paths (store paths, as
// Closure returns them). A view left at dir (by a crash) is replaced. On
// failure nothing of the view is left.
func Create(dir string, paths []string) (retErr error) {
	if err := Remove(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("store view %s: %w", dir, err)
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, Remove(dir))
		}
	}()
	// Owned by the host's root and mode 0755: the container's root (an
	// unmapped stranger to it) can list the view but add nothing.
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("store view %s: mount tmpfs: %w", dir, err)
	}
	// Private first: a mount below a shared parent joins the parent's peer
	// group; the view gets a peer group of its own, so its binds propagate
	// into the container and nowhere else.
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("store view %s: make private: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("store view %s: make shared: %w", dir, err)
	}
	_, err := Add(dir, paths)
	return err
}

// Add binds the paths that are not in the view yet and returns how many
// it added. In a running container they appear at once.
func Add(dir string, paths []string) (int, error) {
	added := 0
	for _, p := range paths {
		ok, err := addPath(dir, p)
		if err != nil {
			return added, fmt.Errorf("store view %s: %w", dir, err)
		}
		if ok {
			added++
		}
	}
	return added, nil
}

// addPath binds store path p into the view unless it is there.
func addPath(dir, p string) (bool, error) {
	sp, err := StorePathOf(p)
	if err != nil {
		return false, err
	}
	if sp != p {
		return false, fmt.Errorf("%s: %w", p, ErrNotStorePath)
	}
	entry := filepath.Join(dir, filepath.Base(p))
	if _, err := os.Lstat(entry); err == nil {
		return false, nil // bound (or linked) before
	}
	src, err := os.Lstat(p)
	if err != nil {
		return false, err
	}
	switch {
	case src.Mode()&fs.ModeSymlink != 0:
		// A symlink is only its target's name (the target is in the
		// closure too): copy it, nothing to bind.
		target, err := os.Readlink(p)
		if err != nil {
			return false, err
		}
		return true, os.Symlink(target, entry)
	case src.IsDir():
		if err := os.Mkdir(entry, 0o555); err != nil {
			return false, err
		}
	default:
		f, err := os.OpenFile(entry, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			return false, err
		}
		f.Close()
	}
	if err := unix.Mount(p, entry, "", unix.MS_BIND, ""); err != nil {
		os.Remove(entry)
		return false, fmt.Errorf("bind %s: %w", p, err)
	}
	if err := unix.Mount("", entry, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		err = fmt.Errorf("make %s read-only: %w", p, err)
		if uerr := unix.Unmount(entry, unix.MNT_DETACH); uerr != nil {
			return false, errors.Join(err, uerr)
		}
		os.Remove(entry)
		return false, err
	}
	return true, nil
}

// Remove unmounts the view at dir with everything in it and removes dir;
// a missing view is fine. Call it only when the container is stopped.
func Remove(dir string) error {
	for {
		mounted, err := Mounted(dir)
		if err != nil {
			return err
		}
		if !mounted {
			break
		}
		// Lazy: the whole tree goes at once, however many binds.
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("store view %s: unmount: %w", dir, err)
		}
	}
	// Only the empty mount point is left: rmdir, never a recursive
	// removal that could reach into a store path.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store view %s: %w", dir, err)
	}
	return nil
}
