package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/bridges"
	"github.com/nixcloud/nixcloud-container/containers"
)

var hostCommand = &cli.Command{
	Name:  "host",
	Usage: "prepare, remove or inspect the host's bridges, DHCP, firewall chains and packet filter",
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usagef("host: unknown subcommand %q (setup, teardown or status)", c.Args().First())
		}
		return usagef("host: no subcommand given (setup, teardown or status)")
	},
	Subcommands: []*cli.Command{
		{
			Name:  "setup",
			Usage: "create the bridges, start dnsmasq, add the chains and filters, repair running containers' ports (idempotent)",
			Action: func(c *cli.Context) error {
				m, err := hostManager(c)
				if err != nil {
					return err
				}
				return m.HostSetup(c.Context)
			},
		},
		{
			Name:  "teardown",
			Usage: "remove everything host setup, starts and forwards made (refused while containers run, unless --force)",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "tear down even though containers run (they are cut off)"}},
			Action: func(c *cli.Context) error {
				m, err := hostManager(c)
				if err != nil {
					return err
				}
				return m.HostTeardown(c.Bool("force"))
			},
		},
		{
			Name:  "status",
			Usage: "show what host setup made, what is missing, and running containers' ports (exit 1 if anything is missing)",
			Flags: []cli.Flag{jsonFlag},
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 0, 0); err != nil {
					return err
				}
				m, err := manager(c)
				if err != nil {
					return err
				}
				st, err := m.HostStatus()
				if err != nil {
					return fmt.Errorf("host status: %w", err)
				}
				if c.Bool("json") {
					items := st.Items
					if items == nil {
						items = []bridges.StatusItem{}
					}
					if err := printJSON(c, hostStatusJSON{OK: st.OK(), Items: items, AppArmor: containers.AppArmorStatus()}); err != nil {
						return err
					}
					if !st.OK() {
						return cli.Exit("", exitFailure)
					}
					return nil
				}
				fmt.Fprint(c.App.Writer, st.String())
				fmt.Fprintln(c.App.Writer, containers.AppArmorStatus())
				if !st.OK() {
					return cli.Exit("", exitFailure)
				}
				return nil
			},
		},
	},
}

// hostStatusJSON is host status --json.
type hostStatusJSON struct {
	OK       bool                 `json:"ok"`
	Items    []bridges.StatusItem `json:"items"`
	AppArmor string               `json:"apparmor"`
}

// hostManager checks that no arguments were given and returns the manager.
func hostManager(c *cli.Context) (*containers.Manager, error) {
	if err := checkArgs(c, 0, 0); err != nil {
		return nil, err
	}
	return manager(c)
}
