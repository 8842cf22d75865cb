package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
)

var applyCommand = &cli.Command{
	Name:      "apply",
	Usage:     "converge the containers a SPEC declares: create, update, start; stop (or --prune) dropped ones",
	ArgsUsage: "SPEC",
	Flags: []cli.Flag{
		nixArgsFlag,
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan, change nothing"},
		&cli.BoolFlag{Name: "prune", Usage: "destroy containers the SPEC no longer declares (default: stop and keep them)"},
	},
	Action: runApply,
}

func runApply(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	m, err := manager(c)
	if err != nil {
		return err
	}
	if m.NixArgs, err = nixArgs(c); err != nil {
		return err
	}
	changed := false
	err = m.Apply(c.Context, c.Args().First(), containers.ApplyOptions{DryRun: c.Bool("dry-run"), Prune: c.Bool("prune")},
		func(l containers.ApplyLine) {
			fmt.Fprintln(c.App.Writer, containers.FormatApplyLine(l))
			if l.Err != nil || !(strings.HasPrefix(l.What, "unchanged") || strings.HasPrefix(l.What, "kept")) {
				changed = true
			}
		})
	if errors.Is(err, containers.ErrApplyFailed) {
		return cli.Exit("", exitFailure) // each failure has its line already
	}
	if err == nil && !changed && !c.Bool("dry-run") {
		fmt.Fprintln(c.App.ErrWriter, "nixcloud-container: apply: nothing to change")
	}
	return err
}
