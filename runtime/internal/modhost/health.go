package modhost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

// Stage names a step of starting a module version; a failed start or
// update names the one that failed.
type Stage string

const (
	// StageConfig resolves the owner's configuration against the manifest.
	StageConfig Stage = "config"
	// StageProvision sets up the module's role, schema, grants and pool.
	StageProvision Stage = "provision"
	// StageMigrate applies the package's pending migrations.
	StageMigrate Stage = "migrate"
	// StageCompile checks the manifest's ABI version, then compiles the
	// wasm and checks it against the ABI.
	StageCompile Stage = "compile"
	// StageInstantiate warms the instance pool (runs _initialize and the
	// ABI handshake).
	StageInstantiate Stage = "instantiate"
	// StageHealth calls the module's health entry point.
	StageHealth Stage = "health"
	// StageRoutes mounts the module's routes next to the other modules'
	// (the server's step).
	StageRoutes Stage = "routes"
	// StageCommit runs the caller's hook before the version takes traffic
	// (the server's step, server.SwapOptions.Commit).
	StageCommit Stage = "commit"
)

// StartError is a module version that failed to start, and where.
type StartError struct {
	Module, Version string
	Stage           Stage
	Err             error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("modhost: start %s %s: %s: %v", e.Module, e.Version, e.Stage, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// HealthTimeout bounds a health call (and the pool's CallTimeout, if
// shorter, bounds it further).
const HealthTimeout = 5 * time.Second

// ErrUnhealthy is wrapped by every error of Health.
var ErrUnhealthy = errors.New("modhost: module unhealthy")

// Health calls the module's health entry point (abi.HealthPath) through its
// pool, as a request with its database and configuration but no user,
// within HealthTimeout. It returns nil for a 2xx answer, and for a 404: a
// guest built before the entry point existed does not know the path, and
// answering at all shows that it started and serves, which is all a module
// without a check claims (ABI.md, section 4). For any other status, a trap,
// a timeout or a busy pool it returns an error wrapping ErrUnhealthy (and
// the engine's error, if any).
func (m *Module) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	req := &abi.HTTPRequest{Method: http.MethodGet, URI: abi.HealthPath, RequestID: "health"}
	sess := m.db.Session()
	resp, err := m.pool.HTTP(ctx, req, m.env(sess, nil, req.RequestID))
	sess.Close()
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnhealthy, m.m.Name, m.m.Version, err)
	}
	if !healthy(resp.Status) {
		msg := strings.TrimSpace(Answer(resp))
		return fmt.Errorf("%w: %s %s: %d %s", ErrUnhealthy, m.m.Name, m.m.Version, resp.Status, msg)
	}
	return nil
}

// healthy is Health's verdict on a status: 2xx, or 404 from a guest that
// has no health entry point.
func healthy(status int) bool {
	return status >= 200 && status <= 299 || status == http.StatusNotFound
}
