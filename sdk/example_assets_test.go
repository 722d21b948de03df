package sdk_test

import (
	"html/template"
	"net/http"
	"net/http/httptest"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/sdktest"
)

// A page loads its scripts and styles from the module's signed assets
// (the files of assets/ next to module.json); nothing else may run on it.
func ExampleAsset() {
	page := template.Must(template.New("page").Parse(
		`<link rel="stylesheet" href="{{.CSS}}"><script src="{{.JS}}" defer></script><div id="app"></div>`))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		sdk.SitePage(w, "App")
		page.Execute(w, map[string]string{"CSS": sdk.Asset("css/app.css"), "JS": sdk.Asset("app.js")})
	})
	sdk.Handle(mux)

	show(sdktest.Do(httptest.NewRequest("GET", "/app", nil), nil))
	// Output:
	// 200 <link rel="stylesheet" href="/static/modules/sdktest/0.0.0~0000000000000000/css/app.css"><script src="/static/modules/sdktest/0.0.0~0000000000000000/app.js" defer></script><div id="app"></div>
}
