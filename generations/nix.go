// Package generations drives Nix: it evaluates a container file through the
// embedded wrapper, builds a generation, and keeps the container's Nix
// profile whose generations can be listed, switched, rolled back and deleted.
package generations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// Evaluation is what one evaluation of a container file gives: its
// settings and, when known, the derivation of its generation.
type Evaluation struct {
	Settings *Settings
	// Input is what the file was evaluated with.
	Input Input
	// NetworkIndependent: the generation does not depend on the address
	// arguments of Input (a prebuilt system), so Drv is valid for any.
	NetworkIndependent bool
	// Drv and Out are the generation's derivation and output paths; empty
	// when the generation depends on an address Input did not carry.
	Drv, Out string
}

// For reports whether the evaluated generation is the one of in, so that
// BuildEvaluated builds it without evaluating the file again.
func (e *Evaluation) For(in Input) bool {
	if e.Drv == "" || e.Input.File != in.File || e.Input.Name != in.Name {
		return false
	}
	return e.NetworkIndependent || e.Input == in
}

// Evaluate evaluates the container file once for both its settings and
// its generation's derivation (wrapper attribute `evaluation`), writing
// the derivation to the store. The derivation is left out when the
// generation depends on an address in does not carry (a NixOS
// configuration evaluated before its address is allocated).
func (n Nix) Evaluate(ctx context.Context, in Input) (*Evaluation, error) {
	args := append([]string{"--eval", "--strict", "--json", "--read-write-mode", n.Wrapper, "-A", "evaluation"}, in.args()...)
	out, err := n.run(ctx, "nix-instantiate", append(args, n.Args...)...)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", in.File, err)
	}
	var raw struct {
		Settings           json.RawMessage `json:"settings"`
		NetworkIndependent bool            `json:"networkIndependent"`
		Generation         *struct {
			Drv string `json:"drv"`
			Out string `json:"out"`
		} `json:"generation"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("evaluate %s: decode: %w", in.File, err)
	}
	s, err := DecodeSettings(raw.Settings)
	if err != nil {
		return nil, err
	}
	e := &Evaluation{Settings: s, Input: in, NetworkIndependent: raw.NetworkIndependent}
	if g := raw.Generation; g != nil {
		if !strings.HasPrefix(g.Drv, "/") || !strings.HasSuffix(g.Drv, ".drv") || !strings.HasPrefix(g.Out, "/") {
			return nil, fmt.Errorf("evaluate %s: the wrapper gave no derivation", in.File)
		}
		e.Drv, e.Out = g.Drv, g.Out
	}
	return e, nil
}

// ErrDerivationGone means an evaluated derivation is no longer in the
// store (a garbage collection ran since): build with Build instead.
var ErrDerivationGone = errors.New("the evaluated derivation is gone from the store")

// BuildEvaluated builds an evaluated generation from its derivation (no
// evaluation) and returns its store path, checked as Build checks it.
func (n Nix) BuildEvaluated(ctx context.Context, e *Evaluation) (string, error) {
	if e.Drv == "" {
		return "", fmt.Errorf("build %s: no derivation was evaluated", e.Input.File)
	}
	if _, err := os.Stat(e.Drv); err != nil {
		return "", fmt.Errorf("build %s: %w (%s)", e.Input.File, ErrDerivationGone, e.Drv)
	}
	out, err := n.run(ctx, "nix-build", append([]string{e.Drv, "--no-out-link"}, n.Args...)...)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", e.Input.File, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 || lines[len(lines)-1] != e.Out {
		return "", fmt.Errorf("build %s: nix-build printed %q, not the evaluated %s", e.Input.File, strings.TrimSpace(string(out)), e.Out)
	}
	if err := CheckBootable(e.Out); err != nil {
		return "", fmt.Errorf("build %s: %w", e.Input.File, err)
	}
	return e.Out, nil
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
// single and double quotes and backslash escapes as in sh.
func SplitArgs(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated double quote in %q", s)
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash in %q", s)
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
