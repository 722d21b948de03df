// Package hostcall is the guest end of the host ABI: the wasm imports and
// exports of package abi, wrapped in plain Go functions. Package sdk and its
// database driver are its only users.
//
// Outside GOOS=wasip1 every call fails with ErrNotInRuntime, so code that
// imports the SDK still builds and vets on the host.
package hostcall

import (
	"errors"

	"github.com/websonic/websonic/sdk/abi"
)

// ErrNotInRuntime is returned by every host call made outside a Web Sonic
// runtime (for example from a native test binary).
var ErrNotInRuntime = errors.New("sdk: not running inside the Web Sonic runtime (build with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)")

// Handler turns an encoded abi.HTTPRequest into an encoded abi.HTTPResponse.
type Handler func(req []byte) []byte

var handler Handler

// SetHandler installs the function that serves websonic_http. Package sdk
// calls it once, from the module's init.
func SetHandler(h Handler) { handler = h }

// Dispatch runs the installed handler on an encoded abi.HTTPRequest and
// returns the encoded abi.HTTPResponse, the bytes websonic_http would hand
// the host; with no handler installed it answers 404. The result is only
// valid until the next call. Package sdktest uses it to run handlers
// natively. It is not safe for concurrent use: callers serialize, as the
// runtime does (one call per instance at a time).
func Dispatch(req []byte) []byte {
	if handler == nil {
		resp := abi.HTTPResponse{Status: 404, Body: []byte("module registered no handler (call sdk.Handle in init)\n")}
		return resp.AppendMarshal(nil)
	}
	return handler(req)
}
