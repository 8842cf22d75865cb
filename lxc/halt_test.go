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
