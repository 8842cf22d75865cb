// Package guestpatches embeds the Nix wrapper that turns a container file
// into a generation and the guest-side NixOS module that makes a NixOS guest
// boot well under unprivileged LXC.
package guestpatches

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

//go:embed *.nix
var files embed.FS

// Wrapper is the wrapper's file name inside the materialised folder.
const Wrapper = "wrapper.nix"

// Materialise writes the embedded files to dir/<content hash>/ (once; the
// folder is read-only afterwards) and returns that folder.
func Materialise(dir string) (string, error) {
	names, err := fs.Glob(files, "*.nix")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	contents := map[string][]byte{}
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return "", err
		}
		contents[n] = b
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	final := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(final, Wrapper)); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("guest patches: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".tmp")
	if err != nil {
		return "", fmt.Errorf("guest patches: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(tmp, n), contents[n], 0o444); err != nil {
			return "", fmt.Errorf("guest patches: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another process won the race: use its copy.
		if _, statErr := os.Stat(filepath.Join(final, Wrapper)); statErr == nil {
			return final, nil
		}
		return "", fmt.Errorf("guest patches: %w", err)
	}
	return final, nil
}
