// Package hostconfig reads host.toml: where state lives and how the host's
// networks look. A missing file means all defaults; unknown keys are errors.
package hostconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/nixcloud/nixcloud-container/filters"
	"github.com/nixcloud/nixcloud-container/generations"
)

// DefaultPath is where the host configuration is read from unless
// --host-config or NIXCLOUD_CONTAINER_HOST_CONFIG say otherwise.
const DefaultPath = "/etc/nixcloud-container/host.toml"

// Config is the host configuration.
type Config struct {
	StateDir    string `toml:"state_dir"`
	ProfilesDir string `toml:"profiles_dir"`
	Nixpkgs     string `toml:"nixpkgs"`
	// LXCConfigDir holds LXC's shipped common.conf and userns.conf; empty
	// means the first of the usual places that exists.
	LXCConfigDir string   `toml:"lxc_config_dir"`
	IDMap        IDMap    `toml:"idmap"`
	Hostonly     Hostonly `toml:"hostonly"`
	Internet     Internet `toml:"internet"`
	// AllowPrivilegedLXCItems accepts raw LXC items and shifted bind
	// mounts that run code on the host or widen the container's
	// privileges (hooks, seccomp and AppArmor changes, idmapped mounts
	// of system folders, ...); see lxc.PrivilegedReason.
	AllowPrivilegedLXCItems bool     `toml:"allow_privileged_lxc_items"`
	Defaults                Defaults `toml:"defaults"`
	// Store is what of /nix/store containers see unless their container
	// file says: generations.StoreClosure (the default) or StoreAll.
	Store string `toml:"store"`
}

// Defaults apply to containers that do not set their own.
type Defaults struct {
	Limits Limits `toml:"limits"`
}

// Limits are default cgroup ceilings, per key; zero or empty means none.
type Limits struct {
	Memory    string  `toml:"memory"`
	CPUs      float64 `toml:"cpus"`
	Processes int     `toml:"processes"`
}

// DefaultProcesses is the shipped ceiling on a container's tasks
// (processes and threads). A busy NixOS guest runs a few hundred; 4096
// leaves room for thread-heavy services while one fork bomb cannot take
// more than an eighth of the kernel's historic pid_max (32768), let alone
// systemd's 4194304.
const DefaultProcesses = 4096

// IDMap says which host uids/gids containers are mapped to.
type IDMap struct {
	Base     uint32 `toml:"base"`
	Size     uint32 `toml:"size"`
	Isolated bool   `toml:"isolated"`
}

// Hostonly is the bridge every container is attached to.
type Hostonly struct {
	Bridge            string `toml:"bridge"`
	Address           string `toml:"address"`
	IsolateContainers bool   `toml:"isolate_containers"`
	// HostPorts are the host's ports containers may reach from the
	// bridge ("tcp/5432"); ICMP echo is always allowed.
	HostPorts []string `toml:"host_ports"`
}

// Internet is the NAT'd bridge with DHCP.
type Internet struct {
	Bridge    string `toml:"bridge"`
	Address   string `toml:"address"`
	DHCPRange string `toml:"dhcp_range"`
	Uplink    string `toml:"uplink"`
	IPv6      IPv6   `toml:"ipv6"`
	// IsolateContainers and HostPorts as for the hostonly bridge; DHCP
	// and DNS are always allowed here.
	IsolateContainers bool     `toml:"isolate_containers"`
	HostPorts         []string `toml:"host_ports"`
}

// IPv6 enables a routed prefix on the internet bridge when Prefix is set.
type IPv6 struct {
	Prefix      string   `toml:"prefix"`
	Address     string   `toml:"address"`
	Nameservers []string `toml:"nameservers"`
}

// Default returns the configuration used when host.toml sets nothing.
func Default() Config {
	return Config{
		StateDir:    "/var/lib/nixcloud-container",
		ProfilesDir: "/nix/var/nix/profiles/nixcloud-container",
		IDMap:       IDMap{Base: 100000, Size: 65536, Isolated: true},
		Defaults:    Defaults{Limits: Limits{Processes: DefaultProcesses}},
		Store:       generations.StoreClosure,
		Hostonly:    Hostonly{Bridge: "brNC-hostonly", Address: "10.101.0.1/16", IsolateContainers: true},
		Internet: Internet{
			Bridge:            "brNC-internet",
			Address:           "10.202.0.1/16",
			DHCPRange:         "10.202.0.10-10.202.200.200",
			IsolateContainers: true,
		},
	}
}

// LoadExplicit is Load for a path the user named: it must exist.
func LoadExplicit(path string) (Config, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Default(), fmt.Errorf("host config %s: no such file (only the default %s may be missing)", path, DefaultPath)
		}
		return Default(), fmt.Errorf("host config %s: %w", path, err)
	}
	return Load(path)
}

// Load reads path over the defaults. A missing file yields the defaults.
func Load(path string) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, cfg.Validate()
	}
	if err != nil {
		return cfg, fmt.Errorf("host config %s: %w", path, err)
	}
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return cfg, fmt.Errorf("host config %s: %w", path, decodeError(err))
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return cfg, fmt.Errorf("host config %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("host config %s: %w", path, err)
	}
	return cfg, nil
}

// ContainersDir is LXC's lxcpath: one folder per container.
func (c Config) ContainersDir() string { return filepath.Join(c.StateDir, "containers") }

// LockPath is the file whose flock serialises allocation.
func (c Config) LockPath() string { return filepath.Join(c.StateDir, "lock") }

// ProfileDir is the folder of a container's Nix profile.
func (c Config) ProfileDir(name string) string { return filepath.Join(c.ProfilesDir, name) }

// StoreViewDir is where the view of the store of a container running
// with store = "closure" is mounted on the host (see package storeview).
func (c Config) StoreViewDir(name string) string { return filepath.Join(c.StateDir, "store", name) }

func checkStore(c Config) error {
	if err := generations.CheckStoreMode(c.Store); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Validate checks the configuration, one small check at a time.
func (c Config) Validate() error {
	checks := []func(Config) error{
		checkPaths, checkIDMap, checkHostonly, checkInternet, checkIPv6, checkDefaults, checkStore,
	}
	for _, check := range checks {
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

func checkPaths(c Config) error {
	for _, p := range []struct{ key, val string }{
		{"state_dir", c.StateDir}, {"profiles_dir", c.ProfilesDir},
	} {
		if p.val == "" || !filepath.IsAbs(p.val) {
			return fmt.Errorf("%s: must be an absolute path, got %q", p.key, p.val)
		}
	}
	for _, p := range []struct{ key, val string }{
		{"nixpkgs", c.Nixpkgs}, {"lxc_config_dir", c.LXCConfigDir},
	} {
		if p.val != "" && !filepath.IsAbs(p.val) {
			return fmt.Errorf("%s: must be an absolute path, got %q", p.key, p.val)
		}
	}
	return nil
}

// The smallest default limits a container starts with (as
// generations.MinMemory and MinProcesses).
const (
	minMemory    = 16 << 20
	minProcesses = 4
)

func checkDefaults(c Config) error {
	l := c.Defaults.Limits
	if l.CPUs < 0 {
		return fmt.Errorf("defaults.limits.cpus: must not be negative, got %v", l.CPUs)
	}
	if l.Processes < 0 || (l.Processes > 0 && l.Processes < minProcesses) {
		return fmt.Errorf("defaults.limits.processes: want 0 (no ceiling) or at least %d, got %d", minProcesses, l.Processes)
	}
	if l.Memory != "" {
		v, err := generations.ParseSize(l.Memory)
		if err != nil {
			return fmt.Errorf("defaults.limits.memory: %w", err)
		}
		if v < minMemory {
			return fmt.Errorf("defaults.limits.memory: %q is below the 16M a container needs to start", l.Memory)
		}
	}
	return nil
}

func checkIDMap(c Config) error {
	if c.IDMap.Base == 0 {
		return errors.New("idmap.base: must be above 0 (container root must not be host root)")
	}
	if c.IDMap.Size < 65536 {
		return fmt.Errorf("idmap.size: must be at least 65536, got %d", c.IDMap.Size)
	}
	if uint64(c.IDMap.Base)+uint64(c.IDMap.Size) > 1<<32-1 {
		return errors.New("idmap: base+size exceeds the uid space")
	}
	return nil
}

// ValidBridgeName reports whether s can name a Linux interface.
func ValidBridgeName(s string) error {
	if s == "" || len(s) > 15 {
		return fmt.Errorf("interface name %q: must be 1 to 15 characters", s)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("interface name %q: only letters, digits, '-', '_' and '.' are allowed", s)
		}
	}
	return nil
}

func checkBridgeAddress(key string, bridge, address string) (netip.Prefix, error) {
	if err := ValidBridgeName(bridge); err != nil {
		return netip.Prefix{}, fmt.Errorf("%s.bridge: %w", key, err)
	}
	p, err := netip.ParsePrefix(address)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%s.address: want an IPv4 address with prefix length like 10.101.0.1/16, got %q", key, address)
	}
	if p.Bits() > 30 || p.Addr() == p.Masked().Addr() {
		return netip.Prefix{}, fmt.Errorf("%s.address: %q is not a usable host address with room for containers", key, address)
	}
	return p, nil
}

func checkHostonly(c Config) error {
	if _, err := checkBridgeAddress("hostonly", c.Hostonly.Bridge, c.Hostonly.Address); err != nil {
		return err
	}
	return checkHostPorts("hostonly", c.Hostonly.HostPorts)
}

// checkHostPorts checks a bridge's host_ports: "tcp/PORT" or "udp/PORT".
func checkHostPorts(key string, ports []string) error {
	for _, p := range ports {
		if _, err := filters.ParseService(p); err != nil {
			return fmt.Errorf("%s.host_ports: %w", key, err)
		}
	}
	return nil
}

func checkInternet(c Config) error {
	p, err := checkBridgeAddress("internet", c.Internet.Bridge, c.Internet.Address)
	if err != nil {
		return err
	}
	if c.Internet.Bridge == c.Hostonly.Bridge {
		return errors.New("internet.bridge: must differ from hostonly.bridge")
	}
	hp, _ := netip.ParsePrefix(c.Hostonly.Address)
	if hp.Masked().Overlaps(p.Masked()) {
		return errors.New("internet.address: overlaps hostonly.address")
	}
	first, last, err := c.Internet.Range()
	if err != nil {
		return err
	}
	if !p.Masked().Contains(first) || !p.Masked().Contains(last) || last.Less(first) {
		return fmt.Errorf("internet.dhcp_range: %q must be an ascending range inside %s", c.Internet.DHCPRange, p.Masked())
	}
	if c.Internet.Uplink != "" {
		if err := ValidBridgeName(c.Internet.Uplink); err != nil {
			return fmt.Errorf("internet.uplink: %w", err)
		}
	}
	return checkHostPorts("internet", c.Internet.HostPorts)
}

// Range parses dhcp_range ("first-last").
func (i Internet) Range() (netip.Addr, netip.Addr, error) {
	a, b, ok := strings.Cut(i.DHCPRange, "-")
	first, err1 := netip.ParseAddr(strings.TrimSpace(a))
	last, err2 := netip.ParseAddr(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || !first.Is4() || !last.Is4() {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("internet.dhcp_range: want FIRST-LAST IPv4 addresses, got %q", i.DHCPRange)
	}
	return first, last, nil
}

// ipv6Address parses the bridge's IPv6 address: with a prefix length, or
// bare (as the original's ipv6InternetInterfaceAddress), which takes the
// prefix's length.
func ipv6Address(s string, prefix netip.Prefix) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, prefix.Bits()), nil
	}
	return netip.ParsePrefix(s)
}

// normalize writes values given in a short form in their full one, so
// the rest of the tool reads one form.
func (c *Config) normalize() {
	v := &c.Internet.IPv6
	if v.Address == "" || strings.Contains(v.Address, "/") {
		return
	}
	p, err := netip.ParsePrefix(v.Prefix)
	if err != nil {
		return // Validate says what is wrong
	}
	if a, err := ipv6Address(v.Address, p); err == nil && p.Contains(a.Addr()) {
		v.Address = a.String()
	}
}

func checkIPv6(c Config) error {
	v := c.Internet.IPv6
	if v.Prefix == "" {
		if v.Address != "" || len(v.Nameservers) > 0 {
			return errors.New("internet.ipv6: address and nameservers need a prefix")
		}
		return nil
	}
	p, err := netip.ParsePrefix(v.Prefix)
	if err != nil || p.Addr().Is4() || p != p.Masked() || p.Bits() > 64 {
		return fmt.Errorf("internet.ipv6.prefix: want an IPv6 network of /64 or shorter like fd00:1::/64, got %q", v.Prefix)
	}
	if v.Address != "" {
		a, err := ipv6Address(v.Address, p)
		if err != nil || !p.Contains(a.Addr()) {
			return fmt.Errorf("internet.ipv6.address: want an address inside %s (bare, or with its prefix length), got %q", v.Prefix, v.Address)
		}
	}
	for _, ns := range v.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			return fmt.Errorf("internet.ipv6.nameservers: %q is not an IP address", ns)
		}
	}
	return nil
}
