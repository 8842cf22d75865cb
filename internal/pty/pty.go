// Package pty gives a command run in a container a terminal of its own: a
// pseudo terminal allocated from the container's devpts instance, whose
// master side is relayed to the caller's terminal in raw mode. It also
// relays plain streams, so that a host terminal never has to be handed to
// a container.
package pty

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotTerminal means login was asked for without a terminal.
var ErrNotTerminal = errors.New("standard input is not a terminal")

// ErrNotPtmx means the devpts instance's ptmx is not the pty multiplexer
// device (major 5, minor 2) on a devpts file system.
var ErrNotPtmx = errors.New("not a devpts ptmx device")

// OpenIn allocates a new pty from the devpts instance whose mount is
// devpts (an O_PATH descriptor of its root, such as liblxc's devpts_fd).
// The master is non-blocking (for Relay); the slave is opened through the
// master (TIOCGPTPEER), never by path. ptmx is resolved beneath devpts
// without following any link or leaving that mount, and must be the
// multiplexer device of a devpts file system.
func OpenIn(devpts *os.File) (master, slave *os.File, err error) {
	fd, err := unix.Openat2(int(devpts.Fd()), "ptmx", &unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open ptmx: %w", err)
	}
	if err := checkPtmx(fd); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER takes the slave's open flags as its argument.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("open pty slave: %w", errno)
	}
	sfd := int(r)
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		unix.Close(sfd)
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	return os.NewFile(uintptr(fd), "ptmx"), os.NewFile(uintptr(sfd), fmt.Sprintf("/dev/pts/%d", n)), nil
}

func checkPtmx(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("open ptmx: %w", err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return fmt.Errorf("open ptmx: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 || fs.Type != unix.DEVPTS_SUPER_MAGIC {
		return fmt.Errorf("open ptmx: %w", ErrNotPtmx)
	}
	return nil
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Session relays a pty master to the caller: in → master, master → out.
type Session struct {
	in, out, master *os.File
	old             *unix.Termios // in's settings before raw mode, nil if unchanged
	winch           chan os.Signal
	output          *pump
	restoreOnce     sync.Once
}

// Relay starts relaying between in/out and master. When in is a terminal
// it is put into raw mode (undo it with Restore, always), and the pty
// takes in's window size, now and on every SIGWINCH; else out's size when
// out is a terminal. When in is not a terminal, its end of file becomes
// the pty's end-of-file character.
func Relay(in, out, master *os.File) (*Session, error) {
	s := &Session{in: in, out: out, master: master}
	sizeFrom := -1
	if IsTerminal(out) {
		sizeFrom = int(out.Fd())
	}
	if IsTerminal(in) {
		fd := int(in.Fd())
		sizeFrom = fd
		old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return nil, fmt.Errorf("terminal: %w", err)
		}
		raw := *old
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN] = 1
		raw.Cc[unix.VTIME] = 0
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
			return nil, fmt.Errorf("terminal raw mode: %w", err)
		}
		s.old = old
	}
	if sizeFrom >= 0 {
		resize := func() {
			if ws, err := unix.IoctlGetWinsize(sizeFrom, unix.TIOCGWINSZ); err == nil {
				unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
			}
		}
		resize()
		s.winch = make(chan os.Signal, 1)
		signal.Notify(s.winch, syscall.SIGWINCH)
		go func() {
			for range s.winch {
				resize()
			}
		}()
	}
	terminal := s.old != nil
	go func() {
		io.Copy(master, in)
		if !terminal {
			// End of input: the pty's end-of-file character (the
			// line discipline turns it into end of file for a reader
			// in canonical mode).
			master.Write([]byte{4})
		}
	}()
	s.output = startPump(out, master)
	return s, nil
}

// Restore puts the caller's terminal back as it was. It is safe to call
// more than once and from a deferred call.
func (s *Session) Restore() {
	s.restoreOnce.Do(func() {
		if s.winch != nil {
			signal.Stop(s.winch)
			close(s.winch)
		}
		if s.old != nil {
			unix.IoctlSetTermios(int(s.in.Fd()), unix.TCSETS, s.old)
		}
	})
}

// Finish copies what the pty still holds to out, stops relaying, closes
// the master and restores the terminal. Call it once the command has
// exited.
func (s *Session) Finish() {
	s.output.finish()
	s.master.Close()
	s.Restore()
}

// Pipe relays a stream through a pipe, so the command gets the pipe rather
// than the caller's descriptor (a terminal).
type Pipe struct {
	// Theirs is the end the command gets.
	Theirs *os.File
	ours   *os.File
	output *pump
}

// PipeFrom returns a pipe whose read end (Theirs) delivers what is read
// from r until its end of file. The copying never stops on its own before
// that; Close stops using it.
func PipeFrom(r io.Reader) (*Pipe, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	go func() {
		io.Copy(pw, r)
		pw.Close()
	}()
	return &Pipe{Theirs: pr}, nil
}

// PipeTo returns a pipe whose write end (Theirs) is copied to w.
func PipeTo(w io.Writer) (*Pipe, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	return &Pipe{Theirs: pw, ours: pr, output: startPump(w, pr)}, nil
}

// CloseTheirs closes the command's end in this process (call it once the
// command has it).
func (p *Pipe) CloseTheirs() { p.Theirs.Close() }

// Finish copies what the pipe still holds and stops.
func (p *Pipe) Finish() {
	if p.output != nil {
		p.output.finish()
		p.ours.Close()
	}
}

// pump copies src (a pollable descriptor) to dst until end of file, EIO (a
// pty without slave) or finish, which first copies what src holds then.
type pump struct {
	src  *os.File
	dst  io.Writer
	done chan struct{}
}

func startPump(dst io.Writer, src *os.File) *pump {
	p := &pump{src: src, dst: dst, done: make(chan struct{})}
	go p.run()
	return p
}

func (p *pump) run() {
	defer close(p.done)
	buf := make([]byte, 32*1024)
	for {
		n, err := p.src.Read(buf)
		if n > 0 {
			if _, werr := p.dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.drain(buf)
			return
		}
		if err != nil {
			return // io.EOF, or EIO: no slave left
		}
	}
}

// drain copies what src holds right now, without waiting for more.
func (p *pump) drain(buf []byte) {
	rc, err := p.src.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		for {
			// A non-blocking read of a pty master first flushes the
			// kernel's pending input work, so it sees all the slave
			// wrote before the command exited.
			n, err := unix.Read(int(fd), buf)
			if n <= 0 || err != nil {
				return
			}
			if _, err := p.dst.Write(buf[:n]); err != nil {
				return
			}
		}
	})
}

// finish wakes the copying loop (a read deadline in the past), lets it
// copy what is left and waits for it.
func (p *pump) finish() {
	p.src.SetReadDeadline(time.Now())
	<-p.done
}
