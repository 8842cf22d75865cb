package containers

import (
	"strings"
	"testing"
)

func TestReadSwitch(t *testing.T) {
	for _, c := range []struct {
		code            int
		out             string
		warn            string // a substring of the warning; "" for none
		restart, failed bool
	}{
		{code: 0, out: "activating the configuration...\n"},
		{code: 2, out: "setting up /etc...\nmount: /dev: permission denied.\nActivation script snippet 'specialfs' failed (32)\n",
			warn: "exited 2 (the activation script failed; units were switched): Activation script snippet 'specialfs' failed (32)"},
		{code: 2, out: "", warn: "units were switched): see the output above"},
		{code: 4, out: "starting the following units: a.service\nwarning: the following units failed: a.service, b.service\n\n● a.service\n",
			warn: "exited 4 (switched; failed units: a.service, b.service)"},
		{code: 4, out: "warning: user activation for alice failed\n", warn: "user activation failed for alice"},
		{code: 4, out: "warning: the following units failed: a\x1b]52;c;ZXZpbA==\x07.service\n", warn: "failed units: a?]52;c;ZXZpbA==?.service"},
		{code: 4, out: "", warn: "some units failed: see 'systemctl --failed'"},
		{code: 100, out: "", warn: "exited 100", restart: true},
		{code: 1, out: "Pre-switch check 'switchInhibitors' failed\nPre-switch checks failed\n", warn: "pre-switch checks refused", restart: true},
		{code: 1, out: "error: something else\n", failed: true},
		{code: 3, out: "", failed: true},
	} {
		v := readSwitch(c.code, c.out)
		if v.Restart != c.restart || v.Failed != c.failed {
			t.Errorf("exit %d %q: restart %v failed %v, want %v %v", c.code, c.out, v.Restart, v.Failed, c.restart, c.failed)
		}
		if (c.warn == "") != (v.Warning == "") || !strings.Contains(v.Warning, c.warn) {
			t.Errorf("exit %d %q: warning %q, want one containing %q", c.code, c.out, v.Warning, c.warn)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 5}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if got := b.String(); got != "cdefg" {
		t.Fatalf("tail %q, want cdefg", got)
	}
}

func TestPlainWriter(t *testing.T) {
	var b strings.Builder
	w := &plainWriter{w: &b}
	n, err := w.Write([]byte("ok\tunit\n\x1b[2J\x9b1m\r"))
	if err != nil || n != 16 {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if got := b.String(); got != "ok\tunit\n?[2J\uFFFD1m?" {
		t.Fatalf("wrote %q", got)
	}
}

func TestPlainWriterKeepsSplitRunes(t *testing.T) {
	var b strings.Builder
	w := &plainWriter{w: &b}
	bullet := []byte("● a.service\n")
	w.Write(bullet[:2])
	w.Write(bullet[2:])
	if got := b.String(); got != "● a.service\n" {
		t.Fatalf("wrote %q", got)
	}
}
