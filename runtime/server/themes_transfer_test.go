package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// TestThemeTransferFailureRetried: an automatic theme update whose
// download is changed in transit fails and the installed version stays;
// it is not refused for good: once the registry's answer is the signed one
// again, the next check installs it.
func TestThemeTransferFailureRetried(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	srv := e.site.srv
	srv.SetThemeHooks(ThemeHooks{
		Validate: parseThemeTemplates,
		Active:   func(context.Context) (string, error) { return "", nil },
		Changed:  func() {},
	})
	e.publishTheme("sunrise", "1.0.0", nil)
	if _, err := srv.Updater().InstallTheme(ctx, "sunrise", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.publishTheme("sunrise", "1.1.0", nil)
	forge := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if strings.HasPrefix(r.URL.Path, "/v1/tuf/targets/themes/") {
			w.Write([]byte(`{"schemaVersion":2,"forged":true}`))
			return true
		}
		return false
	}
	e.tamper.Store(&forge)
	srv.Updater().Check(ctx) // its error is the failed download's
	e.tamper.Store(nil)
	if got := layoutOf(t, srv, "sunrise"); !strings.Contains(got, "1.0.0") {
		t.Fatalf("after a download changed in transit: %q", got)
	}
	if err := srv.Updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := layoutOf(t, srv, "sunrise"); !strings.Contains(got, "1.1.0") {
		t.Fatalf("the next check did not try the theme again: %q", got)
	}
}
