package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/bridges"
	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/hostconfig"
)

var hostCommand = &cli.Command{
	Name:  "host",
	Usage: "prepare, remove or inspect the host's bridges, DHCP and firewall chains",
	Subcommands: []*cli.Command{
		hostStep("setup", "create the bridges, start dnsmasq, add the NAT and forward chains (idempotent)", bridges.Setup),
		hostStep("teardown", "remove everything host setup, starts and forwards made", bridges.Teardown),
		{
			Name:  "status",
			Usage: "show what host setup made and what is missing (exit 1 if anything is)",
			Action: func(c *cli.Context) error {
				cfg, err := hostArgs(c)
				if err != nil {
					return err
				}
				st, err := bridges.HostStatus(cfg)
				if err != nil {
					return fmt.Errorf("host status: %w", err)
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

// hostArgs checks that no arguments were given and returns the host
// configuration.
func hostArgs(c *cli.Context) (hostconfig.Config, error) {
	if err := checkArgs(c, 0, 0); err != nil {
		return hostconfig.Config{}, err
	}
	m, err := manager(c)
	if err != nil {
		return hostconfig.Config{}, err
	}
	return m.Cfg, nil
}

// hostStep is a host subcommand that applies one change to the host.
func hostStep(name, usage string, step func(hostconfig.Config) error) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Action: func(c *cli.Context) error {
			cfg, err := hostArgs(c)
			if err != nil {
				return err
			}
			unlock, err := containers.LockNetwork(cfg)
			if err != nil {
				return fmt.Errorf("host %s: %w", name, err)
			}
			defer unlock()
			if err := step(cfg); err != nil {
				return fmt.Errorf("host %s: %w", name, err)
			}
			return nil
		},
	}
}
