// Package hostcall is the guest end of the host ABI: the wasm imports and
// exports of package abi, wrapped in plain Go functions. Package sdk and its
// database driver are its only users.
//
// Outside GOOS=wasip1 every call fails with ErrNotInRuntime, so code that
// imports the SDK still builds and vets on the host.
package hostcall

import "errors"

// ErrNotInRuntime is returned by every host call made outside a Web Sonic
// runtime (for example from a native test binary).
var ErrNotInRuntime = errors.New("sdk: not running inside the Web Sonic runtime (build with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)")

// Handler turns an encoded abi.HTTPRequest into an encoded abi.HTTPResponse.
type Handler func(req []byte) []byte

var handler Handler

// SetHandler installs the function that serves websonic_http. Package sdk
// calls it once, from the module's init.
func SetHandler(h Handler) { handler = h }
