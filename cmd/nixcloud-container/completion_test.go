package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestMain lets the completion scripts run this test binary as the tool.
func TestMain(m *testing.M) {
	if os.Getenv("NIXCLOUD_CONTAINER_TEST_AS_TOOL") == "1" {
		os.Exit(run(os.Args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// visibleCommands lists every verb and subcommand ("host setup").
func visibleCommands(cmds []*cli.Command, prefix string) map[string]*cli.Command {
	out := map[string]*cli.Command{}
	for _, c := range cmds {
		if c.Hidden || c.Name == "help" {
			continue
		}
		full := strings.TrimSpace(prefix + " " + c.Name)
		out[full] = c
		for k, v := range visibleCommands(c.Subcommands, full) {
			out[k] = v
		}
	}
	return out
}

// TestManPage generates the manual and checks it has every verb with its
// arguments and flags, and renders with man's formatter.
func TestManPage(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	var out strings.Builder
	if code := run([]string{"nixcloud-container", "man"}, &out, io.Discard); code != 0 {
		t.Fatalf("man: exit %d", code)
	}
	page := out.String()
	if !strings.HasPrefix(page, ".nh\n.TH nixcloud-container 8") && !strings.Contains(page, ".TH") {
		t.Fatalf("not a roff page: %.200q", page)
	}
	for full, c := range visibleCommands(app.Commands, "") {
		if !strings.Contains(page, strings.TrimSpace("nixcloud-container "+full+" [options] "+c.ArgsUsage)) {
			t.Errorf("man page lacks the usage of %s", full)
		}
		if !strings.Contains(page, "EXIT STATUS") {
			t.Errorf("man page lacks the exit codes")
		}
		for _, f := range c.Flags {
			if !strings.Contains(page, `\-\-`+f.Names()[0]) && !strings.Contains(page, "--"+f.Names()[0]) {
				t.Errorf("man page lacks %s's flag --%s", full, f.Names()[0])
			}
		}
	}
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(page)
		if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("groff: %v: %s", err, msg)
		}
	}
}

// TestCompletionScripts runs the bash script for every verb (this test
// binary plays the tool) and checks the other scripts' syntax where the
// shell is installed.
func TestCompletionScripts(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	dir := t.TempDir()
	var out strings.Builder
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out.Reset()
		if code := run([]string{"nixcloud-container", "completion", sh}, &out, io.Discard); code != 0 {
			t.Fatalf("completion %s: exit %d", sh, code)
		}
		p := filepath.Join(dir, sh)
		if err := os.WriteFile(p, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), completeVerb) {
			t.Errorf("%s script does not ask the tool", sh)
		}
		if sh == "bash" {
			continue
		}
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("%s not installed: syntax not checked", sh)
			continue
		}
		flag := "-n"
		if sh == "fish" {
			flag = "--no-execute"
		}
		if msg, err := exec.Command(sh, flag, p).CombinedOutput(); err != nil {
			t.Errorf("%s script: %v: %s", sh, err, msg)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// compreply completes the last word of line with the bash script.
	compreply := func(words ...string) []string {
		t.Helper()
		script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _nixcloud_container; printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command("bash", append([]string{"-c", script, "bash", filepath.Join(dir, "bash"), self}, words...)...)
		cmd.Env = append(os.Environ(), "NIXCLOUD_CONTAINER_TEST_AS_TOOL=1", "NIXCLOUD_CONTAINER_HOST_CONFIG="+filepath.Join(dir, "none.toml"))
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("bash completion of %q: %v", words, err)
		}
		return strings.Fields(string(b))
	}
	for full, c := range visibleCommands(app.Commands, "") {
		words := strings.Fields(full)
		last := words[len(words)-1]
		got := compreply(append(append([]string{}, words[:len(words)-1]...), last[:2])...)
		if !contains(got, last) {
			t.Errorf("completing %q: %q lacks %s", last[:2], got, full)
		}
		got = compreply(append(words, "-")...)
		for _, f := range c.Flags {
			for _, n := range f.Names() {
				want := "--" + n
				if len(n) == 1 {
					want = "-" + n
				}
				if !contains(got, want) {
					t.Errorf("completing flags of %s: %q lacks %s", full, got, want)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestCompleteArguments: container names where NAME goes, generation
// numbers where GEN goes, nothing after a flag that takes a value.
func TestCompleteArguments(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	var sawConfig string
	names := func(hc string) []string { sawConfig = hc; return []string{"web", "db", "wiki"} }
	gens := func(hc, name string) []string {
		if name != "web" {
			return nil
		}
		return []string{"1", "2", "3"}
	}
	tests := []struct {
		cur   string
		words []string
		want  []string
	}{
		{"w", []string{"start"}, []string{"web", "wiki"}},
		{"", []string{"--host-config", "/h.toml", "destroy", "--force"}, []string{"web", "db", "wiki"}},
		{"", []string{"switch-generation", "web"}, []string{"1", "2", "3"}},
		{"", []string{"delete-generations", "web", "1"}, []string{"1", "2", "3", "old"}},
		{"", []string{"create", "web", "-n"}, nil},
		{"", []string{"create", "web"}, nil}, // FILE: the shell's files
		{"s", []string{"host"}, []string{"setup", "status"}},
		{"", []string{"help", "host"}, []string{"setup", "status", "teardown"}},
		{"", []string{"completion"}, []string{"bash", "fish", "zsh"}},
		{"--j", []string{"list"}, []string{"--json"}},
		{"", []string{"run", "web", "ls"}, nil},
		{"", []string{"nosuchverb"}, nil},
	}
	for _, tt := range tests {
		got := complete(app, tt.cur, tt.words, names, gens)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("complete(%q, %q) = %q, want %q", tt.cur, tt.words, got, tt.want)
		}
	}
	complete(app, "", []string{"--host-config", "/h.toml", "start"}, names, gens)
	if sawConfig != "/h.toml" {
		t.Errorf("names read host config %q, want /h.toml", sawConfig)
	}
}
