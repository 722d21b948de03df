package sitedump

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestScratchDropsStale: a scratch database that a killed Verify left
// (named as NewScratch names them, an hour old, no session, made by the
// same role) is dropped when the next one is made; a recent one, one in
// use, another role's, and databases whose names merely look alike stay.
func TestScratchDropsStale(t *testing.T) {
	s := newSite(t)
	_, stream := s.dump(t)
	ctx := context.Background()
	su, err := pgx.Connect(ctx, s.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { su.Close(context.Background()) })
	prov := s.db.Pool(t, nil)
	cfg := s.cfg
	cfg.Scratch = ProvisioningScratch(prov) // its role has CREATEDB
	var base string
	if err := prov.QueryRow(ctx, `SELECT current_database()`).Scan(&base); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour).Unix()
	names := map[string]bool{ // name: dropped
		fmt.Sprintf("%s_scratch_%d_0badc0de", base, old):                                    true,
		fmt.Sprintf("%s_scratch_%d_0badc0df", base, time.Now().Unix()):                      false, // recent
		fmt.Sprintf("%s_scratch_%d_0badc0e0", base, old):                                    false, // in use
		fmt.Sprintf("%s_scratch_%d_0badc0e1", "x"+base, old):                                false, // another site's
		fmt.Sprintf("%s_scratch_%d_0badc0e2_copy", base, old):                               false, // not a scratch name
		fmt.Sprintf("%s_scratch_%d_0badc0e3", base, time.Now().Add(-59*time.Minute).Unix()): false,
	}
	otherRole := fmt.Sprintf("%s_scratch_%d_0badc0e4", base, old)
	names[otherRole] = false
	for n := range names {
		creator := prov.Exec
		if n == otherRole {
			creator = func(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
				return su.Exec(ctx, q, args...)
			}
		}
		if _, err := creator(ctx, "CREATE DATABASE "+ident(n)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { su.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(n)+" WITH (FORCE)") })
	}
	inUse, err := pgx.Connect(ctx, replaceDB(t, s.db.AdminURL, fmt.Sprintf("%s_scratch_%d_0badc0e0", base, old)))
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close(ctx)

	rep, err := Verify(ctx, cfg, bytes.NewReader(stream))
	if err != nil || !rep.OK {
		t.Fatalf("Verify: %v", err)
	}
	for n, dropped := range names {
		var exists bool
		if err := su.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, n).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists == dropped {
			t.Errorf("%s: exists %v, want dropped %v", n, exists, dropped)
		}
	}
}
