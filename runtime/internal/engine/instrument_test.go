package engine

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
)

func TestInstrument(t *testing.T) {
	wasm, err := hostileWasm()
	if err != nil {
		t.Fatal(err)
	}
	out, err := instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) <= len(wasm) {
		t.Fatalf("instrumented %d bytes into %d", len(wasm), len(out))
	}
	// Deterministic, so the compilation cache sees the same bytes.
	again, _ := instrument(wasm)
	if !bytes.Equal(out, again) {
		t.Fatal("instrument is not deterministic")
	}
	rt := wazero.NewRuntime(context.Background())
	defer rt.Close(context.Background())
	if _, err := rt.CompileModule(context.Background(), out); err != nil {
		t.Fatalf("instrumented module does not validate: %v", err)
	}
	for _, tt := range []struct {
		name string
		wasm []byte
	}{
		{"truncated", wasm[:len(wasm)/2]},
		{"not wasm", []byte("hello, world")},
		{"no yield import", []byte("\x00asm\x01\x00\x00\x00")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := instrument(tt.wasm); !errors.Is(err, ErrInstrument) {
				t.Fatalf("err = %v, want ErrInstrument", err)
			}
		})
	}
}

// FuzzInstrument feeds the instrumenter arbitrary bytes (it parses
// untrusted modules): it never panics, and whatever it accepts from a valid
// module is valid.
func FuzzInstrument(f *testing.F) {
	wasm, err := hostileWasm()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wasm[:4096])
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x0f\x01\x08websonic\x05yield\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x0a\x05\x01\x03\x00\x03\x40"))
	f.Fuzz(func(t *testing.T, b []byte) {
		instrument(b) // must not panic; errors are fine
	})
}
