package containers

import (
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/generations"
)

func TestSettingsChanges(t *testing.T) {
	ro := false
	a := &generations.Settings{Network: generations.Network{IP: "10.101.0.5/24"},
		BindMounts: map[string]generations.BindMount{"/srv/data": {HostPath: "/a"}},
		Limits:     generations.Limits{Memory: "256M"}}
	b := &generations.Settings{Autostart: true, Network: generations.Network{EnableNat: true},
		BindMounts:   map[string]generations.BindMount{"/srv/data": {HostPath: "/b", IsReadOnly: &ro}},
		ForwardPorts: []generations.ForwardPort{{Protocol: "tcp", HostPort: 80, ContainerPort: 8080}},
		Limits:       generations.Limits{Memory: "256M"}}
	var got []string
	for _, c := range SettingsChanges(a, b) {
		got = append(got, c.String())
	}
	want := []string{
		`autostart: added true`,
		`bindMounts."/srv/data".hostPath: "/a" → "/b"`,
		`bindMounts."/srv/data".isReadOnly: added false`,
		`forwardPorts: added [{"containerPort":8080,"hostPort":80,"protocol":"tcp"}]`,
		`network.enableNat: added true`,
		`network.ip: removed (was "10.101.0.5/24")`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := SettingsChanges(a, a); len(c) != 0 {
		t.Errorf("same settings: %v", c)
	}
}

func TestSplitStorePath(t *testing.T) {
	for _, tt := range []struct{ path, name, version string }{
		{"/nix/store/" + strings.Repeat("a", 32) + "-hello-2.12.1", "hello", "2.12.1"},
		{"/nix/store/" + strings.Repeat("a", 32) + "-python3.11-requests-2.31.0", "python3.11-requests", "2.31.0"},
		{"/nix/store/" + strings.Repeat("a", 32) + "-busybox-guest-a", "busybox-guest-a", ""},
		{"/nix/store/" + strings.Repeat("a", 32) + "-glibc-2.37-8-bin", "glibc", "2.37-8-bin"},
	} {
		n, v := splitStorePath(tt.path)
		if n != tt.name || v != tt.version {
			t.Errorf("%s: %q %q, want %q %q", tt.path, n, v, tt.name, tt.version)
		}
	}
}

func TestClosureChanges(t *testing.T) {
	p := func(s string) string { return "/nix/store/" + strings.Repeat("b", 32) + "-" + s }
	old := []string{p("hello-2.10"), p("glibc-2.37"), p("gone-1.0"), p("same-1")}
	new := []string{p("hello-2.12"), p("glibc-2.37"), p("new-3"), p("same-1"), p("noversion")}
	var got []string
	for _, c := range ClosureChanges(old, new) {
		got = append(got, c.String())
	}
	want := "gone: removed 1.0\nhello: 2.10 → 2.12\nnew: added 3\nnoversion: added (no version)"
	if s := strings.Join(got, "\n"); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
}
