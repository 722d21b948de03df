package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// DevVersion is the version of a build that was not given one.
const DevVersion = "0.0.0-dev"

// Set by the linker (-ldflags -X); never written by the program.
var (
	version string
	commit  string
)

// Version is the release version set at link time, e.g. "1.2.3", or
// DevVersion.
func Version() string {
	if version == "" {
		return DevVersion
	}
	return version
}

// Commit is the commit the binary was built from: the one set at link time,
// else the go command's vcs.revision stamp; "" when neither is known.
func Commit() string {
	if commit != "" {
		return commit
	}
	return setting("vcs.revision")
}

// Dirty reports whether the go command recorded uncommitted changes in the
// checkout the binary was built from (vcs.modified). A release build
// (-buildvcs=false) records nothing and is never dirty.
func Dirty() bool { return setting("vcs.modified") == "true" }

// String is what `websonic version` prints: a first line
// "websonic VERSION OS/ARCH GOVERSION", then "commit SHA" (with
// " (modified)" for a dirty tree) when the commit is known.
func String() string {
	s := fmt.Sprintf("websonic %s %s/%s %s\n", Version(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if c := Commit(); c != "" {
		s += "commit " + c
		if Dirty() {
			s += " (modified)"
		}
		s += "\n"
	}
	return s
}

// setting is the build setting key the go command stamped, or "".
func setting(key string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
