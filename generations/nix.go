// Package generations drives Nix: it evaluates a container file through the
// embedded wrapper, builds a generation, and keeps the container's Nix
// profile whose generations can be listed, switched, rolled back and deleted.
package generations

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/shlex"
)

// ErrNix marks a failed Nix command; the message carries Nix's own error.
var ErrNix = errors.New("nix failed")

// Nix runs Nix's stable commands with the same extra arguments every time.
type Nix struct {
	// Wrapper is the path of the materialised wrapper.nix.
	Wrapper string
	// Args are extra arguments for every Nix call (-n, host.toml's nixpkgs).
	Args []string
	// Progress receives Nix's stderr as it runs (build logs); may be nil.
	Progress io.Writer
}

// Input is what the wrapper needs besides the container file.
type Input struct {
	File         string
	Name         string
	IP           string // hostonly IPv4 address, no prefix length
	PrefixLength int
	Gateway      string
	EnableNat    bool
}

func (in Input) args() []string {
	a := []string{
		"--argstr", "file", in.File,
		"--argstr", "name", in.Name,
		"--argstr", "ip", in.IP,
		"--argstr", "gateway", in.Gateway,
		"--arg", "enableNat", strconv.FormatBool(in.EnableNat),
	}
	if in.PrefixLength > 0 {
		a = append(a, "--arg", "prefixLength", strconv.Itoa(in.PrefixLength))
	}
	return a
}

// run runs a Nix command, streaming its stderr to Progress and returning
// stdout. On failure the error carries Nix's last "error:" line.
func (n Nix) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if n.Progress != nil {
		cmd.Stderr = io.MultiWriter(&stderr, n.Progress)
	} else {
		cmd.Stderr = &stderr
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("%s: %w", prog, err)
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrNix, prog, lastError(stderr.String(), err))
	}
	return stdout.Bytes(), nil
}

// lastError picks the most telling line of Nix's stderr.
func lastError(stderr string, fallback error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if idx := strings.Index(l, "error: "); idx >= 0 {
			msg := strings.TrimSpace(l[idx+len("error: "):])
			// Nix 2.8 puts the thrown message of `throw` on the lines after
			// "error:" when it is long; join a short continuation.
			if msg == "" && i+1 < len(lines) {
				msg = strings.TrimSpace(lines[i+1])
			}
			return msg
		}
	}
	if len(lines) > 0 && lines[len(lines)-1] != "" {
		return strings.TrimSpace(lines[len(lines)-1])
	}
	return fallback.Error()
}

// EvalSettings evaluates the container file's host-side settings.
func (n Nix) EvalSettings(ctx context.Context, in Input) (*Settings, error) {
	args := append([]string{"--eval", "--strict", "--json", n.Wrapper, "-A", "settings"}, in.args()...)
	out, err := n.run(ctx, "nix-instantiate", append(args, n.Args...)...)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", in.File, err)
	}
	return DecodeSettings(out)
}

// Build builds the generation of the container file and returns its store
// path. The result is not rooted until it is added to a profile.
func (n Nix) Build(ctx context.Context, in Input) (string, error) {
	args := append([]string{n.Wrapper, "-A", "generation", "--no-out-link"}, in.args()...)
	out, err := n.run(ctx, "nix-build", append(args, n.Args...)...)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", in.File, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "/") {
		return "", fmt.Errorf("build %s: nix-build printed no store path", in.File)
	}
	path := lines[len(lines)-1]
	if err := CheckBootable(path); err != nil {
		return "", fmt.Errorf("build %s: %w", in.File, err)
	}
	return path, nil
}

// ErrNotBootable means a built generation has no executable init.
var ErrNotBootable = errors.New("the system has no executable init")

// CheckBootable refuses a generation whose system cannot boot: LXC starts
// <generation>/init, so it must be an executable file.
func CheckBootable(generation string) error {
	st, err := os.Stat(filepath.Join(generation, "init"))
	if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%w (%s/init)", ErrNotBootable, generation)
	}
	return nil
}

// SplitArgs splits a shell-quoted string (as given to -n) into words:
// single and double quotes and backslash escapes as in sh (google/shlex).
// An empty or blank string gives no words.
func SplitArgs(s string) ([]string, error) {
	words, err := shlex.Split(s)
	if err != nil {
		return nil, fmt.Errorf("cannot split %q into words: %w", s, err)
	}
	if len(words) == 0 {
		return nil, nil
	}
	return words, nil
}
