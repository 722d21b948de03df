// Package assetserve serves modules' static assets (package modassets) on
// the site's origin, under immutable, versioned URLs:
//
//	/static/modules/<module>/<version>~<digest>/<path>
//
// where digest is the first 16 hex digits of the assets' layer digest
// (modassets.Digest), so that two builds of one version never share a URL.
// Every answer is immutable for a year, carries the file's SHA-256 as its
// ETag (If-None-Match answers 304), a content type from modassets' explicit
// table (never sniffed), and a policy (modassets.AssetCSP) under which a
// file opened directly runs no script; unknown types are attachments.
//
// It also builds the script policy of module pages (PageCSP): a page may
// load scripts only from its own module version's asset prefix and the
// host's /static/websonic/ scripts, named as absolute host-sources with a
// path, never 'self'.
//
// A Set is immutable and safe for concurrent use.
package assetserve

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/internal/modassets"
)

// Root is the path under which module assets are served.
const Root = "/static/modules/"

// HostScripts is the prefix of the host's own scripts (e.g. the realtime
// client), which every module page may load.
const HostScripts = "/static/websonic/"

// Key is the URL segment naming one build of a module version's assets.
func Key(version, digest string) string {
	if len(digest) > 16 {
		digest = digest[:16]
	}
	return version + "~" + digest
}

// Prefix is the URL path under which a module version's assets are served,
// ending in "/".
func Prefix(module, version, digest string) string {
	return Root + module + "/" + url.PathEscape(Key(version, digest)) + "/"
}

// CacheControl is sent with every asset: its URL never changes meaning.
const CacheControl = "public, max-age=31536000, immutable"

type file struct {
	body   []byte
	etag   string
	ctype  string
	attach bool
}

// Set is one module version's assets, ready to serve.
type Set struct {
	files map[string]file
}

// NewSet prepares f (already checked by modassets) for serving.
func NewSet(f modassets.Files) *Set {
	s := &Set{files: make(map[string]file, len(f))}
	for p, b := range f {
		sum := sha256.Sum256(b)
		ctype, known := modassets.ContentType(p)
		s.files[p] = file{body: b, etag: `"` + hex.EncodeToString(sum[:]) + `"`, ctype: ctype, attach: !known}
	}
	return s
}

// Len is the number of files.
func (s *Set) Len() int { return len(s.files) }

// Serve answers a GET or HEAD for the asset at p (a path relative to the
// set). It never redirects: a browser ignores a host-source's path after a
// redirect, so a redirect would widen every page's script policy.
func (s *Set) Serve(w http.ResponseWriter, r *http.Request, p string) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, ok := s.files[p]
	if !ok || modassets.CheckPath(p) != nil {
		http.NotFound(w, r)
		return
	}
	h.Set("Cache-Control", CacheControl)
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", modassets.AssetCSP)
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if etagMatch(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.ctype)
	if f.attach {
		h.Set("Content-Disposition", "attachment")
	}
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(http.StatusOK)
	w.Write(f.body) //nolint:errcheck // the client went away
}

// etagMatch reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 wants for If-None-Match; "*" matches).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// Split cuts a request path under Root into module, key and asset path;
// ok is false for anything else.
func Split(urlPath string) (module, key, p string, ok bool) {
	rest, found := strings.CutPrefix(urlPath, Root)
	if !found {
		return "", "", "", false
	}
	module, rest, ok1 := strings.Cut(rest, "/")
	key, p, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || module == "" || key == "" || p == "" {
		return "", "", "", false
	}
	return module, key, p, true
}

// Origin is the site's origin as r's client sees it: https when the
// request came over TLS or a trusted proxy says so (clientaddr.HTTPS),
// and r.Host. It is "" when r.Host is not a plain host[:port] (a policy
// must not carry anything a client smuggled into it).
func Origin(r *http.Request) string {
	host := r.Host
	if host == "" || len(host) > 255 {
		return ""
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return ""
		}
	}
	scheme := "http://"
	if clientaddr.HTTPS(r) {
		scheme = "https://"
	}
	return scheme + host
}

// ScriptSources lists, for a page of r, the only places its scripts may
// come from: the host's scripts and, when assetPrefix is not "", that
// module version's assets; as absolute host-sources with paths.
func ScriptSources(r *http.Request, assetPrefix string) string {
	o := Origin(r)
	if o == "" {
		return "'none'"
	}
	src := o + HostScripts
	if assetPrefix != "" {
		src += " " + o + assetPrefix
	}
	return src
}

// ModuleCSP is the policy the host adds to every response of a module
// (browsers enforce it alongside any policy of the module's own): scripts
// only from the module version's signed assets and the host's scripts —
// no 'self' (a module route could answer with generated script), no
// 'unsafe-inline', no 'unsafe-eval', so no inline script or event
// handler; no plugins, no <base>, no framing.
func ModuleCSP(r *http.Request, assetPrefix string) string {
	return "script-src " + ScriptSources(r, assetPrefix) +
		"; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
}

// FramedCSP is the policy of a module fragment rendered in the site's
// layout: ModuleCSP's script rule, styles from the site and the module's
// assets, images from the site.
func FramedCSP(r *http.Request, assetPrefix string) string {
	styles := "'self' 'unsafe-inline'"
	return "default-src 'self'; script-src " + ScriptSources(r, assetPrefix) + "; style-src " + styles +
		"; img-src 'self' data:; object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// File returns the body of the asset at p (a path relative to the set).
func (s *Set) File(p string) ([]byte, bool) {
	if s == nil {
		return nil, false
	}
	f, ok := s.files[p]
	return f.body, ok
}
