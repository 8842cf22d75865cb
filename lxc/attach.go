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
	// When Stdin is a terminal (the slave of a container's pty), liblxc
	// makes it the controlling terminal of a new session for the command.
	Stdin, Stdout, Stderr *os.File
	// Signals are passed on to the command (a pty's own signals, such as
	// ^C typed on it, reach it through the pty anyway).
	Signals <-chan os.Signal
}

// attachHelperArg0 is the argv[0] under which the binary re-executes
// itself to attach one command: the helper runs in a session of its own,
// without controlling terminal, so the command never has the caller's
// (which it could reopen as /dev/tty to type into it).
const attachHelperArg0 = "nixcloud-container-lxc-attach"

// attachSpec is the helper's argument (JSON).
type attachSpec struct {
	LXCPath string   `json:"lxcpath"`
	Name    string   `json:"name"`
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	As      As       `json:"as"`
}

// As is who and where an attached command runs: its user and group ids
// inside the container (0: root) and its working folder ("" is /).
type As struct {
	UID int    `json:"uid"`
	GID int    `json:"gid"`
	Cwd string `json:"cwd,omitempty"`
}

// ErrCommandNotFound means the command of an attach does not exist in the
// container (or is not executable there); it exited 127.
var ErrCommandNotFound = errors.New("command not found")

// The helper reports on descriptor 3, one line: "status N" (N the raw
// wait status), "not-running" or "error MESSAGE".
const attachReportFd = 3

func init() {
	if len(os.Args) != 2 || os.Args[0] != attachHelperArg0 {
		return
	}
	unix.CloseOnExec(attachReportFd)
	// Descriptors the tool inherited from whoever started it (a wrapper's
	// terminal, say) must not reach the command: liblxc passes on every
	// descriptor that is not close-on-exec.
	closeInheritedOnExec()
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
	case errors.Is(err, ErrCommandNotFound):
		fmt.Fprintln(report, "not-found")
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
	// command) what the caller passes on.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	c, err := open(spec.LXCPath, spec.Name)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	if !c.Running() {
		return 0, ErrNotRunning
	}
	// The command's stdin goes to liblxc as a copy, never descriptor 0:
	// for descriptor 0 liblxc sets SIGINT and SIGQUIT to be ignored in
	// the caller (which would end passing them on), and only for another
	// descriptor that is a terminal does it make that terminal the
	// controlling terminal of a new session for the command (setsid,
	// TIOCSCTTY), as a pty needs for ^C, ^Z and job control.
	stdin, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return 0, fmt.Errorf("attach: %w", err)
	}
	defer unix.Close(stdin)
	opts := attachOptions(spec.Env, spec.As)
	opts.StdinFd, opts.StdoutFd, opts.StderrFd = uintptr(stdin), 1, 2
	pid, err := c.RunCommandNoWait(spec.Args, opts)
	if err != nil {
		return 0, fmt.Errorf("attach: %w", err)
	}
	go func() {
		for sig := range sigs {
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
	// liblxc's child exits 127 when it cannot exec the command, and says
	// so only in a log nobody sees: look the command up in the container
	// (only then, so a command that exists and exits 127 is left alone).
	if ws.Exited() && ws.ExitStatus() == 127 && !foundInGuest(c.InitPid(), spec) {
		return ws, ErrCommandNotFound
	}
	return ws, nil
}

// Attach runs args inside the running container as root with a clean
// environment env, connected as s says, and returns its wait status. The
// command runs in a new session: without s.Terminal it has no controlling
// terminal at all.
func Attach(lxcpath, name string, args, env []string, as As, s Session) (syscall.WaitStatus, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("attach: find own executable: %w", err)
	}
	spec, err := json.Marshal(attachSpec{LXCPath: lxcpath, Name: name, Args: args, Env: env, As: as})
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
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
	case line == "not-found":
		return syscall.WaitStatus(127 << 8), fmt.Errorf("%s: %w", args[0], ErrCommandNotFound)
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

func attachOptions(env []string, as As) liblxc.AttachOptions {
	opts := liblxc.DefaultAttachOptions
	opts.ClearEnv = true
	opts.Env = env
	opts.Cwd = as.Cwd
	if opts.Cwd == "" {
		opts.Cwd = "/"
	}
	opts.UID, opts.GID = as.UID, as.GID
	return opts
}

// foundInGuest reports whether the attached command exists in the
// container as an executable file: args[0] as a path (relative to the
// working folder) when it holds a slash, else in PATH of its environment.
// Paths resolve inside the container's root (symlinks included) through
// its init's root folder.
func foundInGuest(initPID int, spec attachSpec) bool {
	if initPID <= 0 || len(spec.Args) == 0 {
		return true // cannot tell: say nothing
	}
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", initPID), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(root)
	prog := spec.Args[0]
	cwd := spec.As.Cwd
	if cwd == "" {
		cwd = "/"
	}
	var candidates []string
	if strings.Contains(prog, "/") {
		if !strings.HasPrefix(prog, "/") {
			prog = cwd + "/" + prog
		}
		candidates = []string{prog}
	} else {
		path := "/usr/bin:/bin"
		for _, e := range spec.Env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				path = v
			}
		}
		for _, dir := range strings.Split(path, ":") {
			if dir == "" {
				dir = cwd
			}
			candidates = append(candidates, dir+"/"+prog)
		}
	}
	for _, p := range candidates {
		// Magic links (a guest symlink to /proc/self/root/...) would lead
		// out of the container, into this process' own root: refused
		// (RESOLVE_IN_ROOT implies it today; the kernel may change that).
		fd, err := unix.Openat2(root, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return true
		}
	}
	return false
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

// closeInheritedOnExec marks every descriptor above the report descriptor
// close-on-exec (close_range, Linux 5.11; else one by one).
func closeInheritedOnExec() {
	if unix.CloseRange(attachReportFd+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > attachReportFd {
			unix.CloseOnExec(fd)
		}
	}
}
