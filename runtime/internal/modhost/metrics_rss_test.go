package modhost

import (
	"testing"

	"github.com/websonic/websonic/runtime/internal/engine"
)

func TestRSS(t *testing.T) {
	for _, tt := range []struct {
		s    engine.Stats
		want int64
		ok   bool
	}{
		{engine.Stats{CodeBytes: 100, MemoryResidentBytes: 50, WasmBytes: 10}, 100 + 50 + 17, true},
		{engine.Stats{CodeBytes: -1, MemoryResidentBytes: 50, WasmBytes: 10}, 0, false},
		{engine.Stats{CodeBytes: 100, MemoryResidentBytes: -1, WasmBytes: 10}, 0, false},
		{engine.Stats{}, 0, true}, // no pool: nothing held
	} {
		if got, ok := RSS(tt.s); got != tt.want || ok != tt.ok {
			t.Errorf("RSS(%+v) = %d, %v; want %d, %v", tt.s, got, ok, tt.want, tt.ok)
		}
	}
}
