package guestpatches

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// moduleRoot is the folder of go.mod: the repository root.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

// Every .nix file of the repository parses (test.nix, the examples, the
// wrapper and guest modules, test data): most of them cannot be evaluated
// here, for want of nixpkgs or KVM.
func TestEveryNixFileParses(t *testing.T) {
	requireNix(t)
	root := moduleRoot(t)
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && filepath.Ext(p) == ".nix" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"guest-patches/wrapper.nix", "guest-patches/guest.nix"} {
		found := false
		for _, f := range files {
			if f == filepath.Join(root, must) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s not found under %s", must, root)
		}
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		out, err := exec.Command("nix-instantiate", "--parse", f).CombinedOutput()
		if err != nil {
			t.Errorf("%s does not parse: %v\n%s", rel, err, out)
		}
	}
	t.Logf("%d .nix files parse", len(files))
}
