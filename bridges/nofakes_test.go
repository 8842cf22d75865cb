package bridges

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoFakesInBinary keeps the test doubles out of the package's non-test
// files, so they are not compiled into the binary.
func TestNoFakesInBinary(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for name := range file.Scope.Objects {
			if strings.HasPrefix(strings.ToLower(name), "fake") {
				t.Errorf("%s declares %s: test doubles belong in _test.go files", f, name)
			}
		}
	}
}
