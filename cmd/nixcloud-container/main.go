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
		Name:        "nixcloud-container",
		Usage:       "NixOS system containers on LXC, unprivileged, with Nix generations",
		UsageText:   "nixcloud-container [--host-config FILE] [--debug] VERB [ARGS]",
		Description: appDescription,
		Writer:      stdout,
		ErrWriter:   stderr,
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
			applyCommand,
			infoCommand, consoleCommand, logsCommand, diffCommand,
			completionCommand, manCommand, completeCommand,
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
	addHelp(app.Commands, "")
	return app
}

func setUsageErrors(cmd *cli.Command) {
	cmd.OnUsageError = func(c *cli.Context, err error, isSubcommand bool) error {
		return usageError{fmt.Sprintf("%s: %v%s", cmd.Name, err, flagHint(cmd, err))}
	}
	for _, sub := range cmd.Subcommands {
		if sub.Name != "help" { // urfave/cli's own, added at the first run
			setUsageErrors(sub)
		}
	}
}

// geteuid is os.Geteuid; tests replace it to see a non-root run.
var geteuid = os.Geteuid

// manager builds the Manager from the global flags; every verb that touches
// the host calls it first, so it also checks for root.
func manager(c *cli.Context) (*containers.Manager, error) {
	if geteuid() != 0 {
		return nil, errors.New("must be run as root (containers, bridges and /etc/subuid are root's)")
	}
	load := hostconfig.Load
	if c.IsSet("host-config") {
		load = hostconfig.LoadExplicit // only the default path may be missing
	}
	cfg, err := load(c.String("host-config"))
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
	if len(args) > 1 && args[1] == completeVerb {
		return runComplete(args[2:], stdout)
	}
	app := newApp(stdout, stderr)
	exitCode := -1
	cli.OsExiter = func(code int) { exitCode = code }
	defer func() { cli.OsExiter = os.Exit }()
	args, err := reorderArgs(app, args)
	if err == nil {
		err = app.Run(args)
	}
	if exitCode >= 0 {
		return exitCode
	}
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	var ue usageError
	var ct cannotTell
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nixcloud-container: %s\n", oneLine(err.Error()))
		return exitUsage
	case errors.As(err, &ct):
		fmt.Fprintf(stderr, "nixcloud-container: %s\n", oneLine(err.Error()))
		return exitCannotTell
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

// flagHint adds a hint to a flag's parse error: durations need a unit.
func flagHint(cmd *cli.Command, err error) string {
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.DurationFlag); !ok {
			continue
		}
		for _, n := range f.Names() {
			if strings.Contains(err.Error(), "for flag -"+n+":") {
				return " (want a duration with its unit, e.g. 30s, 2m or 1h30m)"
			}
		}
	}
	return ""
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
