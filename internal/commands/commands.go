// Package commands is the wire form of admin commands between the runtime
// and a module (sdk/ABI.md section 12): the body the host posts to
// abi.CommandPathPrefix+name, and the result a module answers, which the
// host decodes, validates and caps here before anyone shows it.
package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk/manifest"
)

// Limits of a command's result.
const (
	// MaxResult caps the module's answer body.
	MaxResult = 1 << 20
	// MaxColumns caps a table's columns.
	MaxColumns = 64
	// MaxRows caps a table's rows.
	MaxRows = 10000
	// MaxColumnName caps a column's name.
	MaxColumnName = 200
	// MaxError caps the error message of a failing command that is kept.
	MaxError = 2000
)

// Call is the body the host posts to abi.CommandPathPrefix+Command.
type Call struct {
	Command string `json:"command"`
	// Args are the arguments, checked against the manifest's declaration
	// with defaults filled in: an object.
	Args json.RawMessage `json:"args"`
	// Actor names who runs it: "admin NAME (id N)" from the admin UI,
	// "terminal (OS user)" from `websonic exec`. The admin, when there is
	// one, is also the call's user.
	Actor string `json:"actor"`
}

// Result is a command's answer: text, or a table (Columns set).
type Result struct {
	Text    string   `json:"text,omitempty"`
	Columns []string `json:"columns,omitempty"`
	// Rows hold scalar cells: string, json.Number, bool or nil; each row
	// has one cell per column.
	Rows [][]any `json:"rows,omitempty"`
}

// IsTable says whether r is a table.
func (r *Result) IsTable() bool { return r.Columns != nil }

// ErrBadResult: the module's answer is not a valid result.
var ErrBadResult = errors.New("commands: the module's result is not valid")

// ParseResult decodes and validates a module's 2xx answer: a JSON object
// with either "text" (a string) or "columns" (strings) and "rows" (arrays
// of as many scalars), nothing else, within the limits above, in valid
// UTF-8.
func ParseResult(body []byte) (*Result, error) {
	if len(body) > MaxResult {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadResult, len(body), MaxResult)
	}
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrBadResult)
	}
	var raw struct {
		Text    *string           `json:"text"`
		Columns []string          `json:"columns"`
		Rows    []json.RawMessage `json:"rows"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: want {\"text\": …} or {\"columns\": […], \"rows\": [[…]]}: %w", ErrBadResult, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the result object", ErrBadResult)
	}
	switch {
	case raw.Text != nil && (raw.Columns != nil || raw.Rows != nil):
		return nil, fmt.Errorf("%w: text and a table at once", ErrBadResult)
	case raw.Text != nil:
		return &Result{Text: *raw.Text}, nil
	case raw.Columns == nil:
		if raw.Rows != nil {
			return nil, fmt.Errorf("%w: rows without columns", ErrBadResult)
		}
		return nil, fmt.Errorf("%w: neither text nor columns", ErrBadResult)
	}
	if len(raw.Columns) == 0 || len(raw.Columns) > MaxColumns {
		return nil, fmt.Errorf("%w: %d columns (want 1 to %d)", ErrBadResult, len(raw.Columns), MaxColumns)
	}
	for i, c := range raw.Columns {
		if c == "" || len(c) > MaxColumnName {
			return nil, fmt.Errorf("%w: column %d: a name of 1 to %d bytes", ErrBadResult, i, MaxColumnName)
		}
	}
	if len(raw.Rows) > MaxRows {
		return nil, fmt.Errorf("%w: %d rows, more than %d", ErrBadResult, len(raw.Rows), MaxRows)
	}
	res := &Result{Columns: raw.Columns, Rows: make([][]any, 0, len(raw.Rows))}
	for i, rr := range raw.Rows {
		row, err := parseRow(rr, len(raw.Columns))
		if err != nil {
			return nil, fmt.Errorf("%w: row %d: %w", ErrBadResult, i, err)
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

func parseRow(raw json.RawMessage, columns int) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var cells []any
	if err := dec.Decode(&cells); err != nil {
		return nil, errors.New("not an array")
	}
	if len(cells) != columns {
		return nil, fmt.Errorf("%d cells for %d columns", len(cells), columns)
	}
	for j, c := range cells {
		switch c.(type) {
		case nil, string, bool, json.Number:
		default:
			return nil, fmt.Errorf("cell %d: not a string, number, boolean or null", j)
		}
	}
	return cells, nil
}

// Cell is a cell as text: strings as they are, null as "", others as
// JSON.
func Cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Printable makes text safe for a terminal: control characters other than
// newline and tab (escape sequences a module could send to move the
// cursor or retitle the window) become U+FFFD.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0)) {
			return r
		}
		return utf8.RuneError
	}, s)
}

// ErrorMessage is what is kept of a failing command's answer: valid UTF-8,
// at most MaxError bytes, trimmed.
func ErrorMessage(body []byte) string {
	if len(body) > MaxError {
		body = body[:MaxError]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(body), ""))
}

// Usage lists a command's arguments for an error or a listing:
// "--name string (required), --count integer (default 1)".
func Usage(c *manifest.AdminCommand) string {
	if len(c.Args) == 0 {
		return "no arguments"
	}
	parts := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		p := "--" + a.Name + " " + a.Type
		switch {
		case a.Required:
			p += " (required)"
		case len(a.Default) > 0:
			p += " (default " + string(a.Default) + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}
