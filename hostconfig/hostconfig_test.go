package hostconfig

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func TestLoadMissingFileGivesDefaults(t *testing.T) {
	cfg, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/var/lib/nixcloud-container" || cfg.IDMap.Base != 100000 || !cfg.IDMap.Isolated || cfg.Hostonly.Bridge != "brNC-hostonly" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"overrides", "state_dir = \"/srv/ncc\"\n[idmap]\nbase = 200000\n", ""},
		{"unknown key", "colour = 1", "unknown key colour"},
		{"unknown nested key", "[hostonly]\nbridg = \"x\"", "unknown key hostonly.bridg"},
		{"wrong type", "state_dir = 3", "line 1: state_dir: want a string, got a whole number"},
		{"wrong type nested", "[defaults.limits]\ncpus = \"x\"", "line 2: defaults.limits.cpus: want a number, got a string"},
		{"wrong type list", "[hostonly]\nhost_ports = 5", "hostonly.host_ports: want a list of strings, got a whole number"},
		{"syntax error", "state_dir = ", "line 1: "},
		{"ipv6 bare address", "[internet.ipv6]\nprefix = \"fd42::/64\"\naddress = \"fd42::1\"", ""},
		{"ipv6 bare address outside", "[internet.ipv6]\nprefix = \"fd42::/64\"\naddress = \"fd43::1\"", "internet.ipv6.address"},
		{"ipv6 address with length", "[internet.ipv6]\nprefix = \"fd42::/64\"\naddress = \"fd42::1/64\"", ""},
		{"relative state_dir", "state_dir = \"rel\"", "state_dir: must be an absolute path"},
		{"idmap base zero", "[idmap]\nbase = 0", "idmap.base"},
		{"idmap small", "[idmap]\nsize = 10", "idmap.size"},
		{"bad bridge name", "[hostonly]\nbridge = \"a-very-long-bridge-name\"", "hostonly.bridge"},
		{"network address", "[hostonly]\naddress = \"10.101.0.0/16\"", "not a usable host address"},
		{"overlap", "[internet]\naddress = \"10.101.5.1/24\"\ndhcp_range = \"10.101.5.10-10.101.5.20\"", "overlaps"},
		{"range outside", "[internet]\ndhcp_range = \"10.9.0.1-10.9.0.9\"", "dhcp_range"},
		{"ipv6 prefix v4", "[internet.ipv6]\nprefix = \"10.0.0.0/8\"", "ipv6.prefix"},
		{"ipv6 address without prefix", "[internet.ipv6]\naddress = \"fd00::1/64\"", "need a prefix"},
		{"ipv6 ok", "[internet.ipv6]\nprefix = \"fd00:1::/64\"\nnameservers = [\"fd00:1::1\"]", ""},
		{"privileged items", "allow_privileged_lxc_items = true", ""},
		{"store all", "store = \"all\"", ""},
		{"store closure", "store = \"closure\"", ""},
		{"store unknown", "store = \"none\"", `store: want "closure" or "all", got "none"`},
		{"default limits inline", "[defaults]\nlimits = { memory = \"1G\", cpus = 2, processes = 0 }", ""},
		{"default limits table", "[defaults.limits]\nprocesses = 100", ""},
		{"default processes negative", "[defaults.limits]\nprocesses = -1", "defaults.limits.processes"},
		{"default processes too few", "[defaults.limits]\nprocesses = 2", "defaults.limits.processes"},
		{"default memory bad", "[defaults.limits]\nmemory = \"lots\"", "defaults.limits.memory"},
		{"default memory small", "[defaults.limits]\nmemory = \"1M\"", "defaults.limits.memory"},
		{"default cpus negative", "[defaults.limits]\ncpus = -1.0", "defaults.limits.cpus"},
		{"default limits unknown key", "[defaults.limits]\nswap = \"1G\"", "unknown key defaults.limits.swap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "host.toml")
			if err := os.WriteFile(p, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err != nil && regexp.MustCompile(`int64|float64|\[\]string|destination has type`).MatchString(err.Error()) {
				t.Errorf("error %q names Go types", err)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	tests := []struct {
		name, body string
		want       Limits
	}{
		{"shipped", "", Limits{Processes: DefaultProcesses}},
		{"memory only keeps the shipped processes", "[defaults]\nlimits = { memory = \"1G\" }", Limits{Memory: "1G", Processes: DefaultProcesses}},
		{"lifted", "[defaults.limits]\nprocesses = 0", Limits{}},
		{"all", "[defaults.limits]\nmemory = \"2G\"\ncpus = 1.5\nprocesses = 512", Limits{Memory: "2G", CPUs: 1.5, Processes: 512}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "host.toml")
			if err := os.WriteFile(p, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Defaults.Limits != tt.want {
				t.Errorf("defaults.limits = %+v, want %+v", cfg.Defaults.Limits, tt.want)
			}
		})
	}
}

func TestCheckOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: folders owned by root and by other uids")
	}
	mk := func(t *testing.T, p string, mode uint32, uid int) string {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Chmod(p, mode); err != nil { // 0o1000 is the sticky bit
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) (state, profiles string)
		wantErr string
	}{
		{"root's all the way", func(t *testing.T, dir string) (string, string) {
			return mk(t, filepath.Join(dir, "state"), 0o755, 0), filepath.Join(dir, "profiles")
		}, ""},
		{"not made yet", func(t *testing.T, dir string) (string, string) {
			return filepath.Join(dir, "a", "state"), filepath.Join(dir, "b", "profiles")
		}, ""},
		{"sticky world-writable folder above", func(t *testing.T, dir string) (string, string) {
			tmp := mk(t, filepath.Join(dir, "tmp"), 0o1777, 0)
			return filepath.Join(tmp, "x", "state"), filepath.Join(tmp, "profiles")
		}, ""},
		{"inside a container's rootfs", func(t *testing.T, dir string) (string, string) {
			rootfs := mk(t, filepath.Join(dir, "rootfs"), 0o755, 100000)
			return mk(t, filepath.Join(rootfs, "var", "state"), 0o755, 0), filepath.Join(dir, "profiles")
		}, "owned by uid 100000"},
		{"state_dir owned by a container", func(t *testing.T, dir string) (string, string) {
			return mk(t, filepath.Join(dir, "state"), 0o755, 100000), filepath.Join(dir, "profiles")
		}, "state_dir: "},
		{"group-writable folder above", func(t *testing.T, dir string) (string, string) {
			mk(t, filepath.Join(dir, "shared"), 0o775, 0)
			return filepath.Join(dir, "shared", "state"), filepath.Join(dir, "profiles")
		}, "writable by group or others"},
		{"profiles_dir world-writable", func(t *testing.T, dir string) (string, string) {
			return filepath.Join(dir, "state"), mk(t, filepath.Join(dir, "profiles"), 0o777, 0)
		}, "profiles_dir: "},
		{"state_dir sticky world-writable", func(t *testing.T, dir string) (string, string) {
			return mk(t, filepath.Join(dir, "state"), 0o1777, 0), filepath.Join(dir, "profiles")
		}, "writable by group or others"},
		{"through a symlink into a container's folder", func(t *testing.T, dir string) (string, string) {
			c := mk(t, filepath.Join(dir, "c"), 0o755, 100000)
			if err := os.Symlink(c, filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "link", "state"), filepath.Join(dir, "profiles")
		}, "owned by uid 100000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir() // root's, under the sticky /tmp
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			state, profiles := tt.setup(t, dir)
			cfg := Default()
			cfg.StateDir, cfg.ProfilesDir = state, profiles
			err := cfg.CheckOwnership()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestBareIPv6AddressTakesThePrefixLength(t *testing.T) {
	p := filepath.Join(t.TempDir(), "host.toml")
	if err := os.WriteFile(p, []byte("[internet.ipv6]\nprefix = \"fd42::/64\"\naddress = \"fd42::1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil || cfg.Internet.IPv6.Address != "fd42::1/64" {
		t.Fatalf("address %q, %v; want fd42::1/64", cfg.Internet.IPv6.Address, err)
	}
}

func TestLoadExplicitNeedsTheFile(t *testing.T) {
	_, err := LoadExplicit(filepath.Join(t.TempDir(), "none.toml"))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err %v, want no such file", err)
	}
}
