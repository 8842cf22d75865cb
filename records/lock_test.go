package records

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockContainerWaitsAndSaysForWhom(t *testing.T) {
	s := Store{LocksDir: filepath.Join(t.TempDir(), "locks")}
	l1, err := s.LockContainer("web", "nixcloud-container update web", nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan string, 2)
	got := make(chan *ContainerLock)
	go func() {
		l2, err := s.LockContainer("web", "nixcloud-container start web", func(h string) { waited <- h })
		if err != nil {
			t.Error(err)
		}
		got <- l2
	}()
	holder := <-waited
	if !strings.Contains(holder, "nixcloud-container update web") || !strings.Contains(holder, "pid ") {
		t.Fatalf("waiter was told %q", holder)
	}
	// Another container's lock is free meanwhile.
	other, err := s.LockContainer("db", "x", func(string) { t.Error("db waited for web") })
	if err != nil {
		t.Fatal(err)
	}
	other.Unlock()
	select {
	case <-got:
		t.Fatal("the second lock was granted while the first was held")
	case <-time.After(50 * time.Millisecond):
	}
	l1.Unlock()
	l2 := <-got
	if len(waited) != 0 {
		t.Fatal("the wait was announced twice")
	}
	l2.Unlock()
}

func TestLockContainerRemovedWhileWaiting(t *testing.T) {
	s := Store{LocksDir: filepath.Join(t.TempDir(), "locks")}
	l1, err := s.LockContainer("web", "destroy", nil)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan string, 1)
	got := make(chan *ContainerLock)
	go func() {
		l2, _ := s.LockContainer("web", "start", func(h string) { waiting <- h })
		got <- l2
	}()
	<-waiting
	l1.Remove() // destroy's last step
	l2 := <-got
	// The waiter holds a lock on the file that exists now, so a third
	// process cannot take it too.
	path := filepath.Join(s.LocksDir, "web.lock")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the waiter did not lock a fresh file: %v", err)
	}
	third := make(chan *ContainerLock)
	go func() {
		l3, _ := s.LockContainer("web", "third", func(string) {})
		third <- l3
	}()
	select {
	case <-third:
		t.Fatal("two holders after a removal")
	case <-time.After(50 * time.Millisecond):
	}
	l2.Unlock()
	(<-third).Unlock()
}

func TestSalvage(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	os.MkdirAll(s.ContainerDir("web"), 0o755)
	cfg := "lxc.idmap = u 0 296608 65536\nlxc.idmap = g 0 296608 65536\nlxc.net.0.type = veth\n" +
		"lxc.net.0.link = brNC-hostonly\nlxc.net.0.veth.pair = nc3h\nlxc.net.0.ipv4.address = 10.101.0.5/16\n" +
		"lxc.net.1.veth.pair = nc3i\n"
	os.WriteFile(filepath.Join(s.ContainerDir("web"), "config"), []byte(cfg), 0o644)
	os.WriteFile(filepath.Join(s.ContainerDir("web"), "container.json"), []byte("{ torn"), 0o644)
	recs, bad, err := s.ListAll()
	if err != nil || len(recs) != 0 || bad["web"] == nil {
		t.Fatalf("ListAll: %v %v %v", recs, bad, err)
	}
	all, err := s.List()
	if err != nil || len(all) != 1 {
		t.Fatalf("List: %v %v", all, err)
	}
	r := all[0]
	if r.Slot != 3 || r.UIDBase != 296608 || r.UIDSize != 65536 || len(r.Interfaces) != 1 || r.Interfaces[0].IPv4 != "10.101.0.5/16" || !r.Creating {
		t.Fatalf("salvaged %+v", r)
	}
	if FreeSlot(all) != 0 {
		t.Fatalf("free slot %d", FreeSlot(all))
	}
	if FreeSlot([]*Record{{Slot: 0}, r}) != 1 {
		t.Fatal("slot 3 must stay taken")
	}
}
