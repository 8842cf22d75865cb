package containers

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nixcloud/nixcloud-container/lxc"
)

// switchTail is how much of switch-to-configuration's output is kept to
// read its verdict from: the lines that matter come last.
const switchTail = 64 << 10

// switchDrain bounds the wait for the output pipe to close after
// switch-to-configuration exited: a unit it started may have inherited it.
const switchDrain = 2 * time.Second

// switchInPlace runs `switch-to-configuration switch` in the running
// container, streams its output to Progress and returns its exit code and
// the tail of its output.
func (m *Manager) switchInPlace(name string) (int, string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, "", wrap(name, "switch in place", err)
	}
	defer r.Close()
	tail := &tailBuffer{max: switchTail}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(io.MultiWriter(&plainWriter{w: m.Progress}, tail), r)
	}()
	code, err := m.Run(name, []string{lxc.GuestProfileDir + "/system/bin/switch-to-configuration", "switch"},
		Stdio{Stdin: devNull(), Stdout: w, Stderr: w, Terminal: TerminalOff})
	w.Close()
	r.SetReadDeadline(time.Now().Add(switchDrain))
	wg.Wait()
	return code, tail.String(), err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// switchVerdict is what an exit of switch-to-configuration means, as
// nixpkgs' Perl and Rust (-ng) implementations define their codes:
//
//	0    switched
//	2    the activation script failed, units were switched: warn
//	4    switched, some units (or a user's activation) failed: warn
//	100  the new system has another init interface: nothing was done
//
// and, since 25.11, a refusal by the pre-switch checks ("Pre-switch checks
// failed", exit 1): nothing was done either. Those two restart the
// container into the new generation. Any other code fails the switch.
type switchVerdict struct {
	Warning string
	Restart bool
	Failed  bool
}

func readSwitch(code int, out string) switchVerdict {
	var snippets, units, users []string
	refused := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), switchTail)
	for sc.Scan() {
		// The guest writes this output: keep its terminal controls out
		// of the warning the admin's terminal prints.
		line := strings.TrimSpace(strings.Map(noControl, sc.Text()))
		switch {
		case strings.HasPrefix(line, "Activation script snippet '"):
			snippets = append(snippets, line)
		case strings.HasPrefix(line, "warning: the following units failed: "):
			for _, u := range strings.Split(strings.TrimPrefix(line, "warning: the following units failed: "), ",") {
				if u = strings.TrimSpace(u); u != "" {
					units = append(units, u)
				}
			}
		case strings.HasPrefix(line, "warning: user activation for ") && strings.HasSuffix(line, " failed"):
			users = append(users, strings.TrimSuffix(strings.TrimPrefix(line, "warning: user activation for "), " failed"))
		case line == "Pre-switch checks failed":
			refused = true
		}
	}
	var why []string
	if len(snippets) > 0 {
		why = append(why, strings.Join(snippets, "; "))
	}
	if len(units) > 0 {
		why = append(why, "failed units: "+strings.Join(units, ", "))
	}
	if len(users) > 0 {
		why = append(why, "user activation failed for "+strings.Join(users, ", "))
	}
	detail := func(fallback string) string {
		if len(why) == 0 {
			return fallback
		}
		return strings.Join(why, "; ")
	}
	switch {
	case code == 0:
		return switchVerdict{}
	case code == 2:
		return switchVerdict{Warning: fmt.Sprintf("switch-to-configuration exited 2 (the activation script failed; units were switched): %s",
			detail("see the output above"))}
	case code == 4:
		return switchVerdict{Warning: fmt.Sprintf("switch-to-configuration exited 4 (switched; %s)",
			detail("some units failed: see 'systemctl --failed' in the container"))}
	case code == 100:
		return switchVerdict{Restart: true, Warning: "switch-to-configuration exited 100 (the new system cannot switch in place; nothing was switched): restarted into it"}
	case refused:
		return switchVerdict{Restart: true, Warning: fmt.Sprintf("switch-to-configuration exited %d (its pre-switch checks refused to switch in place; nothing was switched): restarted into it", code)}
	}
	return switchVerdict{Failed: true}
}

// plainWriter passes text on without terminal controls: the guest writes
// what switch-to-configuration prints, and it goes to the admin's
// terminal. Newlines and tabs stay. A UTF-8 sequence cut by a write is
// kept for the next one.
type plainWriter struct {
	w    io.Writer
	rest []byte
	// dropCR drops carriage returns (a console's line ends are CR LF)
	// rather than replacing them.
	dropCR bool
}

func (p *plainWriter) Write(b []byte) (int, error) {
	buf := append(p.rest, b...)
	cut := len(buf)
	// Hold back an incomplete sequence at the end (at most 3 bytes).
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-3; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				cut = i
			}
			break
		}
	}
	p.rest = append([]byte(nil), buf[cut:]...)
	out := []byte(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r == '\r' && p.dropCR {
			return -1
		}
		return noControl(r)
	}, string(buf[:cut])))
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// noControl replaces control characters (C0, DEL, C1) with '?'.
func noControl(r rune) rune {
	if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
		return '?'
	}
	return r
}
