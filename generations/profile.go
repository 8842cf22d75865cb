package generations

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNoGeneration means the requested generation does not exist.
var ErrNoGeneration = errors.New("no such generation")

// ErrCurrent means the operation would delete the current generation.
var ErrCurrent = errors.New("is the current generation")

// SettingsFile is the entry of a generation that links to its host-side
// settings (JSON). The name is given by Nix's builtin buildenv, which
// assembles the generation.
const SettingsFile = "manifest.nix"

// Profile is a container's Nix profile: Dir/system with system-N-link
// generations.
type Profile struct {
	Dir string
	Nix Nix
}

// Path is the profile symlink.
func (p Profile) Path() string { return filepath.Join(p.Dir, "system") }

// Generation is one build of the container.
type Generation struct {
	Number    int       `json:"number"`
	Date      time.Time `json:"date"`
	StorePath string    `json:"store_path"`
	Current   bool      `json:"current"`
}

var linkRE = regexp.MustCompile(`^system-([0-9]+)-link$`)

// Generations lists the profile's generations, oldest first.
func (p Profile) Generations() ([]Generation, error) {
	entries, err := os.ReadDir(p.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list generations: %w", err)
	}
	cur, _ := os.Readlink(p.Path())
	var gens []Generation
	for _, e := range entries {
		m := linkRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		link := filepath.Join(p.Dir, e.Name())
		target, err := os.Readlink(link)
		if err != nil {
			return nil, fmt.Errorf("list generations: %w", err)
		}
		st, err := os.Lstat(link)
		if err != nil {
			return nil, fmt.Errorf("list generations: %w", err)
		}
		gens = append(gens, Generation{Number: n, Date: st.ModTime(), StorePath: target, Current: e.Name() == cur})
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].Number < gens[j].Number })
	return gens, nil
}

// Current returns the current generation.
func (p Profile) Current() (Generation, error) {
	gens, err := p.Generations()
	if err != nil {
		return Generation{}, err
	}
	for _, g := range gens {
		if g.Current {
			return g, nil
		}
	}
	return Generation{}, fmt.Errorf("profile %s: %w: it has no current generation", p.Path(), ErrNoGeneration)
}

// Add makes storePath the current generation. When it already is, nothing
// changes and added is false.
func (p Profile) Add(ctx context.Context, storePath string) (gen int, added bool, err error) {
	if cur, err := p.Current(); err == nil && cur.StorePath == storePath {
		return cur.Number, false, nil
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return 0, false, fmt.Errorf("add generation: %w", err)
	}
	if _, err := p.Nix.run(ctx, "nix-env", append([]string{"-p", p.Path(), "--set", storePath}, p.Nix.Args...)...); err != nil {
		return 0, false, fmt.Errorf("add generation: %w", err)
	}
	cur, err := p.Current()
	if err != nil {
		return 0, false, err
	}
	return cur.Number, true, nil
}

// Switch makes generation n current.
func (p Profile) Switch(ctx context.Context, n int) error {
	if _, err := p.find(n); err != nil {
		return err
	}
	_, err := p.Nix.run(ctx, "nix-env", append([]string{"-p", p.Path(), "--switch-generation", strconv.Itoa(n)}, p.Nix.Args...)...)
	if err != nil {
		return fmt.Errorf("switch to generation %d: %w", n, err)
	}
	return nil
}

// Relink points the profile link at generation n, atomically (a new
// link renamed over the old one). It repairs a profile whose link was
// lost while its generations are still there.
func (p Profile) Relink(n int) error {
	if _, err := p.find(n); err != nil {
		return err
	}
	tmp := p.Path() + ".relink"
	os.Remove(tmp)
	if err := os.Symlink(fmt.Sprintf("system-%d-link", n), tmp); err != nil {
		return fmt.Errorf("relink profile: %w", err)
	}
	if err := os.Rename(tmp, p.Path()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("relink profile: %w", err)
	}
	return nil
}

// Previous returns the number of the generation before the current one.
func (p Profile) Previous() (int, error) {
	gens, err := p.Generations()
	if err != nil {
		return 0, err
	}
	prev := 0
	for _, g := range gens {
		if g.Current {
			if prev == 0 {
				return 0, fmt.Errorf("rollback: %w: no generation older than %d", ErrNoGeneration, g.Number)
			}
			return prev, nil
		}
		prev = g.Number
	}
	return 0, fmt.Errorf("rollback: %w: no current generation", ErrNoGeneration)
}

// Generation returns generation n.
func (p Profile) Generation(n int) (Generation, error) { return p.find(n) }

func (p Profile) find(n int) (Generation, error) {
	gens, err := p.Generations()
	if err != nil {
		return Generation{}, err
	}
	for _, g := range gens {
		if g.Number == n {
			return g, nil
		}
	}
	return Generation{}, fmt.Errorf("generation %d: %w", n, ErrNoGeneration)
}

// Delete deletes generations given as numbers, "old", "+N" (keep the last
// N) or "Nd" (older than N days). The current generation is never deleted:
// naming it explicitly is refused before anything changes.
func (p Profile) Delete(ctx context.Context, specs []string) error {
	if len(specs) == 0 {
		return errors.New("delete generations: name at least one generation")
	}
	cur, err := p.Current()
	if err != nil {
		return err
	}
	for _, s := range specs {
		n, err := ParseGenSpec(s)
		if err != nil {
			return err
		}
		if n > 0 {
			if n == cur.Number {
				return fmt.Errorf("delete generation %d: %w", n, ErrCurrent)
			}
			if _, err := p.find(n); err != nil {
				return fmt.Errorf("delete %w", err)
			}
		}
	}
	args := append([]string{"-p", p.Path(), "--delete-generations"}, specs...)
	if _, err := p.Nix.run(ctx, "nix-env", append(args, p.Nix.Args...)...); err != nil {
		return fmt.Errorf("delete generations: %w", err)
	}
	return nil
}

var (
	plusRE = regexp.MustCompile(`^\+[1-9][0-9]*$`)
	daysRE = regexp.MustCompile(`^[1-9][0-9]*d$`)
	numRE  = regexp.MustCompile(`^[1-9][0-9]*$`)
)

// ParseGenSpec checks one generation spec; for a plain number it returns it,
// for the other forms 0.
func ParseGenSpec(s string) (int, error) {
	switch {
	case s == "old", plusRE.MatchString(s), daysRE.MatchString(s):
		return 0, nil
	case numRE.MatchString(s):
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("generation %q: too large", s)
		}
		return n, nil
	}
	return 0, fmt.Errorf("generation %q: want a positive number, old, +N or Nd", s)
}

// ParseGenNumber checks a single generation number.
func ParseGenNumber(s string) (int, error) {
	if !numRE.MatchString(s) {
		return 0, fmt.Errorf("generation %q: want a positive number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("generation %q: too large", s)
	}
	return n, nil
}

// Settings reads the host-side settings a generation carries.
func (g Generation) Settings() (*Settings, error) {
	data, err := os.ReadFile(filepath.Join(g.StorePath, SettingsFile))
	if err != nil {
		return nil, fmt.Errorf("generation %d: read settings: %w", g.Number, err)
	}
	s, err := DecodeSettings(data)
	if err != nil {
		return nil, fmt.Errorf("generation %d: %w", g.Number, err)
	}
	return s, nil
}

// HasSwitch reports whether the generation's system can switch in place.
func (g Generation) HasSwitch() bool {
	st, err := os.Stat(filepath.Join(g.StorePath, "bin", "switch-to-configuration"))
	return err == nil && st.Mode()&0o111 != 0
}

// Remove deletes the whole profile: every generation link and the folder.
// Nix's automatic GC roots for them go stale and stop rooting anything.
func (p Profile) Remove() error {
	if err := os.RemoveAll(p.Dir); err != nil {
		return fmt.Errorf("remove profile: %w", err)
	}
	return nil
}

// FormatList renders generations as nix-env --list-generations does.
func FormatList(gens []Generation) string {
	var b strings.Builder
	for _, g := range gens {
		fmt.Fprintf(&b, "%4d   %s", g.Number, g.Date.Local().Format("2006-01-02 15:04:05"))
		if g.Current {
			b.WriteString("   (current)")
		}
		b.WriteByte('\n')
	}
	return b.String()
}
