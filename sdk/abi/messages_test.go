package abi_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/websonic/websonic/sdk/abi"
)

// message is what every ABI message implements.
type message interface {
	AppendMarshal([]byte) []byte
	Unmarshal([]byte) error
}

func TestHTTPRequestRoundTrip(t *testing.T) {
	for _, tc := range httpRequests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.msg.AppendMarshal(nil)
			var got abi.HTTPRequest
			if err := got.Unmarshal(b); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !eqHTTPRequest(&got, &tc.msg) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.msg)
			}
		})
	}
}

func TestHTTPResponseRoundTrip(t *testing.T) {
	for _, tc := range httpResponses {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.msg.AppendMarshal(nil)
			var got abi.HTTPResponse
			if err := got.Unmarshal(b); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !eqHTTPResponse(&got, &tc.msg) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.msg)
			}
		})
	}
}

func TestLogRecordRoundTrip(t *testing.T) {
	for _, tc := range logRecords {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.msg.AppendMarshal(nil)
			var got abi.LogRecord
			if err := got.Unmarshal(b); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !eqLogRecord(&got, &tc.msg) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.msg)
			}
		})
	}
}

func TestDBRequestRoundTrip(t *testing.T) {
	for _, tc := range dbRequests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.msg.AppendMarshal(nil)
			var got abi.DBRequest
			if err := got.Unmarshal(b); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !eqDBRequest(&got, &tc.msg) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.msg)
			}
			if !decodedTimesUTC(got.Args) {
				t.Errorf("decoded times are not in UTC: %+v", got.Args)
			}
		})
	}
}

func TestDBResultRoundTrip(t *testing.T) {
	for _, tc := range dbResults {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.msg.AppendMarshal(nil)
			var got abi.DBResult
			if err := got.Unmarshal(b); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !eqDBResult(&got, &tc.msg) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.msg)
			}
			for _, row := range got.Rows {
				if len(row) != len(got.Columns) {
					t.Errorf("row of %d values for %d columns", len(row), len(got.Columns))
				}
				if !decodedTimesUTC(row) {
					t.Errorf("decoded times are not in UTC: %+v", row)
				}
			}
		})
	}
}

// TestTimeEncoding pins the wire form of a time: Unix seconds (zig-zag
// varint) then nanoseconds (uvarint), so other languages can rely on it.
func TestTimeEncoding(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sec, nsec int64
	}{
		{"epoch", 0, 0},
		{"nanoseconds", 1709251199, 123456789},
		{"negative seconds", -14182940, 999999999},
		{"just before epoch", -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := abi.DBRequest{Op: abi.DBQuery, Args: []abi.Value{{Kind: abi.KindTime, Time: timeOf(tc.sec, tc.nsec)}}}
			want := wire{}.b(byte(abi.DBQuery)).u(0).s("").u(1).b(byte(abi.KindTime)).i(tc.sec).u(uint64(tc.nsec))
			if got := req.AppendMarshal(nil); !bytes.Equal(got, want) {
				t.Errorf("encoding = %x, want %x", got, want)
			}
		})
	}
}

// TestAppendMarshalAppends checks that every encoder appends to (and keeps)
// the caller's bytes.
func TestAppendMarshalAppends(t *testing.T) {
	msgs := []message{&httpRequests[2].msg, &httpResponses[1].msg, &logRecords[2].msg, &dbRequests[1].msg, &dbResults[6].msg}
	for _, m := range msgs {
		alone := m.AppendMarshal(nil)
		got := m.AppendMarshal([]byte("prefix"))
		if !bytes.Equal(got, append([]byte("prefix"), alone...)) {
			t.Errorf("%T: AppendMarshal did not append", m)
		}
	}
}

func TestResultWriterMatchesAppendMarshal(t *testing.T) {
	for _, tc := range dbResults {
		if tc.msg.Err != nil {
			continue
		}
		for _, prefix := range [][]byte{nil, []byte("xyz"), make([]byte, 3, 1024)} {
			t.Run(tc.name, func(t *testing.T) {
				want := tc.msg.AppendMarshal(bytes.Clone(prefix))
				w := abi.NewResultWriter(bytes.Clone(prefix), tc.msg.Columns)
				for _, row := range tc.msg.Rows {
					for i := range row {
						w.AppendValue(&row[i])
					}
					w.EndRow()
				}
				if n := w.Len(); n < len(want)-10 || n > len(want)+10 {
					t.Errorf("Len() = %d, encoding is %d bytes", n, len(want))
				}
				got := w.Finish(tc.msg.RowsAffected)
				if !bytes.Equal(got, want) {
					t.Errorf("Finish:\n got %x\nwant %x", got, want)
				}
			})
		}
	}
}

func TestPackResult(t *testing.T) {
	for _, tc := range []struct{ ptr, n uint32 }{{0, 0}, {1, 2}, {math.MaxUint32, 0}, {0, math.MaxUint32}, {math.MaxUint32, math.MaxUint32}, {0x12345678, 0x9abcdef0}} {
		v := abi.PackResult(tc.ptr, tc.n)
		if v != uint64(tc.ptr)<<32|uint64(tc.n) {
			t.Errorf("PackResult(%#x, %#x) = %#x", tc.ptr, tc.n, v)
		}
		if p, n := abi.UnpackResult(v); p != tc.ptr || n != tc.n {
			t.Errorf("UnpackResult(%#x) = %#x, %#x", v, p, n)
		}
	}
}

func TestDBErrorError(t *testing.T) {
	if got := (&abi.DBError{Code: "42501", Message: "permission denied"}).Error(); got != "permission denied (SQLSTATE 42501)" {
		t.Errorf("with code: %q", got)
	}
	if got := (&abi.DBError{Message: "no database"}).Error(); got != "no database" {
		t.Errorf("without code: %q", got)
	}
}

// decoders maps a message name to a fresh decoder, for tables of raw input.
var decoders = map[string]func([]byte) error{
	"http request":  func(b []byte) error { var m abi.HTTPRequest; return m.Unmarshal(b) },
	"http response": func(b []byte) error { var m abi.HTTPResponse; return m.Unmarshal(b) },
	"log record":    func(b []byte) error { var m abi.LogRecord; return m.Unmarshal(b) },
	"db request":    func(b []byte) error { var m abi.DBRequest; return m.Unmarshal(b) },
	"db result":     func(b []byte) error { var m abi.DBResult; return m.Unmarshal(b) },
	"host call":     func(b []byte) error { var m abi.HostCall; return m.Unmarshal(b) },
	"host reply":    func(b []byte) error { var m abi.HostReply; return m.Unmarshal(b) },
}

// malformed is a table of inputs every decoder must refuse.
var malformed = []struct {
	name string
	msg  string // key of decoders
	in   []byte
}{
	// Empty and truncated input.
	{"empty request", "http request", nil},
	{"empty response", "http response", nil},
	{"empty log", "log record", nil},
	{"empty db request", "db request", nil},
	{"empty db result", "db result", nil},
	{"request without has_user", "http request", wire{}.s("GET").s("/").s("").s("").s("").u(0).s("")},
	{"request user truncated", "http request", wire{}.s("GET").s("/").s("").s("").s("").u(0).s("").b(1).i(1).s("ada")},
	{"string longer than input", "log record", wire{}.u(100).b('h', 'i')},
	{"bad uvarint", "log record", wire{}.b(0x80)},
	{"uvarint overflow", "log record", wire{}.b(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02).u(0)},
	{"varint overflow", "http response", wire{}.b(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).u(0).s("")},
	{"float truncated", "db request", wire{}.b(1).u(0).s("").u(1).b(byte(abi.KindFloat), 0, 0, 0, 0)},
	{"time nsec missing", "db request", wire{}.b(1).u(0).s("").u(1).b(byte(abi.KindTime)).i(5)},
	{"result rows truncated", "db result", wire{}.b(0).u(1).s("id").s("int8").u(2).b(byte(abi.KindInt)).i(1)},
	{"result rows_affected missing", "db result", wire{}.b(0).u(0).u(0)},
	{"result error message missing", "db result", wire{}.b(1).s("42501")},

	// Trailing bytes.
	{"response trailing", "http response", wire{}.i(200).u(0).s("").b(0)},
	{"log trailing", "log record", wire{}.s("m").u(0).b(0)},
	{"db request trailing", "db request", wire{}.b(byte(abi.DBClose)).u(0).s("").u(0).b(0)},
	{"db result trailing", "db result", wire{}.b(0).u(0).u(0).i(0).b(0)},
	{"db error trailing", "db result", wire{}.b(1).s("").s("boom").b(0)},
	{"request trailing", "http request", append(httpRequests[2].msg.AppendMarshal(nil), 0)},

	// Out-of-range enums and values.
	{"bad kind", "db request", wire{}.b(1).u(0).s("").u(1).b(9)},
	{"bad kind 255", "db result", wire{}.b(0).u(1).s("c").s("t").u(1).b(255).i(0)},
	{"op zero", "db request", wire{}.b(0).u(0).s("").u(0)},
	{"op past close", "db request", wire{}.b(7).u(0).s("").u(0)},
	{"conn past uint32", "db request", wire{}.b(1).u(1 << 32).s("").u(0)},
	{"time nsec of a second", "db request", wire{}.b(1).u(0).s("").u(1).b(byte(abi.KindTime)).i(0).u(1e9)},
	{"bad bool has_user", "http request", wire{}.s("GET").s("/").s("").s("").s("").u(0).s("").b(2)},
	{"bad bool has_err", "db result", wire{}.b(2).s("").s("")},
	{"bad bool value", "db request", wire{}.b(1).u(0).s("").u(1).b(byte(abi.KindBool), 2)},
	{"odd log attrs", "log record", wire{}.s("m").u(3).s("a").s("b").s("c")},
	{"odd log attrs one", "log record", wire{}.s("m").u(1).s("key")},
	{"status 0", "http response", wire{}.i(0).u(0).s("")},
	{"status 99", "http response", wire{}.i(99).u(0).s("")},
	{"status 1000", "http response", wire{}.i(1000).u(0).s("")},
	{"status negative", "http response", wire{}.i(-200).u(0).s("")},
	{"rows without columns", "db result", wire{}.b(0).u(0).u(1).i(0)},

	// Counts no input could hold.
	{"huge header count", "http request", wire{}.s("").s("").s("").s("").s("").u(1 << 60)},
	{"huge response header count", "http response", wire{}.i(200).u(1 << 60)},
	{"huge role count", "http request", wire{}.s("").s("").s("").s("").s("").u(0).s("").b(1).i(1).s("").s("").u(1 << 60)},
	{"huge attr count", "log record", wire{}.s("").u(1 << 60)},
	{"huge arg count", "db request", wire{}.b(1).u(0).s("").u(1 << 60)},
	{"huge column count", "db result", wire{}.b(0).u(1 << 60)},
	{"huge row count", "db result", wire{}.b(0).u(1).s("").s("").u(1 << 60)},
	{"max uint64 count", "log record", wire{}.s("").u(math.MaxUint64)},
	{"header count exceeds input", "http response", wire{}.i(200).u(3).s("a").s("b")},
	{"row count exceeds cells", "db result", wire{}.b(0).u(2).s("a").s("b").u(2).b(0, 0).i(0)},
	{"huge body length", "http response", wire{}.i(200).u(0).u(1 << 62)},
}

func TestMalformed(t *testing.T) {
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			err := decoders[tc.msg](tc.in)
			if !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("%s: error = %v, want ErrMalformed", tc.msg, err)
			}
		})
	}
}

// encodings returns one encoding of every round-trip case, by decoder.
func encodings() map[string][][]byte {
	out := map[string][][]byte{}
	for _, tc := range httpRequests {
		out["http request"] = append(out["http request"], tc.msg.AppendMarshal(nil))
	}
	for _, tc := range httpResponses {
		out["http response"] = append(out["http response"], tc.msg.AppendMarshal(nil))
	}
	for _, tc := range logRecords {
		out["log record"] = append(out["log record"], tc.msg.AppendMarshal(nil))
	}
	for _, tc := range dbRequests {
		out["db request"] = append(out["db request"], tc.msg.AppendMarshal(nil))
	}
	for _, tc := range dbResults {
		out["db result"] = append(out["db result"], tc.msg.AppendMarshal(nil))
	}
	for _, m := range hostCalls {
		out["host call"] = append(out["host call"], m.AppendMarshal(nil))
	}
	for _, m := range hostReplies {
		out["host reply"] = append(out["host reply"], m.AppendMarshal(nil))
	}
	return out
}

// TestEveryPrefixAndExtensionFails: every field is mandatory and nothing may
// follow the last, so each strict prefix of a valid encoding and each valid
// encoding plus one byte must fail.
func TestEveryPrefixAndExtensionFails(t *testing.T) {
	for msg, encs := range encodings() {
		dec := decoders[msg]
		for _, b := range encs {
			if len(b) > 4096 {
				b = b[:4096] // the long bodies add nothing
				if dec(b) == nil {
					t.Fatalf("%s: cut encoding decodes", msg)
				}
				continue
			}
			for i := range len(b) {
				if err := dec(b[:i]); !errors.Is(err, abi.ErrMalformed) {
					t.Errorf("%s: prefix %x of %x: error = %v, want ErrMalformed", msg, b[:i], b, err)
				}
			}
			if err := dec(append(bytes.Clone(b), 0)); !errors.Is(err, abi.ErrMalformed) {
				t.Errorf("%s: %x plus a byte: error = %v, want ErrMalformed", msg, b, err)
			}
		}
	}
}

// TestErrorsNameTheMessage checks that decoding errors say what was being
// decoded and which field failed, for the host's logs.
func TestErrorsNameTheMessage(t *testing.T) {
	var r abi.HTTPResponse
	err := r.Unmarshal(wire{}.i(42).u(0).s(""))
	if err == nil || err.Error() != "abi: malformed message: http response: status 42 out of range" {
		t.Errorf("error = %v", err)
	}
	var q abi.DBRequest
	err = q.Unmarshal(wire{}.b(1).u(0).s("").u(1).b(9))
	if err == nil || err.Error() != "abi: malformed message: db request: value.kind: unknown kind 9" {
		t.Errorf("error = %v", err)
	}
}
