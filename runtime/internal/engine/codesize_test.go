package engine

import (
	"context"
	"fmt"
	"reflect"
	"testing"
)

func TestAddedSpans(t *testing.T) {
	for _, tt := range []struct {
		before, after, want []span
	}{
		{nil, []span{{10, 20}}, []span{{10, 20}}},
		{[]span{{10, 20}}, []span{{10, 20}}, nil},
		{[]span{{10, 20}}, []span{{10, 30}}, []span{{20, 30}}},                     // merged with an older one
		{[]span{{10, 20}}, []span{{0, 30}}, []span{{0, 10}, {20, 30}}},             // on both sides
		{[]span{{10, 20}, {40, 50}}, []span{{10, 50}}, []span{{20, 40}}},           // between two
		{[]span{{10, 20}, {40, 50}}, []span{{40, 50}, {60, 70}}, []span{{60, 70}}}, // one gone, one new
		{[]span{{10, 20}}, []span{{0, 5}, {10, 20}, {25, 30}}, []span{{0, 5}, {25, 30}}},
	} {
		if got := added(tt.before, tt.after); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("added(%v, %v) = %v, want %v", tt.before, tt.after, got, tt.want)
		}
	}
}

// TestMachineCodeFromFile: a compiled module's machine code is found, mapped
// from a file (only what runs becomes resident) unless AnonymousCode, and
// the module serves the same either way.
func TestMachineCodeFromFile(t *testing.T) {
	if !canMap {
		t.Skip("Linux only")
	}
	for _, anon := range []bool{false, true} {
		t.Run(fmt.Sprintf("anonymous=%v", anon), func(t *testing.T) {
			e := newEngine(t, Config{CacheDir: t.TempDir(), AnonymousCode: anon})
			p := hostilePool(t, e, PoolConfig{Size: 1})
			for range 3 {
				if resp, err := get(p, "/hostile/ok"); err != nil || string(resp.Body) != "ok" {
					t.Fatalf("call: %v", err)
				}
			}
			m := p.m
			if m.code == nil || m.fileBacked == anon {
				t.Fatalf("code %v, file-backed %v", m.code, m.fileBacked)
			}
			total, res := size(m.code), m.codeBytes()

			t.Logf("machine code: %d KiB, %d KiB resident", total>>10, res>>10)
			if anon && res != total {
				t.Errorf("anonymous code: %d of %d bytes counted", res, total)
			}
			if !anon && (res <= 0 || res >= total) {
				t.Errorf("file-backed code: %d of %d bytes resident, want some but not all", res, total)
			}
			now, err := execSpans()
			if err != nil {
				t.Fatal(err)
			}
			want := size(m.code) // no anonymous mapping covers the code
			if anon {
				want = 0 // all of it
			}
			if got := size(added(now, m.code)); got != want {
				t.Errorf("%d bytes of the code %v outside the anonymous executable mappings %v, want %d", got, m.code, now, want)
			}
			// A second compilation of the same bytes shares the code.
			wasm, _ := hostileWasm()
			m2, err := e.Compile(context.Background(), "again", wasm)
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close(context.Background())
			if !reflect.DeepEqual(m2.code, m.code) || m2.fileBacked != m.fileBacked {
				t.Errorf("the same bytes again: code %v (%v), want %v (%v)", m2.code, m2.fileBacked, m.code, m.fileBacked)
			}
		})
	}
}

// TestConcurrentEnginesCompile: engines compiling at once, while others
// close their modules, each map only their own machine code from a file,
// and every module serves (the mappings are the process's, so compiles are
// serialised across engines).
func TestConcurrentEnginesCompile(t *testing.T) {
	if !canMap {
		t.Skip("Linux only")
	}
	const engines = 3
	errs := make(chan error, engines)
	for i := range engines {
		go func() {
			e, err := New(context.Background(), Config{CacheDir: t.TempDir(), MemoryLimitPages: 1024})
			if err != nil {
				errs <- err
				return
			}
			defer e.Close(context.Background())
			wasm, err := hostileWasm()
			if err != nil {
				errs <- err
				return
			}
			for round := range 2 {
				m, err := e.Compile(context.Background(), "hostile", wasm)
				if err != nil {
					errs <- err
					return
				}
				p, err := e.NewPool(context.Background(), m, PoolConfig{Size: 1})
				if err != nil {
					errs <- err
					return
				}
				resp, err := get(p, "/hostile/ok")
				p.Close(context.Background())
				m.Close(context.Background())
				if err == nil && string(resp.Body) != "ok" {
					err = fmt.Errorf("engine %d round %d: %q", i, round, resp.Body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range engines {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
