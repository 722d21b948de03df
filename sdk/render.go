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
// html/template, and data (a struct or a map, encoded as JSON) is what the
// template reads. Call it instead of writing the body, and before anything
// else is written.
//
// The runtime runs the template natively, outside the module's sandbox,
// which makes a page several times cheaper than executing html/template
// inside the module, and escapes it exactly as html/template does. The
// template sees data as maps and lists: {{.Title}} reads a struct's Title
// field (or its `json` name); methods are not available. Besides
// html/template's builtins it may call t (translate through the module's
// catalogue), lang and asset (a URL of the module's assets). Ranges,
// template calls and output are bounded (ABI.md section 18). With SitePage
// the rendered page becomes a fragment of the site's layout.
//
// sdktest.Do renders the same way, from the assets/templates/ folder of
// the package under test.
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
