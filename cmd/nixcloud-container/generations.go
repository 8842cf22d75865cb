package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/records"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "build a new generation (from FILE, default the recorded file) and activate it",
	ArgsUsage: "NAME [FILE]",
	Flags:     []cli.Flag{nixArgsFlag, lxcArgsFlag, dryRunFlag, jsonFlag},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 2); err != nil {
			return err
		}
		name := c.Args().Get(0)
		if err := records.ValidateName(name); err != nil {
			return usagef("update: %v", err)
		}
		m, err := manager(c)
		if err != nil {
			return err
		}
		if m.NixArgs, err = nixArgs(c); err != nil {
			return err
		}
		var lxcArgs []string // nil: keep the recorded -l items
		if c.IsSet("lxc") {
			lxcArgs = c.StringSlice("lxc")
		}
		if c.Bool("dry-run") {
			return printPlan(c, m, name, lxcArgs)
		}
		if c.Bool("json") {
			return usagef("update: --json goes with --dry-run")
		}
		res, err := m.Update(c.Context, name, c.Args().Get(1), lxcArgs)
		return report(c, name, res, err)
	},
}

// report prints what a generation change did.
func report(c *cli.Context, name string, res containers.Result, err error) error {
	if err != nil {
		return err
	}
	w := c.App.ErrWriter
	if !res.Added {
		fmt.Fprintf(w, "container %q: the build equals generation %d; no new generation\n", name, res.Generation)
		if res.Activation == containers.Restarted {
			fmt.Fprintf(w, "container %q: restarted for the new -l items\n", name)
		}
		return nil
	}
	fmt.Fprintf(w, "container %q: generation %d: %s\n", name, res.Generation, res.Activation)
	if res.Warning != "" {
		fmt.Fprintf(w, "warning: container %q: %s\n", name, res.Warning)
	}
	return nil
}

var listGenerationsCommand = &cli.Command{
	Name:      "list-generations",
	Usage:     "list a container's generations",
	ArgsUsage: "NAME",
	Flags:     []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		gens, err := m.Generations(name)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			if gens == nil {
				gens = []generations.Generation{}
			}
			return printJSON(c, gens)
		}
		_, err = fmt.Fprint(c.App.Writer, generations.FormatList(gens))
		return err
	},
}

var switchGenerationCommand = &cli.Command{
	Name:      "switch-generation",
	Usage:     "make generation GEN current and activate it",
	ArgsUsage: "NAME GEN",
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 2, 2); err != nil {
			return err
		}
		name := c.Args().Get(0)
		if err := records.ValidateName(name); err != nil {
			return usagef("switch-generation: %v", err)
		}
		n, err := generations.ParseGenNumber(c.Args().Get(1))
		if err != nil {
			return usagef("switch-generation: %v", err)
		}
		m, err := manager(c)
		if err != nil {
			return err
		}
		res, err := m.SwitchGeneration(c.Context, name, n)
		return report(c, name, res, err)
	},
}

var rollbackCommand = &cli.Command{
	Name:      "rollback",
	Usage:     "make the generation before the current one current and activate it",
	ArgsUsage: "NAME",
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		res, err := m.Rollback(c.Context, name)
		return report(c, name, res, err)
	},
}

var deleteGenerationsCommand = &cli.Command{
	Name:      "delete-generations",
	Usage:     "delete generations (numbers, old, +N, Nd); never the current one",
	ArgsUsage: "NAME GEN...",
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 2, -1); err != nil {
			return err
		}
		name := c.Args().Get(0)
		if err := records.ValidateName(name); err != nil {
			return usagef("delete-generations: %v", err)
		}
		specs := c.Args().Slice()[1:]
		for _, s := range specs {
			if _, err := generations.ParseGenSpec(s); err != nil {
				return usagef("delete-generations: %v", err)
			}
		}
		m, err := manager(c)
		if err != nil {
			return err
		}
		_, err = m.DeleteGenerations(c.Context, name, specs)
		return err
	},
}
