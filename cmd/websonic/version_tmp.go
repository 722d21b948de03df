package main

// TEMPORARY (helper C, issue 13): until internal/buildinfo (helper B)
// lands, the runtime's version comes from this -X variable:
//
//	go build -ldflags "-X main.tmpVersion=1.2.3" ./cmd/websonic
//
// and `websonic version` is registered here unless main.go has one. On
// merging buildinfo: delete this file and make runtimeVersion
// buildinfo.Version (graceful.go, runtimecmd.go).

import (
	"fmt"
	"io"
	"runtime"
)

// tmpVersion is set by the linker only (the one allowed -X exception).
var tmpVersion string

func runtimeVersion() string {
	if tmpVersion == "" {
		return "0.0.0-dev"
	}
	return tmpVersion
}

func init() {
	if _, ok := commands["version"]; ok {
		return
	}
	commands["version"] = commandInfo{run: func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
		if err := newFlagSet("version", stdout, stderr).parse(args); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "websonic %s %s/%s %s\n", runtimeVersion(), runtime.GOOS, runtime.GOARCH, runtime.Version())
		return err
	}, help: "print the version"}
}
