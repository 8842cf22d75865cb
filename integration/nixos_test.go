package integration

import (
	"strings"
	"testing"
)

// TestNixOSActivationMounts runs, inside a real unprivileged container,
// what a NixOS guest's activation script does that needs privileges: the
// `specialfs` snippet's mounts and remounts (nixpkgs' boot.specialFileSystems
// of a container, with its exact options) and the `wrappers` snippet's
// setuid copy and file capability (ping's cap_net_raw+p). These are the
// steps that fail under other unprivileged setups (nixpkgs #9735, #345899:
// "Activation script snippet 'specialfs' failed (32)", "Failed to set
// capabilities on file /run/wrappers/…/ping"); here they succeed, so a
// switch-to-configuration exit 2 means a real failure of the guest's own
// activation, and the tool reports it as one.
func TestNixOSActivationMounts(t *testing.T) {
	h := newHost(t, "")
	h.must("create", "--start", "c", h.busyboxFile("c.nix", "", probeMount()))
	out := h.sh("c", `
set -e
mounted() { grep -q " $1 " /proc/self/mounts; }
specialMount() {
  if mounted "$2"; then o="remount,$3"; else o="$3"; mkdir -m 0755 -p "$2"; fi
  mount -t "$4" -o "$o" "$1" "$2" || { echo "FAILED $2"; exit 1; }
  echo "mounted $2"
}
specialMount proc /proc nosuid,noexec,nodev proc
specialMount tmpfs /run nosuid,nodev,strictatime,mode=755,size=25% tmpfs
specialMount devtmpfs /dev nosuid,strictatime,mode=755,size=5% devtmpfs
specialMount tmpfs /dev/shm nosuid,nodev,strictatime,mode=1777,size=50% tmpfs
specialMount devpts /dev/pts nosuid,noexec,mode=620,ptmxmode=0666,gid=3 devpts
specialMount ramfs /run/keys nosuid,nodev,mode=750 ramfs
specialMount tmpfs /run/wrappers nodev,mode=755,size=50% tmpfs
w=/run/wrappers/wrappers.test
mkdir -p $w
cp /probe/probe $w/ping
cp /probe/probe $w/su
chown root:root $w/ping $w/su
chmod u+s,g-s,u+rx,g+x,o+x $w/su
/probe/probe setcap $w/ping
ls -l $w/su | cut -c1-10
`)
	for _, want := range []string{"mounted /proc", "mounted /run", "mounted /dev", "mounted /dev/shm", "mounted /dev/pts",
		"mounted /run/keys", "mounted /run/wrappers", "/run/wrappers/wrappers.test/ping cap_net_raw+p", "-rws"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
