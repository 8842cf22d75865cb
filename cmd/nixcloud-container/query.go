package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/records"
)

// oneName checks for exactly one argument, a valid name, and builds the
// manager.
func oneName(c *cli.Context) (string, *containers.Manager, error) {
	if err := checkArgs(c, 1, 1); err != nil {
		return "", nil, err
	}
	name := c.Args().First()
	if err := records.ValidateName(name); err != nil {
		return "", nil, usagef("%s: %v", c.Command.Name, err)
	}
	m, err := manager(c)
	return name, m, err
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON"}

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list containers: name, state, addresses, generation, autostart",
	Flags: []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 0, 0); err != nil {
			return err
		}
		m, err := manager(c)
		if err != nil {
			return err
		}
		infos, err := m.List(func(bad error) {
			fmt.Fprintf(c.App.ErrWriter, "nixcloud-container: %s\n", oneLine(bad.Error()))
		})
		if err != nil && !errors.Is(err, containers.ErrUnreadable) {
			return err
		}
		// Each unreadable record has its line on stderr; the exit status
		// says some were left out.
		status := err
		if status != nil {
			status = cli.Exit("", exitFailure)
		}
		if c.Bool("json") {
			if err := printJSON(c, infos); err != nil {
				return err
			}
			return status
		}
		w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tSTATE\tADDRESSES\tGENERATION\tAUTOSTART")
		for _, i := range infos {
			addrs := "-"
			if len(i.Addresses) > 0 {
				addrs = fmt.Sprint(i.Addresses)
				addrs = addrs[1 : len(addrs)-1]
			}
			state := i.State
			if i.Interrupted != "" && i.State != "INTERRUPTED" {
				state += " (interrupted " + i.Interrupted + ")"
			} else if i.Interrupted != "" {
				state += " (" + i.Interrupted + ")"
			}
			if i.Dropped {
				state += " (dropped from SPEC)"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%v\n", i.Name, state, addrs, i.Generation, i.Autostart)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return status
	},
}

var showIPCommand = &cli.Command{
	Name:      "show-ip",
	Usage:     "print a container's addresses, primary IPv4 first",
	ArgsUsage: "NAME",
	Flags:     []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			rec, err := m.Store.Load(name)
			if err != nil {
				return err
			}
			return printJSON(c, addressesJSON(rec))
		}
		addrs, err := m.Addresses(name)
		if err != nil {
			return err
		}
		if len(addrs) == 0 {
			return fmt.Errorf("container %q: show-ip: the container has no address", name)
		}
		for _, a := range addrs {
			fmt.Fprintln(c.App.Writer, a)
		}
		return nil
	},
}

var existsCommand = &cli.Command{
	Name:      "exists",
	Usage:     "exit 0 if the container exists, 1 if not, 3 if that cannot be told",
	ArgsUsage: "NAME",
	Flags:     []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 1); err != nil {
			return err
		}
		name := c.Args().First()
		if err := records.ValidateName(name); err != nil {
			return usagef("exists: %v", err)
		}
		m, err := manager(c)
		if err != nil {
			return cannotTell{err}
		}
		ok, err := m.Exists(name)
		if err != nil {
			return cannotTell{err}
		}
		if c.Bool("json") {
			if err := printJSON(c, existsJSON{Name: name, Exists: ok}); err != nil {
				return err
			}
		}
		if !ok {
			return cli.Exit("", 1)
		}
		return nil
	},
}

type existsJSON struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
}

var stateCommand = &cli.Command{
	Name:      "state",
	Aliases:   []string{"status"},
	Usage:     "print the container's state (RUNNING, STOPPED, ...)",
	ArgsUsage: "NAME",
	Flags:     []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		st, err := m.State(name)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c, stateJSON{Name: name, State: st})
		}
		fmt.Fprintln(c.App.Writer, st)
		return nil
	},
}

type stateJSON struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

var destroyCommand = &cli.Command{
	Name:      "destroy",
	Usage:     "remove a container, its rootfs, record and every generation",
	ArgsUsage: "NAME",
	Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it runs"}},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		return m.Destroy(name, c.Bool("force"))
	},
}

// addressJSON is one address of show-ip --json.
type addressJSON struct {
	Interface string `json:"interface"` // in the guest: hostonly, internet
	Bridge    string `json:"bridge"`
	Family    string `json:"family"` // inet or inet6
	Address   string `json:"address"`
	PrefixLen int    `json:"prefix_length"`
}

// addressesJSON lists the record's addresses in show-ip's order: IPv4
// ones first.
func addressesJSON(rec *records.Record) []addressJSON {
	out := []addressJSON{}
	for _, family := range []string{"inet", "inet6"} {
		for _, nic := range rec.Interfaces {
			a := nic.IPv4
			if family == "inet6" {
				a = nic.IPv6
			}
			p, err := netip.ParsePrefix(a)
			if err != nil {
				continue
			}
			out = append(out, addressJSON{Interface: nic.Name, Bridge: nic.Bridge, Family: family, Address: p.Addr().String(), PrefixLen: p.Bits()})
		}
	}
	return out
}
