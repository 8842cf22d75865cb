package idmap

import (
	"errors"
	"testing"
)

func TestForSlot(t *testing.T) {
	r, err := ForSlot(100000, 65536, true, 2)
	if err != nil || r.Start != 231072 || r.Size != 65536 {
		t.Fatalf("isolated slot 2: %v %v", r, err)
	}
	r, _ = ForSlot(100000, 65536, false, 5)
	if r.Start != 100000 {
		t.Fatalf("shared slot 5: %v", r)
	}
	if _, err := ForSlot(4000000000, 65536, true, 100000); err == nil {
		t.Fatal("slot beyond the uid space accepted")
	}
}

func TestGrant(t *testing.T) {
	rng := Range{Start: 165536, Size: 65536}
	tests := []struct {
		name, in, want string
		changed        bool
		wantErr        error
	}{
		{"empty file", "", "root:165536:65536\n", true, nil},
		{"covered by one line", "root:100000:1000000\n", "root:100000:1000000\n", false, nil},
		{"covered by two lines", "root:100000:65536\nroot:165536:65536\n", "root:100000:65536\nroot:165536:65536\n", false, nil},
		{"numeric root", "0:165536:65536\n", "0:165536:65536\n", false, nil},
		{"partly covered", "root:100000:100000\n", "root:100000:100000\nroot:165536:65536\n", true, nil},
		{"no trailing newline", "alice:1000000:65536", "alice:1000000:65536\nroot:165536:65536\n", true, nil},
		{"overlaps alice", "alice:200000:65536\n", "", false, ErrOverlap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := Grant([]byte(tt.in), "root", 0, rng)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || changed != tt.changed || string(out) != tt.want {
				t.Fatalf("got %q changed=%v err=%v; want %q changed=%v", out, changed, err, tt.want, tt.changed)
			}
		})
	}
	if _, _, err := Grant([]byte("bad line\n"), "root", 0, rng); err == nil {
		t.Fatal("malformed file accepted")
	}
}

func TestRevoke(t *testing.T) {
	rng := Range{Start: 165536, Size: 65536}
	out, changed := Revoke([]byte("alice:1:2\nroot:165536:65536\nbob:3:4\n"), "root", rng)
	if !changed || string(out) != "alice:1:2\nbob:3:4\n" {
		t.Fatalf("got %q %v", out, changed)
	}
	if _, changed := Revoke([]byte("root:100000:65536\n"), "root", rng); changed {
		t.Fatal("revoked a line that was not granted")
	}
}
