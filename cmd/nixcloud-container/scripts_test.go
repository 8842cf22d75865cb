package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestScripts: the README's scripts parse, and the Go that go.sh installs
// where Go is missing or too old is the one go.mod's go line asks for.
func TestScripts(t *testing.T) {
	root := filepath.Join("..", "..")
	scripts, err := filepath.Glob(filepath.Join(root, "scripts", "*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: %v: %s", s, err, out)
		}
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goSh, err := os.ReadFile(filepath.Join(root, "scripts", "go.sh"))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (1\.[0-9]+)$`).FindSubmatch(mod)
	got := regexp.MustCompile(`(?m)^go_toolchain=(1\.[0-9]+)\.[0-9]+$`).FindSubmatch(goSh)
	if want == nil || got == nil || string(want[1]) != string(got[1]) {
		t.Fatalf("go.mod wants go %q, go.sh installs %q", want, got)
	}
}
