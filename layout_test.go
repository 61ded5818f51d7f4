package vibemon_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/vibemon/vibemon"

// ourImports returns the module-internal packages that the non-test Go files
// of dir import (as paths relative to the module, "" for the root).
func ourImports(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if p == module {
				out[""] = true
			} else if rest, ok := strings.CutPrefix(p, module+"/"); ok {
				out[rest] = true
			}
		}
	}
	return out
}

// TestImportsPointTowardTheDomain guards the layout of STYLE.md: the root
// imports nothing of ours, the signal processing imports nothing of ours,
// adapters of outside dependencies never import each other, and only
// cmd/vibemon wires concrete adapters together.
func TestImportsPointTowardTheDomain(t *testing.T) {
	leaves := []string{"", "dsp", "anomaly", "web", "wire", "progress"} // import nothing of ours
	adapters := []string{"sqlite", "postgres", "redis", "inproc", "s3", "fsblob"}
	// Packages that serve HTTP or run logic take interfaces, not adapters.
	consumers := []string{"httpapi", "ws", "ingest", "alerting", "auth", "sim", "jobs", "notify", "gateway"}
	for _, p := range leaves {
		if imps := ourImports(t, dirOf(p)); len(imps) > 0 {
			t.Errorf("package %q imports %v; it must import nothing of ours", p, keys(imps))
		}
	}
	// The node firmware runs on a microcontroller: it shares the wire
	// codec with the server and nothing else.
	for imp := range ourImports(t, "firmware") {
		if imp != "wire" {
			t.Errorf("package firmware imports %q; it may import only wire", imp)
		}
	}
	for _, p := range append(adapters, consumers...) {
		if _, err := os.Stat(dirOf(p)); err != nil {
			continue
		}
		imps := ourImports(t, dirOf(p))
		for _, a := range adapters {
			if a != p && imps[a] {
				t.Errorf("package %q imports adapter %q; only cmd/vibemon wires adapters together", p, a)
			}
		}
	}
}

func dirOf(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
