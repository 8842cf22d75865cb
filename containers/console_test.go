package containers

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The guest writes the console log: PrintLog keeps its terminal controls
// from the admin's terminal, drops carriage returns, and leaves a UTF-8
// sequence cut at the end of the file for the next call.
func TestPrintLogPlain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	log := "boot\r\n\x1b]0;pwned\x07\x1b[2Jok\té\r\n\xc3"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	off, err := PrintLog(path, 0, &b)
	if err != nil {
		t.Fatal(err)
	}
	if want := "boot\n?]0;pwned??[2Jok\té\n"; b.String() != want || off != int64(len(log)-1) {
		t.Errorf("printed %q up to %d, want %q up to %d", b.String(), off, want, len(log)-1)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\xa9\n")
	f.Close()
	b.Reset()
	if off, err = PrintLog(path, off, &b); err != nil || b.String() != "é\n" || off != int64(len(log)+2) {
		t.Errorf("then %q up to %d (%v)", b.String(), off, err)
	}
}
