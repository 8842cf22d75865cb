package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
)

var consoleCommand = &cli.Command{
	Name:      "console",
	Usage:     "attach to a running container's console (detach with " + containers.ConsoleDetach + ")",
	ArgsUsage: "NAME [--show-log]",
	Flags:     []cli.Flag{&cli.BoolFlag{Name: "show-log", Usage: "print the console log and exit"}},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		if c.Bool("show-log") {
			path, err := m.LogFile(name, false)
			if err != nil {
				return err
			}
			_, err = containers.PrintLog(path, 0, c.App.Writer)
			return err
		}
		return m.Console(name, os.Stdin, os.Stdout)
	},
}
