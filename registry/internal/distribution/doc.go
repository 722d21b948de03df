// Package distribution serves the OCI Distribution API v1.1 (pull, push,
// tag lists, referrers) as an http.Handler, for Web Sonic's registry
// (DESIGN.md decisions 8 and 12).
//
// Blob bytes live in a BlobStore (FS, a content-addressed directory; an
// S3-compatible store can implement the same interface). Blobs are immutable
// and addressed by sha256: a blob is written to a temporary file, its digest
// verified while it streams in, and only then renamed into place. Metadata
// (repositories, which blobs a repository may serve, manifests with their
// raw bytes and media type, tags, upload sessions and the subject → referrer
// index) lives in PostgreSQL, in the schema "distribution", brought up to
// date by Migrate.
//
// # Endpoints
//
//	GET       /v2/                                    API version check
//	HEAD, GET /v2/<name>/blobs/<digest>               Range, ETag, Cache-Control: immutable
//	POST      /v2/<name>/blobs/uploads/[?digest=]     monolithic upload, or start a session (202)
//	PATCH     /v2/<name>/blobs/uploads/<id>           append a chunk (Content-Range must continue)
//	PUT       /v2/<name>/blobs/uploads/<id>?digest=   finish: the digest is verified
//	GET       /v2/<name>/blobs/uploads/<id>           upload status
//	PUT, GET, HEAD /v2/<name>/manifests/<reference>  tag or digest
//	GET       /v2/<name>/tags/list[?n=&last=]
//	GET       /v2/<name>/referrers/<digest>[?artifactType=]
//
// Errors are answered in the OCI JSON error format; statusOf is the one
// mapping from this package's error values to codes and statuses.
//
// # Authorization
//
// Authentication is not this package's concern: Config.Authorize is a hook
// called for every request with the repository name ("" for /v2/) and
// whether the request pushes; a nil hook allows everything. The
// publisher-token work plugs in there, returning ErrUnauthorized or
// ErrDenied.
//
// # Notes
//
//   - A Handler is safe for concurrent use; several handlers (replicas) may
//     share one database and one blob store. Upload sessions keep their bytes
//     in Config.UploadDir, which must therefore be shared by replicas (or
//     requests of one session routed to one replica).
//   - No request holds a database connection or transaction while its body
//     streams in: a chunk is written to a part file of its own, then
//     committed by a compare-and-set on the session's offset (of two racing
//     chunks one wins, the other gets 416); see Handler.appendChunk. A
//     body declared larger than the endpoint takes is refused at once
//     (413), before it is read.
//   - Only sha256 digests are accepted. Deletion and garbage collection are
//     not implemented.
package distribution
