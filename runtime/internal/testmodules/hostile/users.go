//go:build wasip1

package main

// Attacks on the core user services and sealing
// (runtime/server/users_test.go): this module's manifest lists no user
// action and no seal, so every call must be refused as denied, whatever
// the payload, and the runtime must keep serving.

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

func init() {
	// Each SDK entry point, as a module without the capability.
	mux.HandleFunc("POST /hostile/users/sdk", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		out := map[string]string{}
		record := func(name string, err error) {
			switch {
			case err == nil:
				out[name] = "allowed"
			case errors.Is(err, sdk.ErrDenied):
				out[name] = "denied"
			default:
				out[name] = err.Error()
			}
		}
		record("ban", sdk.BanUser(ctx, 1, "x"))
		record("unban", sdk.UnbanUser(ctx, 1))
		record("suspend", sdk.SuspendUser(ctx, 1, time.Hour, ""))
		record("block_ip", sdk.BlockIP(ctx, "192.0.2.1", time.Now().Add(time.Hour), ""))
		record("unblock_ip", sdk.UnblockIP(ctx, "192.0.2.1"))
		record("set_password", sdk.SetUserPassword(ctx, 1, "a long enough password, hostile"))
		record("grant_role", sdk.GrantRole(ctx, 1, "admin"))
		record("revoke_role", sdk.RevokeRole(ctx, 1, "admin"))
		_, err := sdk.Seal(ctx, "x", []byte("x"))
		record("seal", err)
		_, err = sdk.Open(ctx, "x", make([]byte, 64))
		record("open", err)
		json.NewEncoder(w).Encode(out)
	})
	// A raw host call: service ?service=, the request body as payload.
	mux.HandleFunc("POST /hostile/users/raw", func(w http.ResponseWriter, r *http.Request) {
		payload, _ := io.ReadAll(r.Body)
		reply := rawHost(abi.HostCall{Service: r.URL.Query().Get("service"), Payload: payload})
		if reply.Err != nil {
			io.WriteString(w, reply.Err.Code)
			return
		}
		io.WriteString(w, "ok "+string(reply.Payload))
	})
}
