package bridges

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
	"github.com/nixcloud/nixcloud-container/records"
)

// dnsmasqBinary is the DHCP/RA server run for the internet bridge.
var dnsmasqBinary = "dnsmasq"

// dnsmasqStartCheck is how long a fresh dnsmasq must survive.
const dnsmasqStartCheck = 500 * time.Millisecond

// leaseTime is the DHCP lease time; leases are fixed per MAC anyway.
const leaseTime = "1h"

// dnsmasqPaths are the files of the dnsmasq serving one bridge, all under
// state_dir/dnsmasq/<bridge>/.
type dnsmasqPaths struct {
	Dir, Pid, Leases, Hosts, Conf, Log string
}

func pathsFor(cfg hostconfig.Config, bridge string) dnsmasqPaths {
	d := filepath.Join(cfg.StateDir, "dnsmasq", bridge)
	return dnsmasqPaths{
		Dir:    d,
		Pid:    filepath.Join(d, "dnsmasq.pid"),
		Leases: filepath.Join(d, "dnsmasq.leases"),
		Hosts:  filepath.Join(d, "hosts"),
		Conf:   filepath.Join(d, "dnsmasq.conf"),
		Log:    filepath.Join(d, "dnsmasq.log"),
	}
}

// dnsmasqArgs is the argv (without the program) of the internet bridge's
// dnsmasq: IPv4 DHCP for known MACs only (static leases from the hosts
// directory), DNS on the bridge address, and with an IPv6 prefix router
// advertisements with SLAAC plus stateless DHCPv6 for DNS.
func dnsmasqArgs(cfg hostconfig.Config) ([]string, error) {
	br := cfg.Internet.Bridge
	p := pathsFor(cfg, br)
	ip, err := InternetPrefix(cfg)
	if err != nil {
		return nil, err
	}
	first, _, err := cfg.Internet.Range()
	if err != nil {
		return nil, err
	}
	mask := net.IP(net.CIDRMask(ip.Bits(), 32)).String()
	args := []string{
		"--keep-in-foreground",
		"--strict-order",
		"--bind-interfaces",
		"--interface=" + br,
		"--except-interface=lo",
		"--pid-file=", // the tool keeps the pid itself
		"--conf-file=" + p.Conf,
		"--no-ping",
		"--no-negcache",
		"--listen-address=" + ip.Addr().String(),
		"--dhcp-no-override",
		// No container's name in DNS (see hostsLine), and plain names
		// are answered "not found" here, not sent upstream.
		"--dhcp-ignore-names",
		"--domain-needed",
		"--dhcp-authoritative",
		"--dhcp-leasefile=" + p.Leases,
		"--dhcp-hostsdir=" + p.Hosts,
		"--dhcp-range=" + first.String() + ",static," + mask + "," + leaseTime,
		"--log-facility=" + p.Log,
	}
	if cfg.Internet.IPv6.Prefix != "" {
		v6, _, err := InternetIPv6Prefix(cfg)
		if err != nil {
			return nil, err
		}
		args = append(args,
			"--listen-address="+v6.Addr().String(),
			"--enable-ra",
			"--dhcp-range=::,constructor:"+br+",ra-stateless,ra-names,64,"+leaseTime,
		)
		dns := "[::]"
		if ns := cfg.Internet.IPv6.Nameservers; len(ns) > 0 {
			parts := make([]string, len(ns))
			for i, n := range ns {
				parts[i] = "[" + n + "]"
			}
			dns = strings.Join(parts, ",")
		}
		args = append(args, "--dhcp-option=option6:dns-server,"+dns)
	}
	return args, nil
}

// hostsLine is the static lease of one container: MAC, IPv4, IPv6. The
// file is named after the container; the line names no host, so dnsmasq
// tells no container its neighbours' names (--dhcp-ignore-names: nor the
// names they send). A container learns the names of those it may reach
// from the hosts file the tool keeps for it (network.allowFrom).
func hostsLine(mac string, ipv4, ipv6 netip.Addr) string {
	parts := []string{mac}
	if ipv4.IsValid() {
		parts = append(parts, ipv4.String())
	}
	if ipv6.IsValid() {
		parts = append(parts, "["+ipv6.String()+"]")
	}
	return strings.Join(parts, ",") + "\n"
}

// dhcpServer runs and signals the dnsmasq of one bridge. dnsmasqProc is the
// real one, fakeDHCP (fake_test.go) the one for tests.
type dhcpServer interface {
	// start runs dnsmasq with args, detached, and records its pid.
	start(p dnsmasqPaths, args []string) error
	// pid is the pid of the running dnsmasq of p, 0 when none runs.
	pid(p dnsmasqPaths) (int, error)
	signal(pid int, sig syscall.Signal) error
}

type dnsmasqProc struct{}

func (dnsmasqProc) start(p dnsmasqPaths, args []string) error {
	logf, err := os.OpenFile(p.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	startAt, _ := logf.Seek(0, 2)
	cmd := exec.Command(dnsmasqBinary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", dnsmasqBinary, err)
	}
	done := make(chan error, 1)
	// Reap the child whenever it exits (it outlives a CLI run).
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("%w (%v): %s", ErrDnsmasqDied, err, logTail(p.Log, startAt))
	case <-time.After(dnsmasqStartCheck):
	}
	pid := strconv.Itoa(cmd.Process.Pid) + "\n"
	if err := atomicfile.WriteFile(p.Pid, []byte(pid), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// logTail is what dnsmasq wrote since offset, trimmed to one line-ish.
func logTail(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return "no log"
	}
	s := strings.TrimSpace(string(b[offset:]))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	if s == "" {
		return "empty log"
	}
	return strings.ReplaceAll(s, "\n", "; ")
}

func (dnsmasqProc) pid(p dnsmasqPaths) (int, error) {
	b, err := os.ReadFile(p.Pid)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, nil
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return 0, nil // gone
	}
	if !isOurDnsmasq(cmdline, p) {
		return 0, nil // pid reused by another process
	}
	return pid, nil
}

// isOurDnsmasq checks a /proc/<pid>/cmdline against the dnsmasq of p.
func isOurDnsmasq(cmdline []byte, p dnsmasqPaths) bool {
	argv := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	if len(argv) == 0 || filepath.Base(string(argv[0])) != filepath.Base(dnsmasqBinary) {
		return false
	}
	want := []byte("--conf-file=" + p.Conf)
	for _, a := range argv[1:] {
		if bytes.Equal(a, want) {
			return true
		}
	}
	return false
}

func (dnsmasqProc) signal(pid int, sig syscall.Signal) error {
	err := syscall.Kill(pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// ensureDnsmasq starts the internet bridge's dnsmasq unless it runs. It
// prepares its directory, empty conf file and hosts directory first.
func (h *host) ensureDnsmasq() error {
	p := pathsFor(h.cfg, h.cfg.Internet.Bridge)
	pid, err := h.dns.pid(p)
	if err != nil {
		return fmt.Errorf("dnsmasq %s: %w", h.cfg.Internet.Bridge, err)
	}
	if pid != 0 {
		return nil
	}
	args, err := dnsmasqArgs(h.cfg)
	if err != nil {
		return err
	}
	if err := prepareDnsmasqDir(p); err != nil {
		return fmt.Errorf("dnsmasq %s: %w", h.cfg.Internet.Bridge, err)
	}
	if err := h.dns.start(p, args); err != nil {
		return fmt.Errorf("dnsmasq %s: %w", h.cfg.Internet.Bridge, err)
	}
	return nil
}

func prepareDnsmasqDir(p dnsmasqPaths) error {
	if err := os.MkdirAll(p.Hosts, 0o755); err != nil {
		return err
	}
	// dnsmasq drops root privileges and rereads the hosts directory as
	// its own user, which must be able to reach it.
	for _, d := range []string{p.Dir, p.Hosts} {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	if err := searchable(p.Hosts); err != nil {
		return err
	}
	if _, err := os.Stat(p.Conf); errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.WriteFile(p.Conf, []byte("# kept empty: keeps /etc/dnsmasq.conf out\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// searchable checks that every parent of dir lets other users through.
func searchable(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by other users (mode %v); dnsmasq runs unprivileged and must read %s: chmod o+x it", d, st.Mode().Perm(), dir)
		}
		if d == "/" {
			return nil
		}
	}
}

// stopDnsmasq terminates the dnsmasq of p if it runs and waits for it.
func (h *host) stopDnsmasq(p dnsmasqPaths) error {
	pid, err := h.dns.pid(p)
	if err != nil {
		return err
	}
	if pid == 0 {
		return nil
	}
	if err := h.dns.signal(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	for i := 0; i < 50; i++ {
		if p, _ := h.dns.pid(p); p == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.dns.signal(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill pid %d: %w", pid, err)
	}
	return nil
}

// AddLease writes the static lease of container name on the internet
// bridge (one hosts file per container) and tells a running dnsmasq.
func AddLease(cfg hostconfig.Config, name string, mac string, ipv4 netip.Addr, ipv6 netip.Addr) error {
	return newFilesHost(cfg).addLease(name, mac, ipv4, ipv6)
}

// RemoveLease deletes the static lease of container name; a missing one is
// not an error.
func RemoveLease(cfg hostconfig.Config, name string) error {
	return newFilesHost(cfg).removeLease(name)
}

func (h *host) addLease(name, mac string, ipv4, ipv6 netip.Addr) error {
	if err := records.ValidateName(name); err != nil {
		return err
	}
	if _, err := net.ParseMAC(mac); err != nil {
		return fmt.Errorf("container %q: lease: mac %q: %w", name, mac, err)
	}
	p := pathsFor(h.cfg, h.cfg.Internet.Bridge)
	if err := prepareDnsmasqDir(p); err != nil {
		return fmt.Errorf("container %q: lease: %w", name, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(p.Hosts, name), []byte(hostsLine(mac, ipv4, ipv6)), 0o644); err != nil {
		return fmt.Errorf("container %q: write lease: %w", name, err)
	}
	if err := h.reloadDnsmasq(p); err != nil {
		return fmt.Errorf("container %q: lease: %w", name, err)
	}
	return nil
}

func (h *host) removeLease(name string) error {
	if err := records.ValidateName(name); err != nil {
		return err
	}
	p := pathsFor(h.cfg, h.cfg.Internet.Bridge)
	err := os.Remove(filepath.Join(p.Hosts, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("container %q: remove lease: %w", name, err)
	}
	if err := h.reloadDnsmasq(p); err != nil {
		return fmt.Errorf("container %q: remove lease: %w", name, err)
	}
	return nil
}

// reloadDnsmasq sends SIGHUP to a running dnsmasq so it rereads the hosts
// directory; without one there is nothing to do.
func (h *host) reloadDnsmasq(p dnsmasqPaths) error {
	pid, err := h.dns.pid(p)
	if err != nil || pid == 0 {
		return err
	}
	if err := h.dns.signal(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("dnsmasq pid %d: reload: %w", pid, err)
	}
	return nil
}
