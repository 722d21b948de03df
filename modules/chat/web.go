package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk"
)

// maxJSONBody bounds the JSON bodies of the API.
const maxJSONBody = 64 << 10

// apiError is an error the API answers as {"error": msg, "code": code}
// with its status: the client shows msg to the person.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(msg string) *apiError { return &apiError{http.StatusBadRequest, "invalid", msg} }
func forbidden(msg string) *apiError  { return &apiError{http.StatusForbidden, "forbidden", msg} }
func notFound(msg string) *apiError   { return &apiError{http.StatusNotFound, "not_found", msg} }
func conflict(msg string) *apiError   { return &apiError{http.StatusConflict, "conflict", msg} }
func tooLarge(msg string) *apiError {
	return &apiError{http.StatusRequestEntityTooLarge, "too_large", msg}
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fail answers err: an *apiError as it says, anything else as a 500 whose
// cause goes to the module's log, not to the client.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeJSON(w, ae.status, map[string]string{"error": ae.msg, "code": ae.code})
		return
	}
	sdk.Logger().Error("chat request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "Something went wrong on the server; try again.", "code": "internal"})
}

// api adapts a handler that returns its answer or an error.
func api(f func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := sdk.UserFrom(r)
		if u == nil { // the route is for members: the runtime refuses others first
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Sign in first.", "code": "unauthorized"})
			return
		}
		v, err := f(w, r, u)
		if err != nil {
			fail(w, r, err)
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// readJSON decodes the request's JSON body strictly into v: a body over
// maxJSONBody answers 413, anything but one JSON object of v's shape 400.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return badRequest("The request's body could not be read.")
	}
	if len(b) > maxJSONBody {
		return tooLarge(fmt.Sprintf("The request is larger than %d KiB.", maxJSONBody>>10))
	}
	if !utf8.Valid(b) {
		return badRequest("The request is not valid UTF-8 text.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(fmt.Sprintf("The request is not the JSON expected: %v", err))
	}
	if dec.More() {
		return badRequest("The request has data after its JSON object.")
	}
	return nil
}

// pathID reads the path wildcard name as an id above 0.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound("No such " + name + ".")
	}
	return id, nil
}

// isAdmin reports whether u administers the chat: the site's admins and
// staff (admin implies staff) see and enter every room, decide join
// requests and moderate.
func isAdmin(u *sdk.User) bool { return u != nil && u.HasRole("staff") }
