// Package abi is the one home of the contract between the Web Sonic runtime
// (the host) and a module (the guest): the ABI version, the names of the
// functions each side exports, and the binary encoding of the messages they
// exchange. Both sides import it; it builds for GOOS=wasip1 GOARCH=wasm and
// has no dependencies beyond the standard library.
//
// Module authors never use this package directly: package sdk hides it behind
// net/http, database/sql and log/slog. It is documented here well enough for
// another language to implement a guest; see ABI.md in the sdk folder for the
// prose version.
//
// # Encoding
//
// Every message is a sequence of fields without tags, in the order the
// message's Marshal method writes them. Integers are varints (signed, zig-zag)
// or uvarints as in encoding/binary; byte strings and strings are a uvarint
// length followed by the bytes; lists are a uvarint count followed by the
// items; booleans are one byte 0 or 1; float64 is 8 bytes little-endian IEEE
// 754. Decoders are strict: truncated input, trailing bytes, out-of-range
// enums and counts larger than the remaining input are errors, so a decoder
// never allocates more than its input justifies.
package abi
