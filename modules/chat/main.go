// Command chat is Web Sonic's team chat module: rooms by department with
// join requests, friends and private conversations, mentions, unread
// counts, search, presence and typing, profiles with avatars, all live
// through the runtime's realtime hub, moderated by the site's admins with
// commands and admin pages. API.md is its HTTP and realtime contract;
// README.md says how to run and extend it.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm .
package main

import (
	"net/http"

	"github.com/websonic/websonic/sdk"
)

// mux serves the module's routes (all below /chat, for signed-in members:
// the runtime refuses anyone else before the module sees the request).
// Each file registers its own routes from its init function.
var mux = http.NewServeMux()

func init() {
	sdk.Handle(mux)
	sdk.OnSubscribe(subscribe) // realtime.go
	sdk.OnMessage(message)     // realtime.go
}

func main() {}
