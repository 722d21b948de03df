package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/deploy"
	"github.com/websonic/websonic/internal/pgtest"
)

// TestRegistryServesInstallScript: `websonic registry serve` serves
// deploy.InstallScript, unstamped, at /download/install.sh.
func TestRegistryServesInstallScript(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_REGISTRY_DATABASE_URL=" + db.URL, "WEBSONIC_ONLINE_KEY_PASSWORD=online-secret"}
	addr := launchTB(t, ctx, bin, env, regexp.MustCompile(`registry listening: addr=(\S+)`),
		"registry", "serve", "--data-dir", dataDir(t), "--addr", "127.0.0.1:0")
	resp, err := http.Get("http://" + addr + "/download/install.sh")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/x-shellscript") {
		t.Fatalf("GET /download/install.sh: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, deploy.InstallScript) {
		t.Fatalf("served %d bytes, not deploy.InstallScript (%d bytes)", len(body), len(deploy.InstallScript))
	}
}
