package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/hostconfig"
)

// completeVerb is what the completion scripts call:
// `nixcloud-container __complete CUR WORD...` prints the candidates for
// the word CUR after WORDs (the line without the program), one a line.
// It is handled before flag parsing, as the words are a partial line.
const completeVerb = "__complete"

var completionScripts = map[string]string{
	"bash": `# bash completion for nixcloud-container (nixcloud-container completion bash)
_nixcloud_container() {
	local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'
	COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" __complete "$cur" "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)" -- "$cur"))
}
complete -o default -F _nixcloud_container nixcloud-container
`,
	"zsh": `#compdef nixcloud-container
# zsh completion for nixcloud-container (nixcloud-container completion zsh)
_nixcloud_container() {
	local -a cands
	cands=("${(@f)$(${words[1]} __complete "${words[CURRENT]}" "${(@)words[2,CURRENT-1]}" 2>/dev/null)}")
	if (( ${#cands} )) && [[ -n ${cands[1]} ]]; then
		compadd -a cands
	else
		_files
	fi
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
	_nixcloud_container "$@"
else
	compdef _nixcloud_container nixcloud-container
fi
`,
	"fish": `# fish completion for nixcloud-container (nixcloud-container completion fish)
function __nixcloud_container_complete
	set -l words (commandline -opc)
	set -l prog $words[1]
	set -e words[1]
	set -l cur (commandline -ct)
	$prog __complete "$cur" $words 2>/dev/null
end
complete -c nixcloud-container -a '(__nixcloud_container_complete)'
`,
}

var completionCommand = &cli.Command{
	Name:      "completion",
	Usage:     "print the shell completion script for bash, zsh or fish",
	ArgsUsage: "SHELL",
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 1); err != nil {
			return err
		}
		script, ok := completionScripts[c.Args().First()]
		if !ok {
			return usagef("completion: unknown shell %q (bash, zsh or fish)", c.Args().First())
		}
		_, err := io.WriteString(c.App.Writer, script)
		return err
	},
}

var manCommand = &cli.Command{
	Name:  "man",
	Usage: "print the manual page (roff), generated from the verbs and flags",
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 0, 0); err != nil {
			return err
		}
		page, err := manPage(c.App)
		if err != nil {
			return fmt.Errorf("man: %w", err)
		}
		_, err = io.WriteString(c.App.Writer, page)
		return err
	},
}

// completeCommand documents the hidden verb; run handles it first.
var completeCommand = &cli.Command{
	Name:   completeVerb,
	Hidden: true,
	Usage:  "print completion candidates (used by the completion scripts)",
	Action: func(c *cli.Context) error { return nil },
}

// manPage renders the manual: each verb with its arguments, long help and
// flags.
func manPage(app *cli.App) (string, error) {
	// The manual shows UsageText, not ArgsUsage or Description: render
	// them into it on a copy of the commands.
	var withUsage func(cmds []*cli.Command, prefix string) []*cli.Command
	withUsage = func(cmds []*cli.Command, prefix string) []*cli.Command {
		out := make([]*cli.Command, 0, len(cmds))
		for _, cmd := range cmds {
			cp := *cmd
			full := strings.TrimSpace(prefix + " " + cmd.Name)
			cp.UsageText = strings.TrimSpace(fmt.Sprintf("%s %s [options] %s", app.Name, full, cmd.ArgsUsage)) + "\n\n" + cmd.Description
			cp.Subcommands = withUsage(cmd.Subcommands, full)
			out = append(out, &cp)
		}
		return out
	}
	cp := *app
	cp.Commands = withUsage(app.Commands, "")
	return cp.ToMan()
}

// complete returns the candidates for cur after words.
func complete(app *cli.App, cur string, words []string, names func(hostConfig string) []string, gens func(hostConfig, name string) []string) []string {
	hostConfig := ""
	var cmd *cli.Command
	var pos []string // positionals after the verb
	prevTakesValue := false
	prevFlag := ""
	flagsOf := func() []cli.Flag {
		if cmd == nil {
			return app.Flags
		}
		return append(append([]cli.Flag{}, cmd.Flags...), app.Flags...)
	}
	rest := false // after "--"
	for _, w := range words {
		switch {
		case prevTakesValue:
			if f := findFlag(app.Flags, prevFlag); f != nil && f.Names()[0] == "host-config" {
				hostConfig = w
			}
			prevTakesValue = false
		case w == "--" && cmd != nil:
			rest = true
		case !rest && isFlag(w):
			if v, ok := strings.CutPrefix(w, "--host-config="); ok {
				hostConfig = v
			}
			prevFlag = w
			prevTakesValue = takesValue(flagsOf(), w) && !strings.Contains(w, "=")
		case cmd == nil:
			cmd = findCommand(app.Commands, w)
			if w == "help" {
				cmd = &cli.Command{Name: "help"}
			}
			if cmd == nil {
				return nil
			}
		case len(pos) == 0 && findCommand(subcommands(cmd), w) != nil:
			cmd = findCommand(subcommands(cmd), w)
		default:
			pos = append(pos, w)
		}
	}
	if prevTakesValue {
		return nil // a flag's value: the shell completes files
	}
	if strings.HasPrefix(cur, "-") && !rest {
		out := []string{"--help", "-h"}
		for _, f := range flagsOf() {
			for _, n := range f.Names() {
				if len(n) == 1 {
					out = append(out, "-"+n)
				} else {
					out = append(out, "--"+n)
				}
			}
		}
		return filterPrefix(dedup(out), cur)
	}
	if cmd == nil {
		return filterPrefix(append(verbNames(app.Commands), "help"), cur)
	}
	if cmd.Name == "help" {
		if len(pos) == 0 {
			return filterPrefix(verbNames(app.Commands), cur)
		}
		if sub := findCommand(app.Commands, pos[0]); sub != nil && len(pos) == 1 {
			return filterPrefix(verbNames(subcommands(sub)), cur)
		}
		return nil
	}
	if len(subcommands(cmd)) > 0 && len(pos) == 0 {
		return filterPrefix(verbNames(subcommands(cmd)), cur)
	}
	if cmd.Name == "completion" && len(pos) == 0 {
		return filterPrefix([]string{"bash", "fish", "zsh"}, cur)
	}
	args := strings.Fields(cmd.ArgsUsage)
	want := ""
	switch {
	case len(pos) < len(args):
		want = args[len(pos)]
	case len(args) > 0 && strings.HasSuffix(args[len(args)-1], "..."):
		want = args[len(args)-1]
	}
	want = strings.Trim(want, "[].")
	switch want {
	case "NAME":
		return filterPrefix(names(hostConfig), cur)
	case "GEN":
		if len(pos) == 0 {
			return nil
		}
		out := gens(hostConfig, pos[0])
		if cmd.Name == "delete-generations" {
			out = append(out, "old")
		}
		return filterPrefix(out, cur)
	}
	return nil
}

// subcommands are cmd's own, without the help urfave/cli adds.
func subcommands(cmd *cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmd.Subcommands {
		if c.Name != "help" {
			out = append(out, c)
		}
	}
	return out
}

func dedup(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func verbNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c.Name)
		}
	}
	sort.Strings(out)
	return out
}

func filterPrefix(cands []string, prefix string) []string {
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// loadForCompletion reads the host config the completed line names, or
// the one the environment or default names; nil when it cannot.
func loadForCompletion(hostConfig string) *containers.Manager {
	if hostConfig == "" {
		hostConfig = hostconfig.DefaultPath
		if env := os.Getenv("NIXCLOUD_CONTAINER_HOST_CONFIG"); env != "" {
			hostConfig = env
		}
	}
	cfg, err := hostconfig.Load(hostConfig)
	if err != nil {
		return nil
	}
	return containers.New(cfg)
}

// containerNames lists the containers for completion (nothing when the
// state cannot be read, e.g. not root).
func containerNames(hostConfig string) []string {
	m := loadForCompletion(hostConfig)
	if m == nil {
		return nil
	}
	recs, err := m.Store.List()
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Name)
	}
	return out
}

// generationNumbers lists a container's generations for completion.
func generationNumbers(hostConfig, name string) []string {
	m := loadForCompletion(hostConfig)
	if m == nil {
		return nil
	}
	gens, err := m.Generations(name)
	if err != nil {
		return nil
	}
	var out []string
	for _, g := range gens {
		out = append(out, strconv.Itoa(g.Number))
	}
	return out
}

// runComplete answers `__complete CUR WORD...`.
func runComplete(args []string, stdout io.Writer) int {
	if len(args) < 1 {
		return exitUsage
	}
	app := newApp(io.Discard, io.Discard)
	for _, c := range complete(app, args[0], args[1:], containerNames, generationNumbers) {
		fmt.Fprintln(stdout, c)
	}
	return 0
}
