//go:build linux && cgo

package lxc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	liblxc "github.com/lxc/go-lxc"
)

// open returns a handle on a container; the caller releases it.
func open(lxcpath, name string) (*liblxc.Container, error) {
	c, err := liblxc.NewContainer(name, lxcpath)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return c, nil
}

func setConfigItem(c *liblxc.Container, key, value string) error {
	if err := c.SetConfigItem(key, value); err != nil {
		return fmt.Errorf("set %s = %s: %w", key, value, err)
	}
	return nil
}

// WriteConfig (re)defines the container: it replaces its LXC configuration
// with items and saves it to lxcpath/name/config. Every item goes through
// liblxc, so a key LXC does not know fails here, naming the item. When the
// saved configuration already is exactly items, nothing is written.
func WriteConfig(lxcpath, name string, items Items) error {
	path := filepath.Join(lxcpath, name, "config")
	if old, err := os.ReadFile(path); err == nil && string(old) == items.String() {
		return nil
	}
	c, err := open(lxcpath, name)
	if err != nil {
		return err
	}
	defer c.Release()
	c.ClearConfig()
	for _, it := range items {
		if err := setConfigItem(c, it.Key, it.Value); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
	}
	if err := c.SaveConfigFile(path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// stateLiblxc returns the container's state as liblxc says it and, when
// it runs, its init's host pid (-1 otherwise).
func stateLiblxc(lxcpath, name string) (string, int, error) {
	c, err := open(lxcpath, name)
	if err != nil {
		return "", -1, err
	}
	defer c.Release()
	if !c.Defined() {
		return "", -1, ErrNotDefined
	}
	st := c.State()
	if st != liblxc.RUNNING {
		return st.String(), -1, nil
	}
	return st.String(), c.InitPid(), nil
}

// InitPID returns the host pid of the container's init, or -1 when stopped.
func InitPID(lxcpath, name string) (int, error) {
	c, err := open(lxcpath, name)
	if err != nil {
		return -1, err
	}
	defer c.Release()
	return c.InitPid(), nil
}

// startHelperArg0 is the argv[0] under which the binary re-executes itself
// to start a container (see starthelper.c; the names there must match).
const startHelperArg0 = "nixcloud-container-lxc-start"

// startHelperRunning is the start helper's exit status for ErrRunning.
const startHelperRunning = 3

// Start starts the container in the background and waits until it runs.
//
// liblxc's daemonised start forks the calling process and the fork stays
// behind as the container's monitor. Forking a multi-threaded Go process
// leaves a child with one thread, a dead Go runtime still holding signal
// handlers, and whatever the caller had open; so, like Incus' forkstart,
// the start runs in a freshly executed copy of this binary that does
// nothing else: a C constructor (starthelper.c) starts the container
// before the Go runtime is even set up, so the monitor is a fork of a
// process that holds liblxc and nothing more.
func Start(lxcpath, name string, opts ...StartOption) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start: find own executable: %w", err)
	}
	cmd := exec.Command(self, lxcpath, name)
	cmd.Args[0] = startHelperArg0
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	for _, o := range opts {
		o(cmd)
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == startHelperRunning {
			return ErrRunning
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s%s", msg, logErrors(lxcpath, name))
	}
	return nil
}

// processStart bounds the lxc.log lines an error quotes: those of this
// invocation's start, not of earlier starts or runs.
var processStart = time.Now()

// lxcLogLine is one line of lxc.log: "lxc NAME 20261130061134.662 ERROR
// start - ../src/lxc/start.c:start:2197 - MESSAGE".
var lxcLogLine = regexp.MustCompile(`^lxc \S+ ([0-9]{14}\.[0-9]{3}) ERROR\s+\S+ - \S+ - (.*)$`)

// consequence are LXC's errors that follow from an earlier one.
var consequence = regexp.MustCompile(`An error occurred in another process|Failed to spawn container|Received container state|Failed to receive response|Failed to receive file descriptors|Failed to run lxc\.hook|Invalid argument - Failed to set up`)

// logErrors returns the ERROR messages LXC logged in lxc.log since this
// process started, the cause first (the errors that follow from it left
// out when there is one), for error messages.
func logErrors(lxcpath, name string) string {
	path := filepath.Join(lxcpath, name, "lxc.log")
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	since := processStart.UTC().Truncate(time.Millisecond).Format("20060102150405.000")
	var causes, others []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := lxcLogLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] < since {
			continue
		}
		switch {
		case consequence.MatchString(m[2]):
			others = append(others, m[2])
		case !slices.Contains(causes, m[2]):
			causes = append(causes, m[2])
		}
	}
	lines := causes
	if len(lines) == 0 {
		lines = others
	}
	if len(lines) > 3 {
		lines = lines[:3]
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, "; ") + " (" + path + ")"
}

// Stop asks the guest's init to shut down (LXC's halt signal) and kills the
// container if it has not stopped after timeout.
func Stop(lxcpath, name string, timeout time.Duration) (clean bool, err error) {
	c, err := open(lxcpath, name)
	if err != nil {
		return false, err
	}
	defer c.Release()
	if !c.Running() {
		return false, ErrNotRunning
	}
	if timeout > 0 {
		// liblxc takes whole seconds; round up so a short timeout still waits.
		secs := (timeout + time.Second - 1) / time.Second * time.Second
		if err := c.Shutdown(secs); err == nil {
			return true, nil
		}
	}
	if err := c.Stop(); err != nil && c.Running() {
		return false, fmt.Errorf("kill: %w", err)
	}
	return false, nil
}

// Kill stops the container at once (SIGKILL to its init).
func Kill(lxcpath, name string) error {
	c, err := open(lxcpath, name)
	if err != nil {
		return err
	}
	defer c.Release()
	if !c.Running() {
		return ErrNotRunning
	}
	if err := c.Stop(); err != nil && c.Running() {
		return fmt.Errorf("kill: %w", err)
	}
	return nil
}

// Destroy removes a stopped container's LXC definition and rootfs.
func Destroy(lxcpath, name string) error {
	c, err := open(lxcpath, name)
	if err != nil {
		return err
	}
	defer c.Release()
	if !c.Defined() {
		return ErrNotDefined
	}
	if c.Running() {
		return ErrRunning
	}
	if err := c.Destroy(); err != nil {
		return fmt.Errorf("destroy: %w", err)
	}
	return nil
}
