package sandboxdb

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/websonic/websonic/sdk/abi"
)

// fastOIDs are the types fastValue decodes itself.
var fastOIDs = []uint32{
	pgtype.TextOID, pgtype.VarcharOID, pgtype.NameOID, pgtype.BPCharOID, pgtype.JSONOID, pgtype.JSONBOID,
	pgtype.Int8OID, pgtype.Int4OID, pgtype.Int2OID, pgtype.OIDOID, pgtype.Float8OID, pgtype.Float4OID,
	pgtype.BoolOID, pgtype.ByteaOID, pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.DateOID,
}

// encodeCell is the ABI encoding of one cell, to compare values exactly
// (NaN included).
func encodeCell(v abi.Value) []byte {
	return (&abi.DBResult{Columns: []abi.Column{{}}, Rows: [][]abi.Value{{v}}}).AppendMarshal(nil)
}

// checkSame fails if fastValue decodes raw differently from pgx (slowValue).
func checkSame(t *testing.T, tm *pgtype.Map, fd *pgconn.FieldDescription, raw []byte) {
	t.Helper()
	fast, ok := fastValue(fd, raw)
	if !ok {
		return
	}
	slow, err := slowValue(tm, fd, raw)
	if err != nil && (fd.DataTypeOID == pgtype.JSONOID || fd.DataTypeOID == pgtype.JSONBOID) {
		// pgx parses JSON only to check it; PostgreSQL never sends a json
		// or jsonb value that does not parse, and the document is sent as
		// it is either way.
		return
	}
	if err != nil {
		t.Fatalf("oid %d format %d raw %x: fast path took what pgx refuses (%v): %+v", fd.DataTypeOID, fd.Format, raw, err, fast)
	}
	if !bytes.Equal(encodeCell(fast), encodeCell(slow)) {
		t.Fatalf("oid %d format %d raw %x: fast %+v, pgx %+v", fd.DataTypeOID, fd.Format, raw, fast, slow)
	}
}

// TestFastValueAsPgx decodes real results of every type, with their edge
// values, both ways: the fast path must give exactly what pgx gives.
func TestFastValueAsPgx(t *testing.T) {
	_, admin, _ := newBroker(t, Config{})
	ctx := context.Background()
	q := `SELECT 'héllo'::text, 'vc'::varchar, 'nm'::name, 'pad'::char(5), '{"a": [1, 2]}'::json, '{"b": true}'::jsonb,
		(-9007199254740993)::int8, (-2147483648)::int4, (-32768)::int2, 4294967295::oid,
		'NaN'::float8, '-Infinity'::float8, 1.5::float4, true, false, '\x00ff'::bytea, ''::bytea,
		'2024-02-29 12:34:56.789123+00'::timestamptz, '1969-12-31 23:59:59.999999+00'::timestamptz, '0044-03-15 12:00:00 BC'::timestamptz,
		'infinity'::timestamptz, '-infinity'::timestamp, '1999-12-31 23:59:59.5'::timestamp,
		'2024-02-29'::date, '1900-01-01'::date, 'infinity'::date, '-infinity'::date,
		NULL::text, NULL::int8, (-12.50)::numeric, 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6'::uuid`
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		rows, err := admin.Query(ctx, q, mode)
		if err != nil {
			t.Fatal(err)
		}
		tm := pgtype.NewMap()
		n := 0
		for rows.Next() {
			fds := rows.FieldDescriptions()
			for i, raw := range rows.RawValues() {
				checkSame(t, tm, &fds[i], raw)
				if _, ok := fastValue(&fds[i], raw); ok {
					n++
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if mode == pgx.QueryExecModeCacheStatement && n < 24 {
			t.Errorf("only %d values took the fast path", n)
		}
	}
}

// FuzzFastValue: whatever bytes PostgreSQL sends for a type, the fast path
// either leaves them to pgx or decodes them as pgx does.
func FuzzFastValue(f *testing.F) {
	f.Add(uint8(0), true, []byte("text"))
	f.Add(uint8(6), true, []byte{0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Add(uint8(14), true, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(16), true, []byte{0x80, 0, 0, 0})
	f.Add(uint8(5), true, []byte{1, '{', '}'})
	tm := pgtype.NewMap()
	f.Fuzz(func(t *testing.T, which uint8, binary bool, raw []byte) {
		fd := pgconn.FieldDescription{DataTypeOID: fastOIDs[int(which)%len(fastOIDs)], Format: pgx.TextFormatCode}
		if binary {
			fd.Format = pgx.BinaryFormatCode
		}
		checkSame(t, tm, &fd, raw)
	})
}
