package migration_test

import (
	"testing"
	"testing/fstest"

	"github.com/vibemon/vibemon/migration"
)

func TestLoadOrdersByVersionAndRejectsAmbiguousNames(t *testing.T) {
	good := fstest.MapFS{
		"m/0010_late.sql":  {Data: []byte("C")},
		"m/0002_next.sql":  {Data: []byte("B")},
		"m/0001_first.sql": {Data: []byte("A")},
		"m/README.md":      {Data: []byte("not a migration")},
	}
	ms, err := migration.Load(good, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, m := range ms {
		got += m.SQL
	}
	if got != "ABC" || ms[2].Version != 10 || ms[0].Name != "0001_first.sql" {
		t.Fatalf("Load = %+v, want versions 1, 2, 10 in order", ms)
	}
	if v := migration.Latest(good, "m"); v != 10 {
		t.Errorf("Latest = %d, want 10", v)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number":      {"m/init.sql": {Data: []byte("x")}},
		"zero":           {"m/0_init.sql": {Data: []byte("x")}},
		"shared version": {"m/0001_a.sql": {Data: []byte("x")}, "m/01_b.sql": {Data: []byte("y")}},
	} {
		if _, err := migration.Load(fsys, "m"); err == nil {
			t.Errorf("%s: Load accepted %v", name, fsys)
		}
	}
}
