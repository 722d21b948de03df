package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// TestInstalledModulesNotServedWithoutRegistry: a site whose modules were
// installed from a registry, started without --registry (as a newcomer
// does after `make run`, trying `websonic serve --tls-self-signed`),
// serves none of them; it says so at start, naming them and the flags
// that serve them, instead of leaving the owner with pages that vanished.
func TestInstalledModulesNotServedWithoutRegistry(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.site.srv.Close(ctx)

	var log syncBuffer
	srv, err := Open(ctx, Config{
		DataDir: e.dataDir, DatabaseURL: e.siteDB.URL, RolePrefix: e.siteDB.Prefix(),
		StatementTimeout: time.Second, MemoryLimitPages: 1024,
		Pool:   engine.PoolConfig{Size: 2, CallTimeout: 5 * time.Second},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: &log}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	if len(srv.Modules()) != 0 {
		t.Fatalf("serving %d modules without a registry", len(srv.Modules()))
	}
	out := log.String()
	if !strings.Contains(out, "[WARN]") || !strings.Contains(out, "versioned@1.0.0") || !strings.Contains(out, "--registry") || !strings.Contains(out, "--trusted-root") {
		t.Fatalf("no warning naming the installed module and the flags that serve it:\n%s", out)
	}
}
