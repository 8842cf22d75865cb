package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nixcloud/nixcloud-container/internal/pty"
	"github.com/nixcloud/nixcloud-container/lxc"
)

// ConsoleDetach names the key that detaches from a console.
const ConsoleDetach = "Ctrl-a q"

// Console connects in and out to the running container's console until
// the user detaches (Ctrl-a q) or the container stops.
func (m *Manager) Console(name string, in, out *os.File) error {
	if _, err := m.load(name); err != nil {
		return err
	}
	err := lxc.Console(m.Cfg.ContainersDir(), name, in, out)
	if errors.Is(err, lxc.ErrNotRunning) {
		return wrap(name, "console", ErrNotRunning)
	}
	if err != nil {
		return wrap(name, "console", err)
	}
	return nil
}

// LogFile returns the container's console log (LXC's own log with
// lxcLog), which need not exist yet.
func (m *Manager) LogFile(name string, lxcLog bool) (string, error) {
	if _, err := m.load(name); err != nil {
		return "", err
	}
	if lxcLog {
		return lxc.LXCLog(m.Cfg.ContainersDir(), name), nil
	}
	return lxc.ConsoleLog(m.Cfg.ContainersDir(), name), nil
}

// PrintLog copies the log file from offset on to w (nothing when it does
// not exist) and returns the offset after it. A file shorter than offset
// was truncated (a new start): it is copied from its beginning. The guest
// writes the log: its terminal controls are replaced with '?' on the way
// to the admin's terminal, its carriage returns dropped (the file itself
// is as the console wrote it).
func PrintLog(path string, offset int64, w io.Writer) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return offset, fmt.Errorf("log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return offset, fmt.Errorf("log: %w", err)
	}
	if st.Size() < offset {
		offset = 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, fmt.Errorf("log: %w", err)
	}
	pw := &plainWriter{w: w, dropCR: true}
	n, err := io.Copy(pw, f)
	// A UTF-8 sequence cut at the end is printed by the next call.
	n -= int64(len(pw.rest))
	if err != nil {
		return offset + n, fmt.Errorf("log: %w", err)
	}
	return offset + n, nil
}

// FollowLog prints the log file and then what is appended to it, as
// tail -f, until ctx ends.
func FollowLog(ctx context.Context, path string, w io.Writer) error {
	var offset int64
	for {
		var err error
		if offset, err = PrintLog(path, offset, w); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// followUntilStopped prints what is appended to the console log until the
// container stops.
func (m *Manager) followUntilStopped(ctx context.Context, name, logPath string, offset int64, out io.Writer) error {
	for {
		run, err := m.running(name)
		if err != nil {
			return err
		}
		if offset, err = PrintLog(logPath, offset, out); err != nil {
			return wrap(name, "start", err)
		}
		if !run {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StartForeground starts the container and shows its console from the
// start on: what the boot wrote to the console log so far, then the
// console itself, until the container stops (or the user detaches with
// Ctrl-a q, which leaves it running). When in is not a terminal (a
// script, a service manager) there is nothing to type: the console log is
// followed until the container stops. liblxc cannot start a container in
// the foreground from a threaded process (every Go program), so the
// start is the usual daemonised one; output written between the replay
// of the log and the attach can show twice.
func (m *Manager) StartForeground(ctx context.Context, name string, in, out *os.File) error {
	l, rec, err := m.begin(ctx, name, true)
	if err != nil {
		return err
	}
	logPath := lxc.ConsoleLog(m.Cfg.ContainersDir(), name)
	var offset int64
	if st, err := os.Stat(logPath); err == nil {
		offset = st.Size()
	}
	already, err := m.start(ctx, rec)
	l.Unlock()
	if err != nil {
		return err
	}
	if already {
		return wrap(name, "start", fmt.Errorf("%w (attach with 'nixcloud-container console %s')", ErrRunning, name))
	}
	if offset, err = PrintLog(logPath, offset, out); err != nil {
		return wrap(name, "start", err)
	}
	if pty.IsTerminal(in) {
		err = lxc.Console(m.Cfg.ContainersDir(), name, in, out)
		if err != nil && !errors.Is(err, lxc.ErrNotRunning) {
			return wrap(name, "console", err)
		}
	} else if err := m.followUntilStopped(ctx, name, logPath, offset, out); err != nil {
		return err
	}
	if run, err := m.running(name); err != nil || run {
		if err == nil {
			m.notify("detached from the console of container %q; it keeps running", name)
		}
		return err
	}
	// It stopped: its host side goes (as after stop), unless another verb
	// started it again meanwhile.
	l, rec, err = m.begin(ctx, name, false)
	if err != nil {
		return err
	}
	defer l.Unlock()
	if run, err := m.running(name); err != nil || run {
		return err
	}
	return errors.Join(m.networkAfterStop(rec), m.removeStore(name))
}
