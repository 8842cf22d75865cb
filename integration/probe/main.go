// Command probe is the integration tests' network tool, built statically so
// it also runs inside busybox containers (bind-mounted there):
//
//	probe serve tcp|udp [ADDR:]PORT [TAG]
//	                           answer every connection or datagram with
//	                           "peer=<source address>" ("TAG peer=..."
//	                           with a tag), and print the same on stdout
//	probe dial tcp|udp HOST:PORT [FROM]
//	                           send one line (from the local address
//	                           FROM, or FROM's port with ADDR:PORT or
//	                           :PORT), print the answer; exit 1 when none
//	                           comes within 3 seconds
//	probe syscall open_by_handle_at
//	                           call it with a NULL handle and print the
//	                           errno's name (EPERM when seccomp blocks it)
//	probe na IFACE TARGET [dstopts]
//	                           send an unsolicited IPv6 neighbour
//	                           advertisement (override) claiming TARGET for
//	                           IFACE's MAC to all nodes, with dstopts behind
//	                           a destination options header
//	probe tiocsti TEXT         push TEXT into the input of the terminal on
//	                           fds 0, 1, 2 and /dev/tty (ioctl TIOCSTI, a
//	                           byte at a time); print one line per target,
//	                           "fd0 ok" or "fd0 <error>"
//	probe setcap FILE          give FILE the file capability cap_net_raw+p
//	                           (as NixOS' security.wrappers does for ping)
//	                           and read it back
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "syscall" {
		os.Exit(blockedSyscall(os.Args[2]))
	}
	if len(os.Args) == 3 && os.Args[1] == "tiocsti" {
		tiocsti(os.Args[2])
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "setcap" {
		if err := setcap(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) >= 4 && os.Args[1] == "na" {
		if err := neighbourAdvert(os.Args[2], os.Args[3], len(os.Args) == 5 && os.Args[4] == "dstopts"); err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 4 || len(os.Args) > 5 {
		fmt.Fprintln(os.Stderr, "usage: probe serve tcp|udp [ADDR:]PORT [TAG] | probe dial tcp|udp HOST:PORT [FROM] | probe syscall NAME | probe tiocsti TEXT | probe setcap FILE | probe na IFACE TARGET [dstopts]")
		os.Exit(2)
	}
	opt := ""
	if len(os.Args) == 5 {
		opt = os.Args[4]
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2], os.Args[3], opt)
	case "dial":
		err = dial(os.Args[2], os.Args[3], opt)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func serve(proto, addr, tag string) error {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	if tag != "" {
		tag += " "
	}
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return err
			}
			line := tag + "peer=" + from.(*net.UDPAddr).IP.String() + "\n"
			os.Stdout.WriteString(line)
			pc.WriteTo([]byte(line), from)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%speer=%s\n", tag, c.RemoteAddr().(*net.TCPAddr).IP)
		os.Stdout.WriteString(line)
		c.Write([]byte(line))
		c.Close()
	}
}

func dial(proto, addr, from string) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	if from != "" {
		port := 0
		if h, p, err := net.SplitHostPort(from); err == nil {
			if port, err = strconv.Atoi(p); err != nil {
				return fmt.Errorf("bad source port %q", from)
			}
			from = h
		}
		ip := net.ParseIP(from)
		if ip == nil && from != "" {
			return fmt.Errorf("bad source address %q", from)
		}
		if proto == "udp" {
			d.LocalAddr = &net.UDPAddr{IP: ip, Port: port}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: ip, Port: port}
		}
	}
	c, err := d.Dial(proto, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	fmt.Print(line)
	return nil
}

// blockedSyscall calls open_by_handle_at(-1, NULL, 0) and prints the errno.
// LXC's default seccomp list (common.seccomp) answers EPERM; without it
// the kernel reads the (NULL) handle before it checks any capability and
// answers EFAULT, for root and for an unprivileged user alike (checked on
// Linux 6.18, also inside `unshare -Ur`).
func blockedSyscall(name string) int {
	if name != "open_by_handle_at" {
		fmt.Fprintln(os.Stderr, "probe: only open_by_handle_at is known")
		return 2
	}
	// The standard library names the number only on some architectures.
	nr, ok := map[string]uintptr{"amd64": 304, "arm64": 265, "386": 342}[runtime.GOARCH]
	if !ok {
		fmt.Fprintln(os.Stderr, "probe: open_by_handle_at: unknown on", runtime.GOARCH)
		return 2
	}
	_, _, errno := syscall.Syscall(nr, ^uintptr(0), 0, 0)
	switch errno {
	case 0:
		fmt.Println("0")
	case syscall.EPERM:
		fmt.Println("EPERM")
	case syscall.EFAULT:
		fmt.Println("EFAULT")
	default:
		fmt.Println(int(errno))
	}
	return 0
}

// tiocsti tries to type text into the terminal behind each standard
// descriptor and /dev/tty, as an attacker in a container would.
func tiocsti(text string) {
	try := func(fd int) error {
		for i := 0; i < len(text); i++ {
			b := text[i]
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCSTI, uintptr(unsafe.Pointer(&b))); e != 0 {
				return e
			}
		}
		return nil
	}
	for fd := 0; fd <= 2; fd++ {
		report(fmt.Sprintf("fd%d", fd), try(fd))
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err == nil {
		err = try(int(tty.Fd()))
		tty.Close()
	}
	report("/dev/tty", err)
}

func report(target string, err error) {
	if err != nil {
		fmt.Printf("%s %v\n", target, err)
		return
	}
	fmt.Printf("%s ok\n", target)
}

// neighbourAdvert sends an unsolicited neighbour advertisement with the
// override flag to ff02::1 on ifname, claiming target for the interface's
// MAC, as an attacker taking over a neighbour's IPv6 address would. With
// dstopts a destination options header (an unknown option, skipped by the
// receiver) stands before the ICMPv6 header, its bytes shaped so that a
// filter reading the target at a fixed offset sees a link-local address.
func neighbourAdvert(ifname, target string, dstopts bool) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	tgt := net.ParseIP(target).To16()
	if tgt == nil {
		return fmt.Errorf("bad target %q", target)
	}
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_RAW, syscall.IPPROTO_ICMPV6)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_HOPS, 255); err != nil {
		return err
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_IF, ifi.Index); err != nil {
		return err
	}
	if dstopts {
		// 16 bytes: next header (set by the kernel), length 1 (2 units of
		// 8 bytes), option 0x1e (skip if unknown) with 12 bytes of data.
		opts := []byte{0, 1, 0x1e, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		opts[8], opts[9] = 0xfe, 0x80 // 48 bytes into the packet
		const ipv6Dstopts = 59        // IPV6_DSTOPTS
		if err := syscall.SetsockoptString(fd, syscall.IPPROTO_IPV6, ipv6Dstopts, string(opts)); err != nil {
			return fmt.Errorf("destination options: %w", err)
		}
	}
	// Type 136, code 0, checksum (the kernel's), flags: override.
	msg := []byte{136, 0, 0, 0, 0x20, 0, 0, 0}
	msg = append(msg, tgt...)
	msg = append(msg, 2, 1) // target link-layer address option
	msg = append(msg, ifi.HardwareAddr...)
	to := &syscall.SockaddrInet6{ZoneId: uint32(ifi.Index)}
	copy(to.Addr[:], net.ParseIP("ff02::1").To16())
	for i := 0; i < 3; i++ {
		if err := syscall.Sendto(fd, msg, 0, to); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// setcap writes a version 2 security.capability attribute (the kernel
// stores it as version 3, with the namespace's root, inside a user
// namespace) permitting CAP_NET_RAW, then reads the attribute back.
func setcap(file string) error {
	const capNetRaw = 13
	var v [20]byte
	binary.LittleEndian.PutUint32(v[0:], 0x02000000) // VFS_CAP_REVISION_2
	binary.LittleEndian.PutUint32(v[4:], 1<<capNetRaw)
	if err := syscall.Setxattr(file, "security.capability", v[:], 0); err != nil {
		return fmt.Errorf("set capability of %s: %w", file, err)
	}
	got := make([]byte, 64)
	n, err := syscall.Getxattr(file, "security.capability", got)
	if err != nil {
		return fmt.Errorf("read capability of %s: %w", file, err)
	}
	if n < 8 || binary.LittleEndian.Uint32(got[4:])&(1<<capNetRaw) == 0 {
		return fmt.Errorf("capability of %s reads back as %x", file, got[:n])
	}
	fmt.Printf("%s cap_net_raw+p\n", file)
	return nil
}
