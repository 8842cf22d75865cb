package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
)

var infoCommand = &cli.Command{
	Name:      "info",
	Usage:     "describe a container: state, generations, network, mounts, limits and live usage",
	ArgsUsage: "NAME",
	Flags:     []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		name, m, err := oneName(c)
		if err != nil {
			return err
		}
		info, err := m.Info(name)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c, info)
		}
		return printInfo(c.App.Writer, info)
	},
}

// printInfo prints info's text form: one "Key: value" line per fact.
func printInfo(out io.Writer, i containers.Info) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	line := func(k, format string, a ...any) { fmt.Fprintf(w, "%s:\t%s\n", k, fmt.Sprintf(format, a...)) }
	line("Name", "%s", i.Name)
	state := i.State
	if i.Interrupted != "" {
		state += " (interrupted " + i.Interrupted + ")"
	}
	line("State", "%s", state)
	if i.InitPID > 0 {
		line("Init PID", "%d", i.InitPID)
	}
	if i.Started != nil {
		line("Started", "%s (up %s)", i.Started.Format(time.RFC3339), time.Duration(i.UptimeSeconds)*time.Second)
	}
	gen := fmt.Sprintf("%d (current)", i.Generation)
	switch {
	case i.RunningGeneration == i.Generation:
		gen += ", running"
	case i.RunningGeneration > 0:
		gen += fmt.Sprintf(", running %d", i.RunningGeneration)
	}
	line("Generation", "%s", gen)
	line("Autostart", "%v", i.Autostart)
	for _, nic := range i.Interfaces {
		addrs := strings.TrimSpace(nic.IPv4 + " " + nic.IPv6)
		line("Interface "+nic.Name, "%s  mac %s  veth %s  bridge %s", addrs, nic.MAC, nic.HostVeth, nic.Bridge)
	}
	for _, f := range i.Forwards {
		line("Forward", "%s host port %d -> %d", f.Protocol, f.HostPort, f.ContainerPort)
	}
	for _, b := range i.BindMounts {
		mode := "rw"
		if b.ReadOnly {
			mode = "ro"
		}
		if b.Shift {
			mode += ",shift"
		}
		line("Bind mount", "%s -> %s (%s)", b.HostPath, b.Target, mode)
	}
	var limits []string
	if i.Limits.Memory != "" {
		limits = append(limits, "memory "+i.Limits.Memory)
	}
	if i.Limits.CPUs != 0 {
		limits = append(limits, fmt.Sprintf("cpus %g", i.Limits.CPUs))
	}
	if i.Limits.Processes != 0 {
		limits = append(limits, fmt.Sprintf("processes %d", i.Limits.Processes))
	}
	if len(limits) == 0 {
		limits = []string{"none"}
	}
	line("Limits", "%s", strings.Join(limits, ", "))
	if u := i.Usage; u != nil {
		line("Memory", "%s (peak %s)", bytesIEC(u.MemoryCurrent), bytesIEC(u.MemoryPeak))
		line("CPU", "%.2fs", u.CPUSeconds)
		line("Processes", "%d", u.Processes)
		sort.Slice(u.Interfaces, func(a, b int) bool { return u.Interfaces[a].Name < u.Interfaces[b].Name })
		for _, n := range u.Interfaces {
			line("Traffic "+n.Name, "received %s (%d packets), sent %s (%d packets)", bytesIEC(n.RxBytes), n.RxPackets, bytesIEC(n.TxBytes), n.TxPackets)
		}
	}
	return w.Flush()
}

// bytesIEC prints a byte count with a binary unit (1.5MiB).
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
