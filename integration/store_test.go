package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// oneMountNamespace runs every later command of the host in one mount
// namespace of its own, as on a real host, where `ip netns exec` gives
// each command a fresh one. The store views do not need it (each lives in
// a namespace of its own, see storeview.Make); TestStoreViewNotOnHost
// uses it as the host's namespace, whose mount table it checks. The
// namespace lives as long as a sleeping process in it (and the LXC
// monitors started from it).
func (h *host) oneMountNamespace() {
	h.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", h.netns, "sh", "-ec", cgroupMounts+"echo ready; exec sleep infinity")
	out, err := cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		h.t.Fatalf("mount namespace: %q %v", line, err)
	}
	h.mntns = fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid)
	h.t.Cleanup(func() {
		h.destroyAll() // in the namespace, while it is there
		h.mntns = ""
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// addToStore adds a file to the store (nix-store --add) and returns its
// store path.
func addToStore(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("nix-store", "--add", file).Output()
	if err != nil {
		t.Fatalf("nix-store --add %s: %v", file, err)
	}
	return strings.TrimSpace(string(out))
}

// closure is nix-store -qR of paths, on the host.
func closure(t *testing.T, paths ...string) []string {
	t.Helper()
	out, err := exec.Command("nix-store", append([]string{"-qR"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("nix-store -qR %v: %v", paths, err)
	}
	return strings.Fields(string(out))
}

// currentStorePath is the store path of the container's current
// generation.
func (h *host) currentStorePath(name string) string {
	h.t.Helper()
	for _, g := range h.generations(name) {
		if g.Current {
			return g.StorePath
		}
	}
	h.t.Fatalf("%s: no current generation", name)
	return ""
}

// storeListing is what `ls /nix/store` shows in the container, sorted.
func (h *host) storeListing(name string) []string {
	h.t.Helper()
	names := strings.Fields(h.must("run", name, "--", "ls", "-a", "/nix/store"))
	names = slices.DeleteFunc(names, func(n string) bool { return n == "." || n == ".." })
	slices.Sort(names)
	return names
}

func baseNames(paths []string) []string {
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	slices.Sort(names)
	return names
}

// storeLeaks performs the attack from inside the container: for each
// store path, can it be listed in /nix/store, stat'ed, listed or read?
// It returns the paths that leaked and how.
func (h *host) storeLeaks(name string, paths []string) []string {
	h.t.Helper()
	var leaks []string
	listing := h.storeListing(name)
	for _, p := range paths {
		if slices.Contains(listing, filepath.Base(p)) {
			leaks = append(leaks, p+": listed in /nix/store")
		}
		// A file is read, a folder listed; either way its contents.
		probe := fmt.Sprintf("if [ -d %[1]s ]; then ls -a %[1]s; else cat %[1]s; fi", p)
		if r := h.run("run", name, "--", "sh", "-c", probe); r.code == 0 {
			leaks = append(leaks, fmt.Sprintf("%s: opened (%q)", p, strings.TrimSpace(r.stdout)))
		}
	}
	return leaks
}

// TestStoreViewIsolation: with store = "closure" (the default) container
// A sees exactly its closure: not B's system, not the key B's container
// file put in the store, not a host path; its own system runs. The same
// attack on a container with store = "all" reads all of them, as before.
func TestStoreViewIsolation(t *testing.T) {
	h := newHost(t, "")
	secret := fmt.Sprintf("secret-key-%d", os.Getpid())
	var out string
	keyPath := addToStore(t, h.writeFile("key.txt", secret+"\n"))
	hostPath := addToStore(t, h.writeFile("host-only.txt", "host only\n"))

	a := h.busyboxFile("a.nix", `marker = "store-a";`, "")
	// An admin put a key file in the store (world-readable there) for B,
	// which gets it by a bind mount of that store path.
	b := h.busyboxFile("b.nix", `marker = "store-b";`, fmt.Sprintf("  bindMounts.\"/etc/key\".hostPath = %q;\n", keyPath))
	all := h.busyboxFile("all.nix", `marker = "store-all";`, `  store = "all";`)
	for _, c := range []struct{ name, file string }{{"a", a}, {"b", b}, {"all", all}} {
		h.must("create", c.name, c.file, "--start")
	}
	bGen := h.currentStorePath("b")
	var bSystem string
	for _, p := range closure(t, bGen) {
		if strings.HasSuffix(p, "-busybox-guest-store-b") {
			bSystem = p
		}
	}
	if bSystem == "" {
		t.Fatalf("closure of b %s: no system", bGen)
	}
	// B reads its key through the bind mount of a store path.
	if got := strings.TrimSpace(h.must("run", "b", "--", "cat", "/etc/key")); got != secret {
		t.Fatalf("b: /etc/key = %q, want the key", got)
	}
	targets := []string{bSystem, bGen, keyPath, hostPath}

	// A: exactly its closure, and its own system works.
	aClosure := closure(t, h.currentStorePath("a"))
	if got, want := h.storeListing("a"), baseNames(aClosure); !slices.Equal(got, want) {
		t.Errorf("a: /nix/store lists\n%v\nwant its closure\n%v", got, want)
	}
	if leaks := h.storeLeaks("a", targets); len(leaks) > 0 {
		t.Errorf("a (store = closure) reaches paths outside its closure:\n%s", strings.Join(leaks, "\n"))
	}
	if m := h.marker("a"); m != "store-a" {
		t.Errorf("a: marker %q: its init did not run", m)
	}
	if out := h.must("run", "a", "--", "sh", "-c", "echo works $(id -u)"); strings.TrimSpace(out) != "works 0" {
		t.Errorf("a: run: %q", out)
	}
	// Read-only for the container's root, locked, and unmounting reveals
	// nothing. A busybox of its own outside the store does the work.
	own := aClosure[0]
	script := "B=/busybox; cp $(readlink -f /bin/sh) $B; " +
		"$B touch " + own + "/x 2>/dev/null && echo WROTE; " +
		"$B mount -o remount,bind,rw " + own + " 2>/dev/null && echo REMOUNTED; " +
		"$B umount -l " + own + " 2>/dev/null && echo UNMOUNTED-ONE; " +
		"$B umount -l /nix/store || echo STORE-STAYS; " +
		"echo listing: $($B ls -a /nix/store); " +
		"for p in " + strings.Join(targets, " ") + "; do $B cat $p/* $p 2>/dev/null && echo LEAK $p; done; true"
	out = h.must("run", "a", "--", "sh", "-c", script)
	t.Logf("a attacks its store: %s", out)
	for _, bad := range append([]string{"WROTE", "REMOUNTED", "UNMOUNTED-ONE", "STORE-STAYS", "LEAK", secret}, baseNames(targets)...) {
		if strings.Contains(out, bad) {
			t.Errorf("a attacking its store: %q in\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "listing: . ..\n") {
		t.Errorf("a: after unmounting /nix/store, want the rootfs's empty folder:\n%s", out)
	}

	// The same attack with store = "all": everything, as before.
	leaks := h.storeLeaks("all", targets)
	if len(leaks) != 2*len(targets) {
		t.Errorf("all (store = all) should reach every path as before, reached:\n%s", strings.Join(leaks, "\n"))
	}
	if !strings.Contains(strings.Join(leaks, "\n"), secret) {
		t.Errorf("all: did not read the key: %v", leaks)
	}

	// Stopped, the view is gone from the host.
	h.must("stop", "a")
	view := filepath.Join(h.dir, "state", "store", "a")
	if _, err := os.Lstat(view); err == nil {
		t.Errorf("after stop: the store view %s is still there", view)
	}
}

// TestStoreViewSwitchInPlace: an update to a generation that adds a
// package switches in place, and the package runs right after, without a
// restart; rollback switches back in place; the next start shows only the
// running generation's closure again. Every command runs in the same
// mount namespace as on a host, or each in one of its own (`ip netns
// exec`): then the paths are added in the namespace of the container's
// LXC monitor, where its start made the view.
func TestStoreViewSwitchInPlace(t *testing.T) {
	for _, one := range []bool{true, false} {
		t.Run(fmt.Sprintf("one mount namespace %v", one), func(t *testing.T) { storeViewSwitchInPlace(t, one) })
	}
}

func storeViewSwitchInPlace(t *testing.T, oneNamespace bool) {
	h := newHost(t, "")
	if oneNamespace {
		h.oneMountNamespace()
	}
	word := fmt.Sprintf("hello-%d", os.Getpid())
	one := h.busyboxFile("one.nix", `marker = "one"; switchExitCode = 0;`, "")
	two := h.busyboxFile("two.nix", fmt.Sprintf(`marker = "one"; switchExitCode = 0; package = %q;`, word), "")
	h.must("create", "c", one, "--start")
	hello := lxcGuestSystem + "/package/bin/hello"
	if r := h.run("run", "c", "--", hello); r.code == 0 {
		t.Fatalf("generation 1 has no package, yet %s ran: %q", hello, r.stdout)
	}
	// Proof of no restart: /run is the guest's tmpfs, made at boot.
	h.must("run", "c", "--", "touch", "/run/alive")

	r := h.run("update", "c", two)
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "switched in place") {
		t.Fatalf("update: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var pkg string
	for _, p := range closure(t, h.currentStorePath("c")) {
		if strings.HasSuffix(p, "-busybox-package-"+word) {
			pkg = p
		}
	}
	if pkg == "" {
		t.Fatal("generation 2's closure has no package")
	}
	if out := strings.TrimSpace(h.must("run", "c", "--", hello)); out != word {
		t.Errorf("after the switch: %s printed %q, want %q", hello, out, word)
	}
	if !slices.Contains(h.storeListing("c"), filepath.Base(pkg)) {
		t.Errorf("after the switch: %s not in /nix/store", pkg)
	}
	h.must("run", "c", "--", "test", "-e", "/run/alive")
	if calls := h.must("run", "c", "--", "cat", "/run/switch-calls"); strings.TrimSpace(calls) != "switch" {
		t.Errorf("switch-calls %q", calls)
	}

	// Rollback: in place too; generation 1's own closure was there all along.
	r = h.run("rollback", "c")
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "switched in place") {
		t.Fatalf("rollback: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	h.must("run", "c", "--", "test", "-e", "/run/alive")
	if calls := strings.Fields(h.must("run", "c", "--", "cat", "/run/switch-calls")); len(calls) != 2 {
		t.Errorf("after rollback: switch-calls %q, want two", calls)
	}
	if r := h.run("run", "c", "--", hello); r.code == 0 {
		t.Errorf("after rollback: the profile's system still has the package: %q", r.stdout)
	}
	// Switch forward again: the package's paths are still there.
	h.must("switch-generation", "c", "2")
	if out := strings.TrimSpace(h.must("run", "c", "--", hello)); out != word {
		t.Errorf("after switch-generation 2: %q", out)
	}
	// After a restart on generation 1 its closure is all there is.
	h.must("rollback", "c")
	h.must("restart", "c")
	if got, want := h.storeListing("c"), baseNames(closure(t, h.currentStorePath("c"))); !slices.Equal(got, want) {
		t.Errorf("after restart on generation 1: /nix/store lists %v, want %v", got, want)
	}
}

// lxcGuestSystem is the current system as the guest sees it.
const lxcGuestSystem = "/nix/var/nixcloud-container/profile/system"

// TestStoreViewRestartWithoutView: a running container without a store
// view (started with store = "all" in host.toml, which then changed to
// "closure") cannot get new paths in place: the update restarts it into
// the new generation and says why.
func TestStoreViewRestartWithoutView(t *testing.T) {
	h := newHost(t, `store = "all"`+"\n")
	word := fmt.Sprintf("restart-%d", os.Getpid())
	one := h.busyboxFile("one.nix", `marker = "one"; switchExitCode = 0;`, "")
	two := h.busyboxFile("two.nix", fmt.Sprintf(`marker = "one"; switchExitCode = 0; package = %q;`, word), "")
	h.must("create", "c", one, "--start")
	h.must("run", "c", "--", "touch", "/run/alive")
	if err := os.WriteFile(h.config, []byte(strings.Replace(mustRead(t, h.config), `store = "all"`, `store = "closure"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := h.run("update", "c", two)
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "restarted") || !strings.Contains(r.stderr, "no store view") {
		t.Fatalf("update: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if h.run("run", "c", "--", "test", "-e", "/run/alive").code == 0 {
		t.Error("the container was not restarted")
	}
	if out := strings.TrimSpace(h.must("run", "c", "--", lxcGuestSystem+"/package/bin/hello")); out != word {
		t.Errorf("after the restart: %q", out)
	}
	if got, want := h.storeListing("c"), baseNames(closure(t, h.currentStorePath("c"))); !slices.Equal(got, want) {
		t.Errorf("after the restart: /nix/store lists %v, want %v", got, want)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestStoreViewCrash: a start killed after it made the view (in a mount
// namespace of its own, held by a helper) leaves no mount of it anywhere:
// the helper sees its parent gone and exits, and the namespace goes with
// every mount of the view. The next start makes it again; stop and host
// teardown leave no namespace holding it, and no folder.
func TestStoreViewCrash(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", h.busyboxFile("c.nix", `marker = "crash";`, ""))
	view := filepath.Join(h.dir, "state", "store", "c")
	views := filepath.Dir(view)
	dieAt := func(step string, args ...string) {
		t.Helper()
		cmd := h.command(args...)
		cmd.Env = append(cmd.Env, "NIXCLOUD_CONTAINER_TEST_DIE_AT="+step)
		if r := h.runCmd(cmd, args); r.code != 137 {
			t.Fatalf("%v dying at %s: exit %d, %q", args, step, r.code, r.stderr)
		}
		waitGone(t, processesNamed("nixcloud-container-store-view", view))
		if got := viewMounts(t, views); len(got) > 0 {
			t.Fatalf("after the crash at %s: namespaces hold the view: %v", step, got)
		}
	}
	want := baseNames(closure(t, h.currentStorePath("c")))
	dieAt("start:prepared", "start", "c")
	h.must("start", "c")
	if got := h.storeListing("c"); !slices.Equal(got, want) {
		t.Errorf("after the start: /nix/store lists %v, want %v", got, want)
	}
	if m := h.marker("c"); m != "crash" {
		t.Errorf("marker %q", m)
	}
	var monitor []string
	for _, n := range viewMounts(t, views) {
		monitor = append(monitor, n.pids...)
	}
	if len(monitor) == 0 {
		t.Fatal("running: no namespace holds the view")
	}
	h.must("stop", "c")
	waitGone(t, monitor)
	if got := viewMounts(t, views); len(got) > 0 {
		t.Errorf("after stop: namespaces hold the view: %v", got)
	}
	dieAt("start:prepared", "start", "c")
	h.must("host", "teardown")
	if _, err := os.Lstat(view); err == nil {
		t.Errorf("after host teardown: %s is still there", view)
	}
}

// TestStoreViewManyPaths: a container whose closure has over 1,000 paths
// starts, sees all of them and runs.
func TestStoreViewManyPaths(t *testing.T) {
	h := newHost(t, "")
	many := filepath.Join(repoRoot(), "examples", "busybox", "many-paths.nix")
	h.must("create", "c", h.busyboxFile("c.nix", fmt.Sprintf(`marker = "many"; extraPaths = import %s { n = 1000; };`, many), ""), "--start")
	want := baseNames(closure(t, h.currentStorePath("c")))
	if len(want) < 1000 {
		t.Fatalf("closure of %d paths, want over 1,000", len(want))
	}
	if got := h.storeListing("c"); !slices.Equal(got, want) {
		t.Errorf("/nix/store lists %d paths, want the closure's %d", len(got), len(want))
	}
	if m := h.marker("c"); m != "many" {
		t.Errorf("marker %q", m)
	}
	h.must("run", "c", "--", "sh", "-c", "for p in $(cat "+lxcGuestSystem+"/extra-paths); do test -e $p/manifest.nix; done")
}

// viewMounts scans every process on the machine and returns, per mount
// namespace (its /proc/PID/ns/mnt link), the mount points under dir it
// holds and the processes in it, for the namespaces that hold any.
func viewMounts(t *testing.T, dir string) map[string]*nsMounts {
	t.Helper()
	found := map[string]*nsMounts{}
	seen := map[string]bool{}
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		ns, err := os.Readlink(p + "/ns/mnt")
		if err != nil {
			continue // gone meanwhile
		}
		if n := found[ns]; n != nil {
			n.pids = append(n.pids, p)
		}
		if seen[ns] {
			continue
		}
		data, err := os.ReadFile(p + "/mountinfo")
		if err != nil {
			continue
		}
		seen[ns] = true
		var points []string
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				points = append(points, f[4])
			}
		}
		if len(points) > 0 {
			found[ns] = &nsMounts{points: points, pids: []string{p}}
		}
	}
	return found
}

type nsMounts struct {
	points []string
	pids   []string // /proc/PID
}

func (n *nsMounts) String() string {
	return fmt.Sprintf("%d mounts (%s, ...) held by %v", len(n.points), n.points[0], n.pids)
}

// mountPointsIn lists the mount points under dir in a process's
// mountinfo file.
func mountPointsIn(t *testing.T, mountinfo, dir string) []string {
	t.Helper()
	var points []string
	for _, line := range strings.Split(mustRead(t, mountinfo), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	return points
}

// waitGone waits until the processes (/proc/PID) have exited: a mount
// namespace goes with its last process. The bound only keeps a broken
// run from hanging until the suite's timeout (which skips the clean-up).
func waitGone(t *testing.T, pids []string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for _, p := range pids {
		for {
			if _, err := os.Stat(p); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has not exited", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// processesNamed lists the processes (/proc/PID) whose command line is
// exactly args.
func processesNamed(args ...string) []string {
	var found []string
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		data, err := os.ReadFile(p + "/cmdline")
		if err == nil && string(data) == strings.Join(args, "\x00")+"\x00" {
			found = append(found, p)
		}
	}
	return found
}

// TestStoreViewNotOnHost: a running closure container's store view (one
// mount per path of its closure) is in no namespace but the one its LXC
// monitor holds: not in the host's mount namespace (every command runs in
// one namespace playing it, as on a real host), not in the machine's real
// one; the container still sees exactly its closure. When it stops the
// namespace is gone with every mount of the view, and host teardown
// leaves no namespace and nothing mounted behind.
func TestStoreViewNotOnHost(t *testing.T) {
	h := newHost(t, "")
	h.oneMountNamespace()
	hostMountinfo := filepath.Join(filepath.Dir(filepath.Dir(h.mntns)), "mountinfo")
	views := filepath.Join(h.dir, "state", "store")
	many := filepath.Join(repoRoot(), "examples", "busybox", "many-paths.nix")
	h.must("create", "c", h.busyboxFile("c.nix", fmt.Sprintf(`marker = "apart"; extraPaths = import %s { n = 20; };`, many), ""), "--start")
	h.must("create", "all", h.busyboxFile("all.nix", `marker = "apart-all";`, `  store = "all";`), "--start")
	want := baseNames(closure(t, h.currentStorePath("c")))
	if got := h.storeListing("c"); !slices.Equal(got, want) {
		t.Errorf("/nix/store lists %v, want the closure %v", got, want)
	}
	if m := h.marker("c"); m != "apart" {
		t.Errorf("marker %q: its init did not run", m)
	}
	if got := mountPointsIn(t, hostMountinfo, views); len(got) > 0 {
		t.Fatalf("the host's mount namespace holds %d mounts of the store view: %v", len(got), got[:min(len(got), 5)])
	}
	if got := mountPointsIn(t, "/proc/self/mountinfo", views); len(got) > 0 {
		t.Errorf("the machine's mount namespace holds %d mounts of the store view", len(got))
	}
	held := viewMounts(t, views)
	if len(held) != 1 {
		t.Fatalf("%d mount namespaces hold the store views, want one (c's): %v", len(held), held)
	}
	var monitor []string
	for ns, n := range held {
		if len(n.points) != len(want)+1 {
			t.Errorf("namespace %s holds %d mounts under %s, want the view and one per closure path (%d)", ns, len(n.points), views, len(want)+1)
		}
		monitor = n.pids
	}
	h.must("stop", "c")
	waitGone(t, monitor)
	if got := viewMounts(t, views); len(got) > 0 {
		t.Errorf("after stop, namespaces still hold the view: %v", got)
	}
	// Started again, stopped with the other, and the host torn down.
	h.must("start", "c")
	monitor = nil
	for _, n := range viewMounts(t, views) {
		monitor = append(monitor, n.pids...)
	}
	if len(monitor) == 0 {
		t.Fatal("started again: no namespace holds the view")
	}
	h.must("stop", "c")
	h.must("stop", "all")
	h.must("host", "teardown")
	waitGone(t, monitor)
	if got := viewMounts(t, h.dir); len(got) > 0 {
		t.Errorf("after stop and host teardown, namespaces still hold mounts under %s: %v", h.dir, got)
	}
}
