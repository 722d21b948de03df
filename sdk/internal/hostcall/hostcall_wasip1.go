//go:build wasip1

package hostcall

import (
	"unsafe"

	"github.com/websonic/websonic/sdk/abi"
)

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

// The host calls for yield itself (it instruments loops); calling it once
// here keeps the import in the binary, which the host requires.
//
//go:wasmimport websonic yield
func hostYield()

func init() { hostYield() }

var (
	// inBuf receives requests written by the host (websonic_alloc).
	inBuf []byte
	// outBuf holds the last response of websonic_http until the next call.
	outBuf []byte
	// resBuf receives results of db and config calls.
	resBuf = make([]byte, 64<<10)
)

func ptr(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

//go:wasmexport websonic_abi_version
func abiVersion() uint32 { return abi.Version }

//go:wasmexport websonic_alloc
func alloc(n uint32) uint32 {
	// A new buffer for every request: the dispatcher's strings share its
	// memory (abi.HTTPRequest.UnmarshalAlias), so it is never written
	// again once the host has filled it.
	inBuf = make([]byte, n)
	return ptr(inBuf)
}

//go:wasmexport websonic_http
func serveHTTP(p, n uint32) uint64 {
	in := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), uintptr(p))), n)
	if handler == nil {
		resp := abi.HTTPResponse{Status: 404, Body: []byte("module registered no handler (call sdk.Handle in init)\n")}
		outBuf = resp.AppendMarshal(outBuf[:0])
	} else {
		outBuf = handler(in)
	}
	return abi.PackResult(ptr(outBuf), uint32(len(outBuf)))
}

// call runs a host call with the result convention of abi.ImportDB and
// returns a copy of the result the caller may keep.
func call(f func(outPtr, outCap uint32) uint64) []byte {
	n := f(ptr(resBuf), uint32(cap(resBuf)))
	if n > uint64(cap(resBuf)) {
		resBuf = make([]byte, n)
		n = uint64(hostTake(ptr(resBuf), uint32(cap(resBuf))))
	}
	return append([]byte(nil), resBuf[:n]...)
}

// DB sends an encoded abi.DBRequest and returns the encoded abi.DBResult.
func DB(req []byte) ([]byte, error) {
	return call(func(outPtr, outCap uint32) uint64 {
		return hostDB(ptr(req), uint32(len(req)), outPtr, outCap)
	}), nil
}

// Config returns the module's configuration as a JSON object.
func Config() ([]byte, error) { return call(hostConfig), nil }

// Log sends an encoded abi.LogRecord.
func Log(level uint32, rec []byte) { hostLog(level, ptr(rec), uint32(len(rec))) }

// Host sends an encoded abi.HostCall and returns the encoded abi.HostReply.
func Host(req []byte) ([]byte, error) {
	return call(func(outPtr, outCap uint32) uint64 {
		return hostHost(ptr(req), uint32(len(req)), outPtr, outCap)
	}), nil
}
