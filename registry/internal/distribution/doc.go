// Package distribution serves the OCI Distribution API v1.1 (pull, push,
// content discovery and content management) as an http.Handler, for Web
// Sonic's registry (DESIGN.md decisions 8 and 12).
//
// Blob bytes live in a BlobStore (FS, a content-addressed directory; an
// S3-compatible store can implement the same interface). Blobs are immutable
// and addressed by sha256: a blob is written to a temporary file, its digest
// verified while it streams in, and only then renamed into place. Metadata
// (repositories, which blobs a repository may serve, manifests with their
// raw bytes, media type and references, tags, upload sessions and the
// subject → referrer index) lives in PostgreSQL, in the schema
// "distribution", brought up to date by Migrate.
//
// # Endpoints
//
//	GET       /v2/                                    API version check
//	HEAD, GET /v2/<name>/blobs/<digest>               Range, ETag, Cache-Control: immutable
//	DELETE    /v2/<name>/blobs/<digest>               202; 405 while a manifest references it
//	POST      /v2/<name>/blobs/uploads/[?digest=]     monolithic upload, or start a session (202)
//	PATCH     /v2/<name>/blobs/uploads/<id>           append a chunk (Content-Range must continue)
//	PUT       /v2/<name>/blobs/uploads/<id>?digest=   finish: the digest is verified
//	GET       /v2/<name>/blobs/uploads/<id>           upload status
//	DELETE    /v2/<name>/blobs/uploads/<id>           cancel the session (204)
//	PUT, GET, HEAD /v2/<name>/manifests/<reference>  tag or digest
//	DELETE    /v2/<name>/manifests/<reference>        a tag, or a manifest and its tags (202)
//	GET       /v2/<name>/tags/list[?n=&last=]
//	GET       /v2/<name>/referrers/<digest>[?artifactType=]
//
// Errors are answered in the OCI JSON error format; statusOf is the one
// mapping from this package's error values to codes and statuses. A pull
// or a deletion of a malformed tag or digest is answered 404, like any
// unknown one.
//
// # Authorization, quotas and what may not be deleted
//
// Authentication is not this package's concern: Config.Authorize is a hook
// called for every request with the repository name ("" for /v2/) and
// whether the request writes (pushes and deletions); it returns the Client
// the request acts for, or an error wrapping ErrUnauthorized, ErrDenied or
// ErrTooManyRequests. A nil hook allows everything. The client's Account
// is charged for what it stores (Config.Quota: blobs it linked, manifests,
// uploads in progress; DENIED over it, a declared length at once), and
// its Session (credential) may hold Config.MaxUploads open upload
// sessions (429 with Retry-After over it).
//
// Config.Pinned names what a repository must keep (the registry pins what
// signed releases name): a pinned manifest cannot be deleted, a pinned tag
// neither deleted nor moved (DENIED). It is consulted inside the
// transaction of each deletion and tag push. Config.DisableDelete turns
// every content DELETE into 405 UNSUPPORTED. Config.Accept, when set,
// judges every manifest pushed (MANIFEST_INVALID when it refuses): the
// registry says there what each repository may hold.
//
// # Garbage collection
//
// Handler.Collect, run on a timer, ends upload sessions idle for
// Config.UploadTTL (with their files), then removes links no manifest
// references and blobs no repository links, once they are older than
// Config.Grace; it is safe against pushes racing it (see its
// documentation).
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
//   - Only sha256 digests are accepted.
package distribution
