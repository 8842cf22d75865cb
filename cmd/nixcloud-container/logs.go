package main

import (
	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
)

var logsCommand = &cli.Command{
	Name:      "logs",
	Usage:     "print a container's console log (or LXC's log with --lxc); -f follows it",
	ArgsUsage: "NAME [-f] [--lxc]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing what is appended, as tail -f (end with Ctrl-c)"},
		&cli.BoolFlag{Name: "lxc", Usage: "LXC's own log of the container (start failures) instead of the console's"},
	},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		path, err := m.LogFile(name, c.Bool("lxc"))
		if err != nil {
			return err
		}
		if c.Bool("follow") {
			return containers.FollowLog(c.Context, path, c.App.Writer)
		}
		_, err = containers.PrintLog(path, 0, c.App.Writer)
		return err
	},
}
