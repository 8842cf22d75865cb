package integration

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// run --user/--cwd/--env/--clear-env, as seen by the command.
func TestRunUserCwdEnv(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"defaults", nil, "0 0 / HOME=/root USER=root X="},
		{"user", []string{"--user", "1000"}, "1000 1000 / HOME=/ USER= X="},
		{"user and group", []string{"--user", "1000:2000"}, "1000 2000 / HOME=/ USER= X="},
		{"cwd", []string{"--cwd", "/run"}, "0 0 /run HOME=/root USER=root X="},
		{"env", []string{"--env", "X=a,b c", "--env", "HOME=/h"}, "0 0 / HOME=/h USER=root X=a,b c"},
		{"clear-env", []string{"--clear-env", "--env", "X=1"}, "0 0 / HOME= USER= X=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"run", "c"}, tc.flags...), "--",
				"sh", "-c", `echo "$(id -u) $(id -g) $(pwd) HOME=$HOME USER=$USER X=$X"`)
			args[len(args)-3] = guestSh
			r := h.run(args...)
			if r.code != 0 || strings.TrimSpace(r.stdout) != tc.want {
				t.Errorf("exit %d, stdout %q, want %q; stderr %q", r.code, r.stdout, tc.want, r.stderr)
			}
		})
	}
	// PATH of the default environment has the system profile; with
	// --clear-env it is liblxc's fallback.
	if r := h.run("run", "c", "--", guestSh, "-c", `echo "$PATH"`); !strings.Contains(r.stdout, ":/nix/var/nixcloud-container/profile/system/sw/bin:") {
		t.Errorf("default PATH %q", r.stdout)
	}
	if r := h.run("run", "c", "--clear-env", "--", guestSh, "-c", `echo "$PATH"`); strings.Contains(r.stdout, "/nix/") {
		t.Errorf("--clear-env: PATH %q", r.stdout)
	}
	// On a pty as another user: the pty is that user's, who can reopen it.
	if r := h.runStdin("", "run", "-t", "--user", "1000", "c", "--", "sh", "-c", `id -u; echo reopened > $(tty)`); r.code != 0 || !strings.Contains(r.stdout, "1000") || !strings.Contains(r.stdout, "reopened") {
		t.Errorf("-t --user 1000: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, bad := range [][]string{{"--user", "x"}, {"--user", "1:"}, {"--cwd", "rel"}, {"--env", "NOEQUALS"}, {"--user", "99999999"}} {
		r := h.run(append(append([]string{"run", "c"}, bad...), "--", "true")...)
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stderr == "" {
			t.Errorf("run %v: exit %d, stderr %q; want one line and a failure", bad, r.code, r.stderr)
		}
	}
}

// guestSh is the busybox guest's shell by its absolute path (it does not
// depend on PATH).
const guestSh = "/bin/sh"

func TestRunCommandNotFound(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	r := h.run("run", "c", "--", "nosuchcmd", "arg")
	if r.code != 127 || !strings.Contains(r.stderr, "nosuchcmd: command not found") {
		t.Errorf("nosuchcmd: exit %d, stderr %q; want 127 and a message", r.code, r.stderr)
	}
	r = h.run("run", "c", "--", "/no/such/file")
	if r.code != 127 || !strings.Contains(r.stderr, "/no/such/file: command not found") {
		t.Errorf("/no/such/file: exit %d, stderr %q", r.code, r.stderr)
	}
	// A guest link through /proc/self/root leads, for the tool that looks
	// it up, to the host's root: it must not count as found there.
	h.must("run", "c", "--", "ln", "-s", "/proc/self/root/usr/bin/env", "/bin/viaproc")
	r = h.run("run", "c", "--", "viaproc")
	if r.code != 127 || !strings.Contains(r.stderr, "viaproc: command not found") {
		t.Errorf("viaproc: exit %d, stderr %q", r.code, r.stderr)
	}
	// A command that exists and exits 127 says nothing more.
	r = h.run("run", "c", "--", "sh", "-c", "exit 127")
	if r.code != 127 || r.stderr != "" {
		t.Errorf("sh -c 'exit 127': exit %d, stderr %q; want 127 and no message", r.code, r.stderr)
	}
}

// Signals sent to run reach the command inside: it traps them, records
// which it got and exits with a code of its own.
func TestRunSignalForwarding(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", exampleFile())
	for _, tc := range []struct {
		mode string
		sig  syscall.Signal
	}{
		{"-T", syscall.SIGTERM}, {"-T", syscall.SIGINT}, {"-T", syscall.SIGHUP},
		{"-t", syscall.SIGTERM}, {"-t", syscall.SIGINT}, {"-t", syscall.SIGHUP},
	} {
		sig := tc.sig
		t.Run(tc.mode+" "+sig.String(), func(t *testing.T) {
			script := fmt.Sprintf(`trap 'echo got > /run/sig-%[1]d; exit 42' %[1]d; echo $$ > /run/pid-%[1]d; echo ready; while :; do sleep 0.05; done`, int(sig))
			cmd := h.command("run", tc.mode, "c", "--", "sh", "-c", script)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			var errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = pw, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			buf := make([]byte, len("ready\n"))
			if tc.mode == "-t" {
				buf = make([]byte, len("ready\r\n"))
			}
			if _, err := io.ReadFull(pr, buf); err != nil || strings.TrimSpace(string(buf)) != "ready" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("no ready: %q %v (%s)", buf, err, errb.String())
			}
			// The tool itself (ip netns exec and sh exec into it).
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// A signal not passed on leaves run waiting for ever: end it
			// (a guard against a hung test, not a timing assertion).
			guard := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
			err = cmd.Wait()
			guard.Stop()
			pr.Close()
			code := cmd.ProcessState.ExitCode()
			if code != 42 {
				t.Errorf("run after %v: exit %d (%v), want the command's 42; stderr %q", sig, code, err, errb.String())
			}
			if out := h.must("run", "c", "--", "cat", fmt.Sprintf("/run/sig-%d", int(sig))); out != "got\n" {
				t.Errorf("the command did not record %v: %q", sig, out)
			}
			if r := h.run("run", "c", "--", "sh", "-c", fmt.Sprintf("kill -0 $(cat /run/pid-%d)", int(sig))); r.code == 0 {
				t.Errorf("the command still runs after %v", sig)
			}
		})
	}
}
