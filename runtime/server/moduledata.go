package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// ModuleExportFormat names the layout of a module data export archive.
const ModuleExportFormat = "websonic-module-export/1"

// ModuleExportManifest is manifest.json in a module data export: the
// module, its version, and the file of each table (tables/<name>.json, a
// JSON array of its rows as objects).
type ModuleExportManifest struct {
	Format  string            `json:"format"`
	Module  string            `json:"module"`
	Version string            `json:"version"`
	Schema  string            `json:"schema"`
	Created time.Time         `json:"created"`
	Tables  map[string]string `json:"tables"` // table → file
}

// ExportModule writes a zip archive of a running module's data to w: each
// table of its schema as JSON, read as the module's own role through its
// own pool (so nothing the module created runs with the runtime's
// privileges), within maxExportArchive bytes.
func (s *Server) ExportModule(ctx context.Context, name string, w io.Writer) error {
	m := s.Module(name)
	if m == nil || m.DB() == nil {
		return fmt.Errorf("%w: %s is not running here: start it, or export its schema with `pg_dump --schema=%s`", ErrNoSuchModule, name, sandboxdb.Schema(name))
	}
	schema := sandboxdb.Schema(name)
	pool := m.DB().Pool()
	rows, err := pool.Query(ctx, `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`, schema)
	if err != nil {
		return fmt.Errorf("server: export %s: %w", name, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("server: export %s: %w", name, err)
	}
	zw := zip.NewWriter(w)
	man := ModuleExportManifest{Format: ModuleExportFormat, Module: name, Version: m.Manifest().Version, Schema: schema,
		Created: time.Now().UTC(), Tables: map[string]string{}}
	var total int64
	for _, t := range tables {
		file := "tables/" + t + ".json"
		fw, err := zw.Create(file)
		if err != nil {
			return err
		}
		q := `SELECT coalesce(json_agg(to_jsonb(t)), '[]')::text FROM ` + pgx.Identifier{schema, t}.Sanitize() + ` t`
		var doc string
		if err := pool.QueryRow(ctx, q).Scan(&doc); err != nil {
			return fmt.Errorf("server: export %s: table %s: %w", name, t, err)
		}
		if total += int64(len(doc)); total > maxExportArchive {
			return fmt.Errorf("server: export %s: its data is more than %d bytes: export its schema with `pg_dump --schema=%s`", name, maxExportArchive, schema)
		}
		if _, err := io.WriteString(fw, doc); err != nil {
			return err
		}
		man.Tables[t] = file
	}
	fw, err := zw.Create("manifest.json")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(fw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(man); err != nil {
		return err
	}
	return zw.Close()
}

// exportModuleRequest answers the module_export request: the archive in
// JSON (as a user export's).
func (s *Server) exportModuleRequest(ctx context.Context, name string) (string, error) {
	var buf bytes.Buffer
	if err := s.ExportModule(ctx, name, &buf); err != nil {
		return "", err
	}
	b, err := json.Marshal(exportResult{Archive: buf.Bytes()})
	return string(b), err
}

// ExportModule asks a runtime serving the site for an archive of module
// name's data (see Server.ExportModule) and writes it to w. The archive
// leaves the request queue once delivered.
func (c *Console) ExportModule(ctx context.Context, name string, w io.Writer, opts RequestOptions) error {
	id, out, err := c.request(ctx, ModuleRequest{Action: actionModuleExport, Module: name, Actor: opts.actor()}, opts)
	if err != nil {
		return err
	}
	if _, err := c.db.Pool.Exec(ctx, `UPDATE websonic.module_requests SET result = '' WHERE id = $1`, id); err != nil {
		return fmt.Errorf("server: clear the export from the request queue: %w", err)
	}
	var res exportResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return fmt.Errorf("server: the runtime's export: %w", err)
	}
	_, err = w.Write(res.Archive)
	return err
}

// Uninstall asks a runtime serving the site to uninstall module name
// (Server.UninstallModule): its routes go, then its schema, role and
// records are dropped for good.
func (c *Console) Uninstall(ctx context.Context, name string, opts RequestOptions) (string, error) {
	return c.Request(ctx, ModuleRequest{Action: actionUninstall, Module: name, Actor: opts.actor()}, opts)
}

// Available asks a runtime serving the site what its registry offers
// (updater.Updater.Catalogue).
func (c *Console) Available(ctx context.Context, opts RequestOptions) ([]updater.Offer, error) {
	res, err := c.Request(ctx, ModuleRequest{Action: "available", Actor: opts.actor()}, opts)
	if err != nil {
		return nil, err
	}
	var offers []updater.Offer
	if err := json.Unmarshal([]byte(res), &offers); err != nil {
		return nil, fmt.Errorf("server: the runtime's catalogue: %w", err)
	}
	return offers, nil
}

// ModuleData is what uninstalling a module drops.
type ModuleData struct {
	Module string
	Schema string   // its database schema
	Role   string   // its database role
	Tables []string // the tables of its schema
	Used   int64    // bytes, at the last storage check
}

// ModuleData says what uninstalling module name drops, from the database's
// catalogue (nothing of the module's runs).
func (c *Console) ModuleData(ctx context.Context, name string) (*ModuleData, error) {
	return moduleData(ctx, c.db, name)
}

func moduleData(ctx context.Context, db *database, name string) (*ModuleData, error) {
	d := &ModuleData{Module: name, Schema: sandboxdb.Schema(name), Role: db.Roles.ModuleRole(name)}
	err := db.Pool.QueryRow(ctx, `SELECT coalesce((SELECT storage_used FROM websonic.modules WHERE name = $1), 0)`, name).Scan(&d.Used)
	if err != nil {
		return nil, fmt.Errorf("server: module data of %s: %w", name, err)
	}
	rows, err := db.Pool.Query(ctx, `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`, d.Schema)
	if err != nil {
		return nil, fmt.Errorf("server: module data of %s: %w", name, err)
	}
	if d.Tables, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, fmt.Errorf("server: module data of %s: %w", name, err)
	}
	return d, nil
}
