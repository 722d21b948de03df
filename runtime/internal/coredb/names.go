package coredb

import (
	"io/fs"
	"slices"
)

// MigrationNames lists the core migrations this runtime has, named as
// public.websonic_schema_migrations records them ("migrations/001_core.sql"),
// in order.
func MigrationNames() []string {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	slices.Sort(names)
	return names
}
