package hostconfig

import (
	"os"
	"path/filepath"
	"strings"
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
		{"wrong type", "state_dir = 3", "state_dir"},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "host.toml")
			if err := os.WriteFile(p, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
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
