package main

import (
	"errors"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/records"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "run a command in a container and exit with its status",
	ArgsUsage: "NAME [-t|-T] [--user UID[:GID]] [--cwd DIR] [--env K=V]... [--clear-env] -- CMD [ARG...]",
	Description: "CMD runs as root in / with PATH (the guest's system profile first), HOME=/root,\n" +
		"USER=root, LOGNAME=root and the caller's TERM; another --user gets HOME=/ and no USER\n" +
		"or LOGNAME. --env adds or replaces variables, --clear-env starts from none. SIGTERM,\n" +
		"SIGINT and SIGHUP sent to run reach CMD. A CMD that does not exist exits 127 with a message.",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "run CMD on a pty even when stdin is not a terminal"},
		&cli.BoolFlag{Name: "no-tty", Aliases: []string{"T"}, Usage: "run CMD with pipes even when stdin is a terminal"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run CMD as `UID[:GID]` inside the container (default 0:0; GID defaults to UID)"},
		&cli.StringFlag{Name: "cwd", Usage: "run CMD in the absolute folder `DIR` (default /)"},
		&cli.StringSliceFlag{Name: "env", Usage: "set `KEY=VALUE` for CMD (repeatable)"},
		&cli.BoolFlag{Name: "clear-env", Usage: "start CMD with no variables but the --env ones"},
	},
	Action: func(c *cli.Context) error {
		args := c.Args().Slice()
		if len(args) > 1 && args[1] == "--" {
			args = append(args[:1], args[2:]...)
		}
		if len(args) < 2 {
			return usagef("run: no command given (usage: nixcloud-container run NAME -- CMD [ARG...])")
		}
		if err := records.ValidateName(args[0]); err != nil {
			return usagef("run: %v", err)
		}
		mode := containers.TerminalAuto
		switch {
		case c.Bool("tty") && c.Bool("no-tty"):
			return usagef("run: -t and -T exclude each other")
		case c.Bool("tty"):
			mode = containers.TerminalOn
		case c.Bool("no-tty"):
			mode = containers.TerminalOff
		}
		opts := containers.RunOptions{Cwd: c.String("cwd"), Env: c.StringSlice("env"), ClearEnv: c.Bool("clear-env")}
		if c.IsSet("user") {
			var err error
			if opts.UID, opts.GID, err = containers.ParseUser(c.String("user")); err != nil {
				return usagef("run: %v", err)
			}
		}
		if c.IsSet("cwd") && (opts.Cwd == "" || opts.Cwd[0] != '/') {
			return usagef("run: --cwd %q: want an absolute folder", opts.Cwd)
		}
		for _, e := range opts.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				return usagef("run: --env %q: want KEY=VALUE", e)
			}
		}
		m, err := manager(c)
		if err != nil {
			return err
		}
		code, err := m.RunAs(args[0], args[1:], containers.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Terminal: mode}, opts)
		if errors.Is(err, containers.ErrCommandNotFound) {
			return cli.Exit(oneLine(err.Error()), code)
		}
		if err != nil {
			return err
		}
		return exitStatus(code)
	},
}

var loginCommand = &cli.Command{
	Name:      "login",
	Aliases:   []string{"attach"},
	Usage:     "open an interactive root shell in a container",
	ArgsUsage: "NAME",
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		code, err := m.Login(name)
		if err != nil {
			return err
		}
		return exitStatus(code)
	},
}

// exitStatus passes a command's status on as ours, without a message.
func exitStatus(code int) error {
	if code == 0 {
		return nil
	}
	return cli.Exit("", code)
}
