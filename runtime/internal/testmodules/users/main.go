// Command users is a test-only module that drives the core user services
// (sdk.BanUser and the others), sealing (sdk.Seal, sdk.Open) and personal
// data export and erasure (sdk.UserData) for the runtime's tests. Its
// routes live under its first path segment, whatever it is, so that a
// copy built under another name (and route) serves the same calls.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{prefix}/call", call)
	mux.HandleFunc("POST /{prefix}/note", note)
	mux.HandleFunc("POST /{prefix}/raw", raw)
	sdk.Handle(mux)
	sdk.UserData(export, erase)
}

func main() {}

// request is what POST /…/call takes: an operation and its arguments.
type request struct {
	Op       string `json:"op"`
	UserID   int64  `json:"user_id"`
	Reason   string `json:"reason"`
	Seconds  int64  `json:"seconds"`
	Prefix   string `json:"prefix"`
	Until    string `json:"until"`
	Password string `json:"password"`
	Role     string `json:"role"`
	Purpose  string `json:"purpose"`
	Data     []byte `json:"data"`
}

// reply says what the SDK call returned.
type reply struct {
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"`
	Denied bool   `json:"denied,omitempty"`
	Data   []byte `json:"data,omitempty"`
}

func call(w http.ResponseWriter, r *http.Request) {
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	var err error
	var data []byte
	switch req.Op {
	case "ban":
		err = sdk.BanUser(ctx, req.UserID, req.Reason)
	case "unban":
		err = sdk.UnbanUser(ctx, req.UserID)
	case "suspend":
		err = sdk.SuspendUser(ctx, req.UserID, time.Duration(req.Seconds)*time.Second, req.Reason)
	case "block_ip":
		until, perr := time.Parse(time.RFC3339, req.Until)
		if perr != nil {
			until = time.Now().Add(time.Hour)
		}
		err = sdk.BlockIP(ctx, req.Prefix, until, req.Reason)
	case "unblock_ip":
		err = sdk.UnblockIP(ctx, req.Prefix)
	case "set_password":
		err = sdk.SetUserPassword(ctx, req.UserID, req.Password)
	case "grant_role":
		err = sdk.GrantRole(ctx, req.UserID, req.Role)
	case "revoke_role":
		err = sdk.RevokeRole(ctx, req.UserID, req.Role)
	case "seal":
		data, err = sdk.Seal(ctx, req.Purpose, req.Data)
	case "open":
		data, err = sdk.Open(ctx, req.Purpose, req.Data)
	default:
		http.Error(w, "unknown op", http.StatusBadRequest)
		return
	}
	out := reply{Data: data}
	if err != nil {
		out.Error = err.Error()
		out.Denied = errors.Is(err, sdk.ErrDenied)
		if he, ok := errors.AsType[*sdk.HostError](err); ok {
			out.Code = he.Code
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// raw makes a host call with the request body as payload, to service
// ?service=, and answers the error code, or "ok" and the answer.
func raw(w http.ResponseWriter, r *http.Request) {
	payload, _ := io.ReadAll(r.Body)
	call := abi.HostCall{Service: r.URL.Query().Get("service"), Payload: payload}
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
}

// note stores a note for a user, plain and sealed.
func note(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserID int64  `json:"user_id"`
		Body   string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sealed, err := sdk.Seal(r.Context(), "note", []byte(req.Body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if _, err := sdk.DB().ExecContext(r.Context(), `INSERT INTO notes (user_id, body, sealed) VALUES ($1, $2, $3)`, req.UserID, req.Body, sealed); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// export returns the user's notes, opening the sealed copies.
func export(ctx context.Context, userID int64) (any, error) {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT body, sealed FROM notes WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type exported struct {
		Body   string `json:"body"`
		Opened string `json:"opened"`
	}
	notes := []exported{}
	for rows.Next() {
		var body string
		var sealed []byte
		if err := rows.Scan(&body, &sealed); err != nil {
			return nil, err
		}
		opened, err := sdk.Open(ctx, "note", sealed)
		if err != nil {
			return nil, err
		}
		notes = append(notes, exported{body, string(opened)})
	}
	return map[string]any{"notes": notes}, rows.Err()
}

// erase deletes the user's notes, unless one of them says "refuse-erase"
// (the tests' failing module).
func erase(ctx context.Context, userID int64) error {
	var refuse bool
	if err := sdk.DB().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notes WHERE user_id = $1 AND body = 'refuse-erase')`, userID).Scan(&refuse); err != nil {
		return err
	}
	if refuse {
		return errors.New("this module refuses to erase")
	}
	_, err := sdk.DB().ExecContext(ctx, `DELETE FROM notes WHERE user_id = $1`, userID)
	return err
}
