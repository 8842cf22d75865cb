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
	"regexp"
	"strconv"
	"strings"

	"github.com/google/shlex"
)

// ErrNix marks a failed Nix command; the message carries Nix's own error.
var ErrNix = errors.New("nix failed")

// nixFailure is a failed Nix command: "nix-build: MESSAGE". It is ErrNix.
type nixFailure struct{ prog, msg string }

func (e *nixFailure) Error() string        { return e.prog + ": " + e.msg }
func (e *nixFailure) Is(target error) bool { return target == ErrNix }

// Nix runs Nix's stable commands with the same extra arguments every time.
type Nix struct {
	// Wrapper is the path of the materialised wrapper.nix.
	Wrapper string
	// Args are extra arguments for every Nix call (-n, host.toml's nixpkgs).
	Args []string
	// Progress receives Nix's stderr as it runs (build logs); may be nil.
	Progress io.Writer
	// Debug runs Nix with --show-trace and streams its whole stderr.
	Debug bool
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
// stdout. On failure the error carries Nix's first real error with its
// file:line (nixError). Unless Debug, the stream leaves out Nix's error
// blocks (the error lines and their code frames), which the error sums up;
// with Debug Nix runs with --show-trace and everything is streamed.
func (n Nix) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	if n.Debug {
		args = append(args, "--show-trace")
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	var filter *errorBlockFilter
	if n.Progress != nil {
		if n.Debug {
			cmd.Stderr = io.MultiWriter(&stderr, n.Progress)
		} else {
			filter = &errorBlockFilter{w: n.Progress}
			cmd.Stderr = io.MultiWriter(&stderr, filter)
		}
	}
	err := cmd.Run()
	if filter != nil {
		filter.Flush()
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("%s: %w", prog, err)
		}
		return nil, &nixFailure{prog: prog, msg: nixError(stderr.String(), n.Wrapper, err)}
	}
	return stdout.Bytes(), nil
}

var (
	// nixErrorLine is an error line of Nix's.
	nixErrorLine = regexp.MustCompile(`^error: ?(.*)$`)
	// nixPosition is the "at FILE:LINE:COL:" line under an error.
	nixPosition = regexp.MustCompile(`^\s+at (/[^:]+:[0-9]+:[0-9]+):$`)
	// summaryError are Nix's errors about other errors.
	summaryError = regexp.MustCompile(`^[0-9]+ dependenc(y|ies) of derivation .* failed to build$|^build of .* failed$`)
	builderError = regexp.MustCompile(`^builder for '.*' failed`)
)

// nixError sums up Nix's stderr in one line: the first real error (the
// builder's failure before the failures it caused), with the message from
// the next line when Nix put it there, and its file:line unless that is
// in the wrapper.
func nixError(stderr, wrapper string, fallback error) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	first := -1
	for i, l := range lines {
		m := nixErrorLine.FindStringSubmatch(l)
		if m == nil || summaryError.MatchString(strings.TrimSpace(m[1])) {
			continue
		}
		if builderError.MatchString(m[1]) {
			first = i
			break
		}
		if first < 0 {
			first = i
		}
	}
	if first < 0 {
		for i := len(lines) - 1; i >= 0; i-- {
			if l := strings.TrimSpace(lines[i]); l != "" {
				return l
			}
		}
		return fallback.Error()
	}
	msg := strings.TrimSpace(strings.TrimPrefix(lines[first], "error:"))
	i := first + 1
	if msg == "" {
		// Nix 2.8 puts a long thrown message on the lines after "error:".
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
		if i < len(lines) {
			msg = strings.TrimSpace(lines[i])
			i++
		}
	}
	msg = strings.TrimSuffix(msg, ";")
	if strings.Contains(msg, "nixpkgs/nixos/lib/eval-config.nix' was not found") {
		return "the container file is a NixOS module (or an attribute set with neither 'system' nor 'configuration'), " +
			"and a NixOS module needs nixpkgs: set nixpkgs in host.toml or pass -n \"-I nixpkgs=PATH\" " +
			"(a prebuilt system goes in { system = ...; })"
	}
	for ; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "…") || nixErrorLine.MatchString(l) {
			break
		}
		if m := nixPosition.FindStringSubmatch(l); m != nil {
			if wrapper == "" || !strings.HasPrefix(m[1], filepath.Dir(wrapper)+"/") {
				msg += " (at " + m[1] + ")"
			}
			break
		}
	}
	return msg
}

// errorBlockFilter passes Nix's stderr on line by line, leaving out its
// error blocks: an "error:" line and the indented, blank, "…" and
// "(use '--show-trace'" lines after it.
type errorBlockFilter struct {
	w       io.Writer
	partial []byte
	inBlock bool
}

func (f *errorBlockFilter) Write(p []byte) (int, error) {
	f.partial = append(f.partial, p...)
	for {
		i := bytes.IndexByte(f.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		f.line(string(f.partial[:i+1]))
		f.partial = f.partial[i+1:]
	}
}

// Flush passes on a last line without newline.
func (f *errorBlockFilter) Flush() {
	if len(f.partial) > 0 {
		f.line(string(f.partial))
		f.partial = nil
	}
}

func (f *errorBlockFilter) line(l string) {
	t := strings.TrimRight(l, "\n")
	switch {
	case nixErrorLine.MatchString(t):
		f.inBlock = true
	case f.inBlock && (t == "" || t[0] == ' ' || t[0] == '\t' || strings.HasPrefix(t, "…") || strings.HasPrefix(t, "(use '--show-trace'")):
	default:
		f.inBlock = false
		_, _ = io.WriteString(f.w, l) // progress output is best effort
	}
}

// EvalSettings evaluates the container file's host-side settings.
func (n Nix) EvalSettings(ctx context.Context, in Input) (*Settings, error) {
	args := append([]string{"--eval", "--strict", "--json", n.Wrapper, "-A", "settings"}, in.args()...)
	out, err := n.run(ctx, "nix-instantiate", append(args, n.Args...)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.File, err)
	}
	return DecodeSettings(out)
}

// Build builds the generation of the container file and returns its store
// path. The result is not rooted until it is added to a profile.
func (n Nix) Build(ctx context.Context, in Input) (string, error) {
	args := append([]string{n.Wrapper, "-A", "generation", "--no-out-link"}, in.args()...)
	out, err := n.run(ctx, "nix-build", append(args, n.Args...)...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", in.File, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "/") {
		return "", fmt.Errorf("%s: nix-build printed no store path", in.File)
	}
	path := lines[len(lines)-1]
	if err := CheckBootable(path); err != nil {
		return "", fmt.Errorf("%s: %w", in.File, err)
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
		return nil, fmt.Errorf("%s: %w", in.File, err)
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
		return nil, fmt.Errorf("%s: decode: %w", in.File, err)
	}
	s, err := DecodeSettings(raw.Settings)
	if err != nil {
		return nil, err
	}
	e := &Evaluation{Settings: s, Input: in, NetworkIndependent: raw.NetworkIndependent}
	if g := raw.Generation; g != nil {
		if !strings.HasPrefix(g.Drv, "/") || !strings.HasSuffix(g.Drv, ".drv") || !strings.HasPrefix(g.Out, "/") {
			return nil, fmt.Errorf("%s: the wrapper gave no derivation", in.File)
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
		return "", fmt.Errorf("%s: no derivation was evaluated", e.Input.File)
	}
	if _, err := os.Stat(e.Drv); err != nil {
		return "", fmt.Errorf("%s: %w (%s)", e.Input.File, ErrDerivationGone, e.Drv)
	}
	out, err := n.run(ctx, "nix-build", append([]string{e.Drv, "--no-out-link"}, n.Args...)...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", e.Input.File, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 || lines[len(lines)-1] != e.Out {
		return "", fmt.Errorf("%s: nix-build printed %q, not the evaluated %s", e.Input.File, strings.TrimSpace(string(out)), e.Out)
	}
	if err := CheckBootable(e.Out); err != nil {
		return "", fmt.Errorf("%s: %w", e.Input.File, err)
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
