// Command nixcloud-container runs NixOS system containers on LXC,
// unprivileged, sharing the host's /nix/store, with Nix generations per
// container. This package only parses flags and wires verbs to the domain
// packages.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/hostconfig"
)

// Exit codes.
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks a usage mistake (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "nixcloud-container",
		Usage:     "NixOS system containers on LXC, unprivileged, with Nix generations",
		UsageText: "nixcloud-container [--host-config FILE] VERB [ARGS]",
		Writer:    stdout,
		ErrWriter: stderr,
		// -l items are whole LXC items: "lxc.mount.entry=... bind,ro" keeps its commas.
		DisableSliceFlagSeparator: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "host-config",
				Usage:   "host configuration `FILE`",
				EnvVars: []string{"NIXCLOUD_CONTAINER_HOST_CONFIG"},
				Value:   hostconfig.DefaultPath,
			},
			&cli.BoolFlag{Name: "debug", Usage: "log what the tool does to stderr"},
		},
		Commands: []*cli.Command{
			createCommand, updateCommand, destroyCommand,
			listGenerationsCommand, deleteGenerationsCommand, switchGenerationCommand, rollbackCommand,
			startCommand, stopCommand, terminateCommand, restartCommand,
			loginCommand, runCommand, listCommand, showIPCommand, existsCommand, stateCommand,
			hostCommand,
			autostartCommand,
			infoCommand, consoleCommand, logsCommand, diffCommand,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown verb %q (see 'nixcloud-container help')", c.Args().First())
			}
			return usagef("no verb given (see 'nixcloud-container help')")
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageError{err.Error()}
		},
		CommandNotFound: func(c *cli.Context, verb string) {
			fmt.Fprintf(c.App.ErrWriter, "nixcloud-container: unknown verb %q (see 'nixcloud-container help')\n", verb)
			cli.OsExiter(exitUsage)
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		setUsageErrors(cmd)
	}
	return app
}

func setUsageErrors(cmd *cli.Command) {
	cmd.OnUsageError = func(c *cli.Context, err error, isSubcommand bool) error {
		return usageError{fmt.Sprintf("%s: %v", cmd.Name, err)}
	}
	for _, sub := range cmd.Subcommands {
		setUsageErrors(sub)
	}
}

// manager builds the Manager from the global flags; every verb that touches
// the host calls it first, so it also checks for root.
func manager(c *cli.Context) (*containers.Manager, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("must be run as root (containers, bridges and /etc/subuid are root's)")
	}
	cfg, err := hostconfig.Load(c.String("host-config"))
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckOwnership(); err != nil {
		return nil, fmt.Errorf("host config: %w", err)
	}
	m := containers.New(cfg)
	m.Progress = c.App.ErrWriter
	m.Verb = strings.TrimSpace(fmt.Sprintf("nixcloud-container %s %s", c.Command.FullName(), strings.Join(c.Args().Slice(), " ")))
	m.Notify = func(msg string) { fmt.Fprintf(c.App.ErrWriter, "nixcloud-container: %s\n", msg) }
	if c.Bool("debug") {
		m.Log = slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return m, nil
}

// checkArgs enforces the number of positional arguments.
func checkArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	if n < min || (max >= 0 && n > max) {
		return usagef("%s: wrong number of arguments (usage: %s)", c.Command.Name, strings.TrimSpace("nixcloud-container "+c.Command.Name+" "+c.Command.ArgsUsage))
	}
	return nil
}

// run executes the app and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	exitCode := -1
	cli.OsExiter = func(code int) { exitCode = code }
	defer func() { cli.OsExiter = os.Exit }()
	err := app.Run(reorderArgs(app, args))
	if exitCode >= 0 {
		return exitCode
	}
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nixcloud-container: %s\n", oneLine(err.Error()))
		return exitUsage
	case errors.As(err, &ec):
		if msg := ec.Error(); msg != "" {
			fmt.Fprintf(stderr, "nixcloud-container: %s\n", oneLine(msg))
		}
		return ec.ExitCode()
	default:
		fmt.Fprintf(stderr, "nixcloud-container: %s\n", oneLine(err.Error()))
		return exitFailure
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
