package pty

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// openDir opens dir like liblxc's devpts descriptor: O_PATH.
func openDir(t *testing.T, dir string) *os.File {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), dir)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestOpenInDevpts(t *testing.T) {
	master, slave, err := OpenIn(openDir(t, "/dev/pts"))
	if err != nil {
		t.Skipf("no usable /dev/pts here: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	if !IsTerminal(slave) {
		t.Fatal("slave is not a terminal")
	}
	if _, err := slave.Write([]byte("x")); err != nil {
		t.Fatalf("slave not writable: %v", err)
	}
}

// A ptmx that is not the multiplexer of a devpts instance is refused: a
// regular file, a link to the real one, another device.
func TestOpenInRefusesImpostors(t *testing.T) {
	tests := []struct {
		name string
		make func(dir string) error
		want error
	}{
		{"regular file", func(dir string) error { return os.WriteFile(filepath.Join(dir, "ptmx"), nil, 0o666) }, ErrNotPtmx},
		{"symlink to /dev/ptmx", func(dir string) error { return os.Symlink("/dev/ptmx", filepath.Join(dir, "ptmx")) }, unix.ELOOP},
		{"symlink escaping", func(dir string) error { return os.Symlink("../../../../dev/ptmx", filepath.Join(dir, "ptmx")) }, unix.ELOOP},
		{"missing", func(dir string) error { return nil }, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.make(dir); err != nil {
				t.Fatal(err)
			}
			_, _, err := OpenIn(openDir(t, dir))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("the host's /dev/ptmx is a ptmx but not on devpts", func(t *testing.T) {
		_, _, err := OpenIn(openDir(t, "/dev"))
		if !errors.Is(err, ErrNotPtmx) && !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.EXDEV) {
			t.Fatalf("got %v, want a refusal", err)
		}
	})
}

// Relay without a terminal: input's end becomes the pty's end of file,
// output written before the command ended is all copied.
func TestRelayPipes(t *testing.T) {
	master, slave, err := OpenIn(openDir(t, "/dev/pts"))
	if err != nil {
		t.Skipf("no usable /dev/pts here: %v", err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Relay(inR, outW, master)
	if err != nil {
		t.Fatal(err)
	}
	inW.Write([]byte("hello\n"))
	inW.Close()
	// The "command": read the line and the end of file, answer.
	buf := make([]byte, 100)
	n, _ := slave.Read(buf)
	if string(buf[:n]) != "hello\n" {
		t.Errorf("command read %q", buf[:n])
	}
	if n, _ := slave.Read(buf); n != 0 {
		t.Errorf("no end of file after the input's: read %q", buf[:n])
	}
	big := bytes.Repeat([]byte("0123456789"), 300)
	slave.Write(big)
	slave.Close()
	s.Finish()
	outW.Close()
	got := new(bytes.Buffer)
	got.ReadFrom(outR)
	if !bytes.Contains(got.Bytes(), big) {
		t.Errorf("output lost: got %d bytes", got.Len())
	}
}
