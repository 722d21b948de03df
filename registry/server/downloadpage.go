package server

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/websonic/websonic/internal/bytesize"
	"github.com/websonic/websonic/internal/tufrepo"
)

// The download page (GET /download): every runtime release the registry
// has signed, newest first, its platforms with size and sha256, and the
// install command with the current root's fingerprint (only when the
// registry serves an install script: Config.InstallScript). It is built from
// the signed targets alone, so it shows exactly what installers and
// runtimes will accept; revoked releases stay listed, marked, without a
// link.

//go:embed download.html
var downloadHTML string

var downloadTemplate = template.Must(template.New("download").Parse(downloadHTML))

// downloadCSS is the page's only style, allowed by its hash in the
// Content-Security-Policy (no script, no other source).
const downloadCSS = `body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1f;background:#fff}
main{max-width:60rem;margin:0 auto;padding:1rem}
pre{background:#f2f2f5;padding:.75rem;overflow-x:auto}
code{font-family:ui-monospace,monospace;font-size:.9em;word-break:break-all}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
.tag{font-size:.8rem;font-weight:normal;border:1px solid #888;border-radius:.3rem;padding:0 .3rem}
.latest{border-color:#146c2e;color:#146c2e}.bad{border-color:#a4161a;color:#a4161a}
.revoked{opacity:.75}.small{font-size:.9rem}
@media (prefers-color-scheme:dark){body{background:#141418;color:#e6e6ea}pre{background:#24242a}a{color:#8ab4f8}th,td{border-color:#444}.latest{color:#7fd18b;border-color:#7fd18b}.bad{color:#ff8a8a;border-color:#ff8a8a}}`

var downloadCSP = func() string {
	sum := sha256.Sum256([]byte(downloadCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

type downloadPlatform struct {
	Platform, Size, SHA256, URL string
}

type downloadVersion struct {
	Version   string
	Channel   tufrepo.Channel
	Latest    bool
	Revoked   bool
	Platforms []downloadPlatform
}

type downloadData struct {
	CSS        template.CSS
	URL        string
	RootSHA256 string
	ImageRef   string
	Versions   []downloadVersion
	// InstallScript: the registry serves /download/install.sh, so the
	// page gives the command that runs it.
	InstallScript bool
}

// downloadPage serves GET /download.
func (s *Server) downloadPage(w http.ResponseWriter, r *http.Request) {
	root, ok := s.tuf.File("root.json")
	if !ok {
		http.Error(w, "this registry has no root yet (websonic keys init)", http.StatusNotFound)
		return
	}
	sum := sha256.Sum256(root.Body)
	base := strings.TrimSuffix(s.cfg.PublicURL, "/")
	d := downloadData{
		CSS:        template.CSS(downloadCSS),
		URL:        base,
		RootSHA256: hex.EncodeToString(sum[:]),
		ImageRef:   strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://") + "/" + tufrepo.RuntimeRepository,
		Versions:   runtimeVersions(s.tuf.Repo().Releases(), base),

		InstallScript: len(s.cfg.InstallScript) > 0,
	}
	var buf bytes.Buffer
	if err := downloadTemplate.Execute(&buf, d); err != nil {
		s.log.Error("download page", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", downloadCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.Write(buf.Bytes())
}

// runtimeVersions groups the runtime releases by version, newest first,
// and marks the newest non-revoked release of each channel.
func runtimeVersions(rels []*tufrepo.Release, base string) []downloadVersion {
	byVersion := map[string]*downloadVersion{}
	for _, rel := range rels {
		if rel.Kind != tufrepo.KindRuntime {
			continue
		}
		v := byVersion[rel.Version]
		if v == nil {
			v = &downloadVersion{Version: rel.Version, Channel: rel.Channel}
			byVersion[rel.Version] = v
		}
		v.Revoked = v.Revoked || rel.Revoked
		p := downloadPlatform{Platform: rel.OS + "/" + rel.Arch, Size: bytesize.Format(rel.BinarySize), SHA256: rel.BinarySHA256}
		if !rel.Revoked {
			p.URL = base + "/download/websonic/" + rel.Version + "/" + rel.OS + "-" + rel.Arch
		}
		v.Platforms = append(v.Platforms, p)
	}
	out := make([]downloadVersion, 0, len(byVersion))
	for _, v := range byVersion {
		slices.SortFunc(v.Platforms, func(a, b downloadPlatform) int { return strings.Compare(a.Platform, b.Platform) })
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b downloadVersion) int { return tufrepo.CompareVersions(b.Version, a.Version) })
	seen := map[tufrepo.Channel]bool{}
	for i := range out {
		if !out[i].Revoked && !seen[out[i].Channel] {
			out[i].Latest, seen[out[i].Channel] = true, true
		}
	}
	return out
}
