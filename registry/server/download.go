package server

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/internal/distribution"
)

// The download endpoints (issue 13): what an installer needs without an
// OCI or TUF client.
//
//	GET /download                                   the download page (HTML): NOT HERE YET — the coordinator
//	                                                adds it in this file (route it in downloadRoutes)
//	GET /download/install.sh                        Config.InstallScript, text/x-shellscript (404 if none)
//	GET /download/targets.canonical                 the canonical JSON of the current targets.json's "signed"
//	                                                object: exactly what the targets signatures sign
//	GET /download/websonic/<version>/<os>-<arch>    the raw binary of a non-revoked signed runtime release,
//	                                                streamed from its OCI blob (Range, immutable caching)
//
// Everything served here is public and checked by the installer against
// a pinned root; with Config.PrivatePulls the binary needs a token, as
// pulls do.
func (s *Server) downloadRoutes(r chi.Router) {
	r.Get("/download/install.sh", s.installScript)
	r.Head("/download/install.sh", s.installScript)
	r.Get("/download/targets.canonical", s.targetsCanonical)
	r.Head("/download/targets.canonical", s.targetsCanonical)
	r.Get("/download/websonic/{version}/{platform}", s.runtimeBinary)
	r.Head("/download/websonic/{version}/{platform}", s.runtimeBinary)
}

// installScript serves Config.InstallScript.
func (s *Server) installScript(w http.ResponseWriter, r *http.Request) {
	if len(s.cfg.InstallScript) == 0 {
		http.Error(w, "this registry serves no install script", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/x-shellscript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.cfg.InstallScript))
}

// canonicalCache keeps the canonical form of the last targets.json seen,
// by its ETag: targets change only on a publish.
type canonicalCache struct {
	mu    sync.Mutex
	etag  string
	bytes []byte
}

// targetsCanonical serves the canonical JSON of targets.json's "signed"
// object (tufrepo.CanonicalTargets), with the ETag of that targets.json.
func (s *Server) targetsCanonical(w http.ResponseWriter, r *http.Request) {
	f, ok := s.tuf.File("targets.json")
	if !ok {
		http.Error(w, "no targets yet (has the repository been initialized?)", http.StatusNotFound)
		return
	}
	s.canonical.mu.Lock()
	if s.canonical.etag != f.ETag {
		b, err := tufrepo.CanonicalTargets(f.Body)
		if err != nil {
			s.canonical.mu.Unlock()
			s.log.Error("canonical targets", "error", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		s.canonical.etag, s.canonical.bytes = f.ETag, b
	}
	body := s.canonical.bytes
	s.canonical.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", f.ETag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// runtimeBinary serves the binary of the signed, non-revoked runtime
// release <version> for <os>-<arch>: the blob its signed binary_sha256
// names in runtime/websonic. Anything else is 404.
func (s *Server) runtimeBinary(w http.ResponseWriter, r *http.Request) {
	if s.cfg.PrivatePulls {
		if _, err := s.principal(r); err != nil {
			s.failAuth(w, r, err)
			return
		}
	}
	version, platform := chi.URLParam(r, "version"), chi.URLParam(r, "platform")
	goos, arch, ok := strings.Cut(platform, "-")
	if !ok || !tufrepo.ValidRuntimePlatform(goos, arch) {
		http.NotFound(w, r)
		return
	}
	path := tufrepo.RuntimeTargetPath(version, goos, arch)
	var rel *tufrepo.Release
	for _, x := range s.tuf.Repo().Releases() {
		if x.Path == path && x.Kind == tufrepo.KindRuntime && !x.Revoked {
			rel = x
			break
		}
	}
	if rel == nil {
		http.Error(w, "no such runtime release (or it was revoked)", http.StatusNotFound)
		return
	}
	f, size, err := s.dist.OpenBlob(r.Context(), rel.Repository(), "sha256:"+rel.BinarySHA256)
	if err != nil {
		if !errors.Is(err, distribution.ErrBlobUnknown) {
			s.log.Error("a signed runtime release's binary is unreadable", "release", rel.String(), "error", err)
		} else {
			s.log.Error("a signed runtime release's binary is missing", "release", rel.String())
		}
		http.Error(w, "release binary unavailable", http.StatusServiceUnavailable)
		return
	}
	defer f.Close()
	if size != rel.BinarySize {
		s.log.Error("a signed runtime release's binary has the wrong size", "release", rel.String(), "size", size)
		http.Error(w, "release binary unavailable", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="websonic-`+version+"-"+goos+"-"+arch+`"`)
	h.Set("ETag", `"sha256:`+rel.BinarySHA256+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
}
