package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
)

var autostartCommand = &cli.Command{
	Name:  "autostart",
	Usage: "start every container with autostart = true, highest autostartPriority first (at boot)",
	Description: "Prints one line per container on stdout (NAME: started, NAME: already running) and one line\n" +
		"per failure on stderr; a failure does not stop the others, but the exit status is 1.\n" +
		"Every container of one priority is started, and its autostartDelay has passed, before the\n" +
		"next priority begins; within a priority up to --jobs containers start at once.",
	Flags: []cli.Flag{&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: containers.DefaultAutostartJobs(),
		Usage: "start up to `N` containers at once (1: one after the other)"}},
	Action: runAutostart,
}

func runAutostart(c *cli.Context) error {
	if err := checkArgs(c, 0, 0); err != nil {
		return err
	}
	jobs := c.Int("jobs")
	if jobs < 1 {
		return usagef("autostart: --jobs must be at least 1, not %d", jobs)
	}
	m, err := manager(c)
	if err != nil {
		return err
	}
	err = m.Autostart(c.Context, jobs, func(r containers.AutostartResult) {
		switch {
		case r.Err != nil:
			fmt.Fprintf(c.App.ErrWriter, "nixcloud-container: %s\n", oneLine(r.Err.Error()))
		case r.AlreadyRunning:
			fmt.Fprintf(c.App.Writer, "%s: already running\n", r.Name)
		default:
			fmt.Fprintf(c.App.Writer, "%s: started\n", r.Name)
		}
	})
	if errors.Is(err, containers.ErrAutostartFailed) {
		return cli.Exit("", exitFailure) // each failure has its line already
	}
	return err
}
