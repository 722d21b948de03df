package main

import (
	"net/http"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// maxJSONBody bounds the JSON bodies of the API.
const maxJSONBody = jsonapi.MaxBody

// apiError is an error the API answers as {"error": msg, "code": code}
// with its status: the client shows msg to the person.
type apiError = jsonapi.Error

func badRequest(msg string) *apiError                    { return jsonapi.BadRequest(msg) }
func forbidden(msg string) *apiError                     { return jsonapi.Forbidden(msg) }
func notFound(msg string) *apiError                      { return jsonapi.NotFound(msg) }
func conflict(msg string) *apiError                      { return jsonapi.Conflict(msg) }
func tooLarge(msg string) *apiError                      { return jsonapi.TooLarge(msg) }
func writeJSON(w http.ResponseWriter, status int, v any) { jsonapi.Write(w, status, v) }

// fail answers err: an *apiError as it says, anything else as a 500 whose
// cause goes to the module's log, not to the client.
func fail(w http.ResponseWriter, r *http.Request, err error) { jsonapi.Fail(w, r, err) }

// api adapts a handler that returns its answer or an error.
func api(f func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error)) http.HandlerFunc {
	return jsonapi.Handler(func(w http.ResponseWriter, r *http.Request) (any, error) {
		u := sdk.UserFrom(r)
		if u == nil { // the route is for members: the runtime refuses others first
			return nil, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Msg: "Sign in first."}
		}
		return f(w, r, u)
	})
}

// readJSON decodes the request's JSON body strictly into v (jsonapi.Read).
func readJSON(r *http.Request, v any) error { return jsonapi.Read(r, v) }

// pathID reads the path wildcard name as an id above 0.
func pathID(r *http.Request, name string) (int64, error) {
	return jsonapi.PathID(r, name, "No such "+name+".")
}

// isAdmin reports whether u administers the chat: the site's admins and
// staff (admin implies staff) see and enter every room, decide join
// requests and moderate.
func isAdmin(u *sdk.User) bool { return u != nil && u.HasRole("staff") }
