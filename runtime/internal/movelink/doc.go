// Package movelink carries a site's migration archive from one runtime to
// another for the migration portal (the admin area's "Move a site" pages):
// one-time download links on the source, and on the target a resumable
// chunked upload from the owner's browser or a resumable fetch from such
// a link. It moves opaque bytes: the archive is package sitemove's
// (age-encrypted to the target, signed by the source), which checks it.
//
// # Links (source)
//
// CreateLink makes a link before the export that fills it has finished
// (Attach names its archive when it has); the link's token is 256 random
// bits shown once, only its SHA-256 is stored (websonic.move_links,
// migration 021). ServeLink answers GET and HEAD of a link:
//
//   - Unknown token: 404. Spent (every byte delivered), expired or revoked:
//     410 Gone. Not attached yet: 503 with Retry-After.
//   - One client: the first address that uses a link owns it; any other
//     gets 410. One transfer at a time per link (409 while one runs).
//   - Resumable: one byte range per request (Range: bytes=a-b, a-, -n),
//     and If-Range with the link's strong ETag (the archive's SHA-256): a
//     cut download continues where it stopped. Several ranges are served
//     as the whole archive (RFC 9110 lets a server ignore Range).
//   - Spent: the link counts the bytes it delivered without a gap from the
//     start; when that reaches the archive's size it is spent. A byte
//     written to the network is counted even if the client then lost it:
//     the owner then makes a new link (NewLink on the same archive).
//
// # Incoming (target)
//
// NewUpload starts an upload of a declared size (at most Config.MaxArchive);
// PutChunk appends one chunk described by its Content-Range (bytes
// a-b/total) that must start exactly where the received bytes end, else
// ErrOffset says where they end so the browser resumes there. StartFetch
// and Fetch download a link into the same place, resuming with Range and
// If-Range after a cut, and retrying with a growing pause. The received
// count in the database never exceeds what is on disk (fsync first). The
// newest incoming archive is the only one: starting another removes the
// previous one and its file.
//
// A Store is safe for concurrent use; one runtime serves a link (the one
// whose data dir holds the archive).
package movelink
