package lxc

import "testing"

func TestRenderHaltSignal(t *testing.T) {
	for _, tt := range []struct{ in, want string }{{"", HaltSignal}, {"SIGPWR", "SIGPWR"}} {
		n := 0
		for _, it := range Render(Spec{Name: "c", HaltSignal: tt.in}) {
			if it.Key == "lxc.signal.halt" {
				n++
				if it.Value != tt.want {
					t.Errorf("HaltSignal %q: lxc.signal.halt = %s, want %s", tt.in, it.Value, tt.want)
				}
			}
		}
		if n != 1 {
			t.Errorf("HaltSignal %q: %d lxc.signal.halt items", tt.in, n)
		}
	}
}

func TestIsCgroupOf(t *testing.T) {
	for _, tt := range []struct {
		dir, name string
		want      bool
	}{
		{"lxc.monitor.web", "web", true}, {"lxc.payload.web", "web", true},
		{"lxc.monitor.web-1", "web", true}, {"lxc.payload.web-12", "web", true},
		{"lxc.monitor.web-", "web", false}, {"lxc.monitor.webx", "web", false},
		{"lxc.monitor.web-a", "web", false}, {"lxc.pivot", "web", false}, {"web", "web", false},
	} {
		if got := IsCgroupOf(tt.dir, tt.name); got != tt.want {
			t.Errorf("IsCgroupOf(%q, %q) = %v", tt.dir, tt.name, got)
		}
	}
}
