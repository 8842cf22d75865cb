package generations

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{"", nil, false},
		{"-I nixpkgs=/src/nixpkgs --option cores 4", []string{"-I", "nixpkgs=/src/nixpkgs", "--option", "cores", "4"}, false},
		{`-I 'marker=/a dir' --arg x "\"y\""`, []string{"-I", "marker=/a dir", "--arg", "x", `"y"`}, false},
		{`a\ b`, []string{"a b"}, false},
		{"'open", nil, true},
		{`"open`, nil, true},
		{`trailing\`, nil, true},
	}
	for _, tt := range tests {
		got, err := SplitArgs(tt.in)
		if (err != nil) != tt.bad || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitArgs(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestParseGenSpec(t *testing.T) {
	for _, ok := range []string{"1", "42", "old", "+3", "30d"} {
		if _, err := ParseGenSpec(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0", "-1", "x", "+0", "3x", "1.5", "d", "99999999999999999999"} {
		if _, err := ParseGenSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseGenNumber("old"); err == nil {
		t.Error("ParseGenNumber accepted old")
	}
}

func TestDecodeSettings(t *testing.T) {
	s, err := DecodeSettings([]byte(`{"autostart":true,"network":{"ip":"10.101.0.50","enableNat":true},"limits":{"memory":"512M","cpus":1.5,"processes":100},"forwardPorts":[{"protocol":"tcp","hostPort":8080,"containerPort":80}]}`))
	if err != nil || !s.Autostart || s.Network.IP != "10.101.0.50" || s.Limits.CPUs != 1.5 {
		t.Fatalf("%+v %v", s, err)
	}
	bad := map[string]string{
		`{"colour":1}`:                 "unknown key",
		`{"autostart":"yes"}`:          "autostart",
		`{"network":{"ip":"10.1.2"}}`:  "network.ip",
		`{"limits":{"memory":"lots"}}`: "limits.memory",
		`{"limits":{"cpus":-1}}`:       "limits.cpus",
		`{"limits":{"processes":-5}}`:  "limits.processes",
		`{"forwardPorts":[{"protocol":"icmp","hostPort":1,"containerPort":1}]}`:      "protocol",
		`{"forwardPorts":[{"protocol":"tcp","hostPort":0,"containerPort":1}]}`:       "hostPort",
		`{"bindMounts":{"rel":{"hostPath":"/srv"}}}`:                                 "bindMounts",
		`{"bindMounts":{"/x":{"hostPath":"srv"}}}`:                                   "hostPath",
		`{"autostartDelay":-1}`:                                                      "autostartDelay",
		`{"limits":{"memory":"1K"}}`:                                                 "below the 16M",
		`{"limits":{"processes":2}}`:                                                 "below the 4",
		`{"bindMounts":{"/nix/store":{"hostPath":"/srv"}}}`:                          "mounts /nix/store itself",
		`{"bindMounts":{"/nix":{"hostPath":"/srv"}}}`:                                "mounts /nix/store itself",
		`{"bindMounts":{"/nix/var/nixcloud-container/profile":{"hostPath":"/srv"}}}`: "mounts /nix/var/nixcloud-container itself",
		`{"store":"none"}`:                                                           `store: want "closure" or "all", got "none"`,
	}
	for _, in := range []string{`{"store":"closure"}`, `{"store":"all"}`} {
		if _, err := DecodeSettings([]byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
	for in, want := range bad {
		if _, err := DecodeSettings([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", in, err, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]uint64{"512M": 512 << 20, "1G": 1 << 30, "1GiB": 1 << 30, "100": 100, "64k": 64 << 10, "2MB": 2 << 20, "300B": 300}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "M", "-1M", "1.5G", "12X", "0", "512i", "512iB", "5Mi", "5MBB", "5 M", "B"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestAllowFromValidation(t *testing.T) {
	for in, want := range map[string]string{
		`{"network":{"allowFrom":[{"container":"proxy","ports":["tcp/80","udp/53"]}]}}`:                       "",
		`{"network":{"allowFrom":[{"container":"Proxy!","ports":["tcp/80"]}]}}`:                               "allowFrom[0].container",
		`{"network":{"allowFrom":[{"container":"proxy","ports":[]}]}}`:                                        "list at least one port",
		`{"network":{"allowFrom":[{"container":"proxy","ports":["http"]}]}}`:                                  "allowFrom[0].ports",
		`{"network":{"allowFrom":[{"container":"proxy","ports":[80]}]}}`:                                      "want a string",
		`{"network":{"allowFrom":[{"container":"a","ports":["tcp/1"]},{"container":"a","ports":["tcp/2"]}]}}`: "listed twice",
		`{"network":{"allowFrom":[{"container":"proxy","port":["tcp/80"]}]}}`:                                 "unknown key",
	} {
		_, err := DecodeSettings([]byte(in))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}
