// Package idmap hands out host uid/gid ranges to containers and keeps
// root's entries in /etc/subuid and /etc/subgid covering them.
package idmap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrOverlap means a range would overlap another user's subordinate ids.
var ErrOverlap = errors.New("overlaps another user's range")

// Range is a block of host ids: container id 0 is host id Start.
type Range struct {
	Start uint32
	Size  uint32
}

// End is one past the last id of the range.
func (r Range) End() uint64 { return uint64(r.Start) + uint64(r.Size) }

func (r Range) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End()-1) }

// ForSlot is the range of container slot k: with isolation every slot has
// its own block base+k*size, without it all share base.
func ForSlot(base, size uint32, isolated bool, slot int) (Range, error) {
	if slot < 0 {
		return Range{}, fmt.Errorf("idmap: negative slot %d", slot)
	}
	if !isolated {
		return Range{Start: base, Size: size}, nil
	}
	start := uint64(base) + uint64(slot)*uint64(size)
	if start+uint64(size) > 1<<32-1 {
		return Range{}, fmt.Errorf("idmap: slot %d is beyond the uid space (base %d, size %d)", slot, base, size)
	}
	return Range{Start: uint32(start), Size: size}, nil
}

// Entry is one line of /etc/subuid or /etc/subgid.
type Entry struct {
	User  string
	Range Range
}

// Parse reads subordinate id lines, skipping blanks and comments.
func Parse(data []byte) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want user:start:count, got %q", n, line)
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %d: bad numbers in %q", n, line)
		}
		out = append(out, Entry{User: f[0], Range: Range{Start: uint32(start), Size: uint32(count)}})
	}
	return out, sc.Err()
}

// covered reports whether the user's entries (together) cover r.
func covered(entries []Entry, isUser func(string) bool, r Range) bool {
	pos := uint64(r.Start)
	for progress := true; progress && pos < r.End(); {
		progress = false
		for _, e := range entries {
			if isUser(e.User) && uint64(e.Range.Start) <= pos && pos < e.Range.End() {
				pos = e.Range.End()
				progress = true
			}
		}
	}
	return pos >= r.End()
}

// Grant returns the content of a subordinate id file (/etc/subuid or
// /etc/subgid) that gives user (name, or numeric id uid) the range r. It
// appends one line when needed and refuses when r overlaps another user's
// entry; changed says whether the content differs from data.
func Grant(data []byte, user string, uid int, r Range) (out []byte, changed bool, err error) {
	entries, err := Parse(data)
	if err != nil {
		return nil, false, err
	}
	isUser := func(u string) bool { return u == user || u == strconv.Itoa(uid) }
	for _, e := range entries {
		if !isUser(e.User) && uint64(e.Range.Start) < r.End() && uint64(r.Start) < e.Range.End() {
			return nil, false, fmt.Errorf("range %s for %s %w %s (%s)", r, user, ErrOverlap, e.User, e.Range)
		}
	}
	if covered(entries, isUser, r) {
		return data, false, nil
	}
	out = append([]byte(nil), data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, fmt.Sprintf("%s:%d:%d\n", user, r.Start, r.Size)...)
	return out, true, nil
}

// Revoke removes the line that Grant added for user and r, if present, and
// reports whether the content changed.
func Revoke(data []byte, user string, r Range) ([]byte, bool) {
	line := fmt.Sprintf("%s:%d:%d", user, r.Start, r.Size)
	var out []byte
	changed := false
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimSpace(l) == line && !changed {
			changed = true
			continue
		}
		out = append(out, l...)
	}
	return out, changed
}
