package generations

import (
	"regexp"
	"strings"
	"testing"
)

// TestSettingsErrors: the key path of an unknown or mistyped key, in the
// container file's words, without Go types.
func TestSettingsErrors(t *testing.T) {
	goTypes := regexp.MustCompile(`float64|int\b|\[\]|generations\.|map\[|bool\b`)
	tests := map[string]string{
		`{"bindMounts":{"/x":{"hostPath":"/srv","bogus":1}}}`:                             `unknown key bindMounts."/x".bogus`,
		`{"forwardPorts":[{"protocol":"tcp","hostPort":1,"containerPort":1,"colour":2}]}`: `unknown key forwardPorts[0].colour`,
		`{"limits":{"swap":"1G"}}`:                `unknown key limits.swap`,
		`{"colour":1}`:                            `unknown key colour`,
		`{"limits":{"cpus":"two"}}`:               `limits.cpus: want a number, got a string`,
		`{"forwardPorts":{"protocol":"tcp"}}`:     `forwardPorts: want a list of attribute sets, got an attribute set`,
		`{"autostart":"yes"}`:                     `autostart: want true or false, got a string`,
		`{"limits":{"processes":1.5}}`:            `limits.processes: want a whole number, got a number (1.5)`,
		`{"extraLxcConfig":"lxc.x=1"}`:            `extraLxcConfig: want a list of strings, got a string`,
		`{"bindMounts":{"/x":{"hostPath":true}}}`: `hostPath: want a string, got a boolean`,
	}
	for in, want := range tests {
		_, err := DecodeSettings([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", in, err, want)
			continue
		}
		if goTypes.MatchString(err.Error()) {
			t.Errorf("%s: error %q names Go types", in, err)
		}
	}
}
