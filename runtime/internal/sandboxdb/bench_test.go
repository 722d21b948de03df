package sandboxdb

import (
	"context"
	"testing"

	"github.com/websonic/websonic/sdk/abi"
)

// BenchmarkSession runs guest calls of one query each through a Session,
// one after the other, on a table like the bench module's: the host's side
// of the SDK's database path (acquire, reset, query, encode, release)
// without the guest. allocs/op is the figure to watch; ns/op includes
// PostgreSQL on the same machine.
func BenchmarkSession(b *testing.B) {
	cdb, _, _ := newBroker(b, Config{})
	ctx := context.Background()
	d, err := cdb.Open(ctx, testManifest("sessbench", nil, "001.sql"), nil, map[string][]byte{"001.sql": []byte(`
		CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, description text NOT NULL,
			price_cents bigint NOT NULL, updated_at timestamptz NOT NULL);
		INSERT INTO items SELECT g, 'Item ' || g, 'A plain item used by the benchmarks, number ' || g || '.', 100 + g * 7,
			timestamptz '2025-01-01 00:00:00+00' + g * interval '1 hour' FROM generate_series(1, 1000) AS g;`)}, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct{ name, sql string }{
		{"one-row", `SELECT id, name, description, price_cents, updated_at FROM items WHERE id = $1`},
		{"ten-rows", `SELECT id, name, description, price_cents, updated_at FROM items WHERE id > $1 ORDER BY id LIMIT 10`},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				req := abi.DBRequest{Op: abi.DBQuery, Conn: 1, SQL: c.sql, Args: []abi.Value{{Kind: abi.KindInt, Int: int64(i%990 + 1)}}}
				s := d.Session()
				out := s.Do(ctx, req.AppendMarshal(nil))
				if len(out) < 2 || out[0] != 0 {
					b.Fatalf("error result %q", out)
				}
				s.Close()
			}
		})
	}
}
