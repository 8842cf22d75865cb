package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

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
			out := []generationJSON{}
			for _, g := range gens {
				out = append(out, generationJSON{Generation: g.Number, Date: g.Date, StorePath: g.StorePath, Current: g.Current})
			}
			return printJSON(c, out)
		}
		_, err = fmt.Fprint(c.App.Writer, generations.FormatList(gens))
		return err
	},
}

// generationJSON is one generation of list-generations --json; the
// number is "generation" as in list --json.
type generationJSON struct {
	Generation int       `json:"generation"`
	Date       time.Time `json:"date"`
	StorePath  string    `json:"store_path"`
	Current    bool      `json:"current"`
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
		before, err := m.Generations(name)
		if err != nil {
			return err
		}
		if _, err = m.DeleteGenerations(c.Context, name, specs); err != nil {
			return err
		}
		after, err := m.Generations(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.ErrWriter, "container %q: %s\n", name, deletedReport(before, after, specs))
		return nil
	},
}

// deletedReport says which generations a delete-generations removed, or
// that its forms matched none.
func deletedReport(before, after []generations.Generation, specs []string) string {
	left := map[int]bool{}
	for _, g := range after {
		left[g.Number] = true
	}
	var gone []string
	for _, g := range before {
		if !left[g.Number] {
			gone = append(gone, strconv.Itoa(g.Number))
		}
	}
	if len(gone) == 0 {
		return fmt.Sprintf("no generation matched %s; nothing deleted", strings.Join(specs, " "))
	}
	word := "generation"
	if len(gone) > 1 {
		word = "generations"
	}
	return fmt.Sprintf("deleted %s %s", word, strings.Join(gone, ", "))
}
