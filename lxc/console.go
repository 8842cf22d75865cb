//go:build linux && cgo

package lxc

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	liblxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"
)

// ConsoleEscape is the detach key's prefix: Ctrl-a, then q detaches (as
// lxc-console); Ctrl-a Ctrl-a types a Ctrl-a.
const ConsoleEscape = 'a'

// Console connects in and out to the running container's console (tty
// 0) until the user detaches (Ctrl-a q) or the container stops. When in
// is a terminal, liblxc puts it in raw mode and restores it afterwards.
// Only the console's host side (a pty master LXC's monitor holds) is
// relayed: the container never gets the caller's descriptors.
func Console(lxcpath, name string, in, out *os.File) error {
	c, err := open(lxcpath, name)
	if err != nil {
		return err
	}
	defer c.Release()
	if !c.Running() {
		return ErrNotRunning
	}
	opts := liblxc.ConsoleOptions{
		Tty:     0,
		StdinFd: in.Fd(), StdoutFd: out.Fd(), StderrFd: out.Fd(),
		// liblxc wants the control character itself (lxc-console's -e a
		// is 1), not the letter.
		EscapeCharacter: ConsoleEscape - 'a' + 1,
	}
	// liblxc restores the terminal when the console ends, but a signal
	// that ends this process first would leave it raw: restore it then.
	if tio, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS); err == nil {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
		done := make(chan struct{})
		defer func() { signal.Stop(sigs); close(done) }()
		go func() {
			select {
			case sig := <-sigs:
				unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, tio)
				signal.Reset(sig)
				syscall.Kill(os.Getpid(), sig.(syscall.Signal))
			case <-done:
			}
		}()
	}
	if err := c.Console(opts); err != nil {
		return fmt.Errorf("liblxc: %w (see %s)", err, LXCLog(lxcpath, name))
	}
	return nil
}

// ConsoleLog is the file the container's console output is logged to.
func ConsoleLog(lxcpath, name string) string { return filepath.Join(lxcpath, name, "console.log") }

// LXCLog is LXC's own log of the container.
func LXCLog(lxcpath, name string) string { return filepath.Join(lxcpath, name, "lxc.log") }
