// Command squatter is a test-only module that declares topics another
// module (realtime) already owns, chat.*, beside its own topic squat:
// POST /squat/publish?topic=T publishes {"forged":true} to T and answers
// 403 when the runtime denies it, 400 on any other error.
package main

import (
	"errors"
	"io"
	"net/http"

	"github.com/websonic/websonic/sdk"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /squat/publish", func(w http.ResponseWriter, r *http.Request) {
		err := sdk.Publish(r.Context(), r.URL.Query().Get("topic"), map[string]bool{"forged": true})
		switch {
		case errors.Is(err, sdk.ErrDenied):
			http.Error(w, err.Error(), http.StatusForbidden)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			io.WriteString(w, "published")
		}
	})
	sdk.Handle(mux)
}

func main() {}
