package integration

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// toConsole writes a line to the container's console from inside.
func (h *host) toConsole(name, line string) {
	h.t.Helper()
	h.must("run", name, "--", "sh", "-c", "echo "+line+" > /dev/console")
}

// showsBeforeEnd waits until the terminal shows want, or the tool on it
// (whose exit code comes on codec) ends first: then it fails the test.
func showsBeforeEnd(t *testing.T, a *adminTerm, want string, codec <-chan int) {
	t.Helper()
	shown := make(chan bool, 1)
	go func() { shown <- a.waitFor(want) }()
	select {
	case ok := <-shown:
		if !ok {
			t.Fatalf("the terminal closed before showing %q: %q", want, a.output())
		}
	case code := <-codec:
		t.Fatalf("the tool ended (exit %d) before the terminal showed %q: %q", code, want, a.output())
	}
}

// consoleShows writes line to the container's console until the admin's
// terminal shows it: only then is the console attached (what the guest
// wrote before went to the log only).
func (h *host) consoleShows(a *adminTerm, line string, codec <-chan int) {
	h.t.Helper()
	shown := make(chan bool, 1)
	go func() { shown <- a.waitFor(line) }()
	for {
		h.run("run", "c", "--", "sh", "-c", "echo "+line+" > /dev/console")
		select {
		case ok := <-shown:
			if !ok {
				h.t.Fatalf("the terminal closed before showing %q: %q", line, a.output())
			}
			return
		case code := <-codec:
			h.t.Fatalf("the tool ended (exit %d) before the terminal showed %q: %q", code, line, a.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// The console through the admin's terminal: what the guest writes to
// /dev/console shows, what the admin types reaches the guest, Ctrl-a q
// detaches and leaves the terminal as it was and the container running.
func TestConsole(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	h.toConsole("c", "before-attach")
	for _, args := range [][]string{{"console", "--show-log", "c"}, {"logs", "c"}} {
		if out := h.must(args...); !strings.Contains(out, "before-attach") {
			t.Errorf("%v: %q lacks the console line", args, out)
		}
	}
	if out := h.must("logs", "--lxc", "c"); strings.Contains(out, "before-attach") {
		t.Errorf("logs --lxc shows the console: %q", out)
	}

	a := newAdminTerm(t, 24, 80)
	codec := make(chan int, 1)
	go func() { codec <- h.runOn(a, nil, "console", "c") }()
	guard := time.AfterFunc(2*time.Minute, func() { h.command("terminate", "c").Run() })
	defer guard.Stop()
	h.consoleShows(a, "attached", codec)
	// The guest reads a line from its console and writes it back; the
	// line is typed once the console shows the guest is reading.
	readc := make(chan result, 1)
	go func() {
		readc <- h.run("run", "c", "--", "sh", "-c", `echo reading > /dev/console; read l < /dev/console; echo "got:$l" > /dev/console`)
	}()
	showsBeforeEnd(t, a, "reading", codec)
	if _, err := a.master.Write([]byte("typed\r")); err != nil {
		t.Fatal(err)
	}
	if r := <-readc; r.code != 0 {
		t.Fatalf("guest reader: %+v", r)
	}
	showsBeforeEnd(t, a, "got:typed", codec)
	if _, err := a.master.Write([]byte{1, 'q'}); err != nil {
		t.Fatal(err)
	}
	if code := <-codec; code != 0 {
		t.Errorf("console after Ctrl-a q: exit %d; output %q", code, a.output())
	}
	checkRestored(t, a)
	if st := h.state("c"); st != "RUNNING" {
		t.Errorf("after detaching: %s", st)
	}
	if out := h.must("console", "--show-log", "c"); !strings.Contains(out, "got:typed") {
		t.Errorf("--show-log lacks the session: %q", out)
	}
	h.must("stop", "c")
	if r := h.run("console", "c"); r.code == 0 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("console of a stopped container: exit %d, %q", r.code, r.stderr)
	}
}

// start -F on the admin's terminal: it shows the console (not the log of
// an earlier boot) until the container stops, then exits 0.
func TestStartForeground(t *testing.T) {
	h := newHost(t, "")
	fwd := `forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];`
	// The busybox init writes nothing to its console; its halt signal
	// list is expanded by its shell at boot, so a command substitution
	// there writes a line to the console at every boot.
	h.must("create", "--start", "c", h.busyboxFile("c.nix", `haltSignals = "37 PWR TERM INT $(echo boot-line-shown >/dev/console)";`, fwd))
	h.toConsole("c", "earlier-boot")
	h.must("stop", "c")

	a := newAdminTerm(t, 24, 80)
	codec := make(chan int, 1)
	go func() { codec <- h.runOn(a, nil, "start", "-F", "c") }()
	// A start -F that never shows what is waited for would wait for ever:
	// killing the container ends it (a guard against a hung test, not a
	// timing assertion).
	guard := time.AfterFunc(2*time.Minute, func() { h.command("terminate", "c").Run() })
	defer guard.Stop()
	// The boot shows (from the console log, or live).
	showsBeforeEnd(t, a, "boot-line-shown", codec)
	h.consoleShows(a, "foreground-line", codec)
	if strings.Contains(a.output(), "earlier-boot") {
		t.Errorf("start -F replayed an earlier boot's console: %q", a.output())
	}
	if r := h.run("start", "-F", "c"); r.code == 0 || !strings.Contains(r.stderr, "running") {
		t.Errorf("start -F of a running container: exit %d, %q", r.code, r.stderr)
	}
	h.must("stop", "c")
	if code := <-codec; code != 0 {
		t.Errorf("start -F after stop: exit %d; output %q", code, a.output())
	}
	checkRestored(t, a)
	if st := h.state("c"); st != "STOPPED" {
		t.Errorf("after start -F: %s", st)
	}
	if _, out := h.hostStatus(); strings.Contains(out, "8080") {
		t.Errorf("the forward stays after the container stopped:\n%s", out)
	}
}

// streamLines starts cmd and returns a scanner over its stdout and what
// it writes to stderr; cmd is killed if it still runs after two minutes.
func streamLines(t *testing.T, cmd *exec.Cmd) (*bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errb := &bytes.Buffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	guard := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	t.Cleanup(func() { guard.Stop() })
	return bufio.NewScanner(out), errb
}

// logs -f prints what the console writes while it runs.
func TestLogsFollow(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	h.toConsole("c", "first-line")
	cmd := h.command("logs", "-f", "c")
	sc, errb := streamLines(t, cmd)
	want := []string{"first-line", "second-line"}
	for len(want) > 0 && sc.Scan() {
		if strings.Contains(sc.Text(), want[0]) {
			if want = want[1:]; len(want) == 1 {
				h.toConsole("c", "second-line")
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(want) > 0 {
		t.Errorf("logs -f did not show %q; stderr %q", want, errb.String())
	}
}

// start -F without a terminal (a script, a service manager): the console
// log shows until the container stops.
func TestStartForegroundNoTerminal(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "c", h.busyboxFile("c.nix", `haltSignals = "37 PWR TERM INT $(echo boot-line-shown >/dev/console)";`, ""))
	cmd := h.command("start", "-F", "c")
	sc, errb := streamLines(t, cmd)
	for sc.Scan() && !strings.Contains(sc.Text(), "boot-line-shown") {
	}
	if sc.Err() != nil {
		t.Fatal(sc.Err())
	}
	// Still there: it follows while the container runs.
	if st := h.state("c"); st != "RUNNING" {
		t.Fatalf("start -F without a terminal: %s; stderr %q", st, errb.String())
	}
	h.toConsole("c", "later-line")
	sawLater := false
	for !sawLater && sc.Scan() {
		sawLater = strings.Contains(sc.Text(), "later-line")
	}
	if !sawLater {
		t.Errorf("start -F without a terminal ended before the container stopped; stderr %q", errb.String())
	}
	h.must("stop", "c")
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("start -F after stop: %v; stderr %q", err, errb.String())
	}
	if st := h.state("c"); st != "STOPPED" {
		t.Errorf("after start -F: %s", st)
	}
}

// A console ended by a signal leaves the admin's terminal as it was.
func TestConsoleKilled(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			a := newAdminTerm(t, 24, 80)
			cmd := h.command("console", "c")
			cmd.Env = append(cmd.Env, "TERM=xterm")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = a.slave, a.slave, a.slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			codec := make(chan int, 1)
			go func() { cmd.Wait(); codec <- cmd.ProcessState.ExitCode() }()
			guard := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
			defer guard.Stop()
			h.consoleShows(a, "attached-"+sig.String(), codec)
			cmd.Process.Signal(sig)
			<-codec
			checkRestored(t, a)
			if st := h.state("c"); st != "RUNNING" {
				t.Errorf("after the console was killed: %s", st)
			}
		})
	}
}

// The guest writes terminal controls to its console (a title, an OSC 52
// clipboard write, a screen clear): `logs` prints them to the admin's
// terminal as '?', the file keeps them.
func TestLogsNoTerminalControls(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	h.must("run", "c", "--", guestSh, "-c", `printf 'ctl-\033]0;pwned\007\033]52;c;ZWNobyBoaQ==\007\033[2J-end\r\n' > /dev/console`)
	out := h.must("logs", "c")
	if !strings.Contains(out, "ctl-?]0;pwned??]52;c;ZWNobyBoaQ==??[2J-end\n") || strings.ContainsAny(out, "\x1b\x07\r") {
		t.Errorf("logs printed %q", out)
	}
	if out := h.must("console", "--show-log", "c"); strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("console --show-log printed %q", out)
	}
}
