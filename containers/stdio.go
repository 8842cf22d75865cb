package containers

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/nixcloud/nixcloud-container/internal/pty"
	"github.com/nixcloud/nixcloud-container/internal/revert"
	"github.com/nixcloud/nixcloud-container/lxc"
)

// TerminalMode says whether a command run in a container gets a pty.
type TerminalMode int

const (
	// TerminalAuto: a pty when standard input and output are terminals
	// (an interactive session), else pipes, so that output redirected to
	// a file stays byte-exact.
	TerminalAuto TerminalMode = iota
	// TerminalOn: always a pty (run -t).
	TerminalOn
	// TerminalOff: never a pty (run -T).
	TerminalOff
)

// Stdio is what a command run in a container reads and writes. A nil
// descriptor is /dev/null. A host terminal is never handed to the
// container: with a pty the command gets one of the container's own,
// relayed to Stdin/Stdout; without, each descriptor that is a terminal is
// relayed through a pipe. Other descriptors (pipes, files) are passed as
// they are.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
	Terminal              TerminalMode
}

// usePty decides the mode.
func (s Stdio) usePty() bool {
	switch s.Terminal {
	case TerminalOn:
		return true
	case TerminalOff:
		return false
	}
	return pty.IsTerminal(s.Stdin) && pty.IsTerminal(s.Stdout)
}

// attach runs args in the container connected to stdio, as opts say, and
// returns its wait status. uidBase is the host uid of the container's
// root; the pty goes to the command's user.
func (m *Manager) attach(name string, uidBase uint32, args []string, stdio Stdio, opts RunOptions) (syscall.WaitStatus, error) {
	if stdio.usePty() {
		return m.attachPty(name, uidBase, args, stdio, opts)
	}
	return m.attachPipes(name, args, stdio, opts)
}

// attachPty runs args on a new pty from the container's devpts, relayed
// to stdio.Stdin/Stdout (raw mode when Stdin is a terminal). Standard
// error goes through the pty too, as on any terminal.
func (m *Manager) attachPty(name string, uidBase uint32, args []string, stdio Stdio, opts RunOptions) (syscall.WaitStatus, error) {
	devpts, err := lxc.Devpts(m.Cfg.ContainersDir(), name)
	if err != nil {
		return 0, err
	}
	master, slave, err := pty.OpenIn(devpts)
	devpts.Close()
	if err != nil {
		return 0, err
	}
	defer slave.Close()
	// The pty belongs to the command's user (its group is devpts' gid=5,
	// the guest's tty group), so the command may reopen it.
	if err := slave.Chown(int(uidBase)+opts.UID, -1); err != nil {
		master.Close()
		return 0, fmt.Errorf("pty owner: %w", err)
	}
	in, out := stdio.Stdin, stdio.Stdout
	if in == nil {
		in = devNull()
	}
	if out == nil {
		out = devNullW()
	}
	sess, err := pty.Relay(in, out, master)
	if err != nil {
		master.Close()
		return 0, err
	}
	// The terminal goes back to its old mode whatever happens, also when
	// a signal ends us: those are caught and passed on while this runs.
	defer sess.Restore()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	fwd := make(chan os.Signal, 4)
	go func() {
		for sig := range sigs {
			// ^C and ^\ typed by the admin reach the command through
			// the pty (ours is in raw mode, so they signal nobody here);
			// SIGTERM, SIGINT and SIGHUP sent to the tool are passed on
			// (kill, a supervisor, a closed session).
			if sig == syscall.SIGTERM || sig == syscall.SIGHUP || sig == syscall.SIGINT {
				fwd <- sig
			}
		}
	}()
	ws, err := lxc.Attach(m.Cfg.ContainersDir(), name, args, opts.env(termOf()), opts.as(), lxc.Session{
		Stdin: slave, Stdout: slave, Stderr: slave, Signals: fwd,
	})
	// Our copy of the slave must go before the output can end.
	slave.Close()
	sess.Finish()
	return ws, err
}

// termOf is TERM for the guest.
func termOf() string {
	if t := os.Getenv("TERM"); t != "" {
		return t
	}
	return "xterm"
}

// attachPipes runs args with pipes: descriptors that are terminals are
// relayed through pipes, others passed as they are.
func (m *Manager) attachPipes(name string, args []string, stdio Stdio, opts RunOptions) (_ syscall.WaitStatus, retErr error) {
	r := revert.New()
	defer r.Fail()
	sess := lxc.Session{Stdin: stdio.Stdin, Stdout: stdio.Stdout, Stderr: stdio.Stderr}
	var outputs []*pty.Pipe
	if pty.IsTerminal(stdio.Stdin) {
		p, err := pty.PipeFrom(stdio.Stdin)
		if err != nil {
			return 0, err
		}
		r.Add(p.CloseTheirs)
		sess.Stdin = p.Theirs
	}
	// stdout and stderr on the same terminal share one pipe, which keeps
	// their order.
	relays := map[*os.File]*pty.Pipe{}
	for _, f := range []**os.File{&sess.Stdout, &sess.Stderr} {
		if !pty.IsTerminal(*f) {
			continue
		}
		if p, ok := relays[*f]; ok {
			*f = p.Theirs
			continue
		}
		p, err := pty.PipeTo(*f)
		if err != nil {
			return 0, err
		}
		r.Add(p.CloseTheirs)
		r.Add(p.Finish)
		relays[*f] = p
		outputs = append(outputs, p)
		*f = p.Theirs
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	sess.Signals = sigs
	ws, err := lxc.Attach(m.Cfg.ContainersDir(), name, args, opts.env(os.Getenv("TERM")), opts.as(), sess)
	r.Success()
	// The command and its helper have ended: close our copies of the
	// command's ends, then copy out what the pipes hold.
	if sess.Stdin != stdio.Stdin {
		sess.Stdin.Close()
	}
	for _, p := range outputs {
		p.CloseTheirs()
		p.Finish()
	}
	return ws, err
}

var (
	devNullOnce          sync.Once
	devNullR, devNullWFd *os.File
)

func openDevNull() {
	devNullR, _ = os.Open(os.DevNull)
	devNullWFd, _ = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
}

// devNull is /dev/null for reading: input of commands that get none.
func devNull() *os.File {
	devNullOnce.Do(openDevNull)
	return devNullR
}

// devNullW is /dev/null for writing.
func devNullW() *os.File {
	devNullOnce.Do(openDevNull)
	return devNullWFd
}
