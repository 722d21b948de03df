//go:build wasip1

package main

// rawHost makes a host call with an encoded abi.HostCall, bypassing the
// SDK, and returns the encoded abi.HostReply (nil if it did not fit).
func rawHost(in []byte) []byte {
	out := make([]byte, 64<<10)
	n := hostHost(ptrOf(in), uint32(len(in)), ptrOf(out), uint32(len(out)))
	if n > uint64(len(out)) {
		return nil
	}
	return out[:n]
}
