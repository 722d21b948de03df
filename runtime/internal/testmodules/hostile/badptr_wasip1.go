//go:build wasip1

package main

//go:wasmimport websonic log
func hostLog(level, ptr, n uint32)

//go:wasmimport websonic db
func hostDB(inPtr, inLen, outPtr, outCap uint32) uint64

//go:wasmimport websonic config
func hostConfig(outPtr, outCap uint32) uint64

//go:wasmimport websonic host
func hostHost(inPtr, inLen, outPtr, outCap uint32) uint64

//go:wasmimport websonic take
func hostTake(outPtr, outCap uint32) uint32

const far = 0xFFFF_FFF0

// badPointer hands the named host function pointers outside guest memory.
func badPointer(fn string) {
	switch fn {
	case "log":
		hostLog(3, far, 64)
	case "log-len":
		hostLog(3, 0, 1<<31)
	case "db":
		hostDB(far, 16, 0, 0)
	case "db-out":
		buf := []byte{1, 0, 0, 0}
		hostDB(ptrOf(buf), 4, far, 1<<20)
	case "config":
		hostConfig(far, 1024)
	case "take":
		hostTake(far, 1024)
	case "host":
		hostHost(far, 16, 0, 0)
	case "host-len":
		hostHost(0, 1<<31, 0, 0)
	case "host-out":
		buf := []byte{1, 'x', 0}
		hostHost(ptrOf(buf), 3, far, 1<<20)
	case "take-nothing":
		buf := make([]byte, 16)
		hostTake(ptrOf(buf), 16)
	}
}

// hostileCall lets the engine's fuzz test call any host function with any
// arguments.
//
//go:wasmexport hostile_call
func hostileCall(fn, a, b, c, d uint32) uint64 {
	switch fn % 5 {
	case 0:
		hostLog(a, b, c)
		return 0
	case 1:
		return hostDB(a, b, c, d)
	case 2:
		return hostConfig(a, b)
	case 3:
		return hostHost(a, b, c, d)
	default:
		return uint64(hostTake(a, b))
	}
}
