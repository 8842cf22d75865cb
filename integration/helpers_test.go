// Package integration runs the nixcloud-container binary against real LXC,
// Nix and the kernel. Every test needs root and skips without it. Each
// test gets its own host.toml whose paths live in a t.TempDir().
package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
	"github.com/nixcloud/nixcloud-container/records"
)

var (
	binary string
	// probe is the static network test tool (integration/probe).
	probe string
	// cgroupMounts is the shell script that mounts the host's cgroups.
	cgroupMounts string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test skips
	}
	dir, err := os.MkdirTemp("", "ncc-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Containers' mapped root reaches the probe through a bind mount.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if cgroupMounts, err = cgroupMountScript(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binary = filepath.Join(dir, "nixcloud-container")
	probe = filepath.Join(dir, "probe")
	for _, b := range []struct{ out, pkg string }{{binary, "../cmd/nixcloud-container"}, {probe, "./probe"}} {
		build := exec.Command("go", "build", "-o", b.out, b.pkg)
		build.Env = os.Environ()
		if b.out == probe {
			build.Env = append(build.Env, "CGO_ENABLED=0") // runs in busybox guests
		}
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			return 1
		}
	}
	// The tool adds root's ranges to /etc/subuid and /etc/subgid and its
	// destroy removes the lines it added; destroyAll removes those of
	// containers whose destroy failed. Nothing else touches the files:
	// other users (and other test runs) keep their lines.
	return m.Run()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: real LXC containers, Nix builds and /etc/subuid")
	}
}

// host is one isolated installation of the tool.
type host struct {
	t      *testing.T
	dir    string
	config string
	// netns is the network namespace every command runs in: the "host".
	// uplink is a second namespace, the host's upstream, reached from the
	// host through the veth up0 (192.0.2.2) – up1 (192.0.2.1), which is
	// also the host's default route.
	netns, uplink string
	// mntns, when set, is the mount namespace every command runs in (see
	// oneMountNamespace); else each gets its own from `ip netns exec`.
	mntns string
}

// newHost writes a host.toml with every path under a fresh temp folder,
// plus extra TOML.
func newHost(t *testing.T, extra string) *host {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	// Containers' mapped root users pass through these folders.
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := &host{t: t, dir: dir, config: filepath.Join(dir, "host.toml")}
	toml := fmt.Sprintf("state_dir = %q\nprofiles_dir = %q\n%s", filepath.Join(dir, "state"), filepath.Join(dir, "profiles"), extra)
	if err := os.WriteFile(h.config, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Network rule: every bridge, rule and packet of a test stays inside
	// namespaces the test made.
	h.netns = newNetns(t, "host")
	h.uplink = newNetns(t, "uplink")
	ipCmd(t, "-n", h.netns, "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", h.uplink)
	ipCmd(t, "-n", h.netns, "addr", "add", "192.0.2.2/24", "dev", "up0")
	ipCmd(t, "-n", h.netns, "link", "set", "up0", "up")
	ipCmd(t, "-n", h.uplink, "addr", "add", "192.0.2.1/24", "dev", "up1")
	ipCmd(t, "-n", h.uplink, "link", "set", "up1", "up")
	ipCmd(t, "-n", h.netns, "route", "add", "default", "via", "192.0.2.1")
	t.Cleanup(h.destroyAll)
	return h
}

// result of one command.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the tool with the host's config.
func (h *host) run(args ...string) result {
	h.t.Helper()
	return h.runStdin("", args...)
}

func (h *host) runStdin(stdin string, args ...string) result {
	h.t.Helper()
	cmd := h.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	return h.runCmd(cmd, args)
}

// command is the tool with args, run in the host's network namespace with
// the host's cgroups mounted again (see cgroupMountScript).
func (h *host) command(args ...string) *exec.Cmd {
	if h.mntns != "" {
		cmd := exec.Command("nsenter", append([]string{"--mount=" + h.mntns, "--net=/run/netns/" + h.netns, "--", binary}, args...)...)
		cmd.Env = append(os.Environ(), "NIXCLOUD_CONTAINER_HOST_CONFIG="+h.config)
		return cmd
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.netns, "sh", "-ec", cgroupMounts + `exec "$0" "$@"`, binary}, args...)...)
	cmd.Env = append(os.Environ(), "NIXCLOUD_CONTAINER_HOST_CONFIG="+h.config)
	return cmd
}

// runCmd runs a command from h.command; one killed by signal N exits
// 128+N, as a shell reports it.
func (h *host) runCmd(cmd *exec.Cmd, args []string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		h.t.Fatalf("run %v: %v", args, err)
	}
	return r
}

// must runs the tool and fails the test unless it exits 0.
func (h *host) must(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func (h *host) state(name string) string {
	h.t.Helper()
	return strings.TrimSpace(h.must("state", name))
}

// destroyAll removes every container the test left and the host
// networking, so nothing keeps running after it (a dnsmasq would keep the
// namespace alive).
func (h *host) destroyAll() {
	store := records.Store{Dir: filepath.Join(h.dir, "state", "containers")}
	entries, _ := os.ReadDir(store.Dir)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rec, recErr := store.Load(e.Name())
		h.run("destroy", "--force", e.Name())
		if _, err := os.Stat(store.ContainerDir(e.Name())); err == nil && recErr == nil {
			// The destroy failed: remove the lines the tool added for it
			// (and only those).
			removeLines(rec.SubIDFiles, fmt.Sprintf("root:%d:%d", rec.UIDBase, rec.UIDSize))
		}
	}
	h.run("host", "teardown")
}

// removeLines removes one occurrence of line from each file, under the
// tool's subordinate id lock, atomically.
func removeLines(files []string, line string) {
	if unlock, err := (records.Store{LockPath: containers.SubIDLockPath}).Lock(); err == nil {
		defer unlock()
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.SplitAfter(string(data), "\n")
		for i, l := range lines {
			if strings.TrimRight(l, "\n") == line {
				atomicfile.WriteFile(f, []byte(strings.Join(append(lines[:i:i], lines[i+1:]...), "")), 0o644)
				break
			}
		}
	}
}

// writeFile writes a file in the host's folder and returns its path.
func (h *host) writeFile(name, content string) string {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// cgroupMountScript returns shell commands that mount the host's cgroup
// file systems again. `ip netns exec` gives the command a fresh /sys for
// its network namespace, which hides /sys/fs/cgroup; LXC then finds no
// cgroup hierarchy and starts containers without any cgroup (so no
// limits). Mounting the same hierarchies again in that private mount
// namespace gives LXC the host's real cgroups.
func cgroupMountScript() (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			continue
		}
		mp, fstype, opts := f[4], f[sep+1], f[sep+3]
		if mp != "/sys/fs/cgroup" && !strings.HasPrefix(mp, "/sys/fs/cgroup/") {
			continue
		}
		if fstype != "tmpfs" && fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		fmt.Fprintf(&b, "mkdir -p %s && mount -t %s -o %s %s %s\n", mp, fstype, opts, fstype, mp)
	}
	if b.Len() == 0 {
		return "", errors.New("no cgroup file systems under /sys/fs/cgroup")
	}
	return b.String(), nil
}

// repoRoot is the repository's top folder.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// busyboxFile writes a container file for the busybox example system with
// the given arguments and extra top-level settings.
func (h *host) busyboxFile(name, sysArgs, settings string) string {
	h.t.Helper()
	sys := filepath.Join(repoRoot(), "examples", "busybox", "system.nix")
	return h.writeFile(name, fmt.Sprintf("{\n  system = import %s { %s };\n%s\n}\n", sys, sysArgs, settings))
}

// treeSnapshot lists every path under dir with its mode and size, to show
// that a failed command changed nothing.
func treeSnapshot(t *testing.T, dirs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range dirs {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				fmt.Fprintf(&b, "%s: %v\n", p, err)
				return nil
			}
			fmt.Fprintf(&b, "%s %v %d\n", p, info.Mode(), info.Size())
			return nil
		})
	}
	return b.String()
}

// newNetns creates a network namespace for the test (removed afterwards)
// with its loopback up.
func newNetns(t *testing.T, name string) string {
	t.Helper()
	netnsSeq++
	ns := fmt.Sprintf("ncc-%s-%d-%d", name, os.Getpid()%100000, netnsSeq)
	ipCmd(t, "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	return ns
}

var netnsSeq int

// ipCmd runs iproute2's ip (test set-up only; the tool uses netlink).
func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetns runs a command inside a namespace and returns its output.
func inNetns(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

// dropSubIDNotices removes the tool's "added it back" notices about
// /etc/subuid and /etc/subgid lines from stderr.
func dropSubIDNotices(stderr string) string {
	var keep []string
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if !strings.Contains(l, "; added it back") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}
