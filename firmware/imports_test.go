package firmware_test

import (
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// tinygoSafe lists the packages the core and wire may import: standard
// packages that TinyGo compiles for microcontrollers (its "Packages
// supported by TinyGo" table) and that pull in no reflection-heavy code.
// fmt, encoding/json, reflect, net, os/exec, log, sync-heavy or cgo
// packages are not here on purpose.
var tinygoSafe = map[string]bool{
	"encoding/binary": true, "errors": true, "math": true, "math/bits": true,
	"hash/crc32": true, "time": true, "bytes": true, "crypto/sha256": true,
	"crypto/ed25519": true, "unicode/utf8": true,
	"github.com/vibemon/vibemon/wire": true,
}

// TestImportsAreTinyGoSafe parses every non-test Go file of wire and the
// firmware core (files built without the tinygo tag) and checks each
// import against the allowlist.
func TestImportsAreTinyGoSafe(t *testing.T) {
	for _, dir := range []string{"../wire", "."} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if boardOnly(af.Comments) {
				continue
			}
			for _, imp := range af.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				if dir == "../wire" && strings.HasPrefix(p, "github.com/vibemon/") {
					t.Errorf("%s imports %s; wire imports nothing of ours", f, p)
				}
				if !tinygoSafe[p] {
					t.Errorf("%s imports %s, which is not on the TinyGo-safe list", f, p)
				}
			}
		}
	}
}

// boardOnly reports a file whose build constraint needs the tinygo tag.
func boardOnly(groups []*ast.CommentGroup) bool {
	for _, g := range groups {
		for _, c := range g.List {
			if expr, err := constraint.Parse(c.Text); err == nil {
				return !expr.Eval(func(tag string) bool { return tag != "tinygo" })
			}
		}
	}
	return false
}
