package containers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/lxc"
)

func TestWithDefaults(t *testing.T) {
	def := hostconfig.Limits{Memory: "1G", CPUs: 2, Processes: 4096}
	tests := []struct {
		name string
		own  generations.Limits
		def  hostconfig.Limits
		want generations.Limits
	}{
		{"none of its own", generations.Limits{}, def, generations.Limits{Memory: "1G", CPUs: 2, Processes: 4096}},
		{"its own wins, key by key", generations.Limits{Processes: 100000}, def, generations.Limits{Memory: "1G", CPUs: 2, Processes: 100000}},
		{"all its own", generations.Limits{Memory: "64M", CPUs: 0.5, Processes: 32}, def, generations.Limits{Memory: "64M", CPUs: 0.5, Processes: 32}},
		{"no defaults", generations.Limits{CPUs: 1}, hostconfig.Limits{}, generations.Limits{CPUs: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withDefaults(tt.own, tt.def); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckShiftFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	cfg := hostconfig.Default()
	cfg.StateDir = filepath.Join(dir, "state")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "containers"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{"to-etc": "/etc", "to-state": cfg.StateDir, "to-data": data}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"to-etc", "to-state"} {
		if err := checkShift(filepath.Join(dir, name), cfg); !errors.Is(err, lxc.ErrPrivileged) {
			t.Errorf("shift of %s: error %v, want ErrPrivileged", name, err)
		}
	}
	if os.Geteuid() != 0 {
		return // the temporary folders are not root's
	}
	for _, p := range []string{data, filepath.Join(dir, "to-data")} {
		if err := checkShift(p, cfg); err != nil {
			t.Errorf("shift of %s: %v", p, err)
		}
	}
}

// TestCheckShiftParentsRootOnly: a shifted data folder below a folder that
// someone else owns (here a container's mapped root, uid 100000) or may
// write is refused: they could swap it for a link to /etc before LXC
// mounts it.
func TestCheckShiftParentsRootOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chown")
	}
	cfg := hostconfig.Default()
	for _, tc := range []struct {
		name  string
		setup func(parent string) error
	}{
		{"owned by a container's root", func(p string) error { return os.Chown(p, 100000, 100000) }},
		{"writable by others", func(p string) error { return os.Chmod(p, 0o777) }},
	} {
		parent := filepath.Join(t.TempDir(), "shared")
		data := filepath.Join(parent, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := tc.setup(parent); err != nil {
			t.Fatal(err)
		}
		if err := checkShift(data, cfg); err == nil || !strings.Contains(err.Error(), "folders above it root's") {
			t.Errorf("%s: error %v, want refused", tc.name, err)
		}
	}
}
