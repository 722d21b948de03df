package migrate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/websonic/websonic/internal/migrate"
	"github.com/websonic/websonic/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestApply(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t).Pool(t, nil)
	files := fstest.MapFS{
		"m/001_a.sql": {Data: []byte(`CREATE TABLE a (id int); INSERT INTO a VALUES (1);`)},
		"m/002_b.sql": {Data: []byte(`INSERT INTO a VALUES (2);`)},
	}
	// Replicas starting together: every Apply succeeds, each file runs once.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- migrate.Apply(ctx, pool, files, "m", "test_migrations")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM a`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows = %d (%v), want 2: a migration ran twice or not at all", n, err)
	}
	// A failing migration leaves nothing of the batch behind.
	files["m/003_c.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO a VALUES (3);`)}
	files["m/004_bad.sql"] = &fstest.MapFile{Data: []byte(`SELECT * FROM missing;`)}
	if err := migrate.Apply(ctx, pool, files, "m", "test_migrations"); !errors.Is(err, migrate.ErrMigrate) {
		t.Fatalf("err = %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM a`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows = %d (%v), want 2 after a failed batch", n, err)
	}
	if err := migrate.Apply(ctx, pool, files, "m", `x"; DROP TABLE a; --`); !errors.Is(err, migrate.ErrMigrate) {
		t.Fatalf("bad table name: %v", err)
	}
}
