package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/server"
)

// TestServeOutboundPrivate: --outbound-private reaches the runtime's
// config as a list, and a bad origin stops serve before it starts
// anything, naming the flag.
func TestServeOutboundPrivate(t *testing.T) {
	fs := newFlagSet("serve", &bytes.Buffer{}, &bytes.Buffer{})
	var l limits
	l.register(fs)
	if err := fs.parse([]string{"--outbound-private", " http://127.0.0.1:9200, https://search.lan:443 ,"}); err != nil {
		t.Fatal(err)
	}
	if err := l.validate(); err != nil {
		t.Fatal(err)
	}
	var cfg server.Config
	l.apply(&cfg)
	if want := []string{"http://127.0.0.1:9200", "https://search.lan:443"}; !slices.Equal(cfg.Outbound.PrivateOrigins, want) {
		t.Fatalf("PrivateOrigins = %q, want %q", cfg.Outbound.PrivateOrigins, want)
	}
	for _, bad := range []string{"http://127.0.0.1:9200/path", "ftp://x:21", "http://user@x:80", "http://2130706433:80"} {
		var stderr bytes.Buffer
		err := run([]string{"serve", "--data-dir", t.TempDir(), "--outbound-private", bad}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), "--outbound-private") {
			t.Errorf("--outbound-private %s: err = %v", bad, err)
		}
	}
}
