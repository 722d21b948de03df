package main

import (
	"net/http"

	"github.com/websonic/websonic/sdk"
)

// mux serves the module's routes. The runtime checks each prefix's access
// before the module sees a request: /tickets for signed-in members,
// /tickets/staff for staff, /tickets/admin for admins, /tickets/guest for
// anyone. Each file registers its own routes from its init function.
var mux = http.NewServeMux()

func init() {
	sdk.Handle(mux)
	sdk.OnSubscribe(subscribe) // realtime.go
}

func main() {}
