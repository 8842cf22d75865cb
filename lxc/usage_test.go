package lxc

import "testing"

func TestPayloadOutermost(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"/lxc.payload.web", "/lxc.payload.web"},
		{"/lxc.payload.web/init.scope", "/lxc.payload.web"},
		// The container's root made a cgroup below its own, named like
		// its own, and moved its init there.
		{"/lxc.payload.web/lxc.payload.web", "/lxc.payload.web"},
		{"/lxc.payload.web-1/x/lxc.payload.web", "/lxc.payload.web-1"},
		{"/lxc.payload.db/lxc.payload.web", ""},
	} {
		got, ok := payload(c.path, "web")
		if got != c.want || ok != (c.want != "") {
			t.Errorf("payload(%q) = %q, %v; want %q", c.path, got, ok, c.want)
		}
	}
}
