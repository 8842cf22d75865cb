package main

import (
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// positionalsBeforeCommand says after how many positional arguments a verb
// takes the rest of the line, from the next positional on, as it is:
// `run NAME [FLAGS] CMD [ARG...]` passes CMD's own flags (`run web ls
// --help`) to CMD, while run's flags may come before or after NAME.
var positionalsBeforeCommand = map[string]int{"run": 1}

// negativeNumber is a positional argument that looks like a flag
// (`switch-generation web -1`); no flag of the tool is a number.
var negativeNumber = regexp.MustCompile(`^-[0-9]+$`)

// reorderArgs moves a verb's flags in front of its positional arguments,
// so that `destroy web --force` works like `destroy --force web` (urfave/cli
// stops at the first positional), and global flags given after the verb in
// front of it. "--" ends flag parsing and is kept. `help VERB SUB` becomes
// `VERB SUB --help`. A flag that needs a value and has none is a usage
// error here, before urfave/cli could take the "--" this adds as its value.
func reorderArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	var globals []string
	i := 1
	// Global flags up to the verb.
	for i < len(args) && isFlag(args[i]) {
		n, err := flagWithValue(app.Flags, args, i, "")
		if err != nil {
			return nil, err
		}
		globals = append(globals, args[i:i+n]...)
		i += n
	}
	if i >= len(args) {
		return append([]string{args[0]}, globals...), nil
	}
	if args[i] == "help" && i+2 < len(args) {
		if cmd := findCommand(app.Commands, args[i+1]); cmd != nil && len(cmd.Subcommands) > 0 {
			args = append(append(append([]string{}, args[:i]...), args[i+1:]...), "--help")
		}
	}
	var verb []string
	cmd := findCommand(app.Commands, args[i])
	verb = append(verb, args[i])
	i++
	for cmd != nil && len(cmd.Subcommands) > 0 && i < len(args) {
		sub := findCommand(cmd.Subcommands, args[i])
		if sub == nil {
			break
		}
		cmd = sub
		verb = append(verb, args[i])
		i++
	}
	out := append([]string{args[0]}, globals...)
	if cmd == nil {
		return append(append(out, verb...), args[i:]...), nil
	}
	stopAfter, stops := positionalsBeforeCommand[cmd.Name]
	var flags, pos []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if !isFlag(a) {
			if stops && len(pos) >= stopAfter {
				// The command: the rest is its own.
				pos = append(pos, args[i:]...)
				break
			}
			pos = append(pos, a)
			continue
		}
		if findFlag(cmd.Flags, a) == nil && findFlag(app.Flags, a) != nil {
			// A global flag after the verb.
			n, err := flagWithValue(app.Flags, args, i, cmd.FullName())
			if err != nil {
				return nil, err
			}
			out = append(out, args[i:i+n]...)
			i += n - 1
			continue
		}
		n, err := flagWithValue(cmd.Flags, args, i, cmd.FullName())
		if err != nil {
			return nil, err
		}
		flags = append(flags, args[i:i+n]...)
		i += n - 1
	}
	out = append(append(out, verb...), flags...)
	if len(pos) > 0 && pos[0] != "--" {
		// Keep positionals from being read as flags after the reorder.
		out = append(out, "--")
	}
	return append(out, pos...), nil
}

// isFlag reports whether a looks like a flag rather than a positional.
func isFlag(a string) bool {
	return strings.HasPrefix(a, "-") && a != "-" && a != "--" && !negativeNumber.MatchString(a)
}

// flagWithValue returns how many arguments the flag at args[i] spans: 2
// when it needs a separate value, else 1. A value-taking flag at the end
// of the line, or followed by "--", has no value.
func flagWithValue(flags []cli.Flag, args []string, i int, verb string) (int, error) {
	a := args[i]
	if !takesValue(flags, a) || strings.Contains(a, "=") {
		return 1, nil
	}
	if i+1 >= len(args) || args[i+1] == "--" {
		if verb != "" {
			return 0, usagef("%s: flag %s needs a value", verb, a)
		}
		return 0, usagef("flag %s needs a value", a)
	}
	return 2, nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// findFlag returns the flag named by arg (-x, --xyz, --xyz=v), or nil.
func findFlag(flags []cli.Flag, arg string) cli.Flag {
	name := strings.TrimLeft(arg, "-")
	name, _, _ = strings.Cut(name, "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// takesValue reports whether the flag named by arg (-x, --xyz) needs a value.
func takesValue(flags []cli.Flag, arg string) bool {
	f := findFlag(flags, arg)
	if f == nil {
		return false
	}
	if bf, ok := f.(*cli.BoolFlag); ok && bf != nil {
		return false
	}
	return true
}
