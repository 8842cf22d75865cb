package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/records"
)

var dryRunFlag = &cli.BoolFlag{Name: "dry-run", Usage: "build and print what would change (nothing, the guest only, host-side settings, addresses), changing nothing"}

// printPlan is update --dry-run.
func printPlan(c *cli.Context, m *containers.Manager, name string, lxcArgs []string) error {
	p, err := m.PlanUpdate(c.Context, name, c.Args().Get(1), lxcArgs)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, p)
	}
	w := c.App.Writer
	switch {
	case p.Same && p.LXC == nil:
		fmt.Fprintf(w, "no change: the build equals generation %d\n", p.Current)
		return nil
	case p.Same:
		fmt.Fprintf(w, "no new generation (the build equals generation %d)\n", p.Current)
	case len(p.Settings) == 0 && len(p.Network) == 0 && p.LXC == nil:
		fmt.Fprintf(w, "guest only: a new generation after %d, same host-side settings\n", p.Current)
	default:
		fmt.Fprintf(w, "a new generation after %d\n", p.Current)
	}
	for _, ch := range p.Settings {
		fmt.Fprintf(w, "host-side setting %s\n", ch)
	}
	for _, ch := range p.Network {
		fmt.Fprintf(w, "network %s\n", ch)
	}
	if p.LXC != nil {
		fmt.Fprintf(w, "lxc items %s\n", p.LXC)
	}
	switch p.Activation {
	case containers.NotRunning:
		fmt.Fprintln(w, "the container is stopped: the new generation boots at its next start")
	case containers.Switched:
		fmt.Fprintln(w, "the running container would be switched in place (switch-to-configuration)")
	case containers.Restarted:
		fmt.Fprintf(w, "the running container would restart: %s\n", p.Why)
	}
	return nil
}

var diffCommand = &cli.Command{
	Name:      "diff",
	Usage:     "compare two generations: host-side settings key by key, and package versions of their closures",
	ArgsUsage: "NAME [GEN [GEN]]",
	Flags:     []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 3); err != nil {
			return err
		}
		name := c.Args().Get(0)
		if err := records.ValidateName(name); err != nil {
			return usagef("diff: %v", err)
		}
		var gens [2]int
		for i := 1; i < c.NArg(); i++ {
			n, err := generations.ParseGenNumber(c.Args().Get(i))
			if err != nil {
				return usagef("diff: %v", err)
			}
			gens[i-1] = n
		}
		from, to := gens[0], gens[1]
		m, err := manager(c)
		if err != nil {
			return err
		}
		d, err := m.DiffGenerations(c.Context, name, from, to)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c, d)
		}
		w := c.App.Writer
		fmt.Fprintf(w, "container %q: generation %d → %d\n", name, d.From, d.To)
		if len(d.Settings) == 0 && len(d.Packages) == 0 {
			fmt.Fprintln(w, "no differences")
		}
		for _, ch := range d.Settings {
			fmt.Fprintf(w, "host-side setting %s\n", ch)
		}
		for _, p := range d.Packages {
			fmt.Fprintf(w, "package %s\n", p)
		}
		return nil
	},
}
