package storeview

import (
	"errors"
	"testing"
)

func TestStorePathOf(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"store path", "/nix/store/abc-x", "/nix/store/abc-x"},
		{"inside", "/nix/store/abc-x/bin/sh", "/nix/store/abc-x"},
		{"unclean", "/nix/store//abc-x/./etc/../bin", "/nix/store/abc-x"},
		{"store itself", "/nix/store", ""},
		{"outside", "/srv/www", ""},
		{"prefix only", "/nix/storex/abc", ""},
		{"dot entry", "/nix/store/.links/abc", ""},
		{"escape", "/nix/store/../var/secret", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StorePathOf(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrNotStorePath) {
					t.Fatalf("StorePathOf(%q) = %q, %v; want ErrNotStorePath", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("StorePathOf(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestAddRefusesNonStorePaths(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"/etc/passwd", "/nix/store/abc-x/bin", "/nix/store/.links"} {
		if n, err := Add(dir, []string{p}); !errors.Is(err, ErrNotStorePath) || n != 0 {
			t.Errorf("Add(%q) = %d, %v; want ErrNotStorePath", p, n, err)
		}
	}
}
