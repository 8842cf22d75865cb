package records

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	good := []string{"a", "web", "web-1", "0", strings.Repeat("a", 63)}
	bad := []string{"", "-a", "a-", "Web", "a_b", "a.b", "a/b", "..", strings.Repeat("a", 64), "a b", "ü"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestStore(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if _, err := s.Load("x"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("missing record: %v", err)
	}
	for i, n := range []string{"b", "a"} {
		if err := s.Save(&Record{Name: n, Slot: i * 2}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.List()
	if err != nil || len(recs) != 2 || recs[0].Name != "a" {
		t.Fatalf("list: %v %v", recs, err)
	}
	if got := FreeSlot(recs); got != 1 {
		t.Fatalf("free slot %d, want 1", got)
	}
}
