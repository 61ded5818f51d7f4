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

func TestPendingIncludesAMissingLowerVersion(t *testing.T) {
	ms := []migration.Migration{{Version: 1, Name: "0001_a.sql"}, {Version: 5, Name: "0005_b.sql"}, {Version: 7, Name: "0007_c.sql"}, {Version: 9, Name: "0009_d.sql"}}
	got := migration.Pending(ms, map[int]bool{1: true, 9: true})
	if len(got) != 2 || got[0].Version != 5 || got[1].Version != 7 {
		t.Fatalf("pending %+v, want 0005 and 0007 (applied 0001 and 0009)", got)
	}
	if got := migration.Pending(ms, map[int]bool{1: true, 5: true, 7: true, 9: true}); len(got) != 0 {
		t.Fatalf("pending %+v with everything applied, want none", got)
	}
}
