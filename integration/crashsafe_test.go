package integration

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
)

// crashHost is a host whose uid ranges no other test run on this machine
// uses (other test runs share the default base, and one's destroy may
// remove a line the other's containers rely on), so that the
// /etc/subuid checks below see only this host's lines.
func crashHost(t *testing.T, extra string) *host {
	t.Helper()
	base := 3000000000 + uint64(os.Getpid()%4000)*65536*4
	return newHost(t, fmt.Sprintf("%s\n[idmap]\nbase = %d\nsize = 65536\nisolated = true\n", extra, base))
}

// runEnv runs the tool with extra environment variables.
func (h *host) runEnv(env []string, args ...string) result {
	h.t.Helper()
	cmd := h.command(args...)
	cmd.Env = append(cmd.Env, env...)
	return h.runCmd(cmd, args)
}

// dieAt runs a verb that kills itself with SIGKILL at the named step.
func (h *host) dieAt(stepName string, args ...string) {
	h.t.Helper()
	r := h.runEnv([]string{"NIXCLOUD_CONTAINER_TEST_DIE_AT=" + stepName}, args...)
	if r.code != 137 {
		h.t.Fatalf("%s with death at %s: exit %d, want 137 (killed)\nstderr: %s", strings.Join(args, " "), stepName, r.code, r.stderr)
	}
}

// leftovers lists what the host still holds of a destroyed container:
// folders, profile (its generations are GC roots), lock, lease, rules,
// veths, cgroups, its /etc/subuid and /etc/subgid lines.
func (h *host) leftovers(name string, slot int, uidBase uint32) []string {
	h.t.Helper()
	var out []string
	for _, p := range []string{
		filepath.Join(h.dir, "state", "containers", name),
		filepath.Join(h.dir, "profiles", name),
		filepath.Join(h.dir, "state", "locks", name+".lock"),
		filepath.Join(h.dir, "state", "dnsmasq", "brNC-internet", "hosts", name),
	} {
		if _, err := os.Lstat(p); err == nil {
			out = append(out, p)
		}
	}
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		rules, _ := exec.Command("ip", "netns", "exec", h.netns, save).CombinedOutput()
		if strings.Contains(string(rules), "container "+name+"\"") || strings.Contains(string(rules), "container "+name+" ") {
			out = append(out, save+": rules tagged with "+name)
		}
	}
	ruleset, _ := exec.Command("ip", "netns", "exec", h.netns, "nft", "list", "ruleset").CombinedOutput()
	for _, veth := range []string{fmt.Sprintf("nc%dh", slot), fmt.Sprintf("nc%di", slot)} {
		if strings.Contains(string(ruleset), `"`+veth+`"`) {
			out = append(out, "packet filter of "+veth)
		}
	}
	links, _ := exec.Command("ip", "-n", h.netns, "-o", "link", "show").CombinedOutput()
	for _, l := range strings.Split(string(links), "\n") {
		if strings.Contains(l, fmt.Sprintf(": nc%dh", slot)) || strings.Contains(l, fmt.Sprintf(": nc%di", slot)) {
			out = append(out, "veth "+l)
		}
	}
	out = append(out, cgroupLeftovers(name)...)
	line := fmt.Sprintf("root:%d:65536", uidBase)
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		data, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(data), "\n") {
			if l == line {
				out = append(out, f+": "+line)
			}
		}
	}
	return out
}

// cgroupLeftovers finds LXC's cgroups of a container name anywhere in
// the cgroup hierarchies (a few levels deep).
func cgroupLeftovers(name string) []string {
	var out []string
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Count(strings.TrimPrefix(p, "/sys/fs/cgroup"), "/") > 4 {
			return filepath.SkipDir
		}
		if lxc.IsCgroupOf(d.Name(), name) {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// wantNothingLeft fails the test when anything of the container is left.
func (h *host) wantNothingLeft(name string, slot int, uidBase uint32) {
	h.t.Helper()
	if left := h.leftovers(name, slot, uidBase); len(left) > 0 {
		h.t.Fatalf("container %s: left after destroy:\n%s", name, strings.Join(left, "\n"))
	}
}

// recordFileMatchesGeneration checks the invariant that the recorded
// container file is the one the current generation was built from.
func (h *host) recordFileMatchesGeneration(name string) *records.Record {
	h.t.Helper()
	rec := h.record(name)
	cur := currentGeneration(h.t, h, name)
	if rec.Intent != nil {
		h.t.Fatalf("container %s: intent %+v left after a finished verb", name, rec.Intent)
	}
	if rec.Generation != cur {
		h.t.Fatalf("container %s: record says generation %d, profile %d", name, rec.Generation, cur)
	}
	if src, ok := rec.Sources[cur]; !ok || src.File != rec.File {
		h.t.Fatalf("container %s: recorded file %s, generation %d was built from %+v", name, rec.File, cur, rec.Sources[cur])
	}
	return rec
}

// portFlags returns the bridge port flags of a host veth ("hairpin on",
// "isolated on").
func (h *host) portFlags(veth string) string {
	h.t.Helper()
	out, _ := exec.Command("ip", "-n", h.netns, "-d", "link", "show", "dev", veth).CombinedOutput()
	var flags []string
	for _, f := range []string{"hairpin on", "isolated on"} {
		if strings.Contains(string(out), f) {
			flags = append(flags, f)
		}
	}
	return strings.Join(flags, ", ")
}

// TestRaceStartDestroy: start and destroy --force of one container at
// once, 20 times: destroy always wins in the end and leaves nothing.
func TestRaceStartDestroy(t *testing.T) {
	h := crashHost(t, "")
	file := h.busyboxFile("nat.nix", "", `network.enableNat = true;`)
	for i := 0; i < 20; i++ {
		h.must("create", "rsd", file)
		rec := h.record("rsd")
		var wg sync.WaitGroup
		var start, destroy result
		wg.Add(2)
		go func() { defer wg.Done(); start = h.run("start", "rsd") }()
		go func() { defer wg.Done(); destroy = h.run("destroy", "--force", "rsd") }()
		wg.Wait()
		if destroy.code != 0 {
			t.Fatalf("round %d: destroy exit %d: %s", i, destroy.code, destroy.stderr)
		}
		if start.code != 0 && !strings.Contains(start.stderr, "does not exist") {
			t.Fatalf("round %d: start exit %d: %s", i, start.code, start.stderr)
		}
		h.wantNothingLeft("rsd", rec.Slot, rec.UIDBase)
	}
}

// TestRaceEphemeralStarts: two starts of an ephemeral container at once,
// 20 times: one starts it, the other finds it running; it runs.
func TestRaceEphemeralStarts(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "reph", h.busyboxFile("eph.nix", "", `ephemeral = true;`))
	waited := 0
	for i := 0; i < 20; i++ {
		var wg sync.WaitGroup
		var r [2]result
		for j := range r {
			wg.Add(1)
			go func() { defer wg.Done(); r[j] = h.run("start", "reph") }()
		}
		wg.Wait()
		already := 0
		for _, x := range r {
			if x.code != 0 {
				t.Fatalf("round %d: start exit %d: %s", i, x.code, x.stderr)
			}
			if strings.Contains(x.stderr, "already running") {
				already++
			}
			if strings.Count(x.stderr, "waiting for") > 1 {
				t.Fatalf("round %d: the wait was announced more than once: %q", i, x.stderr)
			}
			if strings.Contains(x.stderr, "waiting for") {
				waited++
			}
		}
		if already != 1 {
			t.Fatalf("round %d: %d of the two starts found it running, want 1: %q / %q", i, already, r[0].stderr, r[1].stderr)
		}
		if st := h.state("reph"); st != "RUNNING" {
			t.Fatalf("round %d: state %s", i, st)
		}
		if out := h.must("run", "reph", "--", "cat", "/run/marker"); out != "busybox\n" {
			t.Fatalf("round %d: marker %q", i, out)
		}
		h.must("terminate", "reph")
	}
	t.Logf("%d of 40 starts waited for the other", waited)
}

// TestRaceParallelUpdates: five updates of one running container at
// once: each makes its generation, the record names the file of the
// current generation, and the container runs that generation.
func TestRaceParallelUpdates(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "--start", "rup", h.busyboxFile("u0.nix", `marker = "u0";`, ""))
	files := make([]string, 5)
	for i := range files {
		files[i] = h.busyboxFile(fmt.Sprintf("u%d.nix", i+1), fmt.Sprintf(`marker = "u%d";`, i+1), "")
	}
	// Build them first, so the updates race on the lock, not on Nix.
	for _, f := range files {
		if out, err := exec.Command("nix-build", "--no-out-link", "-E", fmt.Sprintf("(import %s).system", f)).CombinedOutput(); err != nil {
			t.Fatalf("prebuild %s: %v\n%s", f, err, out)
		}
	}
	var wg sync.WaitGroup
	rs := make([]result, len(files))
	for i, f := range files {
		wg.Add(1)
		go func() { defer wg.Done(); rs[i] = h.run("update", "rup", f) }()
	}
	wg.Wait()
	waited := 0
	for i, r := range rs {
		if r.code != 0 {
			t.Fatalf("update %d: exit %d: %s", i+1, r.code, r.stderr)
		}
		if n := strings.Count(r.stderr, "waiting for"); n > 1 {
			t.Fatalf("update %d announced its wait %d times: %q", i+1, n, r.stderr)
		} else if n == 1 {
			waited++
		}
	}
	if waited == 0 {
		t.Fatalf("none of five parallel updates waited for another")
	}
	if cur := currentGeneration(t, h, "rup"); cur != 6 {
		t.Fatalf("current generation %d, want 6 (one per update)", cur)
	}
	rec := h.recordFileMatchesGeneration("rup")
	want := strings.TrimSuffix(filepath.Base(rec.File), ".nix")
	if st := h.state("rup"); st != "RUNNING" {
		t.Fatalf("state %s after the updates", st)
	}
	if out := h.must("run", "rup", "--", "cat", "/run/marker"); out != want+"\n" {
		t.Fatalf("the container runs %q, the record names %s", out, rec.File)
	}
}

// TestFaultInjection kills the tool with SIGKILL at every step boundary
// of create, update (stopped and running container), start and destroy,
// checks what it left, and that the next verb recovers.
func TestFaultInjection(t *testing.T) {
	h := crashHost(t, "")
	settings := `network.enableNat = true; forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`
	file := func(marker string) string {
		return h.busyboxFile(marker+".nix", fmt.Sprintf("marker = %q;", marker), settings)
	}
	f0 := file("f0")
	listed := func(name string) string {
		for _, l := range strings.Split(h.must("list"), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == name {
				return l
			}
		}
		return ""
	}
	destroyAndCheck := func(name string) {
		t.Helper()
		rec := h.record(name)
		h.must("destroy", "--force", name)
		h.wantNothingLeft(name, rec.Slot, rec.UIDBase)
	}
	// running checks that the container runs the current generation's
	// system with its host side in place.
	running := func(name string) {
		t.Helper()
		if st := h.state(name); st != "RUNNING" {
			t.Fatalf("state %s, want RUNNING", st)
		}
		rec := h.recordFileMatchesGeneration(name)
		want := strings.TrimSuffix(filepath.Base(rec.File), ".nix") + "\n"
		if out := h.must("run", name, "--", "cat", "/run/marker"); out != want {
			t.Fatalf("runs %q, the current generation is %s's", out, rec.File)
		}
		veth := fmt.Sprintf("nc%dh", rec.Slot)
		if flags := h.portFlags(veth); flags != "hairpin on" {
			t.Fatalf("port flags of %s: %q", veth, flags)
		}
		if ports := inNetns(t, h.netns, "nft", "list", "map", "bridge", "nixcloud_brNC_hostonly", "ports"); !strings.Contains(ports, `"`+veth+`"`) {
			t.Fatalf("no packet filter on %s:\n%s", veth, ports)
		}
		rules, _ := exec.Command("ip", "netns", "exec", h.netns, "iptables-save", "-t", "nat").CombinedOutput()
		if !strings.Contains(string(rules), "container "+name) {
			t.Fatalf("no port forward of %s:\n%s", name, rules)
		}
	}

	for i, st := range []string{"create:allocated", "create:built", "create:rootfs", "create:configured"} {
		t.Run(st, func(t *testing.T) {
			h.t = t
			h.dieAt(st, "create", "fc", f0)
			if r := h.run("exists", "fc"); r.code != 1 {
				t.Fatalf("exists after an interrupted create: exit %d", r.code)
			}
			if l := listed("fc"); !strings.Contains(l, "INTERRUPTED (create)") {
				t.Fatalf("list shows %q, want it INTERRUPTED (create)", l)
			}
			if r := h.run("start", "fc"); r.code != 1 {
				t.Fatalf("start of an interrupted create: exit %d", r.code)
			}
			if i%2 == 0 {
				rec := h.record("fc")
				h.must("destroy", "fc")
				h.wantNothingLeft("fc", rec.Slot, rec.UIDBase)
				return
			}
			r := h.run("create", "fc", f0)
			if r.code != 0 || !strings.Contains(r.stderr, "interrupted create") {
				t.Fatalf("create after an interrupted one: exit %d, %q", r.code, r.stderr)
			}
			destroyAndCheck("fc")
		})
	}

	t.Run("update-stopped", func(t *testing.T) {
		h.t = t
		h.must("create", "fc", f0)
		for i, st := range []string{"update:intent", "update:built", "update:recorded"} {
			next := file(fmt.Sprintf("s%d", i))
			before := h.record("fc").File
			h.dieAt(st, "update", "fc", next)
			rec := h.record("fc")
			if rec.File != before && rec.File != next {
				t.Fatalf("%s: recorded file %s", st, rec.File)
			}
			if rec.Intent == nil || rec.Intent.Op != "update" {
				t.Fatalf("%s: no update intent recorded: %+v", st, rec.Intent)
			}
			r := h.run("update", "fc")
			if r.code != 0 || !strings.Contains(r.stderr, "interrupted update") {
				t.Fatalf("%s: the next update: exit %d, %q", st, r.code, r.stderr)
			}
			rec = h.recordFileMatchesGeneration("fc")
			if st != "update:intent" && rec.File != next {
				t.Fatalf("%s: the generation of %s landed, the record names %s", st, next, rec.File)
			}
			if s := h.state("fc"); s != "STOPPED" {
				t.Fatalf("%s: state %s", st, s)
			}
		}
		destroyAndCheck("fc")
	})

	t.Run("update-running", func(t *testing.T) {
		h.t = t
		h.must("create", "--start", "fc", f0)
		for i, st := range []string{"update:intent", "update:built", "update:recorded", "update:stopped"} {
			h.dieAt(st, "update", "fc", file(fmt.Sprintf("r%d", i)))
			if st == "update:stopped" {
				if s := h.state("fc"); s != "STOPPED" {
					t.Fatalf("%s: state %s", st, s)
				}
			}
			next := []string{"start", "fc"}
			if i%2 == 1 {
				next = []string{"update", "fc"}
			}
			if r := h.run(next...); r.code != 0 || !strings.Contains(r.stderr, "interrupted update") {
				t.Fatalf("%s: %s: exit %d, %q", st, strings.Join(next, " "), r.code, r.stderr)
			}
			running("fc")
		}
		destroyAndCheck("fc")
	})

	t.Run("start", func(t *testing.T) {
		h.t = t
		h.must("create", "fc", f0)
		h.dieAt("start:prepared", "start", "fc")
		if s := h.state("fc"); s != "STOPPED" {
			t.Fatalf("start:prepared: state %s", s)
		}
		h.must("start", "fc")
		running("fc")
		h.must("stop", "fc")
		h.dieAt("start:started", "start", "fc")
		rec := h.record("fc")
		if flags := h.portFlags(fmt.Sprintf("nc%dh", rec.Slot)); flags != "" {
			t.Fatalf("start:started: port flags %q before the next start", flags)
		}
		if l := listed("fc"); !strings.Contains(l, "RUNNING (interrupted start)") {
			t.Fatalf("list shows %q", l)
		}
		r := h.run("start", "fc")
		if r.code != 0 || !strings.Contains(r.stderr, "re-asserted") {
			t.Fatalf("start of the running container: exit %d, %q", r.code, r.stderr)
		}
		running("fc")
		destroyAndCheck("fc")
	})

	for _, st := range []string{"destroy:marked", "destroy:killed", "destroy:network", "destroy:profile", "destroy:subids", "destroy:lxc"} {
		t.Run(st, func(t *testing.T) {
			h.t = t
			h.must("create", "--start", "fc", f0)
			rec := h.record("fc")
			h.dieAt(st, "destroy", "--force", "fc")
			if st == "destroy:lxc" {
				// LXC's destroy took the folder and the record with it:
				// the container is gone; its lock file is all that is left,
				// and the next verb on the name removes it.
				if r := h.run("destroy", "fc"); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
					t.Fatalf("destroy after destroy:lxc: exit %d, %q", r.code, r.stderr)
				}
				h.wantNothingLeft("fc", rec.Slot, rec.UIDBase)
				return
			}
			if r := h.run("start", "fc"); r.code != 1 || !strings.Contains(r.stderr, "destroy was interrupted") {
				t.Fatalf("start after an interrupted destroy: exit %d, %q", r.code, r.stderr)
			}
			if l := listed("fc"); !strings.Contains(l, "interrupted destroy") {
				t.Fatalf("list shows %q", l)
			}
			h.must("destroy", "--force", "fc")
			h.wantNothingLeft("fc", rec.Slot, rec.UIDBase)
		})
	}
}

// TestUpdateBrokenSystem: an update never leaves a service down. A system
// without an executable init is refused at build time; a generation that
// fails to start returns the container to the one that ran, running.
func TestUpdateBrokenSystem(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "--start", "ub", h.busyboxFile("good.nix", `marker = "good";`, ""))
	pid := h.initPID("ub")

	r := h.run("update", "ub", h.busyboxFile("noinit.nix", `marker = "noinit"; initMode = "not-executable";`, ""))
	if r.code != 1 || !strings.Contains(r.stderr, "no executable init") {
		t.Fatalf("update to a system without an executable init: exit %d, %q", r.code, r.stderr)
	}
	if cur := currentGeneration(t, h, "ub"); cur != 1 {
		t.Fatalf("a refused build became generation %d", cur)
	}
	if now := h.initPID("ub"); now != pid {
		t.Fatalf("the refused update restarted the container (pid %d -> %d)", pid, now)
	}

	r = h.run("update", "ub", h.busyboxFile("noexec.nix", `marker = "noexec"; initMode = "cannot-exec";`, ""))
	if r.code != 1 || !strings.Contains(r.stderr, "generation 2: the new generation failed") || !strings.Contains(r.stderr, "back on generation 1, running") {
		t.Fatalf("update to a generation that cannot start: exit %d, %q", r.code, r.stderr)
	}
	if st := h.state("ub"); st != "RUNNING" {
		t.Fatalf("state %s after the failed update", st)
	}
	if out := h.must("run", "ub", "--", "cat", "/run/marker"); out != "good\n" {
		t.Fatalf("runs %q, want the generation that ran before (good)", out)
	}
	if cur := currentGeneration(t, h, "ub"); cur != 1 {
		t.Fatalf("current generation %d, want 1", cur)
	}
	rec := h.recordFileMatchesGeneration("ub")
	if filepath.Base(rec.File) != "good.nix" {
		t.Fatalf("recorded file %s, want good.nix", rec.File)
	}
	// A plain update builds the recorded (good) file again: no change.
	if r := h.run("update", "ub"); r.code != 0 || !strings.Contains(r.stderr, "equals generation 1") {
		t.Fatalf("plain update after the failed one: exit %d, %q", r.code, r.stderr)
	}
}

// TestFailedStartLeavesNoCgroups: a start that fails leaves no
// lxc.monitor.NAME (or payload) cgroup in any hierarchy.
func TestFailedStartLeavesNoCgroups(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "fsc", h.busyboxFile("noexec.nix", `marker = "noexec"; initMode = "cannot-exec";`, ""))
	for i := 0; i < 2; i++ {
		if r := h.run("start", "fsc"); r.code != 1 {
			t.Fatalf("start of a system whose init cannot run: exit %d, %q", r.code, r.stderr)
		}
		if st := h.state("fsc"); st != "STOPPED" {
			t.Fatalf("state %s after the failed start", st)
		}
		if cgs := cgroupLeftovers("fsc"); len(cgs) > 0 {
			t.Fatalf("cgroups left after a failed start:\n%s", strings.Join(cgs, "\n"))
		}
	}
}

// TestUnreadableRecord: one corrupt container.json does not stop list,
// autostart or create for the others, and destroy removes it unread.
func TestUnreadableRecord(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "ura", h.busyboxFile("a.nix", "", ""))
	h.must("create", "urb", h.busyboxFile("b.nix", "", "autostart = true;"))
	bad := h.record("ura")
	path := filepath.Join(h.dir, "state", "containers", "ura", "container.json")
	if err := os.WriteFile(path, []byte("{ torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := h.run("list")
	if r.code != 1 || !strings.Contains(r.stderr, `"ura"`) || !strings.Contains(r.stdout, "urb") || strings.Contains(r.stdout, "ura") {
		t.Fatalf("list with an unreadable record: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	r = h.run("autostart")
	if r.code != 1 || r.stdout != "urb: started\n" || !strings.Contains(r.stderr, `"ura"`) {
		t.Fatalf("autostart with an unreadable record: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	// A new container gets neither the slot nor the address of the
	// unreadable one.
	h.must("create", "urc", h.busyboxFile("c.nix", "", ""))
	c := h.record("urc")
	if c.Slot == bad.Slot || c.Interfaces[0].IPv4 == bad.Interfaces[0].IPv4 {
		t.Fatalf("urc got slot %d / %s of the unreadable ura (slot %d / %s)", c.Slot, c.Interfaces[0].IPv4, bad.Slot, bad.Interfaces[0].IPv4)
	}
	r = h.run("destroy", "ura")
	if r.code != 0 || !strings.Contains(r.stderr, "unreadable") {
		t.Fatalf("destroy of the unreadable record: exit %d, %q", r.code, r.stderr)
	}
	// An unreadable record does not say which /etc/subuid lines the tool
	// added, so destroy keeps them; this test removes the one it added.
	removeSubIDLine(t, bad.UIDBase)
	h.wantNothingLeft("ura", bad.Slot, bad.UIDBase)
	if r := h.run("list"); r.code != 0 {
		t.Fatalf("list after the destroy: exit %d, %q", r.code, r.stderr)
	}
}

// removeSubIDLine removes root's line for the range at base from
// /etc/subuid and /etc/subgid (exactly that line, once).
func removeSubIDLine(t *testing.T, base uint32) {
	t.Helper()
	removeLines([]string{"/etc/subuid", "/etc/subgid"}, fmt.Sprintf("root:%d:65536", base))
}

// TestLostProfileLink: with the profile link gone (generations still
// there), start says how to repair it, and switch-generation and rollback
// repair it.
func TestLostProfileLink(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "lpl", h.busyboxFile("one.nix", `marker = "one";`, ""))
	h.must("update", "lpl", h.busyboxFile("two.nix", `marker = "two";`, ""))
	link := filepath.Join(h.dir, "profiles", "lpl", "system")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if r := h.run("start", "lpl"); r.code != 1 || !strings.Contains(r.stderr, "switch-generation") {
		t.Fatalf("start without a profile link: exit %d, %q", r.code, r.stderr)
	}
	if r := h.run("switch-generation", "lpl", "2"); r.code != 0 || !strings.Contains(r.stderr, "profile link was lost") {
		t.Fatalf("switch-generation without a profile link: exit %d, %q", r.code, r.stderr)
	}
	h.must("start", "lpl")
	if out := h.must("run", "lpl", "--", "cat", "/run/marker"); out != "two\n" {
		t.Fatalf("runs %q after the repair, want two", out)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if r := h.run("rollback", "lpl"); r.code != 0 || !strings.Contains(r.stderr, "profile link was lost") {
		t.Fatalf("rollback without a profile link: exit %d, %q", r.code, r.stderr)
	}
	if cur := currentGeneration(t, h, "lpl"); cur != 1 {
		t.Fatalf("rollback went to generation %d, want 1", cur)
	}
	h.recordFileMatchesGeneration("lpl")
	if out := h.must("run", "lpl", "--", "cat", "/run/marker"); out != "one\n" {
		t.Fatalf("runs %q after the rollback, want one", out)
	}
}

// TestSubIDLines: a /etc/subuid line removed by hand is added back at
// start; destroy removes the line the tool added.
func TestSubIDLines(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "sid", h.busyboxFile("a.nix", "", ""))
	rec := h.record("sid")
	if len(rec.SubIDFiles) != 2 {
		t.Fatalf("the record names %v as the files the tool added lines to", rec.SubIDFiles)
	}
	removeSubIDLine(t, rec.UIDBase)
	r := h.run("start", "sid")
	if r.code != 0 || strings.Count(r.stderr, "added it back") != 2 {
		t.Fatalf("start without root's line: exit %d, %q", r.code, r.stderr)
	}
	line := fmt.Sprintf("root:%d:65536", rec.UIDBase)
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if data, _ := os.ReadFile(f); !strings.Contains(string(data), line+"\n") {
			t.Fatalf("%s lacks %s after start", f, line)
		}
	}
	h.must("destroy", "--force", "sid")
	h.wantNothingLeft("sid", rec.Slot, rec.UIDBase)
}

// TestHaltSignal: a `system` guest is halted with SIGPWR, and haltSignal
// in the container file overrides it; the guests below handle only that
// signal, and their shutdown handler leaves a mark.
func TestHaltSignal(t *testing.T) {
	h := crashHost(t, "")
	for _, tc := range []struct {
		name, trap, setting, want string
	}{
		{"hpwr", "PWR", "", "lxc.signal.halt = SIGPWR"},
		{"husr", "USR1", `haltSignal = "SIGUSR1";`, "lxc.signal.halt = SIGUSR1"},
	} {
		h.must("create", "--start", tc.name, h.busyboxFile(tc.name+".nix", fmt.Sprintf("haltSignals = %q;", tc.trap), tc.setting))
		h.wantConfig(tc.name, tc.want)
		r := h.run("stop", tc.name, "--timeout", "20s")
		if r.code != 0 || strings.Contains(r.stderr, "killed") {
			t.Fatalf("%s: stop: exit %d, %q (want a clean shutdown)", tc.name, r.code, r.stderr)
		}
		mark, err := os.ReadFile(filepath.Join(h.dir, "state", "containers", tc.name, "rootfs", "var", "halted"))
		if err != nil || strings.TrimSpace(string(mark)) != tc.trap {
			t.Fatalf("%s: the guest's shutdown handler left %q (%v), want %s", tc.name, mark, err, tc.trap)
		}
	}
	if r := h.run("create", "hbad", h.busyboxFile("hbad.nix", "", `haltSignal = "SIGKILL";`)); r.code != 1 || !strings.Contains(r.stderr, "haltSignal") {
		t.Fatalf("haltSignal = SIGKILL: exit %d, %q", r.code, r.stderr)
	}
}

// TestInterruptedUpdateAddingNAT: an update of a running container that
// switches NAT on, killed before its generation lands, leaves a container
// every verb can work on: the next one re-plans its interfaces for the
// generation that runs.
func TestInterruptedUpdateAddingNAT(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "u", h.busyboxFile("u.nix", "", ""), "--start")
	// Killed before the build the old generation runs on (hostonly only);
	// killed after it, the next verb restarts the container into the new
	// one (with internet).
	for _, c := range []struct {
		step  string
		addrs int
	}{{"update:intent", 1}, {"update:built", 2}} {
		st := c.step
		h.dieAt(st, "update", "u", h.natFile("nat.nix", ""))
		if r := h.run("start", "u"); r.code != 0 {
			t.Fatalf("%s: start after the interrupted update: exit %d, %s", st, r.code, r.stderr)
		}
		if a := h.addrs("u"); len(a) != c.addrs {
			t.Fatalf("%s: addresses %v, want %d (those of the generation that runs)", st, a, c.addrs)
		}
		if !h.hostPing("10.101.0.2") {
			t.Fatalf("%s: the container is cut off", st)
		}
	}
	h.must("stop", "u")
}

// TestUpdateBadLXCItemsReturns: an update whose only change is -l items
// that break the start returns to the items the container ran with, and
// it runs again; a later restart works.
func TestUpdateBadLXCItemsReturns(t *testing.T) {
	h := crashHost(t, "")
	h.must("create", "--start", "ul", exampleFile())
	r := h.run("update", "ul", "-l", "lxc.mount.entry=/nonexistent/ncc-test mnt/x none bind,create=dir 0 0")
	if r.code != 1 || !strings.Contains(r.stderr, "back on generation 1 with the -l items it ran with, running") {
		t.Fatalf("update with -l items that break the start: exit %d, %q", r.code, r.stderr)
	}
	if st := h.state("ul"); st != "RUNNING" {
		t.Fatalf("state %s after the failed update", st)
	}
	if rec := h.record("ul"); len(rec.LXCArgs) != 0 || rec.Intent != nil {
		t.Fatalf("record after the failed update: -l %v, intent %+v", rec.LXCArgs, rec.Intent)
	}
	h.must("restart", "ul")
}
