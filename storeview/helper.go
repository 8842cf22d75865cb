package storeview

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoView means there is no view to add paths to.
var ErrNoView = errors.New("no store view")

// addHelperArg0 is the argv[0] under which the binary re-executes itself
// to add paths to a view in another mount namespace (see AddIn).
const addHelperArg0 = "nixcloud-container-store-add"

// mntnsEnv names the descriptor of the namespace the helper enters
// (enter_cgo.go).
const mntnsEnv = "_NIXCLOUD_CONTAINER_STORE_MNTNS"

// helperNoView is the helper's exit status for ErrNoView.
const helperNoView = 3

// The add helper: DIR as its argument, store paths on standard input, one
// a line; it runs in the namespace its constructor entered.
func init() {
	if len(os.Args) != 2 || os.Args[0] != addHelperArg0 {
		return
	}
	if !entered() {
		fmt.Fprintln(os.Stderr, "the store view's mount namespace was not entered")
		os.Exit(1)
	}
	var paths []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		paths = append(paths, sc.Text())
	}
	err := sc.Err()
	if err == nil {
		err = addMounted(os.Args[1], paths)
	}
	if errors.Is(err, ErrNoView) {
		os.Exit(helperNoView)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// addMounted adds paths to the view at dir, which must be there.
func addMounted(dir string, paths []string) error {
	mounted, err := Mounted(dir)
	if err != nil {
		return err
	}
	if !mounted {
		return ErrNoView
	}
	_, err = Add(dir, paths)
	return err
}

// AddIn adds paths to the view at dir as the mount namespace of process
// pid sees it (the LXC monitor of the container: the namespace its start
// ran in, where the view was made). In another namespace than the
// caller's it re-executes the binary, which enters that namespace before
// the Go runtime starts. It returns ErrNoView when there is no view.
func AddIn(pid int, dir string, paths []string) error {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return fmt.Errorf("store view %s: mount namespace of pid %d: %w", dir, pid, err)
	}
	defer ns.Close()
	var theirs, ours unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &theirs); err != nil {
		return fmt.Errorf("store view %s: %w", dir, err)
	}
	if err := unix.Stat("/proc/self/ns/mnt", &ours); err != nil {
		return fmt.Errorf("store view %s: %w", dir, err)
	}
	if theirs.Ino == ours.Ino && theirs.Dev == ours.Dev {
		return addMounted(dir, paths)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("/proc/self/exe", dir)
	cmd.Args[0] = addHelperArg0
	cmd.ExtraFiles = []*os.File{ns} // fd 3
	cmd.Env = append(os.Environ(), mntnsEnv+"=3")
	cmd.Stdin = strings.NewReader(strings.Join(paths, "\n") + "\n")
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == helperNoView {
		return ErrNoView
	}
	if err != nil {
		return fmt.Errorf("store view %s: in the mount namespace of pid %d: %w: %s", dir, pid, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
