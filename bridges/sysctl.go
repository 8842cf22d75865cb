package bridges

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
)

// sysctlsFile holds the values the host's global sysctls had before the
// tool first changed them (ip_forward, IPv6 forwarding, the uplink's
// accept_ra), so that teardown can put them back.
func (h *host) sysctlsFile() string { return filepath.Join(h.cfg.StateDir, "sysctl-before.json") }

func (h *host) savedSysctls() (map[string]string, error) {
	saved := map[string]string{}
	data, err := os.ReadFile(h.sysctlsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return saved, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &saved); err != nil {
		return nil, fmt.Errorf("%s: %w", h.sysctlsFile(), err)
	}
	return saved, nil
}

// setGlobal sets a sysctl the host shares with everything else on it,
// first noting the value it had, once.
func (h *host) setGlobal(path, value string) error {
	saved, err := h.savedSysctls()
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", path, err)
	}
	if _, ok := saved[path]; !ok {
		old, err := h.sys.get(path)
		if err != nil {
			return err
		}
		if old != value {
			saved[path] = old
			data, _ := json.Marshal(saved)
			if err := atomicfile.WriteFile(h.sysctlsFile(), data, 0o644); err != nil {
				return fmt.Errorf("sysctl %s: note the old value: %w", path, err)
			}
		}
	}
	return h.sys.set(path, value)
}

// restoreSysctls puts back what setGlobal noted; interfaces that are gone
// are skipped.
func (h *host) restoreSysctls() error {
	saved, err := h.savedSysctls()
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(saved))
	for p := range saved {
		paths = append(paths, p)
	}
	// Forwarding off last: the uplink's accept_ra first.
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	var errs []error
	for _, p := range paths {
		if err := h.sys.set(p, saved[p]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("sysctl %s: restore %s: %w", p, saved[p], err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(h.sysctlsFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
