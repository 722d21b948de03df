package modhost

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/safetmpl"
	"github.com/websonic/websonic/sdk/abi"
)

// StageTemplates parses the package's page templates (sdk.Render).
const StageTemplates Stage = "templates"

// templateFiles are the package's page templates among its assets.
func templateFiles(p *Package) map[string][]byte {
	files := map[string][]byte{}
	for name, b := range p.Assets {
		if strings.HasPrefix(name, safetmpl.PagesDir+"/") {
			files[name] = b
		}
	}
	return files
}

// render executes the page template a module's response names
// (sdk.Render) with the data the response carries, natively, and makes the
// result the response's body. The template's helpers see the visitor's
// language (Config.Printer) and the version's assets.
func (m *Module) render(r *http.Request, resp *abi.HTTPResponse, name string) error {
	var p *i18n.Printer
	if m.h.cfg.Printer != nil {
		p = m.h.cfg.Printer(r, m)
	}
	body, err := m.RenderPage(name, resp.Body, p)
	if err != nil {
		return err
	}
	resp.Body = body
	resp.Headers = slices.DeleteFunc(resp.Headers, func(h abi.Header) bool {
		return http.CanonicalHeaderKey(h.Name) == "Content-Type"
	})
	resp.Headers = append(resp.Headers, abi.Header{Name: "Content-Type", Value: "text/html; charset=utf-8"})
	return nil
}

// RenderPage executes the module's page template name with data (a JSON
// object, as sdk.Render sends it), translating through p (nil: keys as
// they are): for pages the host renders outside an HTTP request of the
// site, such as the module's admin pages.
func (m *Module) RenderPage(name string, data []byte, p *i18n.Printer) ([]byte, error) {
	if m.pages == nil {
		return nil, fmt.Errorf("%w: %s: the module has no templates in assets/%s/", safetmpl.ErrRender, name, safetmpl.PagesDir)
	}
	var buf bytes.Buffer
	buf.Grow(4 * len(data))
	if err := m.pages.Render(&buf, name, data, safetmpl.Env{Asset: m.assetURL, Printer: p}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// assetURL is the URL of the version's asset p, for a template's asset
// helper.
func (m *Module) assetURL(p string) (string, error) {
	if m.assets != nil {
		if _, ok := m.assets.File(p); ok {
			return m.assetPrefix + p, nil
		}
	}
	return "", fmt.Errorf("no asset %q in the module's assets/", p)
}
