package main

import (
	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/records"
)

var nixArgsFlag = &cli.StringFlag{
	Name:    "nix-args",
	Aliases: []string{"n"},
	Usage:   "extra Nix arguments as one shell-quoted `STRING`, e.g. \"-I nixpkgs=/src/nixpkgs\"",
}

var lxcArgsFlag = &cli.StringSliceFlag{
	Name:    "lxc",
	Aliases: []string{"l"},
	Usage:   "extra raw LXC config item `KEY=VALUE` (repeatable; update replaces the recorded ones)",
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "build a container file into generation 1 and define the container",
	ArgsUsage: "NAME FILE",
	Flags:     []cli.Flag{nixArgsFlag, lxcArgsFlag, &cli.BoolFlag{Name: "start", Usage: "start the container once created"}},
	Action:    runCreate,
}

func runCreate(c *cli.Context) error {
	if err := checkArgs(c, 2, 2); err != nil {
		return err
	}
	if err := records.ValidateName(c.Args().Get(0)); err != nil {
		return usagef("create: %v", err)
	}
	m, err := manager(c)
	if err != nil {
		return err
	}
	if m.NixArgs, err = nixArgs(c); err != nil {
		return err
	}
	name, file := c.Args().Get(0), c.Args().Get(1)
	opts := containers.CreateOptions{LXCArgs: c.StringSlice("lxc"), Start: c.Bool("start")}
	if err := m.Create(c.Context, name, file, opts); err != nil {
		return err
	}
	_, err = c.App.ErrWriter.Write([]byte("created container " + name + "\n"))
	return err
}

// nixArgs splits -n; unset gives nil (keep the recorded ones), -n ""
// an empty list (clear them).
func nixArgs(c *cli.Context) ([]string, error) {
	if !c.IsSet("nix-args") {
		return nil, nil
	}
	args, err := generations.SplitArgs(c.String("nix-args"))
	if err != nil {
		return nil, usagef("%s: -n: %v", c.Command.Name, err)
	}
	if args == nil {
		args = []string{}
	}
	return args, nil
}
