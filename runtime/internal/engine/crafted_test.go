package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

// Hand-assembled modules that attack the instrumentation. Found by review;
// each was a way to run past the deadline or around the memory limit.

func vec(items ...[]byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}
func str(s string) []byte { return append(binary.AppendUvarint(nil, uint64(len(s))), s...) }
func sec(id byte, body []byte) []byte {
	return append(append([]byte{id}, binary.AppendUvarint(nil, uint64(len(body)))...), body...)
}
func fn(body ...byte) []byte {
	b := append([]byte{0}, body...) // no locals
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// craft builds a minimal ABI-conforming module whose websonic_http body is httpBody.
func craft(httpBody []byte) []byte { return craft2(httpBody, []byte{0x41, 1, 0x0b}) }

func craft2(httpBody, verBody []byte) []byte {
	w := []byte("\x00asm\x01\x00\x00\x00")
	w = append(w, sec(1, vec(
		[]byte{0x60, 0, 0},                   // t0 ()->()
		[]byte{0x60, 0, 1, 0x7f},             // t1 ()->i32
		[]byte{0x60, 1, 0x7f, 1, 0x7f},       // t2 (i32)->i32
		[]byte{0x60, 2, 0x7f, 0x7f, 1, 0x7e}, // t3 (i32,i32)->i64
		[]byte{0x60, 1, 0x7f, 0},             // t4 (i32)->()
	))...)
	w = append(w, sec(2, vec(append(append(str("websonic"), str("yield")...), 0x00, 0)))...)
	w = append(w, sec(3, vec([]byte{0}, []byte{1}, []byte{2}, []byte{3}, []byte{4}))...)
	w = append(w, sec(5, vec([]byte{0, 1}))...)
	w = append(w, sec(7, vec(
		append(str("memory"), 2, 0),
		append(str(abi.ExportInitialize), 0, 1),
		append(str(abi.ExportABIVersion), 0, 2),
		append(str(abi.ExportAlloc), 0, 3),
		append(str(abi.ExportHTTP), 0, 4),
	))...)
	rec := fn(0x20, 0, 0x04, 0x40,
		0x20, 0, 0x41, 1, 0x6b, 0x10, 5,
		0x20, 0, 0x41, 1, 0x6b, 0x10, 5,
		0x0b, 0x0b)
	w = append(w, sec(10, vec(
		fn(0x0b),
		fn(verBody...),
		fn(0x41, 0x80, 0x08, 0x0b),
		fn(httpBody...),
		rec,
	))...)
	return w
}

// craftTable is craft with a funcref table 0 (min 0, no max).
func craftTable(httpBody []byte) []byte {
	w := craft(httpBody)
	// Insert a table section (id 4) after the function section (id 3):
	// find section 5 (memory) start and put the table before it.
	for i := 8; i < len(w); {
		id := w[i]
		n, k := binary.Uvarint(w[i+1:])
		if id == 5 {
			tbl := sec(4, vec([]byte{0x70, 0x00, 0x00}))
			return append(append(append([]byte(nil), w[:i]...), tbl...), w[i:]...)
		}
		i += 1 + k + int(n)
	}
	panic("no memory section")
}

// TestCraftedGuestsStopAtDeadline: loops and recursion (which runs no loop
// at all) both end at the deadline, even while the host collects garbage.
func TestCraftedGuestsStopAtDeadline(t *testing.T) {
	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"loop", []byte{0x03, 0x40, 0x0c, 0, 0x0b, 0x42, 0, 0x0b}},
		{"exponential recursion", []byte{0x41, 60, 0x10, 5, 0x42, 0, 0x0b}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, Config{CacheDir: t.TempDir()})
			m, err := e.Compile(context.Background(), "crafted", craft(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.NewPool(context.Background(), m, PoolConfig{Size: 1, CallTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := p.HTTP(context.Background(), &abi.HTTPRequest{Method: "GET", URI: "/"}, &CallEnv{})
				done <- err
			}()
			// Collect garbage for as long as the call runs, so collections
			// overlap the guest's run (a guest that never yields would
			// make one wait forever).
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
						runtime.GC()
					}
				}
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("err = %v, want ErrTimeout", err)
				}
			case <-time.After(60 * time.Second): // a hang detector, not a timing check
				t.Fatal("the guest was not stopped at its deadline")
			}
		})
	}
}

// TestCraftedModulesRefused: code the instrumenter must not accept.
func TestCraftedModulesRefused(t *testing.T) {
	e := newEngine(t, Config{CacheDir: t.TempDir()})
	for _, tt := range []struct {
		name string
		wasm []byte
		want string
	}{
		// global.set 0: invalid in the original (no globals), valid after
		// instrumentation (the fuel), so the guest could refill its fuel.
		{"touches the fuel global", craft([]byte{0x03, 0x40, 0x41, 0xe8, 0x07, 0x24, 0, 0x0c, 0, 0x0b, 0x42, 0, 0x0b}), "global index 0 out of range"},
		// ref.null func; i32.const 1<<27; table.grow 0: a GiB of host memory.
		{"table.grow", craftTable([]byte{0xd0, 0x70, 0x41, 0x80, 0x80, 0x80, 0xc0, 0x00, 0xfc, 15, 0, 0x1a, 0x42, 0, 0x0b}), "table.grow is not allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Compile(context.Background(), "crafted", tt.wasm)
			if !errors.Is(err, ErrInstrument) || !contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInstrument mentioning %q", err, tt.want)
			}
		})
	}
	if err := checkTables(vec([]byte{0x70, 0x00, 0x80, 0x80, 0x80, 0x01})); !errors.Is(err, ErrInstrument) {
		t.Fatalf("a table of 2^21 entries: err = %v", err)
	}
}

// TestABIVersionRunsUnderTheDeadline: a module whose version export loops
// fails to start instead of hanging the pool.
func TestABIVersionRunsUnderTheDeadline(t *testing.T) {
	e := newEngine(t, Config{CacheDir: t.TempDir()})
	m, err := e.Compile(context.Background(), "crafted", craft2([]byte{0x42, 0, 0x0b}, []byte{0x03, 0x40, 0x0c, 0, 0x0b, 0x41, 1, 0x0b}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.NewPool(context.Background(), m, PoolConfig{Size: 1, CallTimeout: 300 * time.Millisecond})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("NewPool hangs on a looping websonic_abi_version")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
