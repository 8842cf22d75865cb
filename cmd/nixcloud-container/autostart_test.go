package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestAutostartUsage(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"x", "autostart", "extra"}, io.Discard, &stderr); code != exitUsage {
		t.Fatalf("autostart with an argument: exit %d, want %d", code, exitUsage)
	}
	if lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "autostart") {
		t.Fatalf("stderr %q: want one line naming the verb", stderr.String())
	}
}

const unitFile = "../../contrib/systemd/nixcloud-container-autostart.service"

// readUnit parses a systemd unit into "Section.Key" → values (a key may
// repeat); comments and blank lines are skipped.
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s: unexpected line %q", path, line)
			}
			unit[section+"."+k] = append(unit[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

func TestAutostartUnit(t *testing.T) {
	unit := readUnit(t, unitFile)
	one := func(key string) string {
		t.Helper()
		if v := unit[key]; len(v) == 1 {
			return v[0]
		}
		t.Fatalf("%s: want exactly one value, got %q", key, unit[key])
		return ""
	}
	for key, want := range map[string]string{
		"Service.Type":            "oneshot",
		"Service.RemainAfterExit": "yes",
		"Service.ExecStart":       "/usr/local/bin/nixcloud-container autostart",
		"Unit.Wants":              "network-online.target",
		"Install.WantedBy":        "multi-user.target",
	} {
		if got := one(key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	if after := strings.Fields(one("Unit.After")); !slices.Contains(after, "network-online.target") {
		t.Errorf("After=%v lacks network-online.target", after)
	}
}

// TestAutostartUnitStop runs the unit's ExecStop shell command against a
// fake binary: it must stop every container that is not STOPPED, and only
// those.
func TestAutostartUnitStop(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	unit := readUnit(t, unitFile)
	if len(unit["Service.ExecStop"]) != 1 {
		t.Fatalf("ExecStop: %q", unit["Service.ExecStop"])
	}
	cmd, ok := strings.CutPrefix(unit["Service.ExecStop"][0], "/bin/sh -c '")
	if !ok || !strings.HasSuffix(cmd, "'") || strings.Count(cmd, "'") != 1 {
		t.Fatalf("ExecStop is not /bin/sh -c '…': %q", unit["Service.ExecStop"][0])
	}
	// systemd's unquoting: $$ is a literal $; no other escapes are used.
	if strings.ContainsAny(cmd, `\%`) {
		t.Fatalf("ExecStop uses backslashes or %% specifiers; check systemd's escaping: %q", cmd)
	}
	cmd = strings.ReplaceAll(strings.TrimSuffix(cmd, "'"), "$$", "$")

	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	fake := filepath.Join(dir, "nixcloud-container")
	script := `#!/bin/sh
case "$1" in
list) printf '%s\n' 'NAME  STATE    ADDRESSES              GENERATION  AUTOSTART' \
  'db    RUNNING  10.101.0.2, fd00::2    3           true' \
  'old   STOPPED  -                      1           false' \
  'web   FROZEN   10.101.0.3             2           false' ;;
stop) echo "$*" >> ` + log + ` ;;
*) exit 9 ;;
esac
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sh, "-c", strings.ReplaceAll(cmd, "/usr/local/bin/nixcloud-container", fake)).CombinedOutput()
	if err != nil {
		t.Fatalf("ExecStop: %v\n%s", err, out)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("no container was stopped: %v", err)
	}
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	sort.Strings(got) // the stops run in parallel
	want := []string{"stop db --timeout 30s", "stop web --timeout 30s"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("stop calls %q, want %q", got, want)
	}
}
