package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/records"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "run a command in a container and exit with its status",
	ArgsUsage: "NAME [-t|-T] -- CMD [ARG...]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "run CMD on a pty even when stdin is not a terminal"},
		&cli.BoolFlag{Name: "no-tty", Aliases: []string{"T"}, Usage: "run CMD with pipes even when stdin is a terminal"},
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
		m, err := manager(c)
		if err != nil {
			return err
		}
		code, err := m.Run(args[0], args[1:], containers.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Terminal: mode})
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
