package lxc

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	got := Render(Spec{
		Name: "web", Dir: "/var/lib/ncc/containers/web", ConfDir: "/usr/share/lxc/config", Arch: "x86_64",
		UIDBase: 165536, UIDSize: 65536, ProfileDir: "/nix/var/nix/profiles/nixcloud-container/web",
		Interfaces: []Interface{{Name: "hostonly", Bridge: "brNC-hostonly", HostVeth: "nc1h", MAC: "02:4e:43:00:01:00", IPv4: "10.101.0.3/16"}},
		Extra:      Items{{"lxc.environment", "A=1"}},
	}).String()
	want := `lxc.include = /usr/share/lxc/config/common.conf
lxc.include = /usr/share/lxc/config/userns.conf
lxc.uts.name = web
lxc.arch = x86_64
lxc.rootfs.path = dir:/var/lib/ncc/containers/web/rootfs
lxc.idmap = u 0 165536 65536
lxc.idmap = g 0 165536 65536
lxc.autodev = 1
lxc.mount.entry = /nix/store nix/store none rbind,ro,create=dir 0 0
lxc.mount.entry = /nix/var/nix/profiles/nixcloud-container/web nix/var/nixcloud-container/profile none bind,ro,create=dir 0 0
lxc.init.cmd = /nix/var/nixcloud-container/profile/system/init
lxc.signal.halt = SIGRTMIN+3
lxc.console.logfile = /var/lib/ncc/containers/web/console.log
lxc.console.size = auto
lxc.log.file = /var/lib/ncc/containers/web/lxc.log
lxc.log.level = WARN
lxc.net.0.type = veth
lxc.net.0.name = hostonly
lxc.net.0.link = brNC-hostonly
lxc.net.0.veth.pair = nc1h
lxc.net.0.hwaddr = 02:4e:43:00:01:00
lxc.net.0.flags = up
lxc.net.0.ipv4.address = 10.101.0.3/16
lxc.environment = A=1
`
	if got != want {
		t.Fatalf("rendered:\n%s\nwant:\n%s", got, want)
	}
	confined := Render(Spec{Name: "x", AppArmor: true}).String()
	if !strings.Contains(confined, "lxc.log.level = WARN\nlxc.apparmor.profile = generated\nlxc.apparmor.allow_nesting = 0\nlxc.net.0.type = empty\n") {
		t.Fatalf("with AppArmor, want LXC's generated profile without nesting before the network:\n%s", confined)
	}
	view := Render(Spec{Name: "x", StoreView: "/var/lib/ncc/store/x"}).String()
	if !strings.Contains(view, "lxc.autodev = 1\nlxc.mount.entry = /var/lib/ncc/store/x nix/store none rbind,ro,create=dir 0 0\nlxc.mount.entry = ") {
		t.Fatalf("with a store view, want it (with its binds) at /nix/store instead of the whole store:\n%s", view)
	}
	if got := Render(Spec{Name: "x"}); got[len(got)-1] != (Item{"lxc.net.0.type", "empty"}) {
		t.Fatalf("no interfaces: last item %v, want lxc.net.0.type = empty", got[len(got)-1])
	}
}
