package bridges

import "errors"

var (
	// ErrAddressTaken means a fixed address is already held by another container.
	ErrAddressTaken = errors.New("address already in use")
	// ErrOutsideSubnet means an address is not inside the bridge's subnet or
	// is not usable there (network, broadcast or the bridge's own address).
	ErrOutsideSubnet = errors.New("address not usable in the bridge's subnet")
	// ErrPoolExhausted means no free address is left.
	ErrPoolExhausted = errors.New("no free address left")
	// ErrNotBridge means an interface of the bridge's name exists but is not a bridge.
	ErrNotBridge = errors.New("interface exists and is not a bridge")
	// ErrLinkNotFound means a network interface does not exist.
	ErrLinkNotFound = errors.New("network interface not found")
	// ErrDnsmasqDied means dnsmasq exited right after it was started.
	ErrDnsmasqDied = errors.New("dnsmasq exited prematurely")
	// ErrInvalidForward means a port forward has a bad protocol or port.
	ErrInvalidForward = errors.New("invalid port forward")
)
