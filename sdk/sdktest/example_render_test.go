package sdktest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/sdktest"
)

// A page rendered by the runtime (sdk.Render) from the module's
// assets/templates/greeting.html, here sdktest's own:
//
//	<h1 lang="{{lang}}">{{t "Hello, {name}!" "name" .Name}}</h1>
//	<p>{{t "{n} new messages" "n" .Count}}</p>
//	<ul>{{range .Tags}}<li>{{.}}</li>{{end}}</ul>
//
// The template reads the data as encoding/json encodes it: a struct field
// by its Go name, or by its `json` tag's name when it has one; no methods. Do renders it as the runtime does,
// escaping included, and t translates through assets/locales/fr.json for a
// French visitor. Run go test in the module's folder: Do reads assets/
// from the working directory.
func ExampleDo_render() {
	type page struct {
		Name  string
		Count int
		Tags  []string
	}
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sdk.Render(w, http.StatusOK, "greeting.html", page{Name: "Ada <3", Count: 2, Tags: []string{"math", "engines"}})
	}))

	for _, lang := range []string{"en", "fr"} {
		r := httptest.NewRequest("GET", "/hello", nil)
		r.Header.Set("Accept-Language", lang)
		resp := sdktest.Do(r, nil)
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// Output:
	// 200 text/html; charset=utf-8
	// <h1 lang="en">Hello, Ada &lt;3!</h1>
	// <p>2 new messages</p>
	// <ul><li>math</li><li>engines</li></ul>
	// 200 text/html; charset=utf-8
	// <h1 lang="fr">Bonjour, Ada &lt;3 !</h1>
	// <p>2 nouveaux messages</p>
	// <ul><li>math</li><li>engines</li></ul>
}
