package sdk

import (
	"context"
	"net/http"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// HealthCheck registers check as the module's health check; nil removes it.
// Call it from an init function, like Handle.
//
// The runtime calls the check each time it starts a version of the module
// (when the site starts, and for an update before any request reaches the
// new version), on one of its instances, with a deadline of a few seconds. An update switches to
// the new version only when the check returns nil; an error, a panic or a
// timeout keeps the running version serving, and the error's message goes
// to the site's log. Check what the module needs to serve: typically that
// its database answers (a query through DB works here, as in a handler).
//
// Without a check, the module is healthy when its instance started and its
// dispatcher answers. The check runs like a request, one at a time per
// instance, without a user.
func HealthCheck(check func(ctx context.Context) error) {
	disp.health = check
	hostcall.SetHandler(disp.serve)
}

// checkHealth answers the host's health call (abi.HealthPath): 200 "ok",
// or 503 with the check's error.
func (d *dispatcher) checkHealth(ctx context.Context) *abi.HTTPResponse {
	text := []abi.Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}
	if d.health != nil {
		if err := d.health(ctx); err != nil {
			return &abi.HTTPResponse{Status: http.StatusServiceUnavailable, Headers: text, Body: []byte(err.Error() + "\n")}
		}
	}
	return &abi.HTTPResponse{Status: http.StatusOK, Headers: text, Body: []byte("ok\n")}
}
