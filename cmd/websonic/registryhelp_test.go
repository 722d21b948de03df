package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRegistryHelpLikeTheOthers: the registry's commands print their help
// as every other command does: the environment section lists every
// variable their flags read, and the flags follow the "flags:" heading
// with no second heading of the flag package's own.
func TestRegistryHelpLikeTheOthers(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, env := range map[string][]string{
		"registry serve": {"WEBSONIC_REGISTRY_ADDR", "WEBSONIC_REGISTRY_DATA_DIR", "WEBSONIC_REGISTRY_PUBLIC_URL", "WEBSONIC_REGISTRY_TLS_CERT", "WEBSONIC_ONLINE_KEY_PASSWORD"},
		"registry token": {"WEBSONIC_REGISTRY_DATA_DIR", "WEBSONIC_REGISTRY_DATABASE_URL"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cliRun(t, ctx, bin, "", nil, "", append(strings.Fields(name), "-h")...)
			environment, flags, ok := strings.Cut(r.stdout, "\nflags:\n")
			if r.code != 0 || !ok || strings.Contains(r.stdout, "Usage of") {
				t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, e := range env {
				if !strings.Contains(environment, "\n  "+e+" ") {
					t.Errorf("the environment section does not list %s:\n%s", e, environment)
				}
			}
			if !strings.Contains(flags, "-data-dir") {
				t.Errorf("no flags after the heading:\n%s", flags)
			}
		})
	}
}
