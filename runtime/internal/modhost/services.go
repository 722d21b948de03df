package modhost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// Service is a host service that modules reach through abi.ImportHost
// (ABI v2), registered under its name in Config.Services ("realtime.publish",
// "http.fetch"…). The host hands every call to the service named; the
// service decides, from the caller's manifest (which the owner approved),
// whether the module may do it, and refuses with an *abi.HostError of code
// abi.HostErrDenied if not. Serve runs on the calling guest's goroutine:
// the guest waits, so a service bounds its own time by ctx (which carries
// the guest call's deadline) and its own limits.
type Service interface {
	Serve(ctx context.Context, c *Caller, payload []byte) ([]byte, error)
}

// ServiceFunc adapts a function to Service.
type ServiceFunc func(ctx context.Context, c *Caller, payload []byte) ([]byte, error)

// Serve calls f.
func (f ServiceFunc) Serve(ctx context.Context, c *Caller, payload []byte) ([]byte, error) {
	return f(ctx, c, payload)
}

// Caller is who calls a host service: a module version, during one guest
// call made for a user (or for no one).
type Caller struct {
	// Module is the calling module's name, Manifest its running version's
	// manifest as the owner approved it.
	Module   string
	Manifest *manifest.Manifest
	// User is the user the guest call serves: the signed-in user of the
	// request, the subscriber or sender of a realtime call, the admin of a
	// command; nil for an anonymous request, a job or a health call.
	User *abi.User
	// RequestID is the id of the request or host call being served.
	RequestID string
}

// Denied is the error a service returns when the caller's manifest does
// not allow what it asked.
func Denied(format string, args ...any) error {
	return &abi.HostError{Code: abi.HostErrDenied, Message: fmt.Sprintf(format, args...)}
}

// Invalid is the error a service returns for a malformed request.
func Invalid(format string, args ...any) error {
	return &abi.HostError{Code: abi.HostErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// services is the engine.Services of one guest call.
type services struct {
	all    map[string]Service
	caller Caller
}

func (s *services) Serve(ctx context.Context, name string, payload []byte) ([]byte, error) {
	svc, ok := s.all[name]
	if !ok {
		return nil, &abi.HostError{Code: abi.HostErrUnknown, Message: fmt.Sprintf("this runtime has no host service %q (update the runtime?)", name)}
	}
	return svc.Serve(ctx, &s.caller, payload)
}

// env is the engine environment of one guest call of m for user.
func (m *Module) env(sess engine.DBSession, user *abi.User, requestID string) *engine.CallEnv {
	env := &engine.CallEnv{DB: sess, Config: m.Config(), Logger: m.log}
	if len(m.h.cfg.Services) > 0 {
		env.Services = &services{all: m.h.cfg.Services, caller: Caller{
			Module: m.m.Name, Manifest: m.m, User: user, RequestID: requestID,
		}}
	}
	return env
}

// ErrNotServed is wrapped by Call's error when the module answered a host
// path with 404: it does not implement that entry point.
var ErrNotServed = errors.New("modhost: the module does not serve this entry point")

// Call makes one of the host's own calls into the module (ABI v2): a POST
// of body (a JSON document) to path, a host path under abi.HostPathPrefix
// (abi.RealtimeSubscribePath, abi.CommandPathPrefix+name…), for user (nil
// for none), with the module's database, configuration and services, under
// the pool's call deadline (and ctx's, if sooner). It returns the response
// when the module answered at all; a 404 also wraps ErrNotServed.
// requestID names the call in the module's log.
func (m *Module) Call(ctx context.Context, path string, user *abi.User, body []byte, requestID string) (*abi.HTTPResponse, error) {
	if len(path) <= len(abi.HostPathPrefix) || path[:len(abi.HostPathPrefix)] != abi.HostPathPrefix {
		return nil, fmt.Errorf("modhost: %q is not a host path", path)
	}
	if !m.enter() {
		return nil, fmt.Errorf("modhost: %s %s: %w", m.m.Name, m.m.Version, engine.ErrClosed)
	}
	defer m.leave()
	start := time.Now()
	req := &abi.HTTPRequest{
		Method: http.MethodPost, URI: path, RequestID: requestID, Body: body, User: user,
		Headers: []abi.Header{{Name: "Content-Type", Value: "application/json"}},
	}
	sess := m.db.Session()
	resp, err := m.pool.HTTP(ctx, req, m.env(sess, user, requestID))
	sess.Close()
	if m.h.cfg.Metrics != nil {
		m.h.cfg.Metrics.observe(m.m.Name, time.Since(start), outcome(err, errors.Is(err, context.Canceled) && ctx.Err() != nil))
	}
	if err != nil {
		return nil, fmt.Errorf("modhost: %s %s %s: %w", m.m.Name, m.m.Version, path, err)
	}
	if resp.Status == http.StatusNotFound {
		return resp, fmt.Errorf("%w: %s %s %s", ErrNotServed, m.m.Name, m.m.Version, path)
	}
	return resp, nil
}

// Answer is a short, printable form of a module's answer body, for errors
// and logs: at most 300 bytes of valid UTF-8.
func Answer(resp *abi.HTTPResponse) string {
	b := resp.Body
	if len(b) > 300 {
		b = b[:300]
	}
	return strings.ToValidUTF8(string(b), "")
}
