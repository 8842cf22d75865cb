package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// lxcInfoState asks liblxc's own tool (lxc-info) for a container's state,
// from the host's network namespace (LXC's command socket lives there).
func (h *host) lxcInfoState(name string) string {
	h.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", h.netns, "lxc-info", "-P", filepath.Join(h.dir, "state", "containers"), "-n", name, "-s", "-H").CombinedOutput()
	if err != nil {
		h.t.Fatalf("lxc-info %s: %v: %s", name, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestListStates: list, list --json and state read a container's state
// from its monitor's command socket (and liblxc only when a monitor
// answers): they agree with lxc-info, for a short state path (the socket
// is named after the path) and for a long one (LXC hashes the name).
func TestListStates(t *testing.T) {
	for _, sub := range []string{"short", "long-state-path-so-that-lxc-hashes-the-command-socket-name"} {
		t.Run(sub, func(t *testing.T) {
			h := newHost(t, "")
			lxcpath := filepath.Join(h.dir, "state", "containers")
			long := len(lxcpath+"/up/command") >= 106
			if long != (sub != "short") {
				t.Fatalf("state path %q: want it long (hashed socket name) only in the long case", lxcpath)
			}
			for _, n := range []string{"up", "down"} {
				h.must("create", n, h.busyboxFile(n+".nix", "", ""))
			}
			h.must("start", "up")
			want := map[string]string{"up": "RUNNING", "down": "STOPPED"}
			var infos []struct {
				Name  string `json:"name"`
				State string `json:"state"`
			}
			if err := json.Unmarshal([]byte(h.must("list", "--json")), &infos); err != nil {
				t.Fatal(err)
			}
			if len(infos) != 2 {
				t.Fatalf("list --json: %d containers, want 2", len(infos))
			}
			table := h.must("list")
			for _, i := range infos {
				if i.State != want[i.Name] {
					t.Errorf("list --json: %s is %s, want %s", i.Name, i.State, want[i.Name])
				}
				if got := h.state(i.Name); got != want[i.Name] {
					t.Errorf("state %s: %s, want %s", i.Name, got, want[i.Name])
				}
				if got := h.lxcInfoState(i.Name); got != want[i.Name] {
					t.Errorf("lxc-info %s: %s, want %s", i.Name, got, want[i.Name])
				}
				if !strings.Contains(table, "\n"+i.Name+" ") || !strings.Contains(table, want[i.Name]) {
					t.Errorf("list:\n%s\nwant %s %s", table, i.Name, want[i.Name])
				}
			}
			h.must("stop", "up")
			if got := h.state("up"); got != "STOPPED" {
				t.Errorf("state after stop: %s", got)
			}
		})
	}
}

// TestAutostartJobs: autostart --jobs 2 starts every autostart container,
// one line each; a priority group is finished (lines printed) before the
// next begins; a bad --jobs is refused with one line.
func TestAutostartJobs(t *testing.T) {
	h := newHost(t, "")
	files := map[string]string{
		"a1":     `autostart = true; autostartPriority = 20;`,
		"a2":     `autostart = true; autostartPriority = 20; autostartDelay = 0.2;`,
		"a3":     `autostart = true; autostartPriority = 20;`,
		"b1":     `autostart = true; autostartPriority = 10;`,
		"b2":     `autostart = true; autostartPriority = 10;`,
		"c1":     `autostart = true;`,
		"manual": `autostartPriority = 30;`,
	}
	var all []string
	for n := range files {
		all = append(all, n)
	}
	sort.Strings(all)
	for _, n := range all {
		h.must("create", n, h.busyboxFile(n+".nix", "", files[n]))
	}
	if r := h.run("autostart", "--jobs", "0"); r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--jobs") {
		t.Fatalf("autostart --jobs 0: exit %d, stderr %q: want a usage error", r.code, r.stderr)
	}
	if got := h.state("a1"); got != "STOPPED" {
		t.Fatalf("a refused autostart started %s", got)
	}
	h.must("start", "b2") // already running: a line of its own all the same
	r := h.run("autostart", "--jobs", "2")
	if r.code != 0 {
		t.Fatalf("autostart --jobs 2: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("autostart printed %d lines, want 6 (one per autostart container):\n%s", len(lines), r.stdout)
	}
	group := func(ls []string) string {
		ls = append([]string(nil), ls...)
		sort.Strings(ls)
		return strings.Join(ls, ", ")
	}
	if got := group(lines[:3]); got != "a1: started, a2: started, a3: started" {
		t.Errorf("first three lines %q: want priority 20's", got)
	}
	if got := group(lines[3:5]); got != "b1: started, b2: already running" {
		t.Errorf("lines 4-5 %q: want priority 10's", got)
	}
	if lines[5] != "c1: started" {
		t.Errorf("last line %q: want c1 (priority 0)", lines[5])
	}
	for _, n := range all {
		want := "RUNNING"
		if n == "manual" {
			want = "STOPPED"
		}
		if got := h.state(n); got != want {
			t.Errorf("%s: %s after autostart, want %s", n, got, want)
		}
	}
}

// nixLog runs the tool with nix-instantiate, nix-build and nix-env behind
// shims that log each call (one line: program and arguments) and run the
// real program; it returns the result and the calls.
func (h *host) nixLog(args ...string) (result, []string) {
	h.t.Helper()
	shims := filepath.Join(h.dir, "nix-shims")
	logFile := filepath.Join(h.dir, "nix-calls.log")
	if _, err := os.Stat(shims); err != nil {
		if err := os.MkdirAll(shims, 0o755); err != nil {
			h.t.Fatal(err)
		}
		for _, prog := range []string{"nix-instantiate", "nix-build", "nix-env"} {
			real, err := exec.LookPath(prog)
			if err != nil {
				h.t.Fatal(err)
			}
			script := fmt.Sprintf("#!/bin/sh\necho \"%s $*\" >> %s\nexec %s \"$@\"\n", prog, logFile, real)
			if err := os.WriteFile(filepath.Join(shims, prog), []byte(script), 0o755); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	os.Remove(logFile)
	cmd := h.command(args...)
	cmd.Env = append(cmd.Env, "PATH="+shims+":"+os.Getenv("PATH"))
	r := h.runCmd(cmd, args)
	data, _ := os.ReadFile(logFile)
	return r, strings.Split(strings.TrimSpace(string(data)), "\n")
}

// TestEvaluateOnce: create and update evaluate the container file once
// (settings and generation from one nix-instantiate; nix-build only
// realises the evaluated derivation), and an update that changes nothing
// runs nothing but that one nix-instantiate.
func TestEvaluateOnce(t *testing.T) {
	h := newHost(t, "")
	file := h.busyboxFile("c.nix", "", "")
	r, calls := h.nixLog("create", "c", file)
	if r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	if len(calls) != 3 || !strings.HasPrefix(calls[0], "nix-instantiate ") || !strings.HasPrefix(calls[1], "nix-build /nix/store/") ||
		!strings.Contains(strings.Fields(calls[1])[1], ".drv") || !strings.HasPrefix(calls[2], "nix-env ") {
		t.Errorf("create ran %q: want one nix-instantiate, nix-build of its derivation, nix-env", calls)
	}
	r, calls = h.nixLog("update", "c")
	if r.code != 0 {
		t.Fatalf("no-op update: exit %d: %s", r.code, r.stderr)
	}
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "nix-instantiate ") {
		t.Errorf("no-op update ran %q: want one nix-instantiate and nothing else", calls)
	}
	// A changed file: still one evaluation, a build of its derivation and
	// the new generation.
	h.busyboxFile("c.nix", `marker = "changed";`, "")
	r, calls = h.nixLog("update", "c")
	if r.code != 0 {
		t.Fatalf("update: exit %d: %s", r.code, r.stderr)
	}
	var inst, build int
	for _, c := range calls {
		switch {
		case strings.HasPrefix(c, "nix-instantiate "):
			inst++
		case strings.HasPrefix(c, "nix-build "):
			build++
			if !strings.Contains(strings.Fields(c)[1], ".drv") {
				t.Errorf("update evaluated again: %q", c)
			}
		}
	}
	if inst != 1 || build != 1 {
		t.Errorf("update ran %q: want one nix-instantiate and one nix-build", calls)
	}
	if gens := h.generations("c"); len(gens) != 2 || !gens[1].Current {
		t.Errorf("after the update: generations %+v, want a second, current one", gens)
	}
}

// monitorPrivateRSS returns RssAnon (kB) of the LXC monitor of a container
// of the host: the memory it holds of its own, not shared libraries.
func (h *host) monitorPrivateRSS(name string) int {
	h.t.Helper()
	want := "[lxc monitor] " + filepath.Join(h.dir, "state", "containers") + " " + name
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || strings.TrimRight(string(cmdline), "\x00") != want {
			continue
		}
		status, err := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(status), "\n") {
			var kb int
			if n, _ := fmt.Sscanf(l, "RssAnon: %d kB", &kb); n == 1 {
				return kb
			}
		}
	}
	h.t.Fatalf("no LXC monitor for %s", name)
	return 0
}

// TestMonitorAsSmallAsLXCStart: the monitor a start leaves holds no more
// private memory than the one raw lxc-start leaves for the same container
// (a fork of the Go tool held about three times as much).
func TestMonitorAsSmallAsLXCStart(t *testing.T) {
	h := newHost(t, "")
	// store = "all": the raw lxc-start below has no store view made for it.
	h.must("create", "m", h.busyboxFile("m.nix", "", `store = "all";`))
	h.must("start", "m")
	tool := h.monitorPrivateRSS("m")
	h.must("terminate", "m")
	lxcpath := filepath.Join(h.dir, "state", "containers")
	// The host side the tool made (bridge, rules) stays for the raw start.
	inNetns(t, h.netns, "sh", "-ec", cgroupMounts+`exec lxc-start -P "$0" -n m`, lxcpath)
	raw := h.monitorPrivateRSS("m")
	inNetns(t, h.netns, "lxc-stop", "-k", "-P", lxcpath, "-n", "m")
	t.Logf("monitor private RSS: tool %d kB, lxc-start %d kB", tool, raw)
	if tool > raw+128 {
		t.Errorf("the tool's LXC monitor holds %d kB of private memory, lxc-start's %d kB", tool, raw)
	}
}
