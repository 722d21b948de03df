package main

import (
	"strings"
	"testing"
)

// TestPublisherRegistryOverTLS: the publisher's commands send the token and
// take the registry's keys over TLS only, but for a loopback address.
func TestPublisherRegistryOverTLS(t *testing.T) {
	for _, tt := range []struct {
		registry, ca, want string
	}{
		{"http://registry.example", "", "HTTPS only"},
		{"http://10.0.0.8:8090", "", "HTTPS only"},
		{"ftp://registry.example", "", "want https://"},
		{"registry.example", "", "want https://"},
		{"https://registry.example", "/nonexistent/ca.pem", "--registry-ca"},
		{"http://127.0.0.1:8090", "", ""},
		{"http://localhost:8090", "", ""},
		{"https://registry.example", "", ""},
	} {
		p := publisherFlags{registry: tt.registry, ca: tt.ca}
		_, err := p.client("module publish")
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s (ca %q): %v, want %q", tt.registry, tt.ca, err, tt.want)
		}
	}
}
