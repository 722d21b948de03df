package pgembed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenMustExist: a command that only acts on an existing application
// (OpenConfig.MustExist) never creates a cluster or a database: it fails
// with ErrNotFound naming the folder, and leaves nothing behind; on an
// existing one it works whether it starts the cluster or shares it.
func TestOpenMustExist(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	open := func(dir, database string, mustExist bool) (*DB, error) {
		return Open(ctx, OpenConfig{DataDir: dir, Database: database, Role: "app_role", MustExist: mustExist, Logger: testLogger(t)})
	}
	noPostgresRunning := func(t *testing.T, dir string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(dir, "postgres", "data", "postmaster.pid")); !os.IsNotExist(err) {
			t.Fatalf("a server is left running in %s (postmaster.pid: %v)", dir, err)
		}
	}

	t.Run("empty folder", func(t *testing.T) {
		dir := testDir(t)
		_, err := open(dir, "app", true)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), dir) {
			t.Fatalf("Open = %v, want ErrNotFound naming %s", err, dir)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("Open created %v in %s", entries, dir)
		}
	})
	t.Run("missing folder", func(t *testing.T) {
		dir := filepath.Join(testDir(t), "nothing", "here")
		if _, err := open(dir, "app", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Open = %v, want ErrNotFound", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("Open created %s (%v)", dir, err)
		}
	})

	// An application made without MustExist.
	dir := testDir(t)
	db, err := open(dir, "app", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE kept (v int)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("another database of an existing cluster", func(t *testing.T) {
		_, err := open(dir, "other", true)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"other"`) {
			t.Fatalf("Open = %v, want ErrNotFound naming the database", err)
		}
		noPostgresRunning(t, dir)
		// Not created: a later MustExist open still fails.
		if _, err := open(dir, "other", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Open = %v: the database was created", err)
		}
		noPostgresRunning(t, dir)
	})
	t.Run("starts the existing cluster", func(t *testing.T) {
		db, err := open(dir, "app", true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if db.Cluster == nil {
			t.Fatal("Open shared a cluster; none was running")
		}
		if _, err := db.Pool.Exec(ctx, `SELECT v FROM kept`); err != nil {
			t.Fatalf("not the existing database: %v", err)
		}
	})
	t.Run("shares the running cluster", func(t *testing.T) {
		owner, err := open(dir, "app", false)
		if err != nil {
			t.Fatal(err)
		}
		defer owner.Close()
		db, err := open(dir, "app", true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if db.Cluster != nil {
			t.Fatal("Open started a second cluster")
		}
		if _, err := open(dir, "other", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Open of a missing database on a shared cluster = %v", err)
		}
	})
	noPostgresRunning(t, dir)
}
