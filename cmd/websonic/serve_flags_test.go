package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestServeSecurityFlags: bad web-security settings stop `serve` before it
// starts anything, with a message naming the flag and the value.
func TestServeSecurityFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad proxy", []string{"--trusted-proxies", "10.0.0.0/8, proxy.example"}, `--trusted-proxies: clientaddr: trusted proxy "proxy.example"`},
		{"bad prefix", []string{"--trusted-proxies", "10.0.0.0/40"}, `trusted proxy "10.0.0.0/40"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(append([]string{"serve", "--data-dir", t.TempDir()}, tt.args...), strings.NewReader(""), &bytes.Buffer{}, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
