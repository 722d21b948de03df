//go:build !linux

package engine

// canMap: elsewhere wazero allocates linear memory (a Go slice).
const canMap = false

// mappedMemory is never made on this platform.
type mappedMemory struct{}

func newMappedMemory(uint64, *memStats) *mappedMemory {
	panic("engine: no mapped memory on this platform")
}

func (m *mappedMemory) Reallocate(uint64) []byte { return nil }
func (m *mappedMemory) Free()                    {}
func (m *mappedMemory) release()                 {}
func (m *mappedMemory) resident(uint64) int64    { return -1 }
