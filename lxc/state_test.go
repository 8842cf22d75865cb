//go:build linux && cgo

package lxc

import (
	"strings"
	"testing"
)

// The names below are those LXC 5.0.2's monitor listened on
// (/proc/net/unix) for the same lxcpath and name.
func TestCommandSocket(t *testing.T) {
	long := "/var/tmp/ncc-perfw/" + strings.Repeat("a", 90)
	tests := []struct{ lxcpath, name, want string }{
		{"/var/lib/nixcloud-container/containers", "web", "@/var/lib/nixcloud-container/containers/web/command"},
		{long, "hx", "@lxc/6d5c9eee555363db/command"},
	}
	for _, tt := range tests {
		if got := commandSocket(tt.lxcpath, tt.name); got != tt.want {
			t.Errorf("commandSocket(%q, %q) = %q, want %q", tt.lxcpath, tt.name, got, tt.want)
		}
	}
	// 105 bytes still fit, 106 are hashed.
	fit := strings.Repeat("p", 105-len("/n/command"))
	if got := commandSocket(fit, "n"); got != "@"+fit+"/n/command" {
		t.Errorf("105 bytes: got %q", got)
	}
	if got := commandSocket(fit+"p", "n"); !strings.HasPrefix(got, "@lxc/") {
		t.Errorf("106 bytes: got %q, want a hashed name", got)
	}
}
