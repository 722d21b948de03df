package main

import (
	"fmt"
	"io"

	// The container image (internal/release) is built FROM scratch: no
	// /etc/ssl. With no system roots, crypto/x509 falls back to this
	// bundle, so TLS to a registry still verifies.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/websonic/websonic/internal/buildinfo"
)

// addReleaseCommands registers `websonic version` and the release
// commands (release.go).
func addReleaseCommands(cmds map[string]commandInfo) {
	cmds["version"] = commandInfo{version, "", "print the version, platform, Go version and commit of this binary",
		"Also `websonic --version`. The first line is \"websonic VERSION OS/ARCH GOVERSION\"; a build that was not given a\n" +
			"version (make release does) says " + buildinfo.DevVersion + ".", nil}
	addReleaseBuildCommands(cmds)
}

func version(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stdout, stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprint(stdout, buildinfo.String())
	return nil
}
