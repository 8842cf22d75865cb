package bridges

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
)

// Interface names inside the guest, in the order of their NIC index.
const (
	NICHostonly = "hostonly"
	NICInternet = "internet"
)

const (
	// chainPrefix starts every iptables chain the tool owns.
	chainPrefix = "NCC-"
	// maxChainLen is the longest chain name iptables accepts (28 plus NUL).
	maxChainLen = 28
	// tagPrefix starts the comment on every rule the tool makes.
	tagPrefix = "nixcloud-container"
	// dnatChain is the shared nat chain that PREROUTING and OUTPUT jump to
	// for port forwards; per-container chains hang below it.
	dnatChain = chainPrefix + "DNAT"
)

// HostVeth is the host-side veth name of a container's interface: nc<slot>h
// for hostonly, nc<slot>i for internet (the first letter of any other nic).
// Names stay within the 15 characters Linux allows for any slot below 10^12.
func HostVeth(slot int, nic string) string {
	suffix := "x"
	if nic != "" {
		suffix = nic[:1]
	}
	return "nc" + strconv.Itoa(slot) + suffix
}

// MAC is the stable, locally administered unicast MAC address of a
// container's NIC: 02:4e:43 ("NC") followed by 20 bits of slot and 4 bits of
// NIC index. It is unique for slots below 2^20 and NIC indexes below 16.
func MAC(slot int, nicIndex int) string {
	v := (uint32(slot)&0xfffff)<<4 | uint32(nicIndex)&0xf
	return fmt.Sprintf("02:4e:43:%02x:%02x:%02x", byte(v>>16), byte(v>>8), byte(v))
}

// BridgeMAC is the fixed MAC address of the tool's bridge name: 06:4e:43
// (locally administered, unicast, apart from the containers' 02:4e:43)
// followed by 24 bits of a hash of the name. A bridge without an address
// of its own takes the lowest of its ports' and changes it whenever such a
// port comes or goes, which leaves stale neighbour entries in every other
// container (their traffic to the host stalls until they expire).
func BridgeMAC(name string) net.HardwareAddr {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	return net.HardwareAddr{0x06, 0x4e, 0x43, byte(v >> 16), byte(v >> 8), byte(v)}
}

// NICIndex is the index MAC expects for a guest interface name.
func NICIndex(nic string) int {
	switch nic {
	case NICHostonly:
		return 0
	case NICInternet:
		return 1
	}
	return 15
}

// chainName builds "NCC-<object>-<purpose>", replacing the object by a
// hash when the whole name would exceed iptables' limit.
func chainName(object, purpose string) string {
	name := chainPrefix + object + "-" + purpose
	if len(name) <= maxChainLen {
		return name
	}
	sum := sha256.Sum256([]byte(object))
	n := maxChainLen - len(chainPrefix) - len(purpose) - 1
	return chainPrefix + hex.EncodeToString(sum[:])[:n] + "-" + purpose
}

// containerChain is the nat chain holding one container's port forwards;
// no bridge chain uses the purpose DNAT, so the names never collide.
func containerChain(name string) string { return chainName(name, "DNAT") }

func bridgeTag(bridge string) string  { return tagPrefix + " bridge " + bridge }
func containerTag(name string) string { return tagPrefix + " container " + name }
func forwardsTag() string             { return tagPrefix + " forwards" }
