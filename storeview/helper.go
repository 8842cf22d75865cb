package storeview

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/nixcloud/nixcloud-container/internal/mntns"
)

// ErrNoView means there is no view to add paths to.
var ErrNoView = errors.New("no store view")

// addHelperArg0 is the argv[0] under which the binary re-executes itself
// to add paths to a view in another mount namespace (see AddIn).
const addHelperArg0 = "nixcloud-container-store-add"

// holderArg0 is the argv[0] under which the binary re-executes itself to
// make a view in a mount namespace of its own and hold it (see Make).
const holderArg0 = "nixcloud-container-store-view"

// helperNoView is the add helper's exit status for ErrNoView.
const helperNoView = 3

// holderReady is the line the holder writes once the view is made.
const holderReady = "ready"

// The helpers: DIR as their argument, store paths on standard input, one
// a line. The add helper runs in the namespace its constructor entered
// (internal/mntns); the holder in the one its constructor made, and it
// ends the paths with an empty line.
func init() {
	if len(os.Args) != 2 {
		return
	}
	switch os.Args[0] {
	case addHelperArg0:
		os.Exit(addHelper(os.Args[1]))
	case holderArg0:
		os.Exit(holder(os.Args[1]))
	}
}

func addHelper(dir string) int {
	if !mntns.Entered() {
		fmt.Fprintln(os.Stderr, "the store view's mount namespace was not entered")
		return 1
	}
	var paths []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		paths = append(paths, sc.Text())
	}
	err := sc.Err()
	if err == nil {
		err = addMounted(dir, paths)
	}
	if errors.Is(err, ErrNoView) {
		return helperNoView
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// holder makes the view at dir in the new mount namespace, says so on
// standard output and holds the namespace until standard input ends (its
// parent closed it, or died): by then the container's LXC monitor, started
// in this namespace, holds it, or nothing does and the kernel drops it
// with every mount of the view. Paths not ended by the empty line (the
// parent died while sending them) make no view.
func holder(dir string) int {
	if !mntns.Made() {
		fmt.Fprintln(os.Stderr, "no mount namespace of its own for the store view")
		return 1
	}
	in := bufio.NewReader(os.Stdin)
	var paths []string
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return 1 // the parent is gone
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		paths = append(paths, line)
	}
	if err := Create(dir, paths); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(holderReady)
	io.Copy(io.Discard, in)
	return 0
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
	same, err := mntns.Same(ns)
	if err != nil {
		return fmt.Errorf("store view %s: %w", dir, err)
	}
	if same {
		return addMounted(dir, paths)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("/proc/self/exe", dir)
	cmd.Args[0] = addHelperArg0
	mntns.Enter(cmd, ns)
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

// Held is a view made in a mount namespace of its own (a slave of the
// caller's, so nothing of the view reaches the caller's namespace or the
// host's), held by a helper process until Close. Start the container in
// Namespace() before Close: its LXC monitor then holds the namespace for
// as long as the container runs, and when it stops the kernel drops the
// namespace with every mount of the view. Nothing needs removing, and a
// crash at any point leaves nothing behind.
type Held struct {
	dir    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ns     *os.File
	stderr bytes.Buffer
}

// Make makes a view at dir holding exactly paths in a new mount
// namespace, and holds it.
func Make(dir string, paths []string) (_ *Held, retErr error) {
	h := &Held{dir: dir, cmd: exec.Command("/proc/self/exe", dir)}
	h.cmd.Args[0] = holderArg0
	mntns.New(h.cmd)
	h.cmd.Stderr = &h.stderr
	stdin, err := h.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("store view %s: %w", dir, err)
	}
	h.stdin = stdin
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("store view %s: %w", dir, err)
	}
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("store view %s: %w", dir, err)
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, h.Close())
		}
	}()
	// The holder reads everything before it answers: no deadlock on a
	// closure larger than the pipe.
	if _, err := io.WriteString(stdin, strings.Join(append(paths, "", ""), "\n")); err != nil {
		return nil, fmt.Errorf("store view %s: send the paths: %w", dir, err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != holderReady+"\n" {
		err := h.Close()
		if err == nil {
			err = errors.New("the helper did not make it")
		}
		return nil, err
	}
	if h.ns, err = os.Open(fmt.Sprintf("/proc/%d/ns/mnt", h.cmd.Process.Pid)); err != nil {
		return nil, fmt.Errorf("store view %s: %w", dir, err)
	}
	return h, nil
}

// Namespace is the mount namespace that holds the view.
func (h *Held) Namespace() *os.File { return h.ns }

// Close lets the helper go. The view lives on while anything else is in
// its namespace (the container's LXC monitor).
func (h *Held) Close() error {
	if h.ns != nil {
		h.ns.Close()
	}
	h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		return fmt.Errorf("store view %s: %w: %s", h.dir, err, strings.TrimSpace(h.stderr.String()))
	}
	return nil
}
