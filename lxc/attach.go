//go:build linux && cgo

package lxc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	liblxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"
)

// Session is how a command attached to a container is connected. The
// descriptors are handed to the command as they are: callers make sure
// none of them is a host terminal (relay through a pipe or a pty of the
// container's own). A nil descriptor is /dev/null.
type Session struct {
	Stdin, Stdout, Stderr *os.File
	// Terminal: Stdin is the slave of a pty, which becomes the command's
	// controlling terminal.
	Terminal bool
	// Signals are passed on to the command (a pty's own signals, such as
	// ^C typed on it, reach it through the pty anyway).
	Signals <-chan os.Signal
}

// attachHelperArg0 is the argv[0] under which the binary re-executes
// itself to attach one command: the helper runs in a session of its own,
// so the command never has the caller's controlling terminal (which it
// could reopen as /dev/tty), and with Session.Terminal its session's
// terminal is the pty.
const attachHelperArg0 = "nixcloud-container-lxc-attach"

// attachSpec is the helper's argument (JSON).
type attachSpec struct {
	LXCPath  string   `json:"lxcpath"`
	Name     string   `json:"name"`
	Args     []string `json:"args"`
	Env      []string `json:"env"`
	Terminal bool     `json:"terminal"`
}

// The helper reports on descriptor 3, one line: "status N" (N the raw
// wait status), "not-running" or "error MESSAGE".
const attachReportFd = 3

func init() {
	if len(os.Args) != 2 || os.Args[0] != attachHelperArg0 {
		return
	}
	unix.CloseOnExec(attachReportFd)
	report := os.NewFile(attachReportFd, "report")
	var spec attachSpec
	if err := json.Unmarshal([]byte(os.Args[1]), &spec); err != nil {
		fmt.Fprintf(report, "error %v\n", err)
		os.Exit(1)
	}
	ws, err := attachInProcess(spec)
	switch {
	case errors.Is(err, ErrNotRunning):
		fmt.Fprintln(report, "not-running")
	case err != nil:
		fmt.Fprintf(report, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	default:
		fmt.Fprintf(report, "status %d\n", uint32(ws))
	}
	os.Exit(0)
}

// attachInProcess is what the helper runs: attach the command with the
// helper's standard descriptors, pass signals on, wait for it.
func attachInProcess(spec attachSpec) (syscall.WaitStatus, error) {
	// Catch (never ignore: an ignored signal would stay ignored in the
	// command) what reaches the helper. With a pty, the helper shares the
	// pty's foreground process group with the command, so characters
	// typed there signal both: the command has them already, and the
	// helper must not stop on ^Z.
	sigs := make(chan os.Signal, 8)
	typed := []os.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU}
	signal.Notify(sigs, append(typed, syscall.SIGTERM, syscall.SIGHUP)...)
	c, err := open(spec.LXCPath, spec.Name)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	if !c.Running() {
		return 0, ErrNotRunning
	}
	opts := attachOptions(spec.Env)
	opts.StdinFd, opts.StdoutFd, opts.StderrFd = 0, 1, 2
	pid, err := c.RunCommandNoWait(spec.Args, opts)
	if err != nil {
		return 0, fmt.Errorf("attach: %w", err)
	}
	go func() {
		for sig := range sigs {
			if spec.Terminal && slices.Contains(typed, sig) {
				continue
			}
			syscall.Kill(pid, sig.(syscall.Signal))
		}
	}()
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("attach: wait: %w", err)
	}
	return ws, nil
}

// Attach runs args inside the running container as root with a clean
// environment env, connected as s says, and returns its wait status. The
// command runs in a new session: without s.Terminal it has no controlling
// terminal at all.
func Attach(lxcpath, name string, args, env []string, s Session) (syscall.WaitStatus, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("attach: find own executable: %w", err)
	}
	spec, err := json.Marshal(attachSpec{LXCPath: lxcpath, Name: name, Args: args, Env: env, Terminal: s.Terminal})
	if err != nil {
		return 0, fmt.Errorf("attach: %w", err)
	}
	rep, repw, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("attach: %w", err)
	}
	defer rep.Close()
	cmd := exec.Command(self, string(spec))
	cmd.Args[0] = attachHelperArg0
	cmd.Env = []string{}
	// Only *os.File values (or nil) go to exec, so the helper gets the
	// descriptors themselves and no copying goroutine of exec's.
	if s.Stdin != nil {
		cmd.Stdin = s.Stdin
	}
	if s.Stdout != nil {
		cmd.Stdout = s.Stdout
	}
	if s.Stderr != nil {
		cmd.Stderr = s.Stderr
	}
	cmd.ExtraFiles = []*os.File{repw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: s.Terminal, Ctty: 0}
	err = cmd.Start()
	repw.Close()
	if err != nil {
		return 0, fmt.Errorf("attach: start helper: %w", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case sig := <-s.Signals:
				cmd.Process.Signal(sig)
			case <-stop:
				return
			}
		}
	}()
	line, _ := bufio.NewReader(rep).ReadString('\n')
	io.Copy(io.Discard, rep)
	werr := cmd.Wait()
	line = strings.TrimSpace(line)
	switch {
	case line == "not-running":
		return 0, ErrNotRunning
	case strings.HasPrefix(line, "error "):
		return 0, errors.New(strings.TrimPrefix(line, "error "))
	case strings.HasPrefix(line, "status "):
		n, err := strconv.ParseUint(strings.TrimPrefix(line, "status "), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("attach: helper reported %q", line)
		}
		return syscall.WaitStatus(n), nil
	}
	return 0, fmt.Errorf("attach: helper ended without a report: %v", werr)
}

func attachOptions(env []string) liblxc.AttachOptions {
	opts := liblxc.DefaultAttachOptions
	opts.ClearEnv = true
	opts.Env = env
	opts.Cwd = "/"
	return opts
}

// Devpts returns a descriptor of the running container's devpts instance
// (the /dev/pts the guest sees), from liblxc. Ptys made there are the
// container's own.
func Devpts(lxcpath, name string) (*os.File, error) {
	c, err := open(lxcpath, name)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	if !c.Running() {
		return nil, ErrNotRunning
	}
	f, err := c.DevptsFd()
	if err != nil {
		return nil, fmt.Errorf("devpts of the container (lxc.pty.max must be above 0): %w", err)
	}
	return f, nil
}
