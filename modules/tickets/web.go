package main

import (
	"net/http"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// The API's errors (jsonapi.Error): the client shows the sentence.
func badRequest(msg string) error  { return jsonapi.BadRequest(msg) }
func forbidden(msg string) error   { return jsonapi.Forbidden(msg) }
func notFound(msg string) error    { return jsonapi.NotFound(msg) }
func conflict(msg string) error    { return jsonapi.Conflict(msg) }
func tooLarge(msg string) error    { return jsonapi.TooLarge(msg) }
func unsupported(msg string) error { return jsonapi.Unsupported(msg) }

// created makes api answer v with 201.
func created(v any) any { return jsonapi.Created(v) }

// readJSON decodes the request's JSON body strictly (jsonapi.Read).
func readJSON(r *http.Request, v any) error { return jsonapi.Read(r, v) }

// api adapts a handler for a signed-in user that returns its answer or an
// error (jsonapi.Handler).
func api(f func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error)) http.HandlerFunc {
	return jsonapi.Handler(func(w http.ResponseWriter, r *http.Request) (any, error) {
		u := sdk.UserFrom(r)
		if u == nil { // the runtime refuses anonymous requests to member routes first
			return nil, &jsonapi.Error{Status: http.StatusUnauthorized, Code: "unauthorized", Msg: "Sign in first."}
		}
		return f(w, r, u)
	})
}

// public adapts a handler anyone may call (the guests' routes).
func public(f func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return jsonapi.Handler(f)
}

// ticketID reads the {id} of a ticket's path.
func ticketID(r *http.Request) (int64, error) {
	return jsonapi.PathID(r, "id", "There is no such ticket, or it is not yours.")
}

// isStaff reports whether u works the desk: the site's staff and admins
// (admin implies staff).
func isStaff(u *sdk.User) bool { return u != nil && u.HasRole("staff") }

// isAdmin reports whether u administers the desk: panels, groups, reports.
func isAdmin(u *sdk.User) bool { return u != nil && u.HasRole("admin") }
