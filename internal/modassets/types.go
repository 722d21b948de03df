package modassets

import (
	"path"
	"strings"
)

// types is the explicit table of the content types assets are served
// with, by lower-case extension. Nothing is sniffed: an extension not
// listed is served as application/octet-stream, as an attachment.
// HTML is deliberately absent: a module's HTML comes from its handlers,
// under the site's policies, never as a static file on the site's origin.
var types = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".txt":   "text/plain; charset=utf-8",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".avif":  "image/avif",
	".ico":   "image/vnd.microsoft.icon",
	".svg":   "image/svg+xml", // with a policy that runs no script (see AssetCSP)
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".otf":   "font/otf",
	".wasm":  "application/wasm",
	".mp3":   "audio/mpeg",
	".ogg":   "audio/ogg",
	".mp4":   "video/mp4",
	".webm":  "video/webm",
	".pdf":   "application/pdf",
}

// Unknown is the content type of an asset whose extension is not in the
// table; such an asset is served as an attachment.
const Unknown = "application/octet-stream"

// ContentType returns the content type of the asset at p and whether it is
// known (false: Unknown, to be served as an attachment).
func ContentType(p string) (string, bool) {
	t, ok := types[strings.ToLower(path.Ext(p))]
	if !ok {
		return Unknown, false
	}
	return t, true
}

// AssetCSP is the policy served with every asset. It does not restrict a
// script or style that a page loads (a subresource runs under the page's
// policy), but a document opened directly (an SVG, a PDF) runs no script
// and lives in a sandbox: an opaque origin with no access to the site.
const AssetCSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; font-src 'self'; sandbox"
