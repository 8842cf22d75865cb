package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/idmap"
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
	gen, settings, err := m.currentOf(rec)
	return rec, gen, settings, err
}

// currentOf returns the record's current generation and its settings.
func (m *Manager) currentOf(rec *records.Record) (generations.Generation, *generations.Settings, error) {
	gen, err := m.profile(rec.Name, generations.Nix{}).Current()
	if err != nil {
		if errors.Is(err, generations.ErrNoGeneration) {
			err = fmt.Errorf("%w (if the profile link was lost, 'nixcloud-container switch-generation %s N' or 'rollback %s' repairs it)", err, rec.Name, rec.Name)
		}
		return generations.Generation{}, nil, wrap(rec.Name, "profile", err)
	}
	settings, err := gen.Settings()
	if err != nil {
		return generations.Generation{}, nil, wrap(rec.Name, "profile", err)
	}
	return gen, settings, nil
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
// current generation, prepares the host network and starts it. A running
// container gets its host side re-asserted (bridge ports, isolation,
// hairpin, forwards), and the caller is told so.
func (m *Manager) Start(ctx context.Context, name string) error {
	l, rec, err := m.begin(ctx, name, true)
	if err != nil {
		return err
	}
	defer l.Unlock()
	already, err := m.start(ctx, rec)
	if already && err == nil {
		m.notify("container %q is already running; its host side (bridge ports, isolation, hairpin, forwards) was re-asserted", name)
	}
	return err
}

// start starts the locked container; already says it was running, and
// then only its host side was re-asserted.
func (m *Manager) start(ctx context.Context, rec *records.Record) (already bool, err error) {
	name := rec.Name
	gen, settings, err := m.currentOf(rec)
	if err != nil {
		return false, err
	}
	running, err := m.running(name)
	if err != nil {
		return false, err
	}
	if running {
		return true, m.reassert(rec, settings)
	}
	// Refused input is refused before the intent is written: a refused
	// start leaves the host exactly as it was.
	lxcArgs, err := m.startInput(rec, settings)
	if err != nil {
		return false, err
	}
	prior := rec.Intent
	if prior == nil {
		if err := m.intend(rec, records.Intent{Op: records.OpStart}); err != nil {
			return false, err
		}
	}
	finish := func(err error) error {
		if prior != nil {
			return err // the enclosing verb clears its own intent
		}
		return errors.Join(err, m.done(rec))
	}
	if err := m.prepareStart(ctx, rec, settings, lxcArgs); err != nil {
		return false, finish(err)
	}
	view, err := m.prepareStore(ctx, rec, settings)
	if err != nil {
		return false, finish(err)
	}
	step("start:prepared")
	err = m.startLXC(name, view)
	if errors.Is(err, lxc.ErrRunning) {
		return true, finish(m.reassert(rec, settings))
	}
	if err != nil {
		// It may still come up (a start that timed out): make sure it
		// does not run half set up.
		return false, finish(m.killFailedStart(rec, wrap(name, "start", err)))
	}
	step("start:started")
	if err := m.markRunning(name, gen); err != nil {
		return false, finish(m.killFailedStart(rec, err))
	}
	return false, finish(m.afterStart(rec, settings))
}

// reassert makes the host side of a running container what its start
// makes it: bridges, lease, port flags and forwards (all idempotent).
func (m *Manager) reassert(rec *records.Record, settings *generations.Settings) error {
	if err := m.networkBeforeStart(rec); err != nil {
		return err
	}
	return m.networkAfterStart(rec, settings)
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
// returns err, joined with the kill's own failure if any. The monitor
// cgroups LXC leaves behind after a failed start go too.
func (m *Manager) killFailedStart(rec *records.Record, err error) error {
	if kerr := lxc.Kill(m.Cfg.ContainersDir(), rec.Name); kerr != nil && !errors.Is(kerr, lxc.ErrNotRunning) {
		err = errors.Join(err, wrap(rec.Name, "stop after failed start", kerr))
	}
	m.removeCgroups(rec.Name)
	if serr := m.removeStoreIfStopped(rec.Name); serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// startInput checks what a start takes from the record and the generation
// (a record or generation written by an older version may hold what is
// refused now) and returns the record's raw LXC items.
func (m *Manager) startInput(rec *records.Record, settings *generations.Settings) (lxc.Items, error) {
	lxcArgs, err := lxc.ParseRawItems(rec.LXCArgs, m.Cfg.AllowPrivilegedLXCItems)
	if err != nil {
		return nil, wrap(rec.Name, "-l", err)
	}
	if err := m.checkSettings(settings); err != nil {
		return nil, wrap(rec.Name, "container file", err)
	}
	return lxcArgs, nil
}

// prepareStart brings the record's interfaces in line with the current
// generation's settings, readies the host network, resets an ephemeral
// rootfs and writes the LXC configuration.
func (m *Manager) prepareStart(ctx context.Context, rec *records.Record, settings *generations.Settings, lxcArgs lxc.Items) error {
	if err := m.ensureSubIDs(rec); err != nil {
		return err
	}
	if err := m.planNetwork(rec, settings, false); err != nil {
		return err
	}
	if err := m.checkForwards(rec, settings); err != nil {
		return err
	}
	if err := m.networkBeforeStart(rec); err != nil {
		return err
	}
	if settings.Ephemeral {
		if err := m.resetRootfs(rec); err != nil {
			return err
		}
	}
	return m.writeConfig(rec, settings, lxcArgs)
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
func (m *Manager) Stop(ctx context.Context, name string, timeout time.Duration) (bool, error) {
	l, rec, err := m.begin(ctx, name, false)
	if err != nil {
		return false, err
	}
	defer l.Unlock()
	return m.stop(rec, timeout)
}

func (m *Manager) stop(rec *records.Record, timeout time.Duration) (bool, error) {
	name := rec.Name
	clean, err := lxc.Stop(m.Cfg.ContainersDir(), name, timeout)
	if errors.Is(err, lxc.ErrNotRunning) {
		// It stopped by itself: its forwards go all the same.
		return false, errors.Join(wrap(name, "stop", ErrNotRunning), m.networkAfterStop(rec), m.removeStoreIfStopped(name))
	}
	if err != nil {
		return false, wrap(name, "stop", err)
	}
	return clean, errors.Join(m.networkAfterStop(rec), m.removeStoreIfStopped(name))
}

// Terminate kills the container now.
func (m *Manager) Terminate(ctx context.Context, name string) error {
	l, rec, err := m.begin(ctx, name, false)
	if err != nil {
		return err
	}
	defer l.Unlock()
	err = lxc.Kill(m.Cfg.ContainersDir(), name)
	if errors.Is(err, lxc.ErrNotRunning) {
		return errors.Join(wrap(name, "terminate", ErrNotRunning), m.networkAfterStop(rec), m.removeStoreIfStopped(name))
	}
	if err != nil {
		return wrap(name, "terminate", err)
	}
	return errors.Join(m.networkAfterStop(rec), m.removeStoreIfStopped(name))
}

// Restart stops the container if it runs and starts it again.
func (m *Manager) Restart(ctx context.Context, name string, timeout time.Duration) error {
	l, rec, err := m.begin(ctx, name, true)
	if err != nil {
		return err
	}
	defer l.Unlock()
	if err := m.intend(rec, records.Intent{Op: records.OpRestart, WasRunning: true, FromGeneration: rec.Generation}); err != nil {
		return err
	}
	if err := m.restart(ctx, rec, timeout); err != nil {
		// It finished, failing: nothing is left to resume.
		return errors.Join(err, m.done(rec))
	}
	return m.done(rec)
}

// restart stops the locked container if it runs and starts it again.
func (m *Manager) restart(ctx context.Context, rec *records.Record, timeout time.Duration) error {
	if _, err := m.stop(rec, timeout); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	if rec.Intent != nil {
		step(rec.Intent.Op + ":stopped")
	}
	_, err := m.start(ctx, rec)
	return err
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

// Run runs args in the container as root connected to stdio (see Stdio)
// and returns its exit status (128+signal when killed by a signal, as
// shells do).
func (m *Manager) Run(name string, args []string, stdio Stdio) (int, error) {
	return m.RunAs(name, args, stdio, RunOptions{})
}

// RunAs is Run with the user, folder and environment opts give. A command
// that does not exist in the container exits 127 with an error that says
// so.
func (m *Manager) RunAs(name string, args []string, stdio Stdio, opts RunOptions) (int, error) {
	rec, err := m.load(name)
	if err != nil {
		return 0, err
	}
	if len(args) == 0 {
		return 0, wrap(name, "run", errors.New("no command given"))
	}
	if err := opts.check(rec.UIDSize); err != nil {
		return 0, wrap(name, "run", err)
	}
	ws, err := m.attach(name, rec.UIDBase, args, stdio, opts)
	if errors.Is(err, lxc.ErrNotRunning) {
		return 0, wrap(name, "run", ErrNotRunning)
	}
	if errors.Is(err, lxc.ErrCommandNotFound) {
		return exitCode(ws), wrap(name, "run", err)
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
// running container is refused unless force, which kills it first. It
// works on whatever an interrupted verb left, and on a container whose
// record cannot be read (removed without reading it).
func (m *Manager) Destroy(name string, force bool) error {
	if err := records.ValidateName(name); err != nil {
		return err
	}
	l, err := m.lock(name)
	if err != nil {
		return err
	}
	defer l.Unlock()
	rec, err := m.Store.Load(name)
	switch {
	case errors.Is(err, records.ErrNotExist):
		if !m.hasRemains(name) {
			l.Remove()
			return err
		}
		rec = nil
	case err != nil:
		m.notify("container %q: its record is unreadable (%v); destroying it without reading it", name, err)
		rec = nil
	}
	if err := m.destroy(name, rec, force); err != nil {
		return err
	}
	l.Remove()
	return nil
}

// hasRemains reports whether anything of a container without a record is
// left: its folder, its profile, its LXC definition.
func (m *Manager) hasRemains(name string) bool {
	for _, p := range []string{m.Store.ContainerDir(name), m.Cfg.ProfileDir(name)} {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

// destroy removes everything of the locked container; rec is nil when the
// record is missing or unreadable. Every step tolerates what is already
// gone, so an interrupted destroy is finished by the next one.
func (m *Manager) destroy(name string, rec *records.Record, force bool) error {
	dir := m.Cfg.ContainersDir()
	st, err := lxc.State(dir, name)
	defined := !errors.Is(err, lxc.ErrNotDefined)
	if err != nil && defined {
		return wrap(name, "state", err)
	}
	if defined && st != "STOPPED" && !force {
		return wrap(name, "destroy", fmt.Errorf("%w (stop it first, or use --force)", ErrRunning))
	}
	if rec != nil {
		if err := m.intend(rec, records.Intent{Op: records.OpDestroy}); err != nil {
			return wrap(name, "destroy", err)
		}
	}
	step("destroy:marked")
	if defined && st != "STOPPED" {
		if err := lxc.Kill(dir, name); err != nil && !errors.Is(err, lxc.ErrNotRunning) {
			return wrap(name, "destroy: kill", err)
		}
	}
	step("destroy:killed")
	if err := m.removeStore(name); err != nil {
		return err
	}
	var slot int
	if rec != nil {
		slot = rec.Slot
	} else {
		slot = m.Store.Salvage(name).Slot // -1 when its config tells none
	}
	if err := m.networkDestroy(name, slot); err != nil {
		return err
	}
	step("destroy:network")
	if err := m.profile(name, generations.Nix{}).Remove(); err != nil {
		return wrap(name, "destroy", err)
	}
	step("destroy:profile")
	unlock, err := m.Store.Lock()
	if err != nil {
		return wrap(name, "destroy", err)
	}
	defer unlock()
	// Only lines the record says the tool added go (an unreadable record
	// says nothing, so its line stays). This comes before the record goes,
	// so an interrupted destroy still knows them.
	if rec != nil && len(rec.SubIDFiles) > 0 {
		rng := idmap.Range{Start: rec.UIDBase, Size: rec.UIDSize}
		if err := m.releaseSubIDs(name, rng, rec.SubIDFiles); err != nil {
			return err
		}
	}
	step("destroy:subids")
	if defined {
		// LXC removes the whole folder, record included.
		if err := lxc.Destroy(dir, name); err != nil && !errors.Is(err, lxc.ErrNotDefined) {
			return wrap(name, "destroy", err)
		}
	}
	m.removeCgroups(name)
	step("destroy:lxc")
	if err := os.RemoveAll(m.Store.ContainerDir(name)); err != nil {
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
	// Interrupted names the verb that was interrupted on this container
	// (create, update, start, ...); the next verb on it finishes or undoes
	// it, destroy always removes it.
	Interrupted string `json:"interrupted,omitempty"`
	// Declared: made by apply; Dropped: its SPEC no longer declares it.
	Declared bool `json:"declared,omitempty"`
	Dropped  bool `json:"dropped,omitempty"`
	// Links are the links that name the container, either way (see
	// LinksInForce).
	Links []Link `json:"links"`
	Details
}

// ErrUnreadable means some containers' records could not be read; each
// was reported on its own.
var ErrUnreadable = errors.New("unreadable container records")

// List describes every container, an interrupted create included (state
// INTERRUPTED). A record that cannot be read is reported and skipped; the
// error then wraps ErrUnreadable.
func (m *Manager) List(report func(error)) ([]Info, error) {
	recs, bad, err := m.Store.ListAll()
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		report(b)
	}
	// Each container's state, generation and settings are read
	// concurrently (liblxc's state query, the profile folder, the
	// generation's settings); the records were read once above.
	infos := make([]Info, len(recs))
	settings := make([]*generations.Settings, len(recs))
	keep := make([]bool, len(recs))
	parallel(len(recs), listWorkers, func(i int) {
		infos[i], settings[i], keep[i] = m.info(recs[i])
	})
	out := []Info{}
	linkSettings := map[string]*generations.Settings{}
	for i := range infos {
		if keep[i] {
			out = append(out, infos[i])
			if settings[i] != nil {
				linkSettings[infos[i].Name] = settings[i]
			}
		}
	}
	plan := planLinks(m.Cfg, recs, linkSettings)
	for i := range out {
		out[i].Links = plan.linksOf(out[i].Name)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("%w: %d", ErrUnreadable, len(bad))
	}
	return out, nil
}

// listWorkers bounds how many containers List looks at at once.
const listWorkers = 16

// recordInfo is what the record alone says of a container, for List
// and Info.
func recordInfo(rec *records.Record) Info {
	info := Info{Name: rec.Name, Slot: rec.Slot, UIDBase: rec.UIDBase, Addresses: Addresses(rec)}
	if rec.Declared != nil {
		info.Declared, info.Dropped = true, rec.Declared.Dropped
	}
	return info
}

// info describes one container for List; keep is false for a container
// that is being created right now.
func (m *Manager) info(rec *records.Record) (info Info, settings *generations.Settings, keep bool) {
	info = recordInfo(rec)
	m.details(&info, rec, nil) // the record's part, also for an interrupted create
	interrupted := ""
	if rec.Creating {
		interrupted = "create"
	} else if rec.Intent != nil {
		interrupted = rec.Intent.Op
	}
	if interrupted != "" && !m.Store.Busy(rec.Name) {
		info.Interrupted = interrupted
	}
	if rec.Creating {
		if info.Interrupted == "" {
			return info, nil, false // being created right now
		}
		info.State = "INTERRUPTED"
		return info, nil, true
	}
	st, pid, err := lxc.StateAndPID(m.Cfg.ContainersDir(), rec.Name)
	if err != nil {
		st = "BROKEN"
	}
	info.State = st
	if pid > 0 {
		info.InitPID = pid // details need not ask again
	}
	if gen, err := m.profile(rec.Name, generations.Nix{}).Current(); err == nil {
		info.Generation = gen.Number
		if s, err := gen.Settings(); err == nil {
			info.Autostart = s.Autostart
			m.details(&info, rec, s)
			settings = s
		}
	}
	return info, settings, true
}

// parallel calls f(0) ... f(n-1) on at most workers goroutines and
// returns when all have returned.
func parallel(n, workers int, f func(i int)) {
	if workers > n {
		workers = n
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
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
	ws, err := m.attach(name, rec.UIDBase, shell, Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Terminal: TerminalOn}, RunOptions{})
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

// removeCgroups removes the cgroups LXC left of a container (after a
// failed start, or at destroy), never those of another container whose
// name looks like one of LXC's NAME-N.
func (m *Manager) removeCgroups(name string) {
	lxc.RemoveCgroups(name, func(other string) bool {
		_, err := os.Stat(filepath.Join(m.Cfg.ContainersDir(), other))
		return err == nil
	})
}
