package containers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
	"github.com/nixcloud/nixcloud-container/storeview"
)

// StoreMode is the store mode in force for a container whose generation
// has settings s: its own `store`, else host.toml's, else
// generations.StoreClosure.
func StoreMode(s *generations.Settings, cfg hostconfig.Config) string {
	var own string
	if s != nil {
		own = s.Store
	}
	return cmp.Or(own, cfg.Store, generations.StoreClosure)
}

// storeView returns the host folder mounted at the container's /nix/store,
// or "" for the whole store.
func (m *Manager) storeView(name string, settings *generations.Settings) string {
	if StoreMode(settings, m.Cfg) != generations.StoreClosure {
		return ""
	}
	return m.Cfg.StoreViewDir(name)
}

// storeRoots are the store paths whose closure the container sees: its
// generation's and those of bind mounts from the store.
func storeRoots(gen generations.Generation, settings *generations.Settings) []string {
	roots := []string{gen.StorePath}
	for _, t := range settings.BindMountTargets() {
		if sp, err := storeview.StorePathOf(settings.BindMounts[t].HostPath); err == nil {
			roots = append(roots, sp)
		}
	}
	return roots
}

// storeClosure is the closure of the container's store roots. Store paths
// never change, so neither does the closure of the same roots: it is kept
// in the container's folder (closureFile) and nix-store is asked only for
// roots it was not asked about last time (a start saves its 15 ms).
func (m *Manager) storeClosure(ctx context.Context, name string, gen generations.Generation, settings *generations.Settings) ([]string, error) {
	roots := storeRoots(gen, settings)
	file := filepath.Join(m.Store.ContainerDir(name), closureFile)
	head := "roots " + strings.Join(roots, " ")
	if data, err := os.ReadFile(file); err == nil {
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) > 1 && lines[0] == head && allExist(lines[1:]) {
			return lines[1:], nil
		}
	}
	paths, err := storeview.Closure(ctx, roots)
	if err != nil {
		return nil, err
	}
	// Only a cache: a failed write costs the next start the query.
	_ = atomicfile.WriteFile(file, []byte(head+"\n"+strings.Join(paths, "\n")+"\n"), 0o644)
	return paths, nil
}

// closureFile caches the store closure in a container's folder.
const closureFile = "store-closure"

// allExist reports whether every path exists (a cached closure whose
// paths were garbage-collected is asked for again).
func allExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			return false
		}
	}
	return true
}

// storePaths returns where the container's view goes and what it holds,
// or "" with store = "all".
func (m *Manager) storePaths(ctx context.Context, rec *records.Record, settings *generations.Settings) (string, []string, error) {
	dir := m.storeView(rec.Name, settings)
	if dir == "" {
		return "", nil, nil
	}
	gen, err := m.profile(rec.Name, generations.Nix{}).Current()
	if err != nil {
		return "", nil, wrap(rec.Name, "store view", err)
	}
	paths, err := m.storeClosure(ctx, rec.Name, gen, settings)
	if err != nil {
		return "", nil, wrap(rec.Name, "store view", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", nil, wrap(rec.Name, "store view", err)
	}
	return dir, paths, nil
}

// prepareStore makes the store view of a container about to start in a
// mount namespace of its own (storeview.Make) and returns it held, for
// startLXC: the view never appears in the caller's mount namespace, nor
// in the host's. With store = "all" it returns nil. A view an older
// version left in the caller's namespace goes first.
func (m *Manager) prepareStore(ctx context.Context, rec *records.Record, settings *generations.Settings) (*storeview.Held, error) {
	if err := m.removeStore(rec.Name); err != nil {
		return nil, err
	}
	dir, paths, err := m.storePaths(ctx, rec, settings)
	if dir == "" || err != nil {
		return nil, err
	}
	view, err := storeview.Make(dir, paths)
	if err != nil {
		return nil, wrap(rec.Name, "store view", err)
	}
	return view, nil
}

// startLXC starts the container, in the mount namespace of its view if it
// has one, and lets the view's holder go: the container's LXC monitor
// holds the namespace from then on, and when the container stops the
// kernel drops it with every mount of the view.
func (m *Manager) startLXC(name string, view *storeview.Held) error {
	if view == nil {
		return lxc.Start(m.Cfg.ContainersDir(), name)
	}
	err := lxc.Start(m.Cfg.ContainersDir(), name, lxc.InMountNamespace(view.Namespace()))
	return errors.Join(err, view.Close())
}

// ErrNoStoreView means a running container with store = "closure" has no
// view to add paths to (it was started with the whole store, or by an
// older version): it must restart to see a new generation.
var ErrNoStoreView = errors.New("the container has no store view to add the new paths to")

// injectStore makes the closure of generation gen visible in the running
// container before it switches to it. With store = "all" there is nothing
// to do; a container started with the whole store keeps it. The error
// names no container: the caller's message does.
func (m *Manager) injectStore(ctx context.Context, rec *records.Record, gen generations.Generation) error {
	settings, err := gen.Settings()
	if err != nil {
		return err
	}
	dir := m.storeView(rec.Name, settings)
	if dir == "" {
		return nil
	}
	paths, err := m.storeClosure(ctx, rec.Name, gen, settings)
	if err != nil {
		return err
	}
	// The view lives in the mount namespace the container was started in
	// (its own, see prepareStore), where its LXC monitor, init's parent,
	// is.
	initPID, err := lxc.InitPID(m.Cfg.ContainersDir(), rec.Name)
	if err != nil {
		return err
	}
	if initPID <= 0 {
		return ErrNotRunning
	}
	monitor, err := parentPID(initPID)
	if err != nil {
		return err
	}
	err = storeview.AddIn(monitor, dir, paths)
	if errors.Is(err, storeview.ErrNoView) {
		return ErrNoStoreView
	}
	return err
}

// parentPID returns the parent of process pid.
func parentPID(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no PPid", pid)
}

// removeStore removes the store view of a stopped container from the
// caller's mount namespace (none is fine): one made for a foreground
// start, or left by an older version, which made views there. The view of
// a start in the background needs no removing: it goes with its mount
// namespace. Never call it while the container runs: the unmounts would
// propagate into it, and removing the folder detaches the view in every
// other namespace too.
func (m *Manager) removeStore(name string) error {
	if err := storeview.Remove(m.Cfg.StoreViewDir(name)); err != nil {
		return wrap(name, "store view", err)
	}
	return nil
}

// removeStoreIfStopped removes the view unless the container runs (it
// may have been started again meanwhile, or never stopped).
func (m *Manager) removeStoreIfStopped(name string) error {
	st, err := lxc.State(m.Cfg.ContainersDir(), name)
	if err != nil && !errors.Is(err, lxc.ErrNotDefined) {
		return wrap(name, "store view", err)
	}
	if err == nil && st != "STOPPED" {
		return nil
	}
	return m.removeStore(name)
}

// removeStaleStoreViews removes the views of every container that does
// not run (host teardown): views left by crashes, or by containers that
// stopped by themselves.
func (m *Manager) removeStaleStoreViews() error {
	dir := filepath.Join(m.Cfg.StateDir, "store")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store views: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if records.ValidateName(e.Name()) != nil {
			continue
		}
		errs = append(errs, m.removeStoreIfStopped(e.Name()))
	}
	return errors.Join(errs...)
}
