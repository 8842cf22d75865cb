//go:build linux && cgo

package lxc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogErrors: a start failure quotes this start's cause, not the lines
// of earlier starts or runs, and not the errors that follow from it.
func TestLogErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := processStart.UTC().Add(-time.Hour).Format("20060102150405.000")
	now := processStart.UTC().Add(time.Second).Format("20060102150405.000")
	log := `lxc web ` + old + ` ERROR    attach - ../src/lxc/attach.c:lxc_attach:1 - Failed to get init pid (an old run)
lxc web ` + now + ` WARN     cgfsng - ../src/lxc/cgroups/cgfsng.c:fchowmodat:1619 - No such file or directory - Failed to fchownat
lxc web ` + now + ` ERROR    start - ../src/lxc/start.c:start:2197 - No such file or directory - Failed to exec "/init"
lxc web ` + now + ` ERROR    sync - ../src/lxc/sync.c:sync_wait:34 - An error occurred in another process (expected sequence number 7)
lxc web ` + now + ` ERROR    start - ../src/lxc/start.c:__lxc_start:2107 - Failed to spawn container "web"
lxc web ` + now + ` ERROR    lxccontainer - ../src/lxc/lxccontainer.c:wait_on_daemonized_start:878 - Received container state "ABORTING" instead of "RUNNING"
`
	if err := os.WriteFile(filepath.Join(dir, "web", "lxc.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logErrors(dir, "web")
	want := `: No such file or directory - Failed to exec "/init" (` + filepath.Join(dir, "web", "lxc.log") + ")"
	if got != want {
		t.Fatalf("logErrors = %q, want %q", got, want)
	}
	if strings.Contains(got, "old run") {
		t.Fatal("quotes an earlier invocation's line")
	}
}
