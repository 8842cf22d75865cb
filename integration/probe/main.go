// Command probe is the integration tests' network tool, built statically so
// it also runs inside busybox containers (bind-mounted there):
//
//	probe serve tcp|udp PORT   answer every connection or datagram with
//	                           "peer=<source address>"
//	probe dial tcp|udp HOST:PORT
//	                           send one line, print the answer; exit 1
//	                           when none comes within 3 seconds
//	probe tiocsti TEXT         push TEXT into the input of the terminal on
//	                           fds 0, 1, 2 and /dev/tty (ioctl TIOCSTI, a
//	                           byte at a time); print one line per target,
//	                           "fd0 ok" or "fd0 <error>"
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "tiocsti" {
		tiocsti(os.Args[2])
		return
	}
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: probe serve tcp|udp PORT | probe dial tcp|udp HOST:PORT")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2], os.Args[3])
	case "dial":
		err = dial(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func serve(proto, port string) error {
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", ":"+port)
		if err != nil {
			return err
		}
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return err
			}
			pc.WriteTo([]byte("peer="+from.(*net.UDPAddr).IP.String()+"\n"), from)
		}
	}
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		fmt.Fprintf(c, "peer=%s\n", c.RemoteAddr().(*net.TCPAddr).IP)
		c.Close()
	}
}

func dial(proto, addr string) error {
	c, err := net.DialTimeout(proto, addr, 3*time.Second)
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
