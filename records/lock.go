package records

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ContainerLock is a held per-container lock: an flock on
// LocksDir/<name>.lock. The file lives outside the container's folder so
// that destroy can remove the folder while holding the lock.
type ContainerLock struct {
	f    *os.File
	path string
}

// LockContainer takes the lock of one container, blocking until it is
// free. Every verb that changes a container holds it for its whole run;
// verbs on different containers do not wait for each other. who says what
// the holder does (written into the file for waiters to read); when the
// lock is held by another process, waiting is called once with that
// process' description before blocking.
//
// Lock order: a container's lock is always taken before the allocation
// lock (Lock) and the network lock, never while holding them.
func (s Store) LockContainer(name, who string, waiting func(holder string)) (*ContainerLock, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.LocksDir, 0o755); err != nil {
		return nil, fmt.Errorf("container %q: lock: %w", name, err)
	}
	path := filepath.Join(s.LocksDir, name+".lock")
	told := false
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("container %q: lock: %w", name, err)
		}
		err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if !told && waiting != nil {
				holder, _ := os.ReadFile(path)
				waiting(strings.TrimSpace(string(holder)))
				told = true
			}
			err = flock(f, syscall.LOCK_EX)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("container %q: lock %s: %w", name, path, err)
		}
		// A destroy may have removed the file while we waited: the lock
		// we hold is then on a file nobody else opens any more; try again.
		var st1, st2 syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st1) == nil && syscall.Stat(path, &st2) == nil && st1.Ino == st2.Ino && st1.Dev == st2.Dev {
			f.Truncate(0)
			f.WriteAt([]byte(fmt.Sprintf("pid %d (%s)\n", os.Getpid(), who)), 0)
			return &ContainerLock{f: f, path: path}, nil
		}
		f.Close()
	}
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Unlock releases the lock.
func (l *ContainerLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	flock(l.f, syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// Remove deletes the lock file (destroy, as its last step) and releases
// the lock; a process waiting for it notices and locks a fresh file.
func (l *ContainerLock) Remove() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(l.path)
	l.Unlock()
}
