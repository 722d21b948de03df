// Package release builds a release of the websonic runtime itself
// (issue 13): reproducible static binaries for each platform and the
// container image of the runtime, into one folder (dist/) that
// `websonic release publish` then publishes.
//
// # What Build writes
//
//	OutDir/websonic-<version>-linux-amd64   the static binaries (CGO_ENABLED=0)
//	OutDir/websonic-<version>-linux-arm64
//	OutDir/SHA256SUMS                       sha256sum's format, sorted by file name
//	OutDir/release.json                     Manifest: version, commit, epoch, binaries, image
//	OutDir/oci/                             an OCI image layout: the image index, tagged <version>
//
// # Reproducible
//
// The same source, version, commit, platforms, SOURCE_DATE_EPOCH and Go
// toolchain give byte-identical binaries and the same image index digest:
// the go command runs with -trimpath -buildvcs=false, ldflags
// "-s -w -buildid=" plus the -X version and commit of package
// internal/buildinfo, GOFLAGS cleared and GOAMD64/GOARM64 fixed at their
// baselines (v1, v8.0), so nothing of the machine, the checkout's path or
// its state gets in; Build reads each binary's build settings back and
// refuses one that is not what it asked for (cgo, a -race, tags). The
// image's tar entries are sorted with fixed owners and modification
// times (SOURCE_DATE_EPOCH), gzip carries no name nor time, and the image
// config's created time and history are SOURCE_DATE_EPOCH too.
//
// # The container image
//
// A standard OCI image index with one image per platform (config
// application/vnd.oci.image.config.v1+json, one tar+gzip layer), built
// with go-containerregistry without a container daemon, FROM scratch:
// the binary is static and carries its TLS roots
// (golang.org/x/crypto/x509roots/fallback). The layer holds
//
//	/usr/local/bin/websonic     the binary, mode 0755
//	/etc/passwd, /etc/group     user websonic (65532, group 0), for tools that look a user up
//	/tmp                        mode 1777
//	/var/lib/websonic           owner 65532, group 0, mode 0775
//
// and the config runs it as User "65532:0", Entrypoint
// ["/usr/local/bin/websonic","serve"], WorkingDir /var/lib/websonic,
// Env WEBSONIC_DATA_DIR=/var/lib/websonic, WEBSONIC_ADDR=:8080,
// ExposedPorts 8080/tcp. OpenShift runs a container under an arbitrary
// UID whose group is 0: the data folder is group 0 and group-writable, so
// that UID can write it. The image has no PostgreSQL: it is run with
// WEBSONIC_DATABASE_URL.
//
// # Publishing
//
// Open reads a Build's folder back and verifies it (every binary against
// release.json, the layout's index against its recorded digest); Push
// sends the image index to a registry with go-containerregistry's remote
// package. Signing the binaries as TUF targets is package publish's
// (Publisher.PublishRuntime).
package release
