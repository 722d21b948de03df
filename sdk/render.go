package sdk

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/websonic/websonic/sdk/abi/abihttp"
)

// Render answers the request with one of the module's page templates,
// rendered by the runtime: name is a file of the module's
// assets/templates/ folder ("item.html", "parts/card.html"), written in
// html/template, and data (a struct or a map: it must encode as a JSON
// object) is what the template reads. Call it instead of writing the body,
// and before anything else is written.
//
// The runtime runs the template natively, outside the module's sandbox,
// which makes a page several times cheaper than executing html/template
// inside the module, and escapes it exactly as html/template does. The
// template sees data as encoding/json encodes it, decoded into maps and
// lists: {{.Title}} reads a struct's Title field, or the field whose
// `json` tag names it "Title"; methods are not available, so format times
// and amounts in Go. Whole numbers arrive as int64 and others as float64
// (a float64 field holding 8 arrives as 8); eq, lt, gt and the other
// comparisons compare numbers by value whatever their kind.
//
// Besides html/template's builtins the template may call t (translate
// through the module's catalogue, assets/locales/LANG.json, into the
// visitor's language), lang (that language's tag) and asset (the URL of
// one of the module's assets). Templates are checked when the module
// starts; a template that fails on its data, or passes a bound (100,000
// range iterations, 2,000,000 steps of work, 4 MiB of output), fails the
// request with a 500 and the request id, and the site's log says why.
// ABI.md, "Host-rendered pages", has every rule. With SitePage first, the
// rendered page becomes a fragment of the site's layout; with Cache, the
// runtime keeps the data and renders it again for each visitor.
//
// Render's own error is data that does not encode as JSON, or the
// writer's. sdktest.Do renders the same way, from the assets/templates/
// folder of the package under test (its ExampleDo_render shows a test).
func Render(w http.ResponseWriter, status int, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("sdk: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set(abihttp.RenderHeader, name)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}
