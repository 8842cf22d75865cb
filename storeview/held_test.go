package storeview

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mountsUnder lists the mount points under dir in a mountinfo file.
func mountsUnder(t *testing.T, mountinfo, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	return points
}

// TestMakeApart: Make builds the view in a namespace of its own, which
// holds every path and which the caller's namespace does not see; a
// broken path makes no view and an error that says why.
func TestMakeApart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts in a new mount namespace")
	}
	ents, _ := filepath.Glob(StoreDir + "/*-*")
	if len(ents) < 2 {
		t.Skip("needs a Nix store with paths")
	}
	paths := ents[:2]
	dir := filepath.Join(t.TempDir(), "view")
	h, err := Make(dir, paths)
	if err != nil {
		t.Fatal(err)
	}
	if got := mountsUnder(t, "/proc/self/mountinfo", dir); len(got) > 0 {
		t.Errorf("the caller's namespace holds the view: %v", got)
	}
	theirs := mountsUnder(t, fmt.Sprintf("/proc/%d/mountinfo", h.cmd.Process.Pid), dir)
	if len(theirs) != len(paths)+1 {
		t.Errorf("the view's namespace holds %v, want the view and %d binds", theirs, len(paths))
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Make(dir, []string{StoreDir + "/no-such-path-x"}); err == nil || !strings.Contains(err.Error(), "no-such-path-x") {
		t.Errorf("Make with a missing path: %v, want an error naming it", err)
	}
}
