package generations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nixcloud/nixcloud-container/filters"
	"github.com/nixcloud/nixcloud-container/records"
)

// Settings are the host-side settings of a container file. Each generation
// carries the settings of its build, so a rollback restores them too.
type Settings struct {
	Autostart         bool                 `json:"autostart,omitempty"`
	AutostartPriority int                  `json:"autostartPriority,omitempty"`
	AutostartDelay    float64              `json:"autostartDelay,omitempty"` // seconds
	Ephemeral         bool                 `json:"ephemeral,omitempty"`
	Network           Network              `json:"network"`
	BindMounts        map[string]BindMount `json:"bindMounts,omitempty"`
	ForwardPorts      []ForwardPort        `json:"forwardPorts,omitempty"`
	Limits            Limits               `json:"limits"`
	ExtraLxcConfig    []string             `json:"extraLxcConfig,omitempty"`
	HaltSignal        string               `json:"haltSignal,omitempty"` // see halt.go
	// Store is what of /nix/store the guest sees: StoreClosure or
	// StoreAll; empty: host.toml's store.
	Store string `json:"store,omitempty"`
}

// The store modes (Settings.Store, host.toml's store).
const (
	// StoreClosure: the guest sees only its generation's closure.
	StoreClosure = "closure"
	// StoreAll: the guest sees the whole store.
	StoreAll = "all"
)

// CheckStoreMode checks a store mode; empty is allowed (the default).
func CheckStoreMode(mode string) error {
	switch mode {
	case "", StoreClosure, StoreAll:
		return nil
	}
	return fmt.Errorf("want %q or %q, got %q", StoreClosure, StoreAll, mode)
}

func checkStore(s *Settings) error {
	if err := CheckStoreMode(s.Store); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Network says where the container is attached.
type Network struct {
	Bridge    string `json:"bridge,omitempty"`
	IP        string `json:"ip,omitempty"`
	EnableNat bool   `json:"enableNat,omitempty"`
	// AllowFrom opens this container to others, one direction each: the
	// named container may connect to the listed ports.
	AllowFrom []AllowFrom `json:"allowFrom,omitempty"`
}

// AllowFrom lets one container connect to some of this container's ports
// ("tcp/80", "udp/53") on every bridge both are on.
type AllowFrom struct {
	Container string   `json:"container"`
	Ports     []string `json:"ports"`
}

// BindMount mounts a host path into the container.
type BindMount struct {
	HostPath   string `json:"hostPath"`
	IsReadOnly *bool  `json:"isReadOnly,omitempty"` // default true
	Shift      bool   `json:"shift,omitempty"`
}

// ReadOnly reports the effective read-only flag (default true).
func (b BindMount) ReadOnly() bool { return b.IsReadOnly == nil || *b.IsReadOnly }

// ForwardPort forwards a host port to the container.
type ForwardPort struct {
	Protocol      string `json:"protocol"`
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
}

// Limits are cgroup limits. Memory is a size like "512M"; CPUs may be
// fractional; Processes is a count. Zero values take host.toml's default
// ([defaults] limits), which may be none.
type Limits struct {
	Memory    string  `json:"memory,omitempty"`
	CPUs      float64 `json:"cpus,omitempty"`
	Processes int     `json:"processes,omitempty"`
}

// DecodeSettings parses the JSON of a container file's settings, refusing
// unknown keys and values of the wrong type, and validates it.
func DecodeSettings(data []byte) (*Settings, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Settings
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("container file: %s", settingsError(data, err))
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("container file: %w", err)
	}
	return &s, nil
}

// Validate checks the settings, one small check at a time.
func (s *Settings) Validate() error {
	for _, check := range []func(*Settings) error{
		checkAutostart, checkNetwork, checkBindMounts, checkForwardPorts, checkLimits, checkHaltSignal, checkStore,
	} {
		if err := check(s); err != nil {
			return err
		}
	}
	return nil
}

func checkAutostart(s *Settings) error {
	if s.AutostartDelay < 0 {
		return fmt.Errorf("autostartDelay: must not be negative, got %v", s.AutostartDelay)
	}
	return nil
}

func checkNetwork(s *Settings) error {
	if ip := s.Network.IP; ip != "" {
		var a netip.Addr
		p, err := netip.ParsePrefix(ip)
		if err == nil {
			a = p.Addr()
		} else {
			a, err = netip.ParseAddr(ip)
		}
		if err != nil || !a.Is4() {
			return fmt.Errorf("network.ip: want an IPv4 address like 10.101.0.50 (or 192.168.1.50/24 on a bridge of your own), got %q", ip)
		}
	}
	return checkAllowFrom(s)
}

func checkAllowFrom(s *Settings) error {
	seen := map[string]bool{}
	for i, a := range s.Network.AllowFrom {
		if err := records.ValidateName(a.Container); err != nil {
			return fmt.Errorf("network.allowFrom[%d].container: %w", i, err)
		}
		if seen[a.Container] {
			return fmt.Errorf("network.allowFrom[%d]: container %q is listed twice", i, a.Container)
		}
		seen[a.Container] = true
		if len(a.Ports) == 0 {
			return fmt.Errorf("network.allowFrom[%d].ports: list at least one port, like \"tcp/80\"", i)
		}
		for _, p := range a.Ports {
			if _, err := filters.ParseService(p); err != nil {
				return fmt.Errorf("network.allowFrom[%d].ports: %w", i, err)
			}
		}
	}
	return nil
}

// BindMountTargets returns the bind mounts' paths in the container, sorted.
func (s *Settings) BindMountTargets() []string {
	keys := make([]string, 0, len(s.BindMounts))
	for k := range s.BindMounts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// reservedMounts are the container paths the tool mounts itself.
var reservedMounts = []string{"/nix/store", "/nix/var/nixcloud-container"}

// reservedTarget returns the reserved mount a bind mount target would
// cover or go into, or "".
func reservedTarget(target string) string {
	for _, r := range reservedMounts {
		if target == r || strings.HasPrefix(target, r+"/") || strings.HasPrefix(r, target+"/") {
			return r
		}
	}
	return ""
}

func checkBindMounts(s *Settings) error {
	for _, target := range s.BindMountTargets() {
		m := s.BindMounts[target]
		if !filepath.IsAbs(target) || filepath.Clean(target) != target || target == "/" {
			return fmt.Errorf("bindMounts.%q: the path in the container must be absolute and clean (not /)", target)
		}
		if reserved := reservedTarget(target); reserved != "" {
			return fmt.Errorf("bindMounts.%q: the tool mounts %s itself; mount elsewhere", target, reserved)
		}
		if !filepath.IsAbs(m.HostPath) {
			return fmt.Errorf("bindMounts.%q.hostPath: must be an absolute path, got %q", target, m.HostPath)
		}
		if strings.ContainsAny(target+m.HostPath, " \t\n\\") {
			return fmt.Errorf("bindMounts.%q: paths must not contain white space or backslashes", target)
		}
	}
	return nil
}

func checkForwardPorts(s *Settings) error {
	seen := map[string]bool{}
	for i, f := range s.ForwardPorts {
		if f.Protocol != "tcp" && f.Protocol != "udp" {
			return fmt.Errorf("forwardPorts[%d].protocol: want \"tcp\" or \"udp\", got %q", i, f.Protocol)
		}
		if f.HostPort < 1 || f.HostPort > 65535 {
			return fmt.Errorf("forwardPorts[%d].hostPort: want 1 to 65535, got %d", i, f.HostPort)
		}
		if f.ContainerPort < 1 || f.ContainerPort > 65535 {
			return fmt.Errorf("forwardPorts[%d].containerPort: want 1 to 65535, got %d", i, f.ContainerPort)
		}
		key := fmt.Sprintf("%s/%d", f.Protocol, f.HostPort)
		if seen[key] {
			return fmt.Errorf("forwardPorts[%d]: host port %s is forwarded twice", i, key)
		}
		seen[key] = true
	}
	return nil
}

func checkLimits(s *Settings) error {
	if s.Limits.CPUs < 0 {
		return fmt.Errorf("limits.cpus: must not be negative, got %v", s.Limits.CPUs)
	}
	if s.Limits.Processes < 0 {
		return fmt.Errorf("limits.processes: must not be negative, got %d", s.Limits.Processes)
	}
	if s.Limits.Memory != "" {
		v, err := ParseSize(s.Limits.Memory)
		if err != nil {
			return fmt.Errorf("limits.memory: %w", err)
		}
		if v < MinMemory {
			return fmt.Errorf("limits.memory: %q is below the 16M a container needs to start", s.Limits.Memory)
		}
	}
	if s.Limits.Processes > 0 && s.Limits.Processes < MinProcesses {
		return fmt.Errorf("limits.processes: %d is below the %d a container needs to start", s.Limits.Processes, MinProcesses)
	}
	return nil
}

// The smallest limits a container starts with: LXC's own set-up and the
// guest's init run inside them.
const (
	MinMemory    = 16 << 20
	MinProcesses = 4
)

// ParseSize parses a memory size: a number with an optional unit K, M, G or
// T (powers of 1024; a trailing "B" or "iB" is allowed).
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	// Digits, then an optional unit K, M, G or T (any case), then an
	// optional B or iB after the unit: 512M, 512MB, 512MiB, 1g. A bare B
	// means bytes.
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	digits, unit := t[:i], t[i:]
	mult := uint64(1)
	if unit != "" && unit != "B" {
		switch unit[0] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		default:
			return 0, fmt.Errorf("want a size like 512M (units K, M, G, T), got %q", s)
		}
		if rest := unit[1:]; rest != "" && rest != "B" && rest != "iB" {
			return 0, fmt.Errorf("want a size like 512M (units K, M, G, T), got %q", s)
		}
	}
	if digits == "" {
		return 0, fmt.Errorf("want a size like 512M, got %q", s)
	}
	var v uint64
	for _, r := range digits {
		v = v*10 + uint64(r-'0')
		if v > 1<<50 {
			return 0, fmt.Errorf("size %q is too large", s)
		}
	}
	if v == 0 {
		return 0, fmt.Errorf("size %q must be above zero", s)
	}
	return v * mult, nil
}
