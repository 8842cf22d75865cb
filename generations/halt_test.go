package generations

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckHaltSignal(t *testing.T) {
	for _, tt := range []struct {
		v  string
		ok bool
	}{
		{"", true}, {"SIGPWR", true}, {"SIGRTMIN+3", true}, {"SIGRTMAX-2", true}, {"SIGUSR1", true},
		{"30", true}, {"SIGKILL", false}, {"9", false}, {"SIGSTOP", false}, {"PWR", false},
		{"SIGRTMIN+99", false}, {"0", false}, {"sigpwr", false},
	} {
		t.Run(tt.v, func(t *testing.T) {
			err := checkHaltSignal(&Settings{HaltSignal: tt.v})
			if (err == nil) != tt.ok {
				t.Fatalf("checkHaltSignal(%q) = %v, want ok=%v", tt.v, err, tt.ok)
			}
		})
	}
}

func TestGenerationHaltSignal(t *testing.T) {
	nixos, system := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(nixos, "nixos-version"), []byte("24.05"), 0o644)
	for _, tt := range []struct {
		gen  string
		s    *Settings
		want string
	}{
		{nixos, &Settings{}, HaltNixOS},
		{system, &Settings{}, HaltSystem},
		{system, &Settings{HaltSignal: "SIGUSR1"}, "SIGUSR1"},
		{nixos, &Settings{HaltSignal: "SIGTERM"}, "SIGTERM"},
	} {
		if got := (Generation{StorePath: tt.gen}).HaltSignal(tt.s); got != tt.want {
			t.Errorf("HaltSignal(%s, %+v) = %s, want %s", tt.gen, tt.s, got, tt.want)
		}
	}
}

func TestCheckBootable(t *testing.T) {
	dir := t.TempDir()
	if err := CheckBootable(dir); err == nil {
		t.Fatal("no init: accepted")
	}
	os.WriteFile(filepath.Join(dir, "init"), []byte("#!/bin/sh\n"), 0o644)
	if err := CheckBootable(dir); err == nil {
		t.Fatal("init not executable: accepted")
	}
	os.Chmod(filepath.Join(dir, "init"), 0o555)
	if err := CheckBootable(dir); err != nil {
		t.Fatal(err)
	}
}

func TestRelink(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"1", "2"} {
		os.Symlink(t.TempDir(), filepath.Join(dir, "system-"+n+"-link"))
	}
	p := Profile{Dir: dir}
	if _, err := p.Current(); err == nil {
		t.Fatal("current without a link")
	}
	if err := p.Relink(3); err == nil {
		t.Fatal("relinked to a missing generation")
	}
	if err := p.Relink(1); err != nil {
		t.Fatal(err)
	}
	if cur, err := p.Current(); err != nil || cur.Number != 1 {
		t.Fatalf("current %v %v", cur, err)
	}
}
