package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// HostError is a host service's refusal or failure; Code is one of the
// abi.HostErr* values (errors.Is works with ErrDenied and the others).
type HostError = abi.HostError

// Errors a host service call may wrap (compare with errors.Is).
var (
	// ErrDenied: the module's manifest, as the site owner approved it,
	// does not allow the call.
	ErrDenied = errors.New("sdk: denied by the runtime")
	// ErrUnknownService: the runtime is older than the SDK.
	ErrUnknownService = errors.New("sdk: the runtime has no such service")
)

// callHost calls a host service with req encoded as JSON and decodes the
// answer into resp (nil: ignore it). Errors wrap the *HostError, and
// ErrDenied or ErrUnknownService where they apply.
func callHost(ctx context.Context, service string, req, resp any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("sdk: %s: %w", service, err)
	}
	call := abi.HostCall{Service: service, Payload: payload}
	out, err := hostcall.Host(call.AppendMarshal(nil))
	if err != nil {
		return err
	}
	var reply abi.HostReply
	if err := reply.Unmarshal(out); err != nil {
		return fmt.Errorf("sdk: %s: bad reply from the runtime: %w", service, err)
	}
	if he := reply.Err; he != nil {
		switch he.Code {
		case abi.HostErrDenied:
			return fmt.Errorf("%w: %w", ErrDenied, he)
		case abi.HostErrUnknown:
			return fmt.Errorf("%w: %w", ErrUnknownService, he)
		}
		return he
	}
	if resp == nil || len(reply.Payload) == 0 {
		return nil
	}
	if err := json.Unmarshal(reply.Payload, resp); err != nil {
		return fmt.Errorf("sdk: %s: bad answer from the runtime: %w", service, err)
	}
	return nil
}

// hostHandler serves one of the host's own calls into the module (a path
// under abi.HostPathPrefix). It returns the status and a body.
type hostHandler func(r *http.Request) (int, []byte)

// onHost registers h for the host path path (exact) or, ending in "/",
// every path below it. Package sdk's features call it from their
// registration functions, which modules call in init.
func onHost(path string, h hostHandler) {
	if disp.hostPaths == nil {
		disp.hostPaths = map[string]hostHandler{}
	}
	disp.hostPaths[path] = h
}

// hostRoute finds the handler of a host call to path: an exact match,
// else the longest registered prefix ending in "/".
func (d *dispatcher) hostRoute(path string) hostHandler {
	if h, ok := d.hostPaths[path]; ok {
		return h
	}
	best := ""
	for p := range d.hostPaths {
		if strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) && len(p) > len(best) {
			best = p
		}
	}
	return d.hostPaths[best]
}

// jsonBody answers a host call with v encoded as JSON.
func jsonBody(status int, v any) (int, []byte) {
	b, err := json.Marshal(v)
	if err != nil {
		return http.StatusInternalServerError, []byte(err.Error())
	}
	return status, b
}
