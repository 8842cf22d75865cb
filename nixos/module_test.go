// Package nixos holds the NixOS host module (module.nix). Its tests
// evaluate the module with real Nix against a miniature module system
// (testdata/eval.nix), since nixpkgs is not available here, and check that
// the options render a host.toml the tool accepts and a SPEC whose entries
// are valid container files.
package nixos

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/hostconfig"
)

func requireNix(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix-instantiate is not on PATH")
	}
}

// eval evaluates attr of testdata/eval.nix for a host configuration
// (Nix text) and decodes the JSON; numbers stay json.Number.
func eval(t *testing.T, configuration, attr string) (any, error) {
	t.Helper()
	cmd := exec.Command("nix-instantiate", "--eval", "--strict", "--json", "testdata/eval.nix",
		"--arg", "configuration", configuration, "-A", attr)
	cmd.Env = append(os.Environ(), "NIX_PATH=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, &nixError{strings.TrimSpace(errb.String())}
	}
	dec := json.NewDecoder(&out)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v, nil
}

type nixError struct{ msg string }

func (e *nixError) Error() string { return e.msg }

func mustEval(t *testing.T, configuration, attr string) any {
	t.Helper()
	v, err := eval(t, configuration, attr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", attr, err)
	}
	return v
}

// numbers turns json.Number into int64 or float64, as TOML wants them.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

const host = `{ nixcloud.container = {
  enable = true;
  package = "/stub/nixcloud-container";
  internetInterface = "eth1";
  ipv6 = {
    enable = true;
    ipv6InternetInterfaceAddress = "2001:db8:7::1";
    ipv6Prefix = "2001:db8:7::";
    ipv6PrefixLength = 64;
    ipv6NameServers = [ "2001:db8::53" ];
  };
  settings = {
    state_dir = "/srv/ncc";
    hostonly.isolate_containers = false;
    idmap.size = 100000;
    defaults.limits.memory = "2G";
  };
  CONTAINERS
}; }`

func hostWith(containers string) string { return strings.Replace(host, "CONTAINERS", containers, 1) }

// nixosIDBase is where the module puts root's subordinate ids (0x70000000).
const nixosIDBase = 1879048192

// TestModuleRendersHostToml: the original's option names and `settings`
// render a host.toml that the tool loads, with their meaning.
func TestModuleRendersHostToml(t *testing.T) {
	requireNix(t)
	settings := numbers(mustEval(t, hostWith(""), "options.nixcloud.container.internal.hostSettings"))
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(settings); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "host.toml")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := hostconfig.Load(path)
	if err != nil {
		t.Fatalf("the tool refuses the rendered host.toml: %v\n%s", err, buf.String())
	}
	want := hostconfig.Default()
	want.StateDir = "/srv/ncc"
	want.Hostonly.IsolateContainers = false
	want.IDMap.Size = 100000
	want.IDMap.Base = nixosIDBase
	want.Defaults.Limits.Memory = "2G"
	want.Internet.Uplink = "eth1"
	want.Internet.IPv6 = hostconfig.IPv6{Prefix: "2001:db8:7::/64", Address: "2001:db8:7::1/64", Nameservers: []string{"2001:db8::53"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("host.toml loads as\n%+v\nwant\n%+v\n(host.toml:\n%s)", cfg, want, buf.String())
	}

	// Without the original's options, nothing but settings and the id
	// base is rendered: the tool's defaults apply.
	plain := numbers(mustEval(t, `{ nixcloud.container = { enable = true; package = "/x"; }; }`, "options.nixcloud.container.internal.hostSettings"))
	if want := map[string]any{"idmap": map[string]any{"base": int64(nixosIDBase)}}; !reflect.DeepEqual(plain, want) {
		t.Fatalf("default options render %v, want %v", plain, want)
	}
}

// TestModuleSpec: containers.<name> with nixos-container's spellings
// render SPEC entries that are valid container files; configurations are
// built through the wrapper with the host's eval-config, and the static
// address is the one apply will give the container.
func TestModuleSpec(t *testing.T) {
	requireNix(t)
	conf := hostWith(`
  containers.web = {
    config = { pkgs, ... }: { services.nginx.enable = true; };
    autoStart = true;
    bindMounts."/var/www" = { hostPath = "/srv/www"; isReadOnly = false; };
    bindMounts."/etc/ssl" = { };
    forwardPorts = [ { hostPort = 8080; containerPort = 80; } { protocol = "udp"; hostPort = 5353; } ];
    network.enableNat = true;
    network.allowFrom = [ { container = "proxy"; ports = [ "tcp/80" "tcp/443" ]; } ];
    store = "all";
    limits.memory = "512M";
  };
  containers.db = {
    system = "/nix/store/00000000000000000000000000000000-db-system";
    network.ip = "10.101.0.50";
    autostart = true;
    autostartPriority = 10;
    extraLxcConfig = [ "lxc.cap.drop = sys_time" ];
  };`)
	spec := mustEval(t, conf, "options.nixcloud.container.internal.spec").(map[string]any)
	addrs := mustEval(t, conf, "options.nixcloud.container.internal.addresses").(map[string]any)
	if len(spec) != 2 {
		t.Fatalf("spec has %d entries: %v", len(spec), spec)
	}
	for name, e := range spec {
		entry := e.(map[string]any)
		sys, _ := entry["system"].(string)
		if !strings.HasPrefix(sys, "/nix/store/") {
			t.Errorf("%s: system %q is not a store path", name, sys)
		}
		delete(entry, "system")
		data, _ := json.Marshal(entry)
		s, err := generations.DecodeSettings(data)
		if err != nil {
			t.Fatalf("%s: the SPEC entry is not a valid container file: %v\n%s", name, err, data)
		}
		if s.Network.IP != addrs[name] {
			t.Errorf("%s: network.ip %q, address option %v", name, s.Network.IP, addrs[name])
		}
		switch name {
		case "web":
			if !strings.Contains(sys, "nixos-system-web-stub") {
				t.Errorf("web: system %q was not built by the host's eval-config through the wrapper", sys)
			}
			ip := s.Network.IP
			if !strings.HasPrefix(ip, "10.101.") || strings.HasPrefix(ip, "10.101.0.") {
				t.Errorf("web: derived address %q is not in the upper half of 10.101.0.0/16", ip)
			}
			want := &generations.Settings{
				Autostart: true,
				Store:     "all",
				Network: generations.Network{IP: ip, EnableNat: true,
					AllowFrom: []generations.AllowFrom{{Container: "proxy", Ports: []string{"tcp/80", "tcp/443"}}}},
				BindMounts: map[string]generations.BindMount{
					"/var/www": {HostPath: "/srv/www", IsReadOnly: new(bool)},
					"/etc/ssl": {HostPath: "/etc/ssl"},
				},
				ForwardPorts: []generations.ForwardPort{
					{Protocol: "tcp", HostPort: 8080, ContainerPort: 80},
					{Protocol: "udp", HostPort: 5353, ContainerPort: 5353},
				},
				Limits: generations.Limits{Memory: "512M"},
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("web settings\n%+v\nwant\n%+v", s, want)
			}
		case "db":
			want := &generations.Settings{
				Autostart: true, AutostartPriority: 10,
				Network:        generations.Network{IP: "10.101.0.50"},
				ExtraLxcConfig: []string{"lxc.cap.drop = sys_time"},
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("db settings\n%+v\nwant\n%+v", s, want)
			}
		}
	}
	// The address is stable: another container does not move it.
	more := mustEval(t, strings.Replace(conf, "containers.db", "containers.zzz = { system = \"/nix/store/x\"; }; containers.db", 1),
		"options.nixcloud.container.internal.addresses").(map[string]any)
	if more["web"] != addrs["web"] {
		t.Errorf("adding a container moved web from %v to %v", addrs["web"], more["web"])
	}
	// address is read-only.
	if _, err := eval(t, hostWith(`containers.x = { system = "/nix/store/x"; address = "10.0.0.1"; };`), "options.nixcloud.container.containers.x.address"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("setting address: %v", err)
	}
}

// TestModuleHostSetup: what enable sets on the host.
func TestModuleHostSetup(t *testing.T) {
	requireNix(t)
	conf := hostWith(`prune = true; containers.db = { system = "/nix/store/x"; network.ip = "10.101.0.50"; };`)
	c := numbers(mustEval(t, conf, "config")).(map[string]any)
	get := func(path string) any {
		var v any = c
		for _, k := range strings.Split(path, "/") {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s: no %s", path, k)
			}
			v = m[k]
		}
		return v
	}
	checks := []struct {
		path string
		want any
	}{
		{"virtualisation/lxc/enable", true},
		{"users/users/root/subUidRanges", []any{map[string]any{"startUid": int64(nixosIDBase), "count": int64(100000 * 256)}}},
		{"users/users/root/subGidRanges", []any{map[string]any{"startGid": int64(nixosIDBase), "count": int64(100000 * 256)}}},
		{"boot/kernel/sysctl/net.ipv4.ip_forward", int64(1)},
		{"boot/kernel/sysctl/net.ipv6.conf.eth1.accept_ra", int64(2)},
		{"networking/firewall/interfaces/brNC-internet/allowedUDPPorts", []any{int64(53), int64(67), int64(547)}},
		{"networking/firewall/interfaces/brNC-internet/allowedTCPPorts", []any{int64(53)}},
		{"networking/nftables/flushRuleset", false},
		{"systemd/services/nixcloud-container-host/serviceConfig/ExecStart", "/stub/nixcloud-container/bin/nixcloud-container host setup"},
		{"systemd/services/nixcloud-container-host/serviceConfig/ExecReload", "/stub/nixcloud-container/bin/nixcloud-container host setup"},
		{"systemd/services/nixcloud-container-host/reloadIfChanged", true},
		{"systemd/services/nixcloud-container/serviceConfig/KillMode", "process"},
		{"systemd/services/nixcloud-container-apply/serviceConfig/KillMode", "process"},
		{"systemd/services/nixcloud-container-host/unitConfig/ReloadPropagatedFrom", []any{"nftables.service", "firewall.service"}},
		{"systemd/services/nixcloud-container/serviceConfig/ExecStart", "/stub/nixcloud-container/bin/nixcloud-container autostart"},
		{"systemd/services/nixcloud-container-apply/serviceConfig/ExecStart", "/stub/nixcloud-container/bin/nixcloud-container apply --prune /etc/nixcloud-container/spec.nix"},
	}
	for _, ck := range checks {
		if got := get(ck.path); !reflect.DeepEqual(got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.path, got, ck.want)
		}
	}
	if stop, _ := get("systemd/services/nixcloud-container/serviceConfig/ExecStop").(string); !strings.Contains(stop, "stop") {
		t.Errorf("no clean stop at shutdown: %q", stop)
	}
	for _, a := range get("assertions").([]any) {
		if a.(map[string]any)["assertion"] != true {
			t.Errorf("assertion fails: %v", a)
		}
	}

	// Disabled: nothing on the host.
	off := numbers(mustEval(t, `{ nixcloud.container.containers.x = { system = "/x"; }; }`, "config"))
	if off != nil {
		if m, ok := off.(map[string]any); !ok || len(m) != 0 {
			t.Errorf("disabled module sets %v", off)
		}
	}
}

// TestModuleFlushRuleset: the module's flushRuleset = false is stronger
// than nixpkgs' own mkDefault (true before stateVersion 23.11 or with a
// ruleset), which an equal priority would conflict with and fail the
// host's evaluation; a host with its own ruleset keeps nixpkgs' flush.
func TestModuleFlushRuleset(t *testing.T) {
	requireNix(t)
	conf := hostWith("")
	if p := mustEval(t, conf, "priorities.flushRuleset"); p != json.Number("900") {
		t.Fatalf("flushRuleset is defined with priority %v, want 900 (mkDefault is 1000, as nixpkgs' own)", p)
	}
	own := strings.Replace(conf, "{ nixcloud.container", `{ networking.nftables.ruleset = "table inet filter { }"; nixcloud.container`, 1)
	if p := mustEval(t, own, "priorities.flushRuleset"); p != nil {
		t.Fatalf("with the host's own ruleset, flushRuleset is still defined (priority %v)", p)
	}
}

// TestModuleSysctlsYield: the module's sysctls never share a priority
// with the host's own definitions (plain ones, which win, or mkDefault):
// nixpkgs' sysctl type takes exactly one definition at the highest
// priority, so an equal priority fails the host's evaluation.
func TestModuleSysctlsYield(t *testing.T) {
	requireNix(t)
	for _, attr := range []string{"ipForward", "ipv6Forwarding", "acceptRA"} {
		if p := mustEval(t, hostWith(""), "priorities."+attr); p != json.Number("999") {
			t.Errorf("%s is defined with priority %v, want 999 (yields to plain 100, wins over mkDefault 1000)", attr, p)
		}
	}
}

// TestModuleSubIDs: root's declared subordinate id range stays clear of
// NixOS' automatic ranges for normal users (from 100000 up) and of every
// user's declared ones; an overlap fails an assertion naming the user.
func TestModuleSubIDs(t *testing.T) {
	requireNix(t)
	users := `users.users.alice = { isNormalUser = true; autoSubUidGidRange = true; };
	  users.users.bob = { subUidRanges = [ { startUid = 300000; count = 65536; } ]; };
	  users.users.carol = { subGidRanges = [ { startGid = BASE; count = 65536; } ]; };`
	with := func(base, users string) string {
		c := strings.Replace(host, "CONTAINERS", base, 1)
		return strings.Replace(c, "{ nixcloud.container", "{ "+users+" nixcloud.container", 1)
	}
	failing := func(conf string) []string {
		var msgs []string
		for _, a := range mustEval(t, conf, "config.assertions").([]any) {
			if a.(map[string]any)["assertion"] != true {
				msgs = append(msgs, a.(map[string]any)["message"].(string))
			}
		}
		return msgs
	}
	// The default base with normal users and explicit ranges elsewhere.
	if msgs := failing(with("", strings.Replace(users, "BASE", "40000000", 1))); len(msgs) != 0 {
		t.Fatalf("default base: assertions fail: %v", msgs)
	}
	// The tool's own default, 100000, is alice's automatic block and bob's.
	msgs := failing(with("settings.idmap.base = 100000;", strings.Replace(users, "BASE", "40000000", 1)))
	if len(msgs) != 1 || !strings.Contains(msgs[0], "alice (NixOS' automatic ranges") || !strings.Contains(msgs[0], "bob (300000+65536)") ||
		strings.Contains(msgs[0], "carol") {
		t.Fatalf("base 100000: assertions %v, want one naming alice and bob", msgs)
	}
	// A declared range inside root's default one.
	msgs = failing(with("", strings.Replace(users, "BASE", "1879048192", 1)))
	if len(msgs) != 1 || !strings.Contains(msgs[0], "carol (1879048192+65536)") {
		t.Fatalf("carol's range: assertions %v, want one naming carol", msgs)
	}
}

// TestModuleRefuses: conflicting spellings and clashing addresses.
func TestModuleRefuses(t *testing.T) {
	requireNix(t)
	for _, tt := range []struct{ name, containers, attr, want string }{
		{"config and configuration", `containers.x = { config = { }; configuration = { a = 1; }; };`, "options.nixcloud.container.internal.spec", "not both spellings"},
		{"system and config", `containers.x = { config = { }; system = "/nix/store/x"; };`, "options.nixcloud.container.internal.spec", "not both"},
		{"neither", `containers.x = { autostart = true; };`, "options.nixcloud.container.internal.spec", "set configuration (config) or system"},
		{"unknown key", `containers.x = { system = "/x"; privateNetwork = true; };`, "options.nixcloud.container.internal.spec", "undeclared option"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eval(t, hostWith(tt.containers), tt.attr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	c := mustEval(t, hostWith(`containers.a = { system = "/x"; network.ip = "10.101.0.9"; }; containers.b = { system = "/y"; network.ip = "10.101.0.9"; };`), "config.assertions").([]any)
	if c[0].(map[string]any)["assertion"] != false || !strings.Contains(c[0].(map[string]any)["message"].(string), "a, b") {
		t.Fatalf("clashing addresses: %v", c[0])
	}
}

// TestEveryNixFileParses: nix-instantiate --parse on every .nix file of
// the repository (test.nix, the module, the examples, ...).
func TestEveryNixFileParses(t *testing.T) {
	requireNix(t)
	root, _ := filepath.Abs("..")
	n := 0
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() && strings.HasPrefix(info.Name(), ".") {
			return filepath.SkipDir
		}
		if !info.IsDir() && strings.HasSuffix(p, ".nix") {
			n++
			if out, err := exec.Command("nix-instantiate", "--parse", p).CombinedOutput(); err != nil {
				t.Errorf("%s does not parse: %s", p, out)
			}
		}
		return nil
	})
	if n < 5 {
		t.Fatalf("only %d .nix files found under %s", n, root)
	}
}
