package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"
)

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start a container (its current generation)",
	ArgsUsage: "NAME",
	Flags: []cli.Flag{&cli.BoolFlag{
		Name: "foreground", Aliases: []string{"F"}, Usage: "show the boot and stay on the container's console until it stops (Ctrl-a q detaches, leaving it running)",
	}},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		if c.Bool("foreground") {
			return m.StartForeground(c.Context, name, os.Stdin, os.Stdout)
		}
		return m.Start(c.Context, name)
	},
}

var timeoutFlag = &cli.DurationFlag{
	Name: "timeout", Aliases: []string{"t"}, Value: 30 * time.Second,
	Usage: "how long to wait for a clean shutdown before killing",
}

var stopCommand = &cli.Command{
	Name:      "stop",
	Usage:     "shut a container down cleanly, killing it after --timeout",
	ArgsUsage: "NAME",
	Flags:     []cli.Flag{timeoutFlag},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		if c.Duration("timeout") < 0 {
			return usagef("stop: --timeout must not be negative")
		}
		clean, err := m.Stop(c.Context, name, c.Duration("timeout"))
		if err == nil && !clean {
			fmt.Fprintf(c.App.ErrWriter, "container %q did not shut down within %s and was killed\n", name, c.Duration("timeout"))
		}
		return err
	},
}

var terminateCommand = &cli.Command{
	Name:      "terminate",
	Usage:     "kill a container now",
	ArgsUsage: "NAME",
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		return m.Terminate(c.Context, name)
	},
}

var restartCommand = &cli.Command{
	Name:      "restart",
	Usage:     "stop a container (if running) and start it",
	ArgsUsage: "NAME",
	Flags:     []cli.Flag{timeoutFlag},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		return m.Restart(c.Context, name, c.Duration("timeout"))
	},
}
