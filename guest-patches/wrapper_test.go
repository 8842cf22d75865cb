package guestpatches

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nixcloud/nixcloud-container/generations"
)

// These tests run the embedded wrapper (materialised as the tool does) with
// real Nix. NixOS itself needs nixpkgs, which is not available here, so
// `<nixpkgs>` is testdata/stub-nixpkgs: its nixos/lib/eval-config.nix
// accepts the real arguments, records them and runs a miniature module
// system, enough to see what guest.nix and the wrapper hand to NixOS.

func requireNix(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range append([]string{"nix-instantiate"}, progs...) {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not on PATH: the wrapper cannot be evaluated", p)
		}
	}
}

func testdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wrapperDir materialises the embedded files, as the tool does.
func wrapperDir(t *testing.T) string {
	t.Helper()
	dir, err := Materialise(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

type nixResult struct {
	stdout, stderr string
	err            error
}

// runNix runs a Nix command with a clean NIX_PATH and <nixpkgs> = the stub.
func runNix(t *testing.T, env []string, prog string, args ...string) nixResult {
	t.Helper()
	args = append([]string{"-I", "nixpkgs=" + testdata(t, "stub-nixpkgs")}, args...)
	cmd := exec.Command(prog, args...)
	cmd.Env = append(append(os.Environ(), "NIX_PATH="), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return nixResult{stdout.String(), stderr.String(), err}
}

type wrapperArgs struct {
	file, name, ip, gateway string
	prefixLength            int
	enableNat               bool
}

// args are the wrapper arguments in the form generations.Input passes them.
func (a wrapperArgs) args() []string {
	nat := "false"
	if a.enableNat {
		nat = "true"
	}
	return []string{
		"--arg", "file", a.file,
		"--argstr", "name", a.name,
		"--argstr", "ip", a.ip,
		"--argstr", "gateway", a.gateway,
		"--arg", "enableNat", nat,
		"--arg", "prefixLength", "16",
	}
}

// probe is testdata/probe.nix's answer.
type probe struct {
	Settings          map[string]any    `json:"settings"`
	EvalConfigArgs    []string          `json:"evalConfigArgs"`
	FirstModule       string            `json:"firstModule"`
	ModuleCount       int               `json:"moduleCount"`
	IsContainer       bool              `json:"isContainer"`
	EtcHosts          *string           `json:"etcHosts"`
	SpecialArgs       map[string]string `json:"specialArgs"`
	ModuleArgsDefined bool              `json:"moduleArgsDefined"`
	SubmoduleSawName  *string           `json:"submoduleSawName"`
	NixcloudContainer map[string]any    `json:"nixcloudContainer"`
	SeenByConfig      *string           `json:"seenByConfiguration"`
	HostName          string            `json:"hostName"`
	UseDHCP           bool              `json:"useDHCP"`
	UseHostResolvConf bool              `json:"useHostResolvConf"`
	Hostonly          map[string]any    `json:"hostonly"`
	Internet          map[string]any    `json:"internet"`
	DhcpcdDeny        []string          `json:"dhcpcdDeny"`
	DhcpcdWait        string            `json:"dhcpcdWait"`
	DhcpcdExtraConfig string            `json:"dhcpcdExtraConfig"`
	TempAddresses     any               `json:"tempAddresses"`
	NixEnable         bool              `json:"nixEnable"`
	AutologinUser     *string           `json:"autologinUser"`
	ConsoleEnable     bool              `json:"consoleEnable"`
	ConsoleGettyUnit  map[string]any    `json:"consoleGettyUnitConfig"`
	InitrdSystemd     bool              `json:"initrdSystemd"`
	ToplevelEvaluates bool              `json:"toplevelEvaluates"`
	UpstreamUnits     []string          `json:"upstreamUnits"`
	UdevTriggerExec   []string          `json:"udevTriggerExecStart"`
	SysctlExec        []string          `json:"sysctlExecStart"`
	SystemdPackages   []string          `json:"systemdPackages"`
	Masked            []string          `json:"masked"`
	NetworkdHostonly  map[string]any    `json:"networkdHostonly"`
	NetworkdInternet  map[string]any    `json:"networkdInternet"`
}

func runProbe(t *testing.T, dir string, a wrapperArgs, env ...string) probe {
	t.Helper()
	args := append([]string{"--eval", "--strict", "--json", testdata(t, "probe.nix"),
		"--argstr", "wrapperDir", dir}, a.args()...)
	r := runNix(t, env, "nix-instantiate", args...)
	if r.err != nil {
		t.Fatalf("nix-instantiate probe.nix on %s: %v\n%s", a.file, r.err, r.stderr)
	}
	var p probe
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("probe output: %v\n%s", err, r.stdout)
	}
	return p
}

// evalJSON evaluates a Nix expression to JSON and decodes it.
func evalJSON(t *testing.T, expr string) any {
	t.Helper()
	r := runNix(t, nil, "nix-instantiate", "--eval", "--strict", "--json", "--expr", expr)
	if r.err != nil {
		t.Fatalf("nix-instantiate --expr %s: %v\n%s", expr, r.err, r.stderr)
	}
	var v any
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// realEvalConfigArgs are the arguments nixpkgs' eval-config.nix accepts.
var realEvalConfigArgs = []string{
	"baseModules", "check", "extraArgs", "extraModules", "lib", "modules",
	"modulesLocation", "pkgs", "prefix", "specialArgs", "system",
}

func TestWrapperBareModule(t *testing.T) {
	requireNix(t)
	dir := wrapperDir(t)
	p := runProbe(t, dir, wrapperArgs{
		file: testdata(t, "bare.nix"), name: "web", ip: "10.101.0.7", gateway: "10.101.0.1",
	})

	// What eval-config.nix got: guest.nix first, then the wrapper's module,
	// then the container file; only arguments the real one accepts.
	if want := filepath.Join(dir, "guest.nix"); p.FirstModule != want {
		t.Errorf("first module = %q, want the guest module %q", p.FirstModule, want)
	}
	if p.ModuleCount != 3 {
		t.Errorf("eval-config got %d modules, want 3 (guest, wrapper's settings, container file)", p.ModuleCount)
	}
	for _, a := range p.EvalConfigArgs {
		if !contains(realEvalConfigArgs, a) {
			t.Errorf("eval-config got argument %q, which nixpkgs' eval-config.nix does not accept", a)
		}
	}

	if !p.IsContainer {
		t.Error("boot.isContainer is not true")
	}
	// name and ip are specialArgs, never _module.args: a submodule-like
	// second evaluation that defines _module.args.name (as every submodule
	// does) and reads `name` works.
	if want := map[string]string{"ip": "10.101.0.7", "name": "web"}; !reflect.DeepEqual(p.SpecialArgs, want) {
		t.Errorf("specialArgs = %v, want %v", p.SpecialArgs, want)
	}
	if p.ModuleArgsDefined {
		t.Error("the wrapper defines _module.args.name or .ip; submodules define _module.args.name too")
	}
	if p.SubmoduleSawName == nil || *p.SubmoduleSawName != "sub web" {
		t.Errorf("a module in a submodule-like second evaluation saw %v, want \"sub web\" (nil: that evaluation failed)", p.SubmoduleSawName)
	}
	if p.SeenByConfig == nil || *p.SeenByConfig != "web 10.101.0.7" {
		t.Errorf("the container's module saw name and ip as %v, want \"web 10.101.0.7\"", p.SeenByConfig)
	}
	wantNC := map[string]any{"name": "web", "ip": "10.101.0.7", "gateway": "10.101.0.1",
		"prefixLength": float64(16), "enableNat": false}
	if !reflect.DeepEqual(p.NixcloudContainer, wantNC) {
		t.Errorf("nixcloudContainer = %v, want %v", p.NixcloudContainer, wantNC)
	}
	if len(p.Settings) != 0 {
		t.Errorf("settings of a bare module = %v, want {}", p.Settings)
	}

	// Networking: static hostonly, no DHCP, no internet, no host resolv.conf.
	if p.HostName != "web" {
		t.Errorf("networking.hostName = %q, want the container name", p.HostName)
	}
	if p.UseDHCP || p.UseHostResolvConf {
		t.Errorf("useDHCP = %v, useHostResolvConf = %v; want both false", p.UseDHCP, p.UseHostResolvConf)
	}
	wantHostonly := map[string]any{"useDHCP": false, "ipv4": map[string]any{"addresses": []any{
		map[string]any{"address": "10.101.0.7", "prefixLength": float64(16)}}}}
	if !reflect.DeepEqual(p.Hostonly, wantHostonly) {
		t.Errorf("interfaces.hostonly = %v, want %v", p.Hostonly, wantHostonly)
	}
	if p.Internet != nil {
		t.Errorf("interfaces.internet = %v without enableNat, want undefined", p.Internet)
	}
	if !contains(p.DhcpcdDeny, "hostonly") {
		t.Errorf("dhcpcd.denyInterfaces = %v, want hostonly in it", p.DhcpcdDeny)
	}
	if strings.Contains(p.DhcpcdExtraConfig, "clientid") {
		t.Errorf("dhcpcd config without enableNat: %q", p.DhcpcdExtraConfig)
	}
	if p.NetworkdHostonly != nil || p.NetworkdInternet != nil {
		t.Errorf("networkd settings without useNetworkd: %v %v", p.NetworkdHostonly, p.NetworkdInternet)
	}

	// No Nix in the guest by default.
	if p.NixEnable {
		t.Error("nix.enable is true; the guest has no Nix database or daemon")
	}

	// systemd under unprivileged LXC.
	for _, u := range []string{"systemd-journald-audit.socket", "systemd-modules-load.service",
		"dev-hugepages.mount", "sys-kernel-debug.mount"} {
		if !contains(p.Masked, u) {
			t.Errorf("%s is not masked (masked: %v)", u, p.Masked)
		}
	}
	if !contains(p.UpstreamUnits, "systemd-udev-trigger.service") {
		t.Errorf("additionalUpstreamSystemUnits = %v, want systemd-udev-trigger.service", p.UpstreamUnits)
	}
	for name, exec := range map[string][]string{"udev-trigger": p.UdevTriggerExec, "sysctl": p.SysctlExec} {
		if len(exec) < 2 || exec[0] != "" {
			t.Errorf("%s ExecStart = %q, want a reset then commands", name, exec)
			continue
		}
		for _, e := range exec[1:] {
			if !strings.HasPrefix(e, "-/") {
				t.Errorf("%s ExecStart %q: failures must not be fatal (want a leading -)", name, e)
			}
		}
	}
	if len(p.SystemdPackages) != 1 || !strings.HasSuffix(p.SystemdPackages[0], "/service.d/zzz-lxc-service.conf") {
		t.Errorf("systemd.packages without distrobuilder = %v, want the static zzz-lxc-service.conf drop-in", p.SystemdPackages)
	}
	if p.AutologinUser == nil || *p.AutologinUser != "root" {
		t.Errorf("getty autologin user = %v, want root", p.AutologinUser)
	}
	// container-config.nix (>= 25.05) defaults console.enable to false,
	// which masks console-getty; guest.nix turns it back on.
	if !p.ConsoleEnable {
		t.Error("console.enable is false: console-getty would be masked and autologin would do nothing")
	}
	// systemd < 258 (the stub's default 257.9): console-getty as NixOS has it.
	if p.ConsoleGettyUnit != nil {
		t.Errorf("console-getty unitConfig = %v with systemd 257, want none", p.ConsoleGettyUnit)
	}
	if p.InitrdSystemd || !p.ToplevelEvaluates {
		t.Errorf("boot.initrd.systemd.enable = %v, toplevel evaluates = %v", p.InitrdSystemd, p.ToplevelEvaluates)
	}
	// The hosts file the tool keeps (containers.HostsFile) in the profile
	// folder, lxc.GuestProfileDir inside.
	if p.EtcHosts == nil || *p.EtcHosts != "/nix/var/nixcloud-container/profile/hosts" {
		t.Errorf("environment.etc.hosts.source = %v, want the tool's hosts file", p.EtcHosts)
	}
}

// With systemd in the initrd the toplevel's init is systemd itself, which a
// container must never boot: guest.nix forces it off, even over the
// container's own definition.
func TestGuestForcesInitrdSystemdOff(t *testing.T) {
	requireNix(t, "nix-build")
	dir := wrapperDir(t)
	a := wrapperArgs{file: testdata(t, "initrd-systemd.nix"), name: "web", ip: "10.101.0.7", gateway: "10.101.0.1"}
	p := runProbe(t, dir, a)
	if p.InitrdSystemd {
		t.Error("boot.initrd.systemd.enable = true in the container file stayed true")
	}
	if !p.ToplevelEvaluates {
		t.Error("the toplevel does not evaluate (the stub's top-level.nix saw systemd in the initrd)")
	}
	buildGeneration(t, dir, a, map[string]any{})
}

// systemd >= 258 fails console-getty when /sys is read-write (LXC's
// userns.conf: sys:rw): guest.nix makes the unit skip instead of fail there.
func TestGuestConsoleGettySystemd258(t *testing.T) {
	requireNix(t)
	dir := wrapperDir(t)
	a := wrapperArgs{file: testdata(t, "bare.nix"), name: "web", ip: "10.101.0.7", gateway: "10.101.0.1"}
	for _, v := range []string{"258", "258.2", "259.1"} {
		p := runProbe(t, dir, a, "STUB_SYSTEMD_VERSION="+v)
		want := map[string]any{"ConditionPathIsReadWrite": "!/sys"}
		if !reflect.DeepEqual(p.ConsoleGettyUnit, want) {
			t.Errorf("systemd %s: console-getty unitConfig = %v, want %v", v, p.ConsoleGettyUnit, want)
		}
		if !p.ConsoleEnable || p.AutologinUser == nil || *p.AutologinUser != "root" {
			t.Errorf("systemd %s: console.enable = %v, autologin root = %v", v, p.ConsoleEnable, p.AutologinUser != nil && *p.AutologinUser == "root")
		}
	}
	for _, v := range []string{"255.9", "256.10", "257.9"} {
		if p := runProbe(t, dir, a, "STUB_SYSTEMD_VERSION="+v); p.ConsoleGettyUnit != nil {
			t.Errorf("systemd %s: console-getty unitConfig = %v, want none", v, p.ConsoleGettyUnit)
		}
	}
}

func TestWrapperSettingsShape(t *testing.T) {
	requireNix(t)
	dir := wrapperDir(t)
	file := testdata(t, "settings.nix")
	p := runProbe(t, dir, wrapperArgs{
		file: file, name: "web", ip: "10.101.0.50", gateway: "10.101.0.1", enableNat: true,
	}, "STUB_NIXPKGS_DISTROBUILDER=1")

	// settings = the file's host-side keys, exactly.
	want := evalJSON(t, "builtins.removeAttrs (import "+file+") [ \"configuration\" ]")
	if !reflect.DeepEqual(any(p.Settings), want) {
		t.Errorf("settings = %v\nwant the file's host-side keys %v", p.Settings, want)
	}
	if len(p.Settings) != 9 {
		t.Errorf("settings has %d keys, want all 9 host-side keys of testdata/settings.nix", len(p.Settings))
	}
	// ... and they are what the Go side decodes.
	raw, _ := json.Marshal(p.Settings)
	s, err := generations.DecodeSettings(raw)
	if err != nil {
		t.Fatalf("generations.DecodeSettings: %v", err)
	}
	if s.Network.IP != "10.101.0.50" || !s.Network.EnableNat || s.Limits.CPUs != 1.5 || len(s.ForwardPorts) != 1 {
		t.Errorf("decoded settings = %+v", s)
	}

	if !p.IsContainer || p.SpecialArgs["ip"] != "10.101.0.50" || p.SpecialArgs["name"] != "web" {
		t.Errorf("isContainer = %v, specialArgs = %v", p.IsContainer, p.SpecialArgs)
	}
	if p.SeenByConfig == nil || *p.SeenByConfig != "web 10.101.0.50" {
		t.Errorf("the configuration module saw %v, want \"web 10.101.0.50\"", p.SeenByConfig)
	}
	if p.NixcloudContainer["enableNat"] != true || p.NixcloudContainer["ip"] != "10.101.0.50" {
		t.Errorf("nixcloudContainer = %v", p.NixcloudContainer)
	}

	// enableNat: DHCP on internet with the MAC as client id, never on hostonly.
	if p.Internet["useDHCP"] != true {
		t.Errorf("interfaces.internet = %v, want useDHCP = true", p.Internet)
	}
	if p.Hostonly["useDHCP"] != false {
		t.Errorf("interfaces.hostonly = %v, want useDHCP = false", p.Hostonly)
	}
	if !strings.Contains(p.DhcpcdExtraConfig, "\nclientid\n") {
		t.Errorf("dhcpcd extraConfig = %q, want clientid", p.DhcpcdExtraConfig)
	}
	if p.DhcpcdWait != "ipv4" {
		t.Errorf("dhcpcd.wait = %q, want ipv4 (never wait for IPv6)", p.DhcpcdWait)
	}
	// The host's filter lets out only the EUI-64 SLAAC address.
	if !strings.Contains(p.DhcpcdExtraConfig, "\nslaac hwaddr\n") || p.TempAddresses != "disabled" {
		t.Errorf("dhcpcd extraConfig = %q, tempAddresses = %v; want slaac hwaddr and disabled", p.DhcpcdExtraConfig, p.TempAddresses)
	}
	// The file opts into networkd: the same, networkd's way.
	wantInternet := map[string]any{
		"dhcpV4Config":       map[string]any{"ClientIdentifier": "mac"},
		"networkConfig":      map[string]any{"IPv6AcceptRA": true, "IPv6PrivacyExtensions": false},
		"ipv6AcceptRAConfig": map[string]any{"Token": "eui64"},
	}
	if !reflect.DeepEqual(p.NetworkdInternet, wantInternet) {
		t.Errorf("networkd 40-internet = %v, want %v", p.NetworkdInternet, wantInternet)
	}
	if p.NetworkdHostonly == nil {
		t.Error("networkd 40-hostonly: want KeepConfiguration")
	}

	// The file sets nix.enable = true: guest.nix only defaults it off.
	if !p.NixEnable {
		t.Error("nix.enable = true in the container file was overridden")
	}
	// nixpkgs with distrobuilder's generator: guest.nix uses it.
	if !reflect.DeepEqual(p.SystemdPackages, []string{"/stub-pkgs/distrobuilder-generator"}) {
		t.Errorf("systemd.packages = %v, want distrobuilder's generator", p.SystemdPackages)
	}
}

// A bare module that is an attribute set setting system.stateVersion is a
// module, not the settings shape with a prebuilt `system`.
func TestWrapperBareAttrsWithSystemOption(t *testing.T) {
	requireNix(t)
	p := runProbe(t, wrapperDir(t), wrapperArgs{
		file: testdata(t, "bare-attrs.nix"), name: "plain", ip: "10.101.0.8", gateway: "10.101.0.1",
	})
	if len(p.Settings) != 0 || !p.IsContainer || p.SeenByConfig == nil || *p.SeenByConfig != "attrs" {
		t.Errorf("settings = %v, isContainer = %v, the module's probe file is set: %v", p.Settings, p.IsContainer, p.SeenByConfig != nil)
	}
}

func TestWrapperRefusesBadFiles(t *testing.T) {
	requireNix(t)
	dir := wrapperDir(t)
	for _, tc := range []struct{ file, want string }{
		{"unknown-key.nix", "unknown key 'netwrok'"},
		{"both.nix", "set either 'configuration' or 'system', not both"},
		{"no-configuration.nix", "set 'configuration' (a NixOS module) or 'system'"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			a := wrapperArgs{file: testdata(t, tc.file), name: "bad", ip: "10.101.0.9", gateway: "10.101.0.1"}
			for _, attr := range []string{"settings", "generation"} {
				args := append([]string{"--eval", "--strict", "--json", filepath.Join(dir, Wrapper), "-A", attr}, a.args()...)
				r := runNix(t, nil, "nix-instantiate", args...)
				if r.err == nil {
					t.Errorf("-A %s: succeeded, want an error naming %q", attr, tc.want)
				} else if !strings.Contains(r.stderr, tc.want) {
					t.Errorf("-A %s: stderr does not say %q:\n%s", attr, tc.want, r.stderr)
				}
			}
		})
	}
}

// buildGeneration runs nix-build -A generation and checks that the result
// holds an executable init and manifest.nix with the settings as JSON.
func buildGeneration(t *testing.T, dir string, a wrapperArgs, wantSettings any) string {
	t.Helper()
	args := append([]string{filepath.Join(dir, Wrapper), "-A", "generation", "--no-out-link"}, a.args()...)
	r := runNix(t, nil, "nix-build", args...)
	if r.err != nil {
		t.Fatalf("nix-build: %v\n%s", r.err, r.stderr)
	}
	fields := strings.Fields(r.stdout)
	if len(fields) == 0 {
		t.Fatalf("nix-build printed no store path; stderr:\n%s", r.stderr)
	}
	out := fields[len(fields)-1]
	if !strings.HasPrefix(out, "/nix/store/") {
		t.Fatalf("nix-build printed %q", out)
	}
	fi, err := os.Stat(filepath.Join(out, "init"))
	if err != nil {
		t.Fatalf("generation %s: %v", out, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		t.Errorf("generation %s: init is %v, want an executable file", out, fi.Mode())
	}
	data, err := os.ReadFile(filepath.Join(out, "manifest.nix"))
	if err != nil {
		t.Fatalf("generation %s: %v", out, err)
	}
	var got any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("manifest.nix is not JSON: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, wantSettings) {
		t.Errorf("manifest.nix = %s, want %v", data, wantSettings)
	}
	return out
}

func TestWrapperBuildsPrebuiltSystem(t *testing.T) {
	requireNix(t, "nix-build")
	dir := wrapperDir(t)
	file := testdata(t, "system.nix")
	want := evalJSON(t, "builtins.removeAttrs (import "+file+") [ \"system\" ]")
	a := wrapperArgs{file: file, name: "sys", ip: "10.101.0.60", gateway: "10.101.0.1"}
	out := buildGeneration(t, dir, a, want)

	// The same file builds the same store path ("an identical build makes
	// no new generation" relies on it).
	if again := buildGeneration(t, dir, a, want); again != out {
		t.Errorf("rebuilding gave %s, then %s", out, again)
	}
}

func TestWrapperBuildsConfiguration(t *testing.T) {
	requireNix(t, "nix-build")
	buildGeneration(t, wrapperDir(t), wrapperArgs{
		file: testdata(t, "bare.nix"), name: "web", ip: "10.101.0.7", gateway: "10.101.0.1",
	}, map[string]any{})
}

// The examples are valid container files: their settings decode on the Go
// side, and their configuration evaluates with guest.nix.
func TestExamples(t *testing.T) {
	requireNix(t)
	dir := wrapperDir(t)
	root := moduleRoot(t)
	for _, tc := range []struct {
		file  string
		check func(*generations.Settings) bool
	}{
		{"nginx.nix", func(s *generations.Settings) bool {
			return len(s.ForwardPorts) == 1 && s.ForwardPorts[0].ContainerPort == 80
		}},
		{"nat.nix", func(s *generations.Settings) bool { return s.Network.EnableNat }},
		{"fixed-ip.nix", func(s *generations.Settings) bool { return s.Network.IP == "10.101.0.50" && s.Autostart }},
		{"homelab/proxy.nix", func(s *generations.Settings) bool { return len(s.ForwardPorts) == 2 && len(s.Network.AllowFrom) == 0 }},
		{"homelab/sso.nix", func(s *generations.Settings) bool { return len(s.Network.AllowFrom) == 2 }},
		{"homelab/app.nix", func(s *generations.Settings) bool {
			return len(s.Network.AllowFrom) == 1 && s.Network.AllowFrom[0].Container == "proxy"
		}},
		{"homelab/db.nix", func(s *generations.Settings) bool {
			return len(s.Network.AllowFrom) == 1 && s.Network.AllowFrom[0].Ports[0] == "tcp/5432"
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			file := filepath.Join(root, "examples", tc.file)
			a := wrapperArgs{file: file, name: "example", ip: "10.101.0.50", gateway: "10.101.0.1"}
			p := runProbe(t, dir, a)
			raw, _ := json.Marshal(p.Settings)
			s, err := generations.DecodeSettings(raw)
			if err != nil {
				t.Fatalf("settings %s: %v", raw, err)
			}
			if !tc.check(s) {
				t.Errorf("settings = %s", raw)
			}
			if !p.IsContainer || p.HostName != "example" {
				t.Errorf("isContainer = %v, hostName = %q", p.IsContainer, p.HostName)
			}
		})
	}
}
