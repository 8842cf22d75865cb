package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// adminTerm is a pty the test owns, standing for the admin's terminal:
// the tool runs with the slave as its controlling terminal, the test
// types on and reads from the master.
type adminTerm struct {
	t             *testing.T
	master, slave *os.File
	mu            sync.Mutex
	grew          *sync.Cond
	out           bytes.Buffer
	ended         bool
	done          chan struct{}
}

func newAdminTerm(t *testing.T, rows, cols uint16) *adminTerm {
	t.Helper()
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		t.Fatal(errno)
	}
	if err := unix.IoctlSetWinsize(int(sfd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	a := &adminTerm{t: t, master: os.NewFile(uintptr(mfd), "ptmx"), slave: os.NewFile(sfd, "pts"), done: make(chan struct{})}
	a.grew = sync.NewCond(&a.mu)
	// Read the master all along, so the tool never blocks on output.
	go func() {
		defer close(a.done)
		buf := make([]byte, 4096)
		for {
			n, err := a.master.Read(buf)
			a.mu.Lock()
			a.out.Write(buf[:n])
			a.ended = err != nil
			a.grew.Broadcast()
			a.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		a.slave.Close()
		a.master.Close()
	})
	return a
}

// output is all the terminal showed so far. It first takes what the pty
// holds right now: a non-blocking read of a pty master sees everything
// written before it.
func (a *adminTerm) output() string {
	a.master.SetReadDeadline(time.Now())
	<-a.done
	rc, _ := a.master.SyscallConn()
	rc.Control(func(fd uintptr) {
		buf := make([]byte, 4096)
		for {
			n, err := unix.Read(int(fd), buf)
			if n <= 0 || err != nil {
				return
			}
			a.out.Write(buf[:n])
		}
	})
	return a.out.String()
}

// waitFor blocks until the terminal has shown want (false if reading
// ended first).
func (a *adminTerm) waitFor(want string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for !strings.Contains(a.out.String(), want) {
		if a.ended {
			return false
		}
		a.grew.Wait()
	}
	return true
}

// pendingInput is what the admin's shell would read next: input queued on
// the terminal (TIOCSTI puts its bytes there).
func (a *adminTerm) pendingInput() string {
	a.t.Helper()
	fd := int(a.slave.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		a.t.Fatal(err)
	}
	raw := *tio
	raw.Lflag &^= unix.ICANON | unix.ECHO
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 0, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		a.t.Fatal(err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, tio)
	var in []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if n <= 0 || err != nil {
			return string(in)
		}
		in = append(in, buf[:n]...)
	}
}

// runOn runs the tool on the terminal: stdout and stderr are the slave,
// stdin too unless given; the slave is the tool's controlling terminal,
// as under an admin's login shell.
func (h *host) runOn(a *adminTerm, stdin *os.File, args ...string) int {
	h.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.netns, "sh", "-ec", cgroupMounts + `exec "$0" "$@"`, binary}, args...)...)
	cmd.Env = append(os.Environ(), "NIXCLOUD_CONTAINER_HOST_CONFIG="+h.config, "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.slave, a.slave, a.slave
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1}
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		h.t.Fatalf("run %v: %v", args, err)
	}
	return 0
}

// The attack: a command run in a container pushes input into the
// terminal it was handed (TIOCSTI), to be read by the admin's root shell
// after run returns.
func TestRunTerminalInjection(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", h.busyboxFile("c.nix", "", probeMount()))
	const attack = "echo PWNED > /tmp/x\n"
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for _, tc := range []struct {
		name  string
		stdin *os.File // nil: the terminal
		flags []string
	}{
		{"stdin a terminal", nil, nil},
		{"stdin a terminal, -T", nil, []string{"-T"}},
		{"stdin /dev/null, output a terminal", devNull, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdminTerm(t, 24, 80)
			args := append(append([]string{"run", "c"}, tc.flags...), "--", "/probe/probe", "tiocsti", attack)
			code := h.runOn(a, tc.stdin, args...)
			out := a.output()
			if code != 0 || !strings.Contains(out, "fd0 ") {
				t.Fatalf("run: exit %d, output %q", code, out)
			}
			if in := a.pendingInput(); in != "" {
				t.Errorf("the container typed %q into the admin's terminal (probe: %q)", in, out)
			}
		})
	}
}

// login: the shell's terminal is a pty of the container's devpts, so
// tty names it.
func TestLoginTerminal(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	a := newAdminTerm(t, 24, 80)
	if _, err := a.master.Write([]byte("tty; exit 3\n")); err != nil {
		t.Fatal(err)
	}
	code := h.runOn(a, nil, "login", "c")
	out := a.output()
	if code != 3 {
		t.Fatalf("login: exit %d, want the shell's 3; output %q", code, out)
	}
	if !regexp.MustCompile(`(?m)^/dev/pts/\d+\r?$`).MatchString(out) {
		t.Errorf("tty in the login shell does not name a /dev/pts device: %q", out)
	}
	checkRestored(t, a)
}

// checkRestored fails unless the terminal is back in canonical mode with
// echo, as it was before.
func checkRestored(t *testing.T, a *adminTerm) {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(a.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&(unix.ICANON|unix.ECHO) != unix.ICANON|unix.ECHO || tio.Oflag&unix.OPOST == 0 {
		t.Errorf("terminal left in raw mode: lflag %#x oflag %#x", tio.Lflag, tio.Oflag)
	}
}

func TestRunTerminalModes(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())

	t.Run("pty with -t", func(t *testing.T) {
		a := newAdminTerm(t, 37, 111)
		code := h.runOn(a, nil, "run", "-t", "c", "--", "sh", "-c", "stty size; tty; echo reopened > $(tty); exit 5")
		out := a.output()
		if code != 5 {
			t.Errorf("exit %d, want 5; output %q", code, out)
		}
		if !strings.Contains(out, "reopened") {
			t.Errorf("the guest cannot reopen its pty: %q", out)
		}
		if !strings.Contains(out, "37 111") {
			t.Errorf("stty size does not show the admin terminal's 37 111: %q", out)
		}
		if !regexp.MustCompile(`(?m)^/dev/pts/\d+\r?$`).MatchString(out) {
			t.Errorf("tty does not name a /dev/pts device: %q", out)
		}
		checkRestored(t, a)
	})
	t.Run("window size follows the terminal", func(t *testing.T) {
		a := newAdminTerm(t, 24, 80)
		codec := make(chan int, 1)
		go func() {
			codec <- h.runOn(a, nil, "run", "c", "--", "sh", "-c", "trap 'stty size; exit 6' WINCH; echo ready; while :; do sleep 0.1; done")
		}()
		if !a.waitFor("ready") {
			t.Fatalf("no ready: %q", a.output())
		}
		// The admin resizes the window: the kernel sends SIGWINCH to the
		// tool, which resizes the container's pty, whose SIGWINCH ends
		// the command.
		if err := unix.IoctlSetWinsize(int(a.slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 51, Col: 132}); err != nil {
			t.Fatal(err)
		}
		code := <-codec
		out := a.output()
		if code != 6 || !strings.Contains(out, "51 132") {
			t.Errorf("exit %d (want 6), output %q (want 51 132)", code, out)
		}
		checkRestored(t, a)
	})
	// ^C typed by the admin: on a pty it is the pty's, with pipes the
	// tool gets SIGINT and passes it on.
	for _, flags := range [][]string{nil, {"-T"}} {
		t.Run(fmt.Sprintf("interrupt %v", flags), func(t *testing.T) {
			a := newAdminTerm(t, 24, 80)
			codec := make(chan int, 1)
			go func() {
				args := append(append([]string{"run"}, flags...), "c", "--", "sh", "-c", "echo ready; exec sleep 1000")
				codec <- h.runOn(a, nil, args...)
			}()
			if !a.waitFor("ready") {
				t.Fatalf("no ready: %q", a.output())
			}
			if _, err := a.master.Write([]byte{3}); err != nil {
				t.Fatal(err)
			}
			if code := <-codec; code != 128+2 {
				t.Errorf("exit %d, want 130; output %q", code, a.output())
			}
			checkRestored(t, a)
		})
	}
	t.Run("pty by default, killed by a signal", func(t *testing.T) {
		a := newAdminTerm(t, 24, 80)
		code := h.runOn(a, nil, "run", "c", "--", "sh", "-c", "tty; kill -9 $$")
		out := a.output()
		if code != 128+9 {
			t.Errorf("exit %d, want 137; output %q", code, out)
		}
		if !strings.Contains(out, "/dev/pts/") {
			t.Errorf("no pty by default under a terminal: %q", out)
		}
		checkRestored(t, a)
	})
	t.Run("pipes when output is not a terminal", func(t *testing.T) {
		a := newAdminTerm(t, 24, 80)
		out, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd := exec.Command("ip", "netns", "exec", h.netns, "sh", "-ec", cgroupMounts+`exec "$0" "$@"`, binary, "run", "c", "--", "sh", "-c", "printf 'a\\nb'; tty")
		cmd.Env = append(os.Environ(), "NIXCLOUD_CONTAINER_HOST_CONFIG="+h.config)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = a.slave, out, a.slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		err = cmd.Run()
		data, _ := os.ReadFile(out.Name())
		if err == nil || string(data) != "a\nbnot a tty\n" {
			t.Errorf("run > file: %v (want exit 1 from tty), file %q", err, data)
		}
	})
	t.Run("pipes with -T", func(t *testing.T) {
		a := newAdminTerm(t, 24, 80)
		code := h.runOn(a, nil, "run", "-T", "c", "--", "sh", "-c", "tty; exit 4")
		out := a.output()
		if code != 4 || !strings.Contains(out, "not a tty") {
			t.Errorf("exit %d (want 4), output %q (want not a tty)", code, out)
		}
	})
	t.Run("pty with -t and a pipe as stdin", func(t *testing.T) {
		r := h.runStdin("hello\n", "run", "-t", "c", "--", "sh", "-c", "read l; echo got:$l; tty")
		if r.code != 0 || !strings.Contains(r.stdout, "got:hello") || !strings.Contains(r.stdout, "/dev/pts/") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("pipes are byte-exact", func(t *testing.T) {
		var data []byte
		for i := 0; i < 70000; i++ {
			data = append(data, byte(i*7), byte(i))
		}
		data = append(data, "\r\n\x03\x04\x1a\x00"...)
		r := h.runStdin(string(data), "run", "c", "--", "cat")
		if r.code != 0 || r.stdout != string(data) {
			t.Errorf("cat: exit %d, %d bytes back of %d, equal %v; stderr %q", r.code, len(r.stdout), len(data), r.stdout == string(data), r.stderr)
		}
		if r := h.run("run", "c", "--", "sh", "-c", "kill -9 $$"); r.code != 137 {
			t.Errorf("killed by signal 9 with pipes: exit %d, want 137", r.code)
		}
	})
}
