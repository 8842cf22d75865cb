package generations

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// SpecNames evaluates a SPEC (a Nix file whose value is an attribute set
// from container name to container file or its contents) to its names.
func (n Nix) SpecNames(ctx context.Context, spec string) ([]string, error) {
	expr := fmt.Sprintf(`let s = import %s; in if builtins.isAttrs s then builtins.attrNames s `+
		`else throw "SPEC must be an attribute set of containers (name = ./file.nix or { ... })"`, nixString(spec))
	out, err := n.run(ctx, "nix-instantiate", append([]string{"--eval", "--strict", "--json", "--expr", expr}, n.Args...)...)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", spec, err)
	}
	var names []string
	if err := json.Unmarshal(out, &names); err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", spec, err)
	}
	return names, nil
}

// SpecEntry is the container file of one entry of a SPEC: it evaluates
// the entry and, when it is a path (name = ./web.nix), imports it, so the
// wrapper sees what a container file holds.
func SpecEntry(spec, name string) []byte {
	return []byte(fmt.Sprintf(`# Written by nixcloud-container apply: container %s of the SPEC below.
let entry = (import %s).%s; in
if builtins.isPath entry || (builtins.isString entry && builtins.substring 0 1 entry == "/")
then import entry
else entry
`, name, nixString(spec), nixString(name)))
}

// nixString quotes s as a Nix string literal.
func nixString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `${`, `\${`)
	return `"` + r.Replace(s) + `"`
}

// Planned is the generation the wrapper would build for one input: its
// store path (not built yet) and the derivation that builds it.
type Planned struct {
	Out string `json:"out"`
	Drv string `json:"drv"`
}

// PlanMany evaluates the generations of many inputs in one Nix
// evaluation, without building them: the store path each would get. A
// container whose evaluation fails fails the whole call; callers then fall
// back to one evaluation per container.
func (n Nix) PlanMany(ctx context.Context, ins map[string]Input) (map[string]Planned, error) {
	if len(ins) == 0 {
		return map[string]Planned{}, nil
	}
	keys := make([]string, 0, len(ins))
	for k := range ins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "let w = import %s; g = a: let x = (w a).generation; in { out = x.outPath; drv = x.drvPath; }; in {\n", nixString(n.Wrapper))
	for _, k := range keys {
		in := ins[k]
		fmt.Fprintf(&b, "  %s = g { file = %s; name = %s; ip = %s; gateway = %s; enableNat = %t;",
			nixString(k), nixString(in.File), nixString(in.Name), nixString(in.IP), nixString(in.Gateway), in.EnableNat)
		if in.PrefixLength > 0 {
			fmt.Fprintf(&b, " prefixLength = %s;", strconv.Itoa(in.PrefixLength))
		}
		b.WriteString(" };\n")
	}
	b.WriteString("}\n")
	// --read-write-mode: the derivations are written to the store, so
	// that RealiseMany can build them.
	args := append([]string{"--eval", "--strict", "--json", "--read-write-mode", "--expr", b.String()}, n.Args...)
	out, err := n.run(ctx, "nix-instantiate", args...)
	if err != nil && len(keys) == 1 {
		return nil, fmt.Errorf("evaluate %s: %w", ins[keys[0]].File, err)
	}
	if err != nil {
		return nil, fmt.Errorf("evaluate %d containers: %w", len(ins), err)
	}
	var res map[string]Planned
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("evaluate %d containers: %w", len(ins), err)
	}
	return res, nil
}

// RealiseMany builds planned generations in one Nix call and checks that
// each can boot.
func (n Nix) RealiseMany(ctx context.Context, plans []Planned) error {
	if len(plans) == 0 {
		return nil
	}
	args := []string{"--no-out-link"}
	for _, p := range plans {
		args = append(args, p.Drv)
	}
	if _, err := n.run(ctx, "nix-build", append(args, n.Args...)...); err != nil {
		return fmt.Errorf("build %d containers: %w", len(plans), err)
	}
	for _, p := range plans {
		if err := CheckBootable(p.Out); err != nil {
			return err
		}
	}
	return nil
}
