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
	"strings"
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
	// Generation is the current generation as the tool last set it; it
	// repairs a lost profile link.
	Generation int `json:"generation,omitempty"`
	// Sources are the container file and -n arguments each generation was
	// built from: File and NixArgs always hold the current generation's.
	Sources map[int]Source `json:"sources,omitempty"`
	// SubIDFiles are the subordinate id files (/etc/subuid, /etc/subgid)
	// the tool added this container's range to; destroy removes the line
	// again when no other container uses the range.
	SubIDFiles []string `json:"subid_files,omitempty"`
	// Intent is the multi-step verb under way, written before its first
	// step and cleared after its last; one left behind was interrupted and
	// the next verb on the container finishes or undoes it.
	Intent *Intent `json:"intent,omitempty"`
	// Declared is set on containers that `apply` manages.
	Declared *Declared `json:"declared,omitempty"`
}

// Declared is what `apply` remembers about a container it manages.
type Declared struct {
	// Spec is the absolute path of the SPEC that declares the container.
	Spec string `json:"spec"`
	// Applied is the store path the SPEC built for it last: while the
	// SPEC builds the same, apply leaves the container's generation alone
	// (a manual rollback stays).
	Applied string `json:"applied,omitempty"`
	// Dropped: the SPEC no longer declares the container; it is stopped
	// and kept until `apply --prune` or destroy.
	Dropped bool `json:"dropped,omitempty"`
}

// Source is what one generation was built from.
type Source struct {
	File    string   `json:"file"`
	NixArgs []string `json:"nix_args,omitempty"`
}

// The verbs that record an intent.
const (
	OpUpdate  = "update"  // a new generation, then its activation
	OpSwitch  = "switch"  // switch-generation, rollback, delete-generations
	OpStart   = "start"   // LXC start, then the host side
	OpRestart = "restart" // stop, then start
	OpDestroy = "destroy" // every step of destroy
)

// Intent is a verb under way.
type Intent struct {
	Op string `json:"op"`
	// FromGeneration is the current generation when the verb began.
	FromGeneration int `json:"from_generation,omitempty"`
	// WasRunning: the container ran when the verb began; it must run
	// again when the verb ends, whatever happened in between.
	WasRunning bool `json:"was_running,omitempty"`
	// File, NixArgs, LXCArgs: what an update builds from; they become the
	// record's only together with the generation they built.
	File    string   `json:"file,omitempty"`
	NixArgs []string `json:"nix_args,omitempty"`
	LXCArgs []string `json:"lxc_args,omitempty"`
	// PrevLXCArgs are the -l items before an update that gives new ones
	// (LXCArgs): what a failed update returns to.
	PrevLXCArgs []string  `json:"prev_lxc_args,omitempty"`
	PID         int       `json:"pid"`
	Since       time.Time `json:"since"`
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
	// LocksDir holds the per-container lock files (state_dir/locks).
	LocksDir string
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

// List returns every record, sorted by name. A record that cannot be
// read stands in as what its LXC configuration tells (Salvage), so that
// allocation never hands out its slot, range or address again.
func (s Store) List() ([]*Record, error) {
	recs, bad, err := s.ListAll()
	if err != nil {
		return nil, err
	}
	for name := range bad {
		recs = append(recs, s.Salvage(name))
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	return recs, nil
}

// ListAll returns every readable record, sorted by name, and the errors of
// the records that cannot be read, by container name.
func (s Store) ListAll() ([]*Record, map[string]error, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	var out []*Record
	bad := map[string]error{}
	for _, e := range entries {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		r, err := s.Load(e.Name())
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			bad[e.Name()] = err
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, bad, nil
}

// Salvage returns what the LXC configuration of a container with an
// unreadable record tells about its allocations: its slot (from its veth
// names), uid range and hostonly address. It is not a usable record.
func (s Store) Salvage(name string) *Record {
	r := &Record{Name: name, Slot: -1, Creating: true}
	data, _ := os.ReadFile(filepath.Join(s.ContainerDir(name), "config"))
	var nic Interface
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "lxc.idmap":
			var kind string
			var in, base, size uint32
			if n, _ := fmt.Sscanf(v, "%s %d %d %d", &kind, &in, &base, &size); n == 4 && kind == "u" {
				r.UIDBase, r.UIDSize = base, size
			}
		case strings.HasSuffix(k, ".veth.pair"):
			var slot int
			if n, _ := fmt.Sscanf(v, "nc%dh", &slot); n == 1 && r.Slot < 0 {
				r.Slot = slot
			} else if n, _ := fmt.Sscanf(v, "nc%di", &slot); n == 1 && r.Slot < 0 {
				r.Slot = slot
			}
		case k == "lxc.net.0.link":
			nic.Bridge = v
		case k == "lxc.net.0.ipv4.address":
			nic.Name, nic.IPv4 = "hostonly", v
		}
	}
	if nic.IPv4 != "" {
		r.Interfaces = []Interface{nic}
	}
	return r
}

// Busy reports whether a verb holds the container's lock right now.
func (s Store) Busy(name string) bool {
	f, err := os.Open(filepath.Join(s.LocksDir, name+".lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
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
