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
