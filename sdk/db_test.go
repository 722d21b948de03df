package sdk

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

// tenRows is the encoded result of the bench module's page query.
func tenRows() []byte {
	w := abi.NewResultWriter(nil, []abi.Column{{Name: "id", Type: "int8"}, {Name: "name", Type: "text"},
		{Name: "description", Type: "text"}, {Name: "price_cents", Type: "int8"}, {Name: "updated_at", Type: "timestamptz"}})
	for i := range int64(10) {
		for _, v := range []abi.Value{{Kind: abi.KindInt, Int: i}, {Kind: abi.KindText, Bytes: []byte("Item")},
			{Kind: abi.KindText, Bytes: []byte("A plain item used by the benchmarks.")}, {Kind: abi.KindInt, Int: 100 + i},
			{Kind: abi.KindTime, Time: time.Unix(1735689600+i*3600, 0)}} {
			w.AppendValue(&v)
		}
		w.EndRow()
	}
	return w.Finish(10)
}

// TestRowsValues: what the driver hands database/sql for each kind.
func TestRowsValues(t *testing.T) {
	var res abi.DBResult
	if err := res.Unmarshal(tenRows()); err != nil {
		t.Fatal(err)
	}
	r := &rows{res: &res}
	dest := make([]driver.Value, len(r.Columns()))
	n := 0
	for ; r.Next(dest) == nil; n++ {
		if dest[0] != int64(n) || dest[1] != "Item" || dest[2] != "A plain item used by the benchmarks." || dest[3] != int64(100+n) ||
			!dest[4].(time.Time).Equal(time.Unix(1735689600+int64(n)*3600, 0)) {
			t.Fatalf("row %d = %v", n, dest)
		}
	}
	if n != 10 || !errors.Is(r.Next(dest), io.EOF) {
		t.Fatalf("%d rows", n)
	}
}

// TestCheckNamedValue: the types the driver encodes pass as they are;
// the others go to database/sql's conversion.
func TestCheckNamedValue(t *testing.T) {
	for _, tt := range []struct {
		v    any
		pass bool
	}{
		{nil, true}, {int64(1), true}, {1.5, true}, {true, true}, {"s", true}, {[]byte("b"), true}, {time.Now(), true},
		{1, false}, {int32(1), false}, {sql.NullString{}, false}, {struct{}{}, false},
	} {
		err := (&conn{}).CheckNamedValue(&driver.NamedValue{Ordinal: 1, Value: tt.v})
		if (err == nil) != tt.pass || (!tt.pass && !errors.Is(err, driver.ErrSkip)) {
			t.Errorf("%T: %v, want pass %v", tt.v, err, tt.pass)
		}
	}
}

// BenchmarkRowsDecode decodes a ten-row result and hands its rows to
// database/sql's buffer, as the driver does in the module (natively here:
// allocs/op is what compares).
func BenchmarkRowsDecode(b *testing.B) {
	raw := tenRows()
	b.ReportAllocs()
	for b.Loop() {
		var res abi.DBResult
		if err := res.Unmarshal(append([]byte(nil), raw...)); err != nil {
			b.Fatal(err)
		}
		r := &rows{res: &res}
		dest := make([]driver.Value, len(res.Columns))
		for r.Next(dest) == nil {
		}
	}
}
