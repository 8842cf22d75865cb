// Package records keeps one JSON record per container under
// state_dir/containers/<name>/container.json and the lock that serialises
// allocation of slots, uid ranges and addresses.
package records

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
)

// ErrNotExist means there is no record for the container.
var ErrNotExist = errors.New("container does not exist")

// ErrExist means a container of that name already exists.
var ErrExist = errors.New("container already exists")

const recordFile = "container.json"

// Record is what the tool remembers about one container.
type Record struct {
	Name string `json:"name"`
	// Slot is the container's small unique number; host-side names and
	// MACs derive from it.
	Slot int `json:"slot"`
	// UIDBase/UIDSize: container uid/gid 0 is host UIDBase.
	UIDBase uint32 `json:"uid_base"`
	UIDSize uint32 `json:"uid_size"`
	// File is the absolute path of the container file.
	File string `json:"file"`
	// NixArgs are the -n arguments of the last build, reused by update.
	NixArgs []string `json:"nix_args,omitempty"`
	// LXCArgs are -l KEY=VALUE items given at create or update.
	LXCArgs    []string    `json:"lxc_args,omitempty"`
	Interfaces []Interface `json:"interfaces,omitempty"`
	Created    time.Time   `json:"created"`
	// Creating is true while create has not finished; such a record
	// holds its allocations but is not a usable container.
	Creating bool `json:"creating,omitempty"`
}

// Interface is one network interface of a container.
type Interface struct {
	Name     string `json:"name"`      // inside the guest: hostonly, internet
	Bridge   string `json:"bridge"`    // host bridge it is attached to
	HostVeth string `json:"host_veth"` // host side name, from the slot
	MAC      string `json:"mac"`
	IPv4     string `json:"ipv4,omitempty"` // with prefix length
	IPv6     string `json:"ipv6,omitempty"` // with prefix length
}

// Store is the folder of records.
type Store struct {
	// Dir is state_dir/containers (LXC's lxcpath).
	Dir string
	// LockPath is state_dir/lock.
	LockPath string
}

// ValidateName accepts a DNS label: [a-z0-9-], 1 to 63 characters, no
// leading or trailing '-'.
func ValidateName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("invalid container name %q: must be 1 to 63 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("invalid container name %q: only a-z, 0-9 and '-' are allowed", name)
		}
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return fmt.Errorf("invalid container name %q: must not start or end with '-'", name)
	}
	return nil
}

// ContainerDir is the container's folder.
func (s Store) ContainerDir(name string) string { return filepath.Join(s.Dir, name) }

func (s Store) path(name string) string { return filepath.Join(s.Dir, name, recordFile) }

// Load reads one record.
func (s Store) Load(name string) (*Record, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container %q: %w", name, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: read record: %w", name, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("container %q: parse record %s: %w", name, s.path(name), err)
	}
	return &r, nil
}

// Save writes the record atomically, creating the container folder.
func (s Store) Save(r *Record) error {
	if err := os.MkdirAll(s.ContainerDir(r.Name), 0o755); err != nil {
		return fmt.Errorf("container %q: save record: %w", r.Name, err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path(r.Name), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("container %q: save record: %w", r.Name, err)
	}
	return nil
}

// List returns every record, sorted by name.
func (s Store) List() ([]*Record, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []*Record
	for _, e := range entries {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		r, err := s.Load(e.Name())
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Lock takes the allocation lock, blocking until it is free. Call the
// returned function to release it.
func (s Store) Lock() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(s.LockPath), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(s.LockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", s.LockPath, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// FreeSlot returns the lowest slot no record holds.
func FreeSlot(recs []*Record) int {
	used := map[int]bool{}
	for _, r := range recs {
		used[r.Slot] = true
	}
	for k := 0; ; k++ {
		if !used[k] {
			return k
		}
	}
}
