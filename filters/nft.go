package filters

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// ErrNoNft means the nft command is not installed.
var ErrNoNft = errors.New("nft not found (install Debian's nftables package)")

// Runner applies nft scripts; Nft is the real one, tests use a fake.
type Runner interface {
	// Apply runs script as one transaction.
	Apply(script string) error
	// Start starts applying script and returns the function that waits
	// for it to be done. The nft process is started on the calling
	// thread, so it runs in that thread's network namespace.
	Start(script string) (wait func() error, err error)
	// TableExists reports whether the table of the family exists.
	TableExists(family, table string) (bool, error)
	// Tables lists the tables of the namespace as "family name".
	Tables() ([]string, error)
	// MapKeys lists the keys of a map of names (ifname keys).
	MapKeys(family, table, name string) ([]string, error)
	// Chain lists the rules of a chain, as nft prints them.
	Chain(family, table, name string) (string, error)
}

// Nft runs the nft command in the caller's network namespace.
type Nft struct{}

func nftPath() (string, error) {
	p, err := exec.LookPath("nft")
	if err != nil {
		// Debian keeps it in /usr/sbin, which a user's PATH may lack.
		p, err = exec.LookPath("/usr/sbin/nft")
	}
	if err != nil {
		return "", ErrNoNft
	}
	return p, nil
}

// Apply runs `nft -f -` with script on its stdin.
func (n Nft) Apply(script string) error {
	wait, err := n.Start(script)
	if err != nil {
		return err
	}
	return wait()
}

// Start starts `nft -f -` with script on its stdin.
func (Nft) Start(script string) (func() error, error) {
	p, err := nftPath()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	return func() error {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("nft: %w: %s", err, firstLine(stderr.String()))
		}
		return nil
	}, nil
}

// TableExists runs `nft list table FAMILY TABLE`.
func (Nft) TableExists(family, table string) (bool, error) {
	p, err := nftPath()
	if err != nil {
		return false, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(p, "list", "table", family, table)
	cmd.Stderr = &stderr
	err = cmd.Run()
	if err == nil {
		return true, nil
	}
	if strings.Contains(stderr.String(), "No such file or directory") {
		return false, nil
	}
	return false, fmt.Errorf("nft list table %s %s: %w: %s", family, table, err, firstLine(stderr.String()))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// mapKey is one quoted key of a map listing: "nc3h" : jump port_nc3h.
var mapKey = regexp.MustCompile(`"([^"]+)"\s*:`)

// MapKeys runs `nft list map FAMILY TABLE NAME` and returns its keys.
func (Nft) MapKeys(family, table, name string) ([]string, error) {
	p, err := nftPath()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(p, "list", "map", family, table, name)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nft list map %s %s %s: %w: %s", family, table, name, err, firstLine(stderr.String()))
	}
	var keys []string
	for _, m := range mapKey.FindAllStringSubmatch(string(out), -1) {
		keys = append(keys, m[1])
	}
	return keys, nil
}

// Chain runs `nft list chain FAMILY TABLE NAME`.
func (Nft) Chain(family, table, name string) (string, error) {
	p, err := nftPath()
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(p, "list", "chain", family, table, name)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("nft list chain %s %s %s: %w: %s", family, table, name, err, firstLine(stderr.String()))
	}
	return string(out), nil
}

// Tables runs `nft list tables`.
func (Nft) Tables() ([]string, error) {
	p, err := nftPath()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(p, "list", "tables")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w: %s", err, firstLine(stderr.String()))
	}
	var tables []string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "table "); ok {
			tables = append(tables, rest)
		}
	}
	return tables, nil
}
