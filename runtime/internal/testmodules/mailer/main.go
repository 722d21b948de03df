// Command mailer is a test-only module for the mail.send host service:
// POST /PREFIX/send with a JSON sdk.Mail sends it through sdk.SendMail and
// answers, as JSON, the message id or the error. The runtime's tests
// (runtime/server/mail_test.go) also load a copy renamed, on another
// route, whose manifest does not ask for mail.
package main

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/websonic/websonic/sdk"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{prefix}/send", send)
	sdk.Handle(mux)
}

func main() {}

// outcome is what the module saw.
type outcome struct {
	ID     string `json:"id,omitempty"`
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"` // the HostError's
	Denied bool   `json:"denied,omitempty"`
}

func send(w http.ResponseWriter, r *http.Request) {
	var m sdk.Mail
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out outcome
	id, err := sdk.SendMail(r.Context(), m)
	out.ID = id
	if err != nil {
		out.Error, out.Denied = err.Error(), errors.Is(err, sdk.ErrDenied)
		var he *sdk.HostError
		if errors.As(err, &he) {
			out.Code = he.Code
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
