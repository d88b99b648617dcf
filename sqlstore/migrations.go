// Package sqlstore holds what Arena's SQL stores share whatever their
// database: how a schema is kept as numbered steps, what a build may do
// with a schema newer than itself, and the queries both speak alike but for
// their placeholders. Each store applies the steps with its own driver and
// transactions; sqlite and postgres differ there.
package sqlstore

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
)

// Migration is one step of a store's schema, from a file NNNN_name.sql. A
// step is never edited once released: a change of schema is a new file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

// Migrations returns the steps in the folder dir of fsys (a store's embedded
// files), in version order.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, err
	}
	return ReadMigrations(sub)
}

// ReadMigrations returns the steps in fsys's root in version order. Every
// file must be one: a name out of the pattern, a version below 1 or two
// files of one version are errors rather than steps left out.
func ReadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("migration %q is not named NNNN_name.sql", e.Name())
		}
		version, err := strconv.Atoi(m[1])
		if err != nil || version < 1 {
			return nil, fmt.Errorf("migration %q has no valid version", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: version, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}

// CheckNotNewer refuses a schema whose newest applied step is beyond the
// build's last one: an older build must not write to a schema it does not
// know.
func CheckNotNewer(newest int, ms []Migration) error {
	if len(ms) > 0 && newest > ms[len(ms)-1].Version {
		return fmt.Errorf("database schema is at version %d, newer than this build's %d", newest, ms[len(ms)-1].Version)
	}
	return nil
}
