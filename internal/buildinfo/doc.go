// Package buildinfo says which build of websonic is running: its release
// version, the commit it was built from and whether that tree had
// uncommitted changes.
//
// The version is set at link time and nowhere else:
//
//	go build -ldflags "-X github.com/websonic/websonic/internal/buildinfo.version=1.2.3 \
//	    -X github.com/websonic/websonic/internal/buildinfo.commit=<sha>" ./cmd/websonic
//
// (`make release` and package internal/release do exactly that). A build
// without it is "0.0.0-dev". The commit comes from -X when given (release
// builds use -buildvcs=false, so that the binary does not depend on the
// checkout's state), else from the vcs.revision the go command stamps into
// a build made in a git checkout; Dirty reads vcs.modified the same way.
//
// These two link-time strings are the project's one allowed exception to
// "no mutable globals": nothing in the program writes them.
package buildinfo
