package realtime

import (
	"bytes"
	_ "embed"
	"net/http"
	"time"
)

// ClientScriptPath is where the host serves ClientScript.
const ClientScriptPath = "/static/websonic/realtime.js"

// clientScript is the browser client (static/realtime.js).
//
//go:embed static/realtime.js
var clientScript []byte

// started is the scripts' Last-Modified: the binary's start.
var started = time.Now()

// ClientScript serves the browser client: connect, subscribe with
// last_id, reconnect with backoff, events as callbacks (see the script's
// header comment and sdk/ABI.md section 11).
func ClientScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "realtime.js", started, bytes.NewReader(clientScript))
}
