// Package lxc is everything that touches liblxc: rendering a container's
// LXC configuration from data, and create, start, stop, attach, state and
// destroy through go-lxc. Rendering is pure Go; the liblxc parts are built
// only with cgo.
package lxc

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Item is one LXC configuration line, key = value.
type Item struct {
	Key   string
	Value string
}

func (i Item) String() string { return i.Key + " = " + i.Value }

// Items is an ordered LXC configuration.
type Items []Item

// String renders the configuration as LXC's config file text.
func (items Items) String() string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(it.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// GuestProfileDir is where the container's Nix profile folder appears
// inside the guest (read-only); the guest boots GuestProfileDir/system/init.
const GuestProfileDir = "/nix/var/nixcloud-container/profile"

// HaltSignal is the default signal that asks the guest's init for a clean
// shutdown (Spec.HaltSignal): systemd's SIGRTMIN+3.
const HaltSignal = "SIGRTMIN+3"

// Interface is one veth of the container.
type Interface struct {
	Name     string // inside the guest
	Bridge   string // host bridge
	HostVeth string // host side name
	MAC      string
	IPv4     string // with prefix length; empty: the guest configures it (DHCP)
	Gateway  string // IPv4 default gateway; empty: none
	IPv6     string // with prefix length; empty: none set by LXC
}

// Spec is everything the LXC configuration of one container depends on.
type Spec struct {
	Name string
	// Dir is the container's folder (lxcpath/name): rootfs, logs.
	Dir string
	// ConfDir holds LXC's common.conf and userns.conf.
	ConfDir string
	// Arch is LXC's architecture name (x86_64, aarch64, ...).
	Arch    string
	UIDBase uint32
	UIDSize uint32
	// ProfileDir is the host folder of the container's Nix profile.
	ProfileDir string
	Interfaces []Interface
	// AppArmor confines the container with LXC's generated profile; set it
	// where the kernel has AppArmor enabled (see AppArmorEnabled).
	AppArmor bool
	// Extra are further items (mounts, limits, raw config), appended last.
	Extra Items
	// HaltSignal asks the guest's init to shut down; empty: HaltSignal.
	HaltSignal string
	// StoreView is the host folder mounted at /nix/store (a view of the
	// container's closure, see package storeview); empty: the whole store.
	StoreView string
}

// Render returns the LXC configuration of a container.
func Render(s Spec) Items {
	items := Items{
		{"lxc.include", filepath.Join(s.ConfDir, "common.conf")},
		{"lxc.include", filepath.Join(s.ConfDir, "userns.conf")},
		{"lxc.uts.name", s.Name},
		{"lxc.arch", s.Arch},
		{"lxc.rootfs.path", "dir:" + filepath.Join(s.Dir, "rootfs")},
		{"lxc.idmap", fmt.Sprintf("u 0 %d %d", s.UIDBase, s.UIDSize)},
		{"lxc.idmap", fmt.Sprintf("g 0 %d %d", s.UIDBase, s.UIDSize)},
		{"lxc.autodev", "1"},
		{"lxc.mount.entry", cmp.Or(s.StoreView, "/nix/store") + " nix/store none rbind,ro,create=dir 0 0"},
		{"lxc.mount.entry", s.ProfileDir + " " + strings.TrimPrefix(GuestProfileDir, "/") + " none bind,ro,create=dir 0 0"},
		{"lxc.init.cmd", GuestProfileDir + "/system/init"},
		{"lxc.signal.halt", cmp.Or(s.HaltSignal, HaltSignal)},
		{"lxc.console.logfile", filepath.Join(s.Dir, "console.log")},
		{"lxc.console.size", "auto"},
		{"lxc.log.file", filepath.Join(s.Dir, "lxc.log")},
		{"lxc.log.level", "WARN"},
	}
	if s.AppArmor {
		// LXC's generated profile for unprivileged containers, without
		// the rules that nested containers would need.
		items = append(items,
			Item{"lxc.apparmor.profile", "generated"},
			Item{"lxc.apparmor.allow_nesting", "0"},
		)
	}
	if len(s.Interfaces) == 0 {
		items = append(items, Item{"lxc.net.0.type", "empty"})
	}
	for i, nic := range s.Interfaces {
		p := fmt.Sprintf("lxc.net.%d.", i)
		items = append(items,
			Item{p + "type", "veth"},
			Item{p + "name", nic.Name},
			Item{p + "link", nic.Bridge},
			Item{p + "veth.pair", nic.HostVeth},
			Item{p + "hwaddr", nic.MAC},
			Item{p + "flags", "up"},
		)
		if nic.IPv4 != "" {
			items = append(items, Item{p + "ipv4.address", nic.IPv4})
		}
		if nic.Gateway != "" {
			items = append(items, Item{p + "ipv4.gateway", nic.Gateway})
		}
		if nic.IPv6 != "" {
			items = append(items, Item{p + "ipv6.address", nic.IPv6})
		}
	}
	return append(items, s.Extra...)
}

// AppArmorParam is the kernel's switch for AppArmor ("Y" when enabled).
const AppArmorParam = "/sys/module/apparmor/parameters/enabled"

// AppArmorEnabled reports whether the kernel has AppArmor enabled, as
// param (usually AppArmorParam) says.
func AppArmorEnabled(param string) bool {
	data, err := os.ReadFile(param)
	return err == nil && strings.TrimSpace(string(data)) == "Y"
}

// Arch maps Go's GOARCH to LXC's architecture name.
func Arch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "386":
		return "i686"
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7l"
	default:
		return goarch
	}
}

// ConfDirCandidates are the usual places of LXC's shipped config snippets.
var ConfDirCandidates = []string{
	"/usr/share/lxc/config",
	"/run/current-system/sw/share/lxc/config",
	"/usr/local/share/lxc/config",
}
