// Package containers ties the domain packages together into the verbs of
// the command line: create, start, stop, run, destroy and the rest. Every
// error names the container and the step that failed.
package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nixcloud/nixcloud-container/generations"
	guestpatches "github.com/nixcloud/nixcloud-container/guest-patches"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/idmap"
	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
	"github.com/nixcloud/nixcloud-container/internal/revert"
	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
)

// Manager runs the verbs against one host configuration.
type Manager struct {
	Cfg   hostconfig.Config
	Store records.Store
	// NixArgs are the -n arguments of this invocation; nil means none given.
	NixArgs []string
	// Progress receives long-running output (Nix build logs).
	Progress io.Writer
	Log      *slog.Logger
	// SubUID and SubGID are root's subordinate id files.
	SubUID, SubGID string
	// SubIDLock is the lock for rewriting them; empty means SubIDLockPath.
	SubIDLock string
	// Verb describes this invocation to verbs waiting for a lock it holds.
	Verb string
	// Notify receives messages for the user: whom a verb waits for, what
	// it finishes of an interrupted one, what it repaired. cmd prints them
	// on stderr.
	Notify func(msg string)
	// prebuilt are generations apply built already, by wrapper input;
	// build uses them instead of building again.
	prebuilt map[generations.Input]string
}

// New returns a Manager for cfg.
func New(cfg hostconfig.Config) *Manager {
	return &Manager{
		Cfg:      cfg,
		Store:    records.Store{Dir: cfg.ContainersDir(), LockPath: cfg.LockPath(), LocksDir: filepath.Join(cfg.StateDir, "locks")},
		Progress: io.Discard,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		SubUID:   "/etc/subuid",
		SubGID:   "/etc/subgid",
	}
}

func wrap(name, step string, err error) error {
	return fmt.Errorf("container %q: %s: %w", name, step, err)
}

// nix returns the Nix driver with the given -n arguments plus host.toml's
// nixpkgs (the user's -I comes first and so wins).
func (m *Manager) nix(nixArgs []string) (generations.Nix, error) {
	return m.nixAt(filepath.Join(m.Cfg.StateDir, "guest-patches"), nixArgs)
}

// nixAt is nix with the guest patches materialised under patches.
func (m *Manager) nixAt(patches string, nixArgs []string) (generations.Nix, error) {
	dir, err := guestpatches.Materialise(patches)
	if err != nil {
		return generations.Nix{}, err
	}
	args := append([]string(nil), nixArgs...)
	if m.Cfg.Nixpkgs != "" {
		args = append(args, "-I", "nixpkgs="+m.Cfg.Nixpkgs)
	}
	return generations.Nix{Wrapper: filepath.Join(dir, guestpatches.Wrapper), Args: args, Progress: m.Progress,
		Debug: m.Log.Enabled(context.Background(), slog.LevelDebug)}, nil
}

func (m *Manager) profile(name string, nix generations.Nix) generations.Profile {
	return generations.Profile{Dir: m.Cfg.ProfileDir(name), Nix: nix}
}

// load returns a finished container's record.
func (m *Manager) load(name string) (*records.Record, error) {
	rec, err := m.Store.Load(name)
	if err != nil {
		return nil, err
	}
	if rec.Creating {
		return nil, fmt.Errorf("container %q: %w (it is still being created, or its create was interrupted: destroy it)", name, records.ErrNotExist)
	}
	return rec, nil
}

// Exists reports whether a finished container of that name exists.
func (m *Manager) Exists(name string) (bool, error) {
	_, err := m.load(name)
	if errors.Is(err, records.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// CreateOptions are the optional inputs of Create.
type CreateOptions struct {
	LXCArgs []string
	Start   bool
	// Declared marks a container made by apply.
	Declared *records.Declared
}

// Create builds generation 1 of the container file and defines the
// container. A failure undoes every step; what a killed create left
// (a record still marked as being created) is removed first.
func (m *Manager) Create(ctx context.Context, name, file string, opts CreateOptions) (retErr error) {
	if err := records.ValidateName(name); err != nil {
		return err
	}
	abs, err := checkFile(file)
	if err != nil {
		return wrap(name, "container file", err)
	}
	l, err := m.lock(name)
	if err != nil {
		return err
	}
	defer m.release(l, name)
	if old, err := m.Store.Load(name); err == nil {
		if !old.Creating {
			return wrap(name, "create", records.ErrExist)
		}
		m.notify("container %q: removing what an interrupted create left", name)
		if err := m.destroy(name, old, true); err != nil {
			return err
		}
	} else if !errors.Is(err, records.ErrNotExist) {
		return wrap(name, "create", fmt.Errorf("%w (destroy it first)", err))
	}
	if err := m.checkTraversable(false); err != nil {
		return wrap(name, "create", err)
	}
	nix, err := m.nix(m.NixArgs)
	if err != nil {
		return wrap(name, "create", err)
	}
	ev, err := nix.Evaluate(ctx, generations.Input{File: abs, Name: name})
	if err != nil {
		return wrap(name, "evaluate", err)
	}
	settings := ev.Settings
	if err := m.checkSettings(settings); err != nil {
		return wrap(name, "container file", err)
	}
	lxcArgs, err := lxc.ParseRawItems(opts.LXCArgs, m.Cfg.AllowPrivilegedLXCItems)
	if err != nil {
		return wrap(name, "-l", err)
	}

	r := revert.New()
	defer r.Fail()

	rec, granted, err := m.allocate(name, abs, settings)
	if err != nil {
		return wrap(name, "allocate", err)
	}
	r.Add(func() { m.revokeRanges(granted, idmap.Range{Start: rec.UIDBase, Size: rec.UIDSize}) })
	rec.NixArgs = m.NixArgs
	rec.LXCArgs = opts.LXCArgs
	r.Add(func() { os.RemoveAll(m.Store.ContainerDir(name)) })
	if opts.Declared != nil {
		// Saved at once: what a killed apply left is still its own.
		rec.Declared = opts.Declared
		if err := m.Store.Save(rec); err != nil {
			return wrap(name, "create", err)
		}
	}
	step("create:allocated")

	prof := m.profile(name, nix)
	r.Add(func() { prof.Remove() })
	if _, err := m.build(ctx, rec, abs, nix, prof, ev); err != nil {
		return err
	}
	step("create:built")
	if err := m.makeRootfs(rec); err != nil {
		return wrap(name, "rootfs", err)
	}
	step("create:rootfs")
	if err := m.writeConfig(rec, settings, lxcArgs); err != nil {
		return err
	}
	step("create:configured")
	cur, err := prof.Current()
	if err != nil {
		return wrap(name, "profile", err)
	}
	addSource(rec, cur.Number, abs, m.NixArgs)
	syncSource(rec, cur.Number)
	rec.Creating = false
	if err := m.Store.Save(rec); err != nil {
		return err
	}
	r.Success()
	if opts.Start {
		_, err := m.start(ctx, rec)
		return err
	}
	return nil
}

// checkFile resolves the container file to an absolute path that exists.
func checkFile(file string) (string, error) {
	if file == "" {
		return "", errors.New("no container file given")
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s does not exist", abs)
		}
		return "", err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(abs, "default.nix")); err != nil {
			return "", fmt.Errorf("%s is a folder without default.nix", abs)
		}
	}
	return abs, nil
}

// checkSettings validates the parts of the settings that depend on the
// host (bind mount sources, raw LXC items) before anything changes.
func (m *Manager) checkSettings(s *generations.Settings) error {
	_, err := settingsItems(s, m.Cfg)
	return err
}

// allocate reserves a slot and uid range under the lock and saves the
// record as still being created. It returns the subordinate id files it
// added root's range to.
func (m *Manager) allocate(name, file string, settings *generations.Settings) (rec *records.Record, granted []string, retErr error) {
	unlock, err := m.Store.Lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if _, err := m.Store.Load(name); err == nil {
		return nil, nil, records.ErrExist
	}
	recs, err := m.Store.List()
	if err != nil {
		return nil, nil, err
	}
	slot := records.FreeSlot(recs)
	rng, err := idmap.ForSlot(m.Cfg.IDMap.Base, m.Cfg.IDMap.Size, m.Cfg.IDMap.Isolated, slot)
	if err != nil {
		return nil, nil, err
	}
	rec = &records.Record{
		Name: name, Slot: slot, UIDBase: rng.Start, UIDSize: rng.Size,
		File: file, Created: time.Now().UTC(), Creating: true,
	}
	if rec.Interfaces, err = planInterfaces(m.Cfg, recs, rec, settings); err != nil {
		return nil, nil, err
	}
	if err := m.checkOwnBridges(rec); err != nil {
		return nil, nil, err
	}
	if err := m.checkTraversable(true); err != nil {
		return nil, nil, err
	}
	unlockIDs, err := m.lockSubIDs()
	if err != nil {
		return nil, nil, err
	}
	defer unlockIDs()
	saved := false
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, revokeRangesLocked(granted, rng))
			if saved {
				os.RemoveAll(m.Store.ContainerDir(name))
			}
		}
	}()
	// The record names the files that get a line before they get it, so
	// a crash in between leaves nothing destroy does not know about.
	for _, path := range []string{m.SubUID, m.SubGID} {
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		_, changed, err := idmap.Grant(data, "root", 0, rng)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if changed {
			rec.SubIDFiles = append(rec.SubIDFiles, path)
		}
	}
	if err := m.Store.Save(rec); err != nil {
		return nil, nil, err
	}
	saved = true
	for _, path := range rec.SubIDFiles {
		granted = append(granted, path)
		if _, err := grantRoot(path, rng); err != nil {
			return nil, granted, err
		}
	}
	return rec, granted, nil
}

// grantRoot makes root's entries in a subordinate id file cover rng. The
// caller holds the subordinate id lock.
func grantRoot(path string, rng idmap.Range) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	out, changed, err := idmap.Grant(data, "root", 0, rng)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return false, nil
	}
	if err := atomicfile.WriteFile(path, out, 0o644); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// revokeRangesLocked removes root's line for rng from the given files; a
// missing file has no line. Every file is tried; the errors are joined.
// The caller holds the subordinate id lock.
func revokeRangesLocked(paths []string, rng idmap.Range) error {
	var errs []error
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if out, changed := idmap.Revoke(data, "root", rng); changed {
			if err := atomicfile.WriteFile(path, out, 0o644); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	return errors.Join(errs...)
}

// revokeRanges undoes grantRoot when a create fails.
func (m *Manager) revokeRanges(paths []string, rng idmap.Range) {
	if len(paths) == 0 {
		return
	}
	if unlock, err := m.lockSubIDs(); err == nil {
		defer unlock()
		_ = revokeRangesLocked(paths, rng) // undoing a failed create: its own error is the one to report
	}
}

// SubIDLockPath is the lock every install on the host takes before it
// rewrites /etc/subuid or /etc/subgid (they are the host's, not one
// install's).
const SubIDLockPath = "/run/nixcloud-container/subid.lock"

// lockSubIDs takes the subordinate id lock. Lock order: after the
// container's lock and the allocation lock.
func (m *Manager) lockSubIDs() (func(), error) {
	path := m.SubIDLock
	if path == "" {
		path = SubIDLockPath
	}
	unlock, err := records.Store{LockPath: path}.Lock()
	if err != nil {
		return nil, fmt.Errorf("subordinate id lock: %w", err)
	}
	return unlock, nil
}

// ensureSubIDs makes root's subordinate id entries cover the container's
// range again before it starts (a line removed by hand would make LXC
// fail with a bare "Failed to set up id mapping").
func (m *Manager) ensureSubIDs(rec *records.Record) error {
	rng := idmap.Range{Start: rec.UIDBase, Size: rec.UIDSize}
	unlock, err := m.lockSubIDs()
	if err != nil {
		return wrap(rec.Name, "subordinate ids", err)
	}
	defer unlock()
	added := false
	for _, path := range []string{m.SubUID, m.SubGID} {
		changed, err := grantRoot(path, rng)
		if err != nil {
			return wrap(rec.Name, "subordinate ids", err)
		}
		if changed {
			m.notify("container %q: root:%d:%d was missing from %s; added it back", rec.Name, rng.Start, rng.Size, path)
			if !slices.Contains(rec.SubIDFiles, path) {
				rec.SubIDFiles = append(rec.SubIDFiles, path)
			}
			added = true
		}
	}
	if added {
		return m.Store.Save(rec)
	}
	return nil
}

// releaseSubIDs removes the line the tool added for a destroyed
// container's range from files, unless another container uses the range.
// The caller holds the allocation lock.
func (m *Manager) releaseSubIDs(name string, rng idmap.Range, files []string) error {
	recs, err := m.Store.List()
	if err != nil {
		return wrap(name, "destroy: subordinate ids", err)
	}
	for _, r := range recs {
		if r.Name != name && r.UIDBase == rng.Start && r.UIDSize == rng.Size {
			return nil
		}
	}
	unlock, err := m.lockSubIDs()
	if err != nil {
		return wrap(name, "destroy: subordinate ids", err)
	}
	defer unlock()
	if err := revokeRangesLocked(files, rng); err != nil {
		return wrap(name, "destroy: subordinate ids", err)
	}
	return nil
}

// build builds the record's container file into a new generation of the
// profile; added is false when the build equals the current generation.
// A path apply built already (m.prebuilt) is not built again. When ev
// evaluated the same generation, nothing is evaluated again: the current
// generation's output needs no build at all, another one is built from
// ev's derivation.
func (m *Manager) build(ctx context.Context, rec *records.Record, file string, nix generations.Nix, prof generations.Profile, ev *generations.Evaluation) (added bool, err error) {
	in := guestInput(file, rec)
	path, ok := m.prebuilt[in]
	switch {
	case ok:
	case ev != nil && ev.For(in):
		if cur, err := prof.Current(); err == nil && cur.StorePath == ev.Out {
			return false, nil
		}
		path, err = nix.BuildEvaluated(ctx, ev)
		if errors.Is(err, generations.ErrDerivationGone) {
			path, err = nix.Build(ctx, in)
		}
	default:
		path, err = nix.Build(ctx, in)
	}
	if err != nil {
		return false, wrap(rec.Name, "build", err)
	}
	_, added, err = prof.Add(ctx, path)
	if err != nil {
		return false, wrap(rec.Name, "add generation", err)
	}
	return added, nil
}

// rootfsDirs are created in a new rootfs, owned by the container's root.
var rootfsDirs = []struct {
	path string
	mode os.FileMode
}{
	{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"etc", 0o755}, {"run", 0o755},
	{"tmp", 0o1777}, {"var", 0o755}, {"root", 0o700}, {"nix", 0o755}, {"bin", 0o755},
}

// rootfs is the folder of a container's root file system.
func (m *Manager) rootfs(name string) string {
	return filepath.Join(m.Store.ContainerDir(name), "rootfs")
}

func (m *Manager) makeRootfs(rec *records.Record) error {
	root := m.rootfs(rec.Name)
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	uid := int(rec.UIDBase)
	if err := os.Chown(root, uid, uid); err != nil {
		return err
	}
	for _, d := range rootfsDirs {
		p := filepath.Join(root, d.path)
		if err := os.Mkdir(p, d.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
		if err := os.Chown(p, uid, uid); err != nil {
			return err
		}
	}
	return nil
}

// checkTraversable makes sure the container's mapped root can reach its
// rootfs and profile: every ancestor needs o+x.
// With create false, folders that do not exist yet are skipped (nothing
// is made before the container file checked out); with create true they
// are made first.
func (m *Manager) checkTraversable(create bool) error {
	for _, dir := range []string{m.Cfg.ContainersDir(), m.Cfg.ProfilesDir} {
		if create {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		for d := dir; ; d = filepath.Dir(d) {
			st, err := os.Stat(d)
			if !create && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if st.Mode().Perm()&0o001 == 0 {
				return fmt.Errorf("%s (mode %o) must be searchable by others (o+x): containers' mapped root users pass through it", d, st.Mode().Perm())
			}
			if d == "/" {
				break
			}
		}
	}
	return nil
}

// confDir finds LXC's shipped config snippets.
func (m *Manager) confDir() (string, error) {
	cands := lxc.ConfDirCandidates
	if m.Cfg.LXCConfigDir != "" {
		cands = []string{m.Cfg.LXCConfigDir}
	}
	for _, d := range cands {
		if _, err := os.Stat(filepath.Join(d, "common.conf")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("LXC's common.conf not found in %s (set lxc_config_dir in host.toml)", strings.Join(cands, ", "))
}

// spec is the LXC configuration input of a container's current state.
func (m *Manager) spec(rec *records.Record, settings *generations.Settings, lxcArgs lxc.Items) (lxc.Spec, error) {
	conf, err := m.confDir()
	if err != nil {
		return lxc.Spec{}, err
	}
	extra, err := settingsItems(settings, m.Cfg)
	if err != nil {
		return lxc.Spec{}, err
	}
	return lxc.Spec{
		Name:       rec.Name,
		Dir:        m.Store.ContainerDir(rec.Name),
		ConfDir:    conf,
		Arch:       lxc.Arch(runtime.GOARCH),
		UIDBase:    rec.UIDBase,
		UIDSize:    rec.UIDSize,
		ProfileDir: m.Cfg.ProfileDir(rec.Name),
		Interfaces: lxcInterfaces(rec),
		AppArmor:   lxc.AppArmorEnabled(lxc.AppArmorParam),
		Extra:      append(extra, lxcArgs...),
		HaltSignal: m.haltSignal(rec.Name, settings),
		StoreView:  m.storeView(rec.Name, settings),
	}, nil
}

// haltSignal is the halt signal of the container's current generation
// (generations.Generation.HaltSignal).
func (m *Manager) haltSignal(name string, settings *generations.Settings) string {
	gen, err := m.profile(name, generations.Nix{}).Current()
	if err != nil {
		return ""
	}
	return gen.HaltSignal(settings)
}

// settingsItems turns host-side settings into LXC items: bind mounts,
// cgroup limits for the host's layout (host.toml's default per limit the
// container does not set), then raw extraLxcConfig. Privileged items and
// shifted mounts of system folders are refused unless host.toml allows them.
func settingsItems(s *generations.Settings, cfg hostconfig.Config) (lxc.Items, error) {
	var items lxc.Items
	for _, t := range s.BindMountTargets() {
		bm := s.BindMounts[t]
		st, err := os.Stat(bm.HostPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bindMounts.%q.hostPath: %s does not exist", t, bm.HostPath)
		}
		if err != nil {
			return nil, fmt.Errorf("bindMounts.%q.hostPath: %w", t, err)
		}
		if bm.Shift && !cfg.AllowPrivilegedLXCItems {
			if err := checkShift(bm.HostPath, cfg); err != nil {
				return nil, fmt.Errorf("bindMounts.%q: %w", t, err)
			}
		}
		items = append(items, lxc.BindMountItem(bm.HostPath, t, st.IsDir(), bm.ReadOnly(), bm.Shift))
	}
	limits := withDefaults(s.Limits, cfg.Defaults.Limits)
	var mem uint64
	if limits.Memory != "" {
		var err error
		if mem, err = generations.ParseSize(limits.Memory); err != nil {
			return nil, fmt.Errorf("limits.memory: %w", err)
		}
	}
	items = append(items, lxc.LimitItems(mem, limits.CPUs, limits.Processes, lxc.CgroupV2(lxc.CgroupRoot))...)
	raw, err := lxc.ParseRawItems(s.ExtraLxcConfig, cfg.AllowPrivilegedLXCItems)
	if err != nil {
		return nil, fmt.Errorf("extraLxcConfig: %w", err)
	}
	return append(items, raw...), nil
}

func (m *Manager) writeConfig(rec *records.Record, settings *generations.Settings, lxcArgs lxc.Items) error {
	spec, err := m.spec(rec, settings, lxcArgs)
	if err != nil {
		return wrap(rec.Name, "render config", err)
	}
	if err := lxc.WriteConfig(m.Cfg.ContainersDir(), rec.Name, lxc.Render(spec)); err != nil {
		return wrap(rec.Name, "lxc config", err)
	}
	return nil
}
