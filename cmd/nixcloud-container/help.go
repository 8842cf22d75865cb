package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes beyond exitFailure and exitUsage.
const (
	// exitCannotTell is for exists, whose exit 1 is an answer (no such
	// container): it exits 3 when it could not find out (not root,
	// unreadable host config).
	exitCannotTell = 3
)

// cannotTell marks an error of exists (exit 3).
type cannotTell struct{ err error }

func (e cannotTell) Error() string { return e.err.Error() }
func (e cannotTell) Unwrap() error { return e.err }

// genForms explains the GEN arguments.
const genForms = `GEN is a generation number as list-generations prints it (1, 2, ...).
delete-generations also takes: old (every generation but the current
one), +N (all but the newest N), Nd (those older than N days). The
current generation is never deleted.`

const exitStatusText = `EXIT STATUS: 0 done; 1 failed (one line on stderr naming the container
and the step); 2 usage error (unknown verb or flag, wrong number of
arguments, a flag without its value, an invalid container name).`

// verbHelp is each verb's long help: what it does, its arguments, an
// example. newApp appends the exit codes.
var verbHelp = map[string]string{
	"create": `Builds FILE (a NixOS module, or an attribute set with "system" and the
host-side settings) into generation 1 of the container NAME and defines the
container. -n passes extra Nix arguments (one shell-quoted string; recorded
for later updates), -l adds raw LXC items (repeatable, never split at
commas).

Example: nixcloud-container create web ./web.nix -n "-I nixpkgs=/src/nixpkgs" --start`,
	"update": `Builds a new generation of NAME from FILE (default: the recorded file) and
activates it: in place on a running container when only the guest changed,
else by restarting it. -n "" clears the recorded Nix arguments; -l replaces
the recorded LXC items. --dry-run evaluates and builds, then prints what
would change (nothing / the guest only, switched in place / host-side
settings by key, a restart / addresses) and changes nothing; --json with it.

Example: nixcloud-container update web ./web.nix --dry-run`,
	"info": `Describes NAME: state, init pid, uptime, the running and the current
generation, each interface (bridge, host veth, MAC, addresses), forwards,
bind mounts, limits in force, the store it sees, its links, and, when it
runs, live usage from its cgroup (memory current and peak, CPU seconds,
processes) and per-interface byte and packet counters.

Example: nixcloud-container info web --json`,
	"console": `Connects the terminal to the container's console (its init's terminal)
until you type Ctrl-a q or the container stops; Ctrl-a Ctrl-a sends a
Ctrl-a. --show-log prints the console log instead (what the console showed
since the start).

Example: nixcloud-container console web`,
	"logs": `Prints the console log of NAME (what its init and getty wrote since the
start); -f keeps printing what is appended, as tail -f; --lxc prints LXC's
own log of the container (why a start failed) instead.

Example: nixcloud-container logs web -f`,
	"diff": `Compares two generations of NAME: host-side settings key by key
(bindMounts."/x".hostPath: a -> b) and the packages of their closures (name,
old -> new version, added, removed). Without GEN: the running generation
against the current one when they differ, else the one before the current
one against it. One GEN: it against the current one. Two: the first against
the second.

Example: nixcloud-container diff web 3 5`,
	"destroy": `Removes the container, its rootfs, record, generations and host
networking. A running container needs --force.

Example: nixcloud-container destroy web --force`,
	"list-generations": `Lists NAME's generations: number, date, store path, current.

Example: nixcloud-container list-generations web --json`,
	"delete-generations": genForms + `

Says which generations were deleted, or that the forms matched none.

Example: nixcloud-container delete-generations web old
         nixcloud-container delete-generations web 1 2 +5 30d`,
	"switch-generation": `Makes generation GEN current and activates it (see update).
` + genForms + `

Example: nixcloud-container switch-generation web 3`,
	"rollback": `Makes the generation before the current one current and activates it.

Example: nixcloud-container rollback web`,
	"start": `Starts NAME's current generation.

Example: nixcloud-container start web`,
	"stop": `Asks the container to shut down, and kills it after --timeout (a
duration with its unit: 30s, 2m; 0 kills at once).

Example: nixcloud-container stop web --timeout 1m`,
	"terminate": `Kills the container now.

Example: nixcloud-container terminate web`,
	"restart": `Stops the container (if it runs, see stop) and starts it.

Example: nixcloud-container restart web`,
	"login": `Opens an interactive root shell on a pty of the container's.

Example: nixcloud-container login web`,
	"run": `Runs CMD in the container and exits with its status (128+N when it was
killed by signal N). Everything after NAME belongs to CMD, its flags too;
flags of run come before CMD.

Example: nixcloud-container run web -- ls -l /etc
         nixcloud-container run web echo --help`,
	"list": `Lists every container: name, state, addresses, generation, autostart.
--json prints the fields described in the README (JSON output).

Example: nixcloud-container list --json`,
	"show-ip": `Prints the container's addresses, primary IPv4 first; --json labels
each with its interface.

Example: nixcloud-container show-ip web`,
	"exists": `Exits 0 if the container exists, 1 if not, 3 if that cannot be told
(not root, unreadable host config).

Example: nixcloud-container exists web && echo yes`,
	"state": `Prints the container's state (RUNNING, STOPPED, ...; LXC's words).

Example: nixcloud-container state web --json`,
	"host": `Prepares, removes or inspects the host's networking. Subcommands:
setup, teardown, status.

Example: nixcloud-container host setup`,
	"host setup": `Creates the bridges, starts dnsmasq, adds the chains and filters and
repairs running containers' ports. Idempotent.

Example: nixcloud-container host setup`,
	"host teardown": `Removes everything host setup, starts and forwards made. Refused while
containers run, unless --force (they are cut off).

Example: nixcloud-container host teardown`,
	"host status": `Shows what host setup made and what is missing. Exits 0 when everything
is present, 1 when something is missing or on an error (see the message).

Example: nixcloud-container host status --json`,
	"completion": `Prints the completion script for SHELL (bash, zsh or fish): verbs,
flags, container names and generation numbers. scripts/setup.sh installs
them.

Example: nixcloud-container completion bash > /usr/share/bash-completion/completions/nixcloud-container`,
	"autostart": `Prints one line per container on stdout (NAME: started, NAME: already
running) and one line per failure on stderr; a failure does not stop the
others, but the exit status is 1. Run at boot (scripts/setup.sh can
install a unit that does).

Example: nixcloud-container autostart`,
	"apply": `SPEC is a Nix file that evaluates to an attribute set from container name
to its container file or its contents:
{ web = ./web.nix; db = { system = ...; autostart = true; }; }.
Creates what is missing, adds a generation where the build differs
(switched in place or restarted, as update), starts autostart containers,
stops and keeps containers dropped from SPEC (--prune destroys them) and
never touches containers made by create. Prints one line per container on
stdout (created, updated to N, unchanged, stopped, kept, destroyed,
failed: reason); a failure does not stop the others, but the exit status
is 1. --dry-run prints the plan and changes nothing.

Example: nixcloud-container apply /etc/nixcloud-container/spec.nix --dry-run`,
	"man": `Prints the manual page (roff), generated from the verbs and flags.

Example: nixcloud-container man > /usr/local/share/man/man1/nixcloud-container.1`,
}

// addHelp gives every command (and subcommand) its long help and the
// exit codes; a verb not in verbHelp keeps its own description, with the
// exit codes appended.
func addHelp(cmds []*cli.Command, prefix string) {
	for _, cmd := range cmds {
		if cmd.Name == "help" {
			continue // urfave/cli's own, added at the first run
		}
		full := strings.TrimSpace(prefix + " " + cmd.Name)
		desc := verbHelp[full]
		if desc == "" {
			desc = cmd.Description
		}
		if !strings.Contains(desc, "EXIT STATUS") {
			desc = strings.TrimSpace(desc + "\n\n" + exitStatusText)
		}
		cmd.Description = desc
		addHelp(cmd.Subcommands, full)
	}
}

// appDescription is the manual's DESCRIPTION and the top of help.
const appDescription = `Runs NixOS system containers on LXC, unprivileged, sharing the host's
/nix/store, with one Nix profile of generations per container. Every verb
but help, completion and man needs root. Flags may come before or after
the positional arguments; -- ends flag parsing. Global flags (--host-config,
--debug) may also come after the verb.

` + genForms + `

` + exitStatusText + ` exists exits 3 when it cannot tell. run
exits with its command's status.

FILES: /etc/nixcloud-container/host.toml (may be missing: defaults; a
file named by --host-config or NIXCLOUD_CONTAINER_HOST_CONFIG must exist).`
