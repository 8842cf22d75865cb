package generations

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func requireNixInstantiate(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix-instantiate is not on PATH")
	}
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSpecEntry: the file apply writes per container is what a container
// file holds, whether the SPEC's entry is a path or the contents; names
// and paths with quotes and ${ are quoted.
func TestSpecEntry(t *testing.T) {
	requireNixInstantiate(t)
	dir := filepath.Join(t.TempDir(), `we"ird ${dir}`)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "web.nix"), `{ autostart = true; system = "/x"; }`)
	spec := write(t, filepath.Join(dir, "spec.nix"), `{ web = ./web.nix; "db" = { system = "/y"; limits.memory = "1G"; }; str = `+nixString(filepath.Join(dir, "web.nix"))+`; }`)

	n := Nix{}
	names, err := n.SpecNames(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"db", "str", "web"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("SpecNames = %v, want %v", names, want)
	}
	for name, want := range map[string]string{
		"web": `{"autostart":true,"system":"/x"}`,
		"str": `{"autostart":true,"system":"/x"}`,
		"db":  `{"limits":{"memory":"1G"},"system":"/y"}`,
	} {
		entry := write(t, filepath.Join(t.TempDir(), name+".nix"), string(SpecEntry(spec, name)))
		out, err := exec.Command("nix-instantiate", "--eval", "--strict", "--json", entry).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%s: %s (%v), want %s", name, out, err, want)
		}
	}

	// Not an attribute set: one clear error.
	list := write(t, filepath.Join(dir, "list.nix"), "[ 1 ]")
	if _, err := n.SpecNames(context.Background(), list); err == nil || !strings.Contains(err.Error(), "SPEC must be an attribute set") {
		t.Fatalf("a list SPEC: %v", err)
	}
}
