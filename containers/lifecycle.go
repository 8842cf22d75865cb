package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/internal/pty"
	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
)

// ErrRunning means the container runs and the operation needs it stopped.
var ErrRunning = errors.New("container is running")

// ErrNotRunning means the operation needs a running container.
var ErrNotRunning = errors.New("container is not running")

// current returns the record, the current generation and its settings.
func (m *Manager) current(name string) (*records.Record, generations.Generation, *generations.Settings, error) {
	rec, err := m.load(name)
	if err != nil {
		return nil, generations.Generation{}, nil, err
	}
	gen, err := m.profile(name, generations.Nix{}).Current()
	if err != nil {
		return nil, generations.Generation{}, nil, wrap(name, "profile", err)
	}
	settings, err := gen.Settings()
	if err != nil {
		return nil, generations.Generation{}, nil, wrap(name, "profile", err)
	}
	return rec, gen, settings, nil
}

// State returns LXC's word for the container's state.
func (m *Manager) State(name string) (string, error) {
	if _, err := m.load(name); err != nil {
		return "", err
	}
	st, err := lxc.State(m.Cfg.ContainersDir(), name)
	if err != nil {
		return "", wrap(name, "state", err)
	}
	return st, nil
}

func (m *Manager) running(name string) (bool, error) {
	st, err := lxc.State(m.Cfg.ContainersDir(), name)
	if err != nil {
		return false, wrap(name, "state", err)
	}
	return st != "STOPPED", nil
}

// Start renders the container's LXC configuration from its record and
// current generation, prepares the host network and starts it.
func (m *Manager) Start(ctx context.Context, name string) error {
	rec, settings, err := m.prepareStart(name)
	if err != nil {
		return err
	}
	err = lxc.Start(m.Cfg.ContainersDir(), rec.Name)
	if errors.Is(err, lxc.ErrRunning) {
		return wrap(name, "start", ErrRunning)
	}
	if err != nil {
		// It may still come up (a start that timed out): make sure it
		// does not run half set up.
		return m.killFailedStart(rec, wrap(name, "start", err))
	}
	return m.afterStart(rec, settings)
}

// afterStart finishes the host network of a started container; when that
// fails the container is stopped again, so a start either works or leaves
// nothing running.
func (m *Manager) afterStart(rec *records.Record, settings *generations.Settings) error {
	err := m.networkAfterStart(rec, settings)
	if err == nil {
		return nil
	}
	err = m.killFailedStart(rec, err)
	if ferr := m.networkAfterStop(rec); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return err
}

// killFailedStart kills a container whose start failed with err and
// returns err, joined with the kill's own failure if any.
func (m *Manager) killFailedStart(rec *records.Record, err error) error {
	if kerr := lxc.Kill(m.Cfg.ContainersDir(), rec.Name); kerr != nil && !errors.Is(kerr, lxc.ErrNotRunning) {
		err = errors.Join(err, wrap(rec.Name, "stop after failed start", kerr))
	}
	return err
}

// StartForeground starts the container attached to the terminal and
// returns when it stops.
func (m *Manager) StartForeground(name string) error {
	rec, settings, err := m.prepareStart(name)
	if err != nil {
		return err
	}
	var netErr error
	err = lxc.StartForeground(m.Cfg.ContainersDir(), rec.Name, func() {
		netErr = m.afterStart(rec, settings)
	})
	if ferr := m.networkAfterStop(rec); ferr != nil && netErr == nil {
		netErr = ferr
	}
	if err != nil {
		return wrap(name, "start", err)
	}
	return netErr
}

// prepareStart brings the record's interfaces in line with the current
// generation's settings, readies the host network, resets an ephemeral
// rootfs and writes the LXC configuration.
func (m *Manager) prepareStart(name string) (*records.Record, *generations.Settings, error) {
	rec, _, settings, err := m.current(name)
	if err != nil {
		return nil, nil, err
	}
	lxcArgs, err := lxc.ParseRawItems(rec.LXCArgs, m.Cfg.AllowPrivilegedLXCItems)
	if err != nil {
		return nil, nil, wrap(name, "-l", err)
	}
	if err := m.checkSettings(settings); err != nil {
		return nil, nil, wrap(name, "container file", err)
	}
	running, err := m.running(name)
	if err != nil {
		return nil, nil, err
	}
	if running {
		return nil, nil, wrap(name, "start", ErrRunning)
	}
	if err := m.planNetwork(rec, settings, false); err != nil {
		return nil, nil, err
	}
	if err := m.checkForwards(rec, settings); err != nil {
		return nil, nil, err
	}
	if err := m.networkBeforeStart(rec); err != nil {
		return nil, nil, err
	}
	if settings.Ephemeral {
		if err := m.resetRootfs(rec); err != nil {
			return nil, nil, err
		}
	}
	if err := m.writeConfig(rec, settings, lxcArgs); err != nil {
		return nil, nil, err
	}
	return rec, settings, nil
}

// resetRootfs gives an ephemeral container a fresh, empty rootfs before it
// starts. Bind mounts live outside the rootfs and keep their data; so does
// everything the generation provides (it comes from the store).
func (m *Manager) resetRootfs(rec *records.Record) error {
	if err := os.RemoveAll(m.rootfs(rec.Name)); err != nil {
		return wrap(rec.Name, "reset ephemeral rootfs", err)
	}
	if err := m.makeRootfs(rec); err != nil {
		return wrap(rec.Name, "reset ephemeral rootfs", err)
	}
	return nil
}

// Stop asks the guest to shut down and kills it after timeout. It reports
// whether the shutdown was clean.
func (m *Manager) Stop(name string, timeout time.Duration) (bool, error) {
	rec, err := m.load(name)
	if err != nil {
		return false, err
	}
	clean, err := lxc.Stop(m.Cfg.ContainersDir(), name, timeout)
	if errors.Is(err, lxc.ErrNotRunning) {
		// It stopped by itself: its forwards go all the same.
		return false, errors.Join(wrap(name, "stop", ErrNotRunning), m.networkAfterStop(rec))
	}
	if err != nil {
		return false, wrap(name, "stop", err)
	}
	return clean, m.networkAfterStop(rec)
}

// Terminate kills the container now.
func (m *Manager) Terminate(name string) error {
	rec, err := m.load(name)
	if err != nil {
		return err
	}
	err = lxc.Kill(m.Cfg.ContainersDir(), name)
	if errors.Is(err, lxc.ErrNotRunning) {
		return errors.Join(wrap(name, "terminate", ErrNotRunning), m.networkAfterStop(rec))
	}
	if err != nil {
		return wrap(name, "terminate", err)
	}
	return m.networkAfterStop(rec)
}

// Restart stops the container if it runs and starts it again.
func (m *Manager) Restart(ctx context.Context, name string, timeout time.Duration) error {
	if _, err := m.Stop(name, timeout); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return m.Start(ctx, name)
}

// guestPath is PATH for commands run in the guest: NixOS' system paths,
// then the generation's own bin folders (enough for busybox guests).
const guestPath = "/run/wrappers/bin:/run/current-system/sw/bin:" +
	lxc.GuestProfileDir + "/system/sw/bin:" + lxc.GuestProfileDir + "/system/bin:" +
	"/usr/bin:/bin:/usr/sbin:/sbin"

func guestEnv(term string) []string {
	env := []string{"PATH=" + guestPath, "HOME=/root", "USER=root", "LOGNAME=root"}
	if term != "" {
		env = append(env, "TERM="+term)
	}
	return env
}

// Run runs args in the container connected to stdio (see Stdio) and
// returns its exit status (128+signal when killed by a signal, as shells
// do).
func (m *Manager) Run(name string, args []string, stdio Stdio) (int, error) {
	rec, err := m.load(name)
	if err != nil {
		return 0, err
	}
	if len(args) == 0 {
		return 0, wrap(name, "run", errors.New("no command given"))
	}
	ws, err := m.attach(name, rec.UIDBase, args, stdio)
	if errors.Is(err, lxc.ErrNotRunning) {
		return 0, wrap(name, "run", ErrNotRunning)
	}
	if err != nil {
		return 0, wrap(name, "run", err)
	}
	return exitCode(ws), nil
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Destroy removes the container and everything the tool made for it. A
// running container is refused unless force, which kills it first.
func (m *Manager) Destroy(name string, force bool) error {
	rec, err := m.Store.Load(name)
	if err != nil {
		return err
	}
	dir := m.Cfg.ContainersDir()
	st, err := lxc.State(dir, name)
	defined := !errors.Is(err, lxc.ErrNotDefined)
	if err != nil && defined {
		return wrap(name, "state", err)
	}
	if defined && st != "STOPPED" {
		if !force {
			return wrap(name, "destroy", fmt.Errorf("%w (stop it first, or use --force)", ErrRunning))
		}
		if err := lxc.Kill(dir, name); err != nil && !errors.Is(err, lxc.ErrNotRunning) {
			return wrap(name, "destroy: kill", err)
		}
	}
	if err := m.networkDestroy(rec); err != nil {
		return err
	}
	if err := m.profile(name, generations.Nix{}).Remove(); err != nil {
		return wrap(name, "destroy", err)
	}
	if defined {
		if err := lxc.Destroy(dir, name); err != nil && !errors.Is(err, lxc.ErrNotDefined) {
			return wrap(name, "destroy", err)
		}
	}
	unlock, err := m.Store.Lock()
	if err != nil {
		return wrap(name, "destroy", err)
	}
	defer unlock()
	if err := os.RemoveAll(m.Store.ContainerDir(rec.Name)); err != nil {
		return wrap(name, "destroy: remove folder", err)
	}
	return nil
}

// Info is one line of `list`.
type Info struct {
	Name       string   `json:"name"`
	State      string   `json:"state"`
	Addresses  []string `json:"addresses"`
	Generation int      `json:"generation"`
	Autostart  bool     `json:"autostart"`
	Slot       int      `json:"slot"`
	UIDBase    uint32   `json:"uid_base"`
}

// List describes every finished container.
func (m *Manager) List() ([]Info, error) {
	recs, err := m.Store.List()
	if err != nil {
		return nil, err
	}
	out := []Info{}
	for _, rec := range recs {
		if rec.Creating {
			continue
		}
		info := Info{Name: rec.Name, Slot: rec.Slot, UIDBase: rec.UIDBase, Addresses: Addresses(rec)}
		info.State, err = lxc.State(m.Cfg.ContainersDir(), rec.Name)
		if err != nil {
			info.State = "BROKEN"
		}
		if gen, err := m.profile(rec.Name, generations.Nix{}).Current(); err == nil {
			info.Generation = gen.Number
			if s, err := gen.Settings(); err == nil {
				info.Autostart = s.Autostart
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// Addresses lists the record's addresses without prefix lengths: the
// IPv4 addresses first (hostonly, the primary one, then internet), then
// the IPv6 ones. They are stable across restarts.
func Addresses(rec *records.Record) []string {
	addrs := []string{}
	for _, nic := range rec.Interfaces {
		if a := addrOf(nic.IPv4); a.IsValid() {
			addrs = append(addrs, a.String())
		}
	}
	for _, nic := range rec.Interfaces {
		if a := addrOf(nic.IPv6); a.IsValid() {
			addrs = append(addrs, a.String())
		}
	}
	return addrs
}

// Login opens an interactive root shell in the container on a new pty
// of the container's own, relayed to the caller's terminal.
func (m *Manager) Login(name string) (int, error) {
	rec, err := m.load(name)
	if err != nil {
		return 0, err
	}
	if !pty.IsTerminal(os.Stdin) {
		return 0, wrap(name, "login", pty.ErrNotTerminal)
	}
	shell := []string{"/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi"}
	ws, err := m.attach(name, rec.UIDBase, shell, Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Terminal: TerminalOn})
	if errors.Is(err, lxc.ErrNotRunning) {
		return 0, wrap(name, "login", ErrNotRunning)
	}
	if err != nil {
		return 0, wrap(name, "login", err)
	}
	return exitCode(ws), nil
}

// Addresses returns the container's addresses from its record, primary
// IPv4 first.
func (m *Manager) Addresses(name string) ([]string, error) {
	rec, err := m.load(name)
	if err != nil {
		return nil, err
	}
	return Addresses(rec), nil
}
