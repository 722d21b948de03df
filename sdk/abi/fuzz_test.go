package abi_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/websonic/websonic/sdk/abi"
)

// The fuzzers check, for every decoder of input the other side controls:
// decoding never panics; a message that decodes re-encodes to at most its
// input's size (decoders accept non-minimal varints, encoders write minimal
// ones), the re-encoding decodes to an equal message, and encoding that
// again gives the same bytes.

func seed(f *testing.F, msg string) {
	for _, b := range encodings()[msg] {
		f.Add(b)
	}
	for _, tc := range malformed {
		if tc.msg == msg {
			f.Add([]byte(tc.in))
		}
	}
}

// fuzzMessage runs the shared property for one message type.
func fuzzMessage[M any, P interface {
	*M
	message
}](t *testing.T, data []byte, eq func(a, b *M) bool) {
	var m1 M
	if err := P(&m1).Unmarshal(data); err != nil {
		return
	}
	b1 := P(&m1).AppendMarshal(nil)
	if len(b1) > len(data) {
		t.Fatalf("re-encoding is %d bytes, input was %d", len(b1), len(data))
	}
	var m2 M
	if err := P(&m2).Unmarshal(b1); err != nil {
		t.Fatalf("re-encoding does not decode: %v\ninput %x\nre-encoding %x", err, data, b1)
	}
	if !eq(&m1, &m2) {
		t.Fatalf("decode(encode(m)) != m\nm  %+v\nm2 %+v", m1, m2)
	}
	if b2 := P(&m2).AppendMarshal(nil); !bytes.Equal(b1, b2) {
		t.Fatalf("encoding is not stable:\n%x\n%x", b1, b2)
	}
}

func FuzzHTTPRequest(f *testing.F) {
	seed(f, "http request")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzMessage(t, data, eqHTTPRequest)
		// UnmarshalAlias decodes the same message, or fails alike.
		var a, c abi.HTTPRequest
		errA, errC := a.UnmarshalAlias(bytes.Clone(data)), c.Unmarshal(data)
		if (errA == nil) != (errC == nil) || errA == nil && !eqHTTPRequest(&a, &c) {
			t.Fatalf("UnmarshalAlias: %+v, %v; Unmarshal: %+v, %v", a, errA, c, errC)
		}
	})
}

func FuzzHTTPResponse(f *testing.F) {
	seed(f, "http response")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzMessage(t, data, eqHTTPResponse)
		var m abi.HTTPResponse
		if m.Unmarshal(data) == nil && (m.Status < 200 || m.Status > 599) {
			t.Fatalf("status %d decoded", m.Status)
		}
	})
}

func FuzzLogRecord(f *testing.F) {
	seed(f, "log record")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzMessage(t, data, eqLogRecord)
		var m abi.LogRecord
		if m.Unmarshal(data) == nil && len(m.Attrs)%2 != 0 {
			t.Fatalf("odd attrs decoded: %q", m.Attrs)
		}
	})
}

func FuzzDBRequest(f *testing.F) {
	seed(f, "db request")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzMessage(t, data, func(a, b *abi.DBRequest) bool {
			return eqDBRequest(a, b) && decodedTimesUTC(a.Args)
		})
	})
}

func FuzzDBResult(f *testing.F) {
	seed(f, "db result")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzMessage(t, data, func(a, b *abi.DBResult) bool {
			for _, row := range a.Rows {
				if len(row) != len(a.Columns) || !decodedTimesUTC(row) {
					return false
				}
			}
			return eqDBResult(a, b)
		})
	})
}

// allocated returns the bytes the heap grew by per call of f, averaged.
func allocated(f func()) float64 {
	const runs = 50
	f() // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / runs
}

// TestHugeCountsAllocateNothing: a few bytes claiming 1<<60 items fail at
// once, without allocating for the items.
func TestHugeCountsAllocateNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	for _, tc := range malformed {
		if len(tc.in) > 32 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			dec := decoders[tc.msg]
			if n := allocated(func() { dec(tc.in) }); n > 1024 {
				t.Errorf("decoding %d bytes allocated %.0f bytes", len(tc.in), n)
			}
		})
	}
}

// TestAllocationIsLinear bounds what any decode may allocate by its input:
// at most one Value (80 bytes) and one row slice header (24) per input byte,
// so 128 bytes per input byte and a constant for the error.
func TestAllocationIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	check := func(msg string, in []byte) {
		dec := decoders[msg]
		if n, limit := allocated(func() { dec(in) }), float64(128*len(in)+1024); n > limit {
			t.Errorf("%s: decoding %d bytes allocated %.0f bytes (limit %.0f)", msg, len(in), n, limit)
		}
	}
	for msg, encs := range encodings() {
		for _, b := range encs {
			check(msg, b)
		}
	}
	// Worst cases: as many one-byte items as the input holds.
	n := 1 << 16
	check("db request", append(wire{}.b(1).u(0).s("").u(uint64(n)), make([]byte, n)...))
	check("db result", append(wire{}.b(0).u(1).s("").s("").u(uint64(n)), append(make([]byte, n), 0)...))
	check("log record", append(wire{}.s("").u(uint64(n)), make([]byte, n)...))
	check("http response", append(wire{}.i(200).u(uint64(n/2)), append(make([]byte, n), 0)...))
}
