// Command status is a test-only module that reads the runtime's status
// (sdk.RuntimeStatus, user action "status") for the runtime's tests
// (runtime/server/status_test.go). GET /status-test answers the status as
// JSON, or {"code": …} with the host error's code; POST /status-test/raw
// makes the host call with the request body as its payload, bypassing the
// SDK.
package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status-test", func(w http.ResponseWriter, r *http.Request) {
		st, err := sdk.RuntimeStatus(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			out := map[string]any{"error": err.Error(), "denied": errors.Is(err, sdk.ErrDenied)}
			if he, ok := errors.AsType[*sdk.HostError](err); ok {
				out["code"] = he.Code
			}
			json.NewEncoder(w).Encode(out)
			return
		}
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("POST /status-test/raw", func(w http.ResponseWriter, r *http.Request) {
		payload, _ := io.ReadAll(r.Body)
		call := abi.HostCall{Service: "runtime.status", Payload: payload}
		var reply abi.HostReply
		if err := reply.Unmarshal(rawHost(call.AppendMarshal(nil))); err != nil {
			http.Error(w, "bad reply: "+err.Error(), http.StatusBadGateway)
			return
		}
		if reply.Err != nil {
			io.WriteString(w, reply.Err.Code)
			return
		}
		io.WriteString(w, "ok "+string(reply.Payload))
	})
	sdk.Handle(mux)
}

func main() {}
