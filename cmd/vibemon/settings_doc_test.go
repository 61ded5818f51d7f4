package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEverySettingIsDocumented: each VIBEMON_* variable the binary reads is
// explained in README.md or in docs/, so an admin can find every setting.
func TestEverySettingIsDocumented(t *testing.T) {
	code, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, f := range append(docs, "../../README.md") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(b)
	}
	name := regexp.MustCompile(`"(VIBEMON_[A-Z0-9_]+)"`)
	seen := map[string]bool{}
	for _, f := range code {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
		}
	}
	if len(seen) < 10 {
		t.Fatalf("found only %d settings in the code: the pattern no longer matches how settings are read", len(seen))
	}
	for v := range seen {
		if !strings.Contains(text.String(), v) {
			t.Errorf("%s is read by the binary but explained neither in README.md nor in docs/", v)
		}
	}
}
