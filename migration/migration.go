// Package migration reads a store's embedded, versioned SQL migrations:
// files named "<version>_<name>.sql" in one directory of an fs.FS. Each
// store applies them in its own dialect and records them in its own
// schema_migrations table; this package only finds and orders them, so the
// naming rule is the same everywhere.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one embedded migration.
type Migration struct {
	Version int    // from the file name's leading number
	Name    string // the file name, e.g. "0002_waveforms.sql"
	SQL     string
}

// Load returns the migrations in dir of fsys ordered by version. It fails
// when a name does not start with a positive number and '_' or two files
// share a version, because applying them would then be ambiguous.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// Latest returns the highest version in fsys's dir, 0 when there is none
// or the names are malformed.
func Latest(fsys fs.FS, dir string) int {
	ms, err := Load(fsys, dir)
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Pending returns the migrations of ms whose version is not in applied, in
// version order. A migration numbered below one already applied (two
// branches each added one) is still pending: stores apply every missing
// one rather than only those above the highest applied, which would skip
// it silently.
func Pending(ms []Migration, applied map[int]bool) []Migration {
	var out []Migration
	for _, m := range ms {
		if !applied[m.Version] {
			out = append(out, m)
		}
	}
	return out
}
