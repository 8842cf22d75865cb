package containers

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/nixcloud/nixcloud-container/lxc"
)

// RunOptions say who runs a command in a container, where, and with which
// environment. The zero value is root in / with the default environment:
// PATH (the guest's system profile first), HOME=/root, USER=root,
// LOGNAME=root and the caller's TERM.
type RunOptions struct {
	// UID and GID are ids inside the container (0: root). Another user
	// gets HOME=/ and no USER or LOGNAME: the tool does not read the
	// guest's /etc/passwd.
	UID, GID int
	// Cwd is the command's working folder, absolute ("": /).
	Cwd string
	// Env are KEY=VALUE pairs set on top of the default environment
	// (a later one wins).
	Env []string
	// ClearEnv starts from an empty environment: the command gets Env
	// only (without PATH, liblxc looks in /usr/bin and /bin).
	ClearEnv bool
}

// check refuses options the container cannot honour; size is the number
// of ids the container has.
func (o RunOptions) check(size uint32) error {
	for _, id := range []int{o.UID, o.GID} {
		if id < 0 || (size > 0 && uint64(id) >= uint64(size)) {
			return fmt.Errorf("user id %d: outside the container's ids 0-%d", id, int64(size)-1)
		}
	}
	if o.Cwd != "" && !path.IsAbs(o.Cwd) {
		return fmt.Errorf("working folder %q: must be absolute", o.Cwd)
	}
	for _, e := range o.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.ContainsAny(k, "\x00") {
			return fmt.Errorf("environment %q: want KEY=VALUE", e)
		}
	}
	return nil
}

// env is the command's environment.
func (o RunOptions) env(term string) []string {
	var env []string
	if !o.ClearEnv {
		env = guestEnv(term)
		if o.UID != 0 {
			env = slices.DeleteFunc(env, func(e string) bool {
				return strings.HasPrefix(e, "USER=") || strings.HasPrefix(e, "LOGNAME=")
			})
			for i, e := range env {
				if strings.HasPrefix(e, "HOME=") {
					env[i] = "HOME=/"
				}
			}
		}
	}
	for _, e := range o.Env {
		k, _, _ := strings.Cut(e, "=")
		env = slices.DeleteFunc(env, func(old string) bool { return strings.HasPrefix(old, k+"=") })
		env = append(env, e)
	}
	return env
}

func (o RunOptions) as() lxc.As { return lxc.As{UID: o.UID, GID: o.GID, Cwd: o.Cwd} }

// ParseUser parses --user UID[:GID] (GID defaults to UID).
func ParseUser(s string) (uid, gid int, err error) {
	u, g, hasGID := strings.Cut(s, ":")
	if uid, err = parseID(u); err != nil {
		return 0, 0, err
	}
	gid = uid
	if hasGID {
		if gid, err = parseID(g); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

func parseID(s string) (int, error) {
	n := 0
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("--user: want numeric UID[:GID] (ids inside the container)")
	}
	fmt.Sscan(s, &n)
	return n, nil
}

// ErrCommandNotFound means the command run in a container does not exist
// there (it exited 127).
var ErrCommandNotFound = lxc.ErrCommandNotFound
