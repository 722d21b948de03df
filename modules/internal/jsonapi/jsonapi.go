// Package jsonapi is what the first-party modules' JSON APIs share: errors
// a person can read ({"error": sentence, "code": code} with a status),
// strict decoding of bounded bodies, path ids and the checks of people's
// texts. It is plain Go over net/http and the sdk, compiled into each
// module (GOOS=wasip1) and natively for tests.
package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk"
)

// MaxBody bounds the JSON bodies Read accepts.
const MaxBody = 64 << 10

// Error is an error the API answers as {"error": Msg, "code": Code} with
// Status: the client shows Msg to the person, so it is a whole sentence.
type Error struct {
	Status int
	Code   string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// The errors of the API, by status.
func BadRequest(msg string) *Error { return &Error{http.StatusBadRequest, "invalid", msg} }
func Forbidden(msg string) *Error  { return &Error{http.StatusForbidden, "forbidden", msg} }
func NotFound(msg string) *Error   { return &Error{http.StatusNotFound, "not_found", msg} }
func Conflict(msg string) *Error   { return &Error{http.StatusConflict, "conflict", msg} }
func TooLarge(msg string) *Error   { return &Error{http.StatusRequestEntityTooLarge, "too_large", msg} }
func Unsupported(msg string) *Error {
	return &Error{http.StatusUnsupportedMediaType, "unsupported", msg}
}

// Write answers v as JSON with status, never cached.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Fail answers err: an *Error as it says, anything else as a 500 whose
// cause goes to the module's log, not to the client.
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if errors.As(err, &e) {
		Write(w, e.Status, map[string]string{"error": e.Msg, "code": e.Code})
		return
	}
	sdk.Logger().Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	Write(w, http.StatusInternalServerError, map[string]string{"error": "Something went wrong on the server; try again.", "code": "internal"})
}

// Handler adapts a handler that returns its answer or an error: a nil
// answer is 204, one wrapped by Created 201, anything else 200.
func Handler(f func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(w, r)
		switch {
		case err != nil:
			Fail(w, r, err)
		case v == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			if c, ok := v.(created); ok {
				Write(w, http.StatusCreated, c.v)
				return
			}
			Write(w, http.StatusOK, v)
		}
	}
}

// created is an answer Handler sends with 201.
type created struct{ v any }

// Created wraps v so that Handler answers it with 201 Created.
func Created(v any) any { return created{v} }

// Read decodes the request's JSON body strictly into v: a body over
// MaxBody answers 413, anything but one JSON object of v's shape 400.
func Read(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return BadRequest("The request's body could not be read.")
	}
	if len(b) > MaxBody {
		return TooLarge(fmt.Sprintf("The request is larger than %d KiB.", MaxBody>>10))
	}
	if !utf8.Valid(b) {
		return BadRequest("The request is not valid UTF-8 text.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest(fmt.Sprintf("The request is not the JSON expected: %v", err))
	}
	if dec.More() {
		return BadRequest("The request has data after its JSON object.")
	}
	return nil
}

// PathID reads the path wildcard name as an id above 0, or answers 404
// with notFound.
func PathID(r *http.Request, name, notFound string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		return 0, NotFound(notFound)
	}
	return id, nil
}

// CheckText trims s and checks it: valid UTF-8, at most maxRunes
// characters, no control characters (but newlines and tabs when
// multiline; a CRLF counts as a newline) and none of the invisible
// separators that break lines or hide text. It answers the cleaned text,
// possibly empty: callers decide whether empty is fine.
func CheckText(s string, maxRunes int, multiline bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("the text is not valid UTF-8")
	}
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	s = strings.TrimSpace(s)
	n := 0
	for _, r := range s {
		n++
		if n > maxRunes {
			return "", fmt.Errorf("the text is longer than %d characters", maxRunes)
		}
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return "", fmt.Errorf("the text holds the control character %U", r)
		}
		if r == '\u2028' || r == '\u2029' || r == '\ufeff' {
			return "", fmt.Errorf("the text holds the invisible character %U", r)
		}
	}
	return s, nil
}
