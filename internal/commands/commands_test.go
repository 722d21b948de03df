package commands

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseResult(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
		table      bool
	}{
		{"text", `{"text": "done\n"}`, true, false},
		{"empty text", `{"text": ""}`, true, false},
		{"table", `{"columns": ["a", "b"], "rows": [["x", 1], [true, null]]}`, true, true},
		{"table without rows", `{"columns": ["a"]}`, true, true},
		{"both", `{"text": "x", "columns": ["a"], "rows": []}`, false, false},
		{"neither", `{}`, false, false},
		{"rows alone", `{"rows": [[1]]}`, false, false},
		{"unknown field", `{"text": "x", "html": "<b>"}`, false, false},
		{"short row", `{"columns": ["a", "b"], "rows": [["x"]]}`, false, false},
		{"nested cell", `{"columns": ["a"], "rows": [[{"x": 1}]]}`, false, false},
		{"row not an array", `{"columns": ["a"], "rows": ["x"]}`, false, false},
		{"empty column name", `{"columns": [""], "rows": []}`, false, false},
		{"no columns", `{"columns": [], "rows": []}`, false, false},
		{"trailing data", `{"text": "x"} {"text": "y"}`, false, false},
		{"not JSON", `done`, false, false},
		{"invalid UTF-8", "{\"text\": \"\xff\"}", false, false},
		{"array", `[1]`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseResult([]byte(tc.body))
			if tc.ok != (err == nil) {
				t.Fatalf("ParseResult(%s) = %v, %v", tc.body, r, err)
			}
			if err != nil && !errors.Is(err, ErrBadResult) {
				t.Fatalf("error %v does not wrap ErrBadResult", err)
			}
			if err == nil && r.IsTable() != tc.table {
				t.Fatalf("IsTable = %v", r.IsTable())
			}
		})
	}
}

func TestParseResultLimits(t *testing.T) {
	big, _ := json.Marshal(map[string]string{"text": strings.Repeat("x", MaxResult)})
	if _, err := ParseResult(big); err == nil {
		t.Fatal("a result over MaxResult was accepted")
	}
	cols := make([]string, MaxColumns+1)
	for i := range cols {
		cols[i] = "c"
	}
	b, _ := json.Marshal(map[string]any{"columns": cols, "rows": [][]any{}})
	if _, err := ParseResult(b); err == nil {
		t.Fatal("too many columns were accepted")
	}
	rows := make([][]any, MaxRows+1)
	for i := range rows {
		rows[i] = []any{1}
	}
	b, _ = json.Marshal(map[string]any{"columns": []string{"n"}, "rows": rows})
	if _, err := ParseResult(b); err == nil {
		t.Fatal("too many rows were accepted")
	}
}

func TestPrintable(t *testing.T) {
	if got := Printable("a\x1b[2Jb\tc\nd\u009be"); got != "a\uFFFD[2Jb\tc\nd\uFFFDe" {
		t.Fatalf("Printable = %q", got)
	}
}

// FuzzParseResult: any answer a module sends is refused or becomes a
// result within the limits whose cells are scalars.
func FuzzParseResult(f *testing.F) {
	for _, s := range []string{`{"text": "x"}`, `{"columns": ["a"], "rows": [[1], ["b"], [null], [false]]}`, `{"columns": ["a"], "rows": [[[]]]}`, `{`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseResult(body)
		if err != nil {
			return
		}
		if !r.IsTable() {
			return
		}
		if len(r.Columns) == 0 || len(r.Columns) > MaxColumns || len(r.Rows) > MaxRows {
			t.Fatalf("limits: %d columns, %d rows", len(r.Columns), len(r.Rows))
		}
		for _, row := range r.Rows {
			if len(row) != len(r.Columns) {
				t.Fatalf("row of %d cells for %d columns", len(row), len(r.Columns))
			}
			for _, c := range row {
				switch c.(type) {
				case nil, string, bool, json.Number:
				default:
					t.Fatalf("cell %T", c)
				}
				_ = Cell(c)
			}
		}
	})
}
