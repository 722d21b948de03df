package handler

import "net/http"

// Render answers a request with the page template name executed with data
// at status: in the wasm module sdk.Render (the host executes the template),
// natively html/template on the same file.
type Render func(w http.ResponseWriter, status int, name string, data any) error

// PageTemplate is the template the page endpoint renders, a file of the
// bench module's assets/templates/ folder.
const PageTemplate = "page.html"

// pageView is the page's data. Its fields carry no json tags, so the
// template reads the same names from the struct (natively) and from the
// JSON the host decodes (in the module).
type pageView struct {
	Name, Lang, Path, Method, Agent string
	Links                           []pageLink
}

type pageLink struct{ Href, Label string }

// renderedPage is hello's page rendered through render: by the host for the wasm
// module.
func renderedPage(w http.ResponseWriter, r *http.Request, render Render) {
	d := fromRequest(r)
	v := pageView{Name: d.Name, Lang: d.Lang, Path: d.Path, Method: d.Method, Agent: d.Agent}
	for _, l := range d.Links {
		v.Links = append(v.Links, pageLink{Href: l.Href, Label: l.Label})
	}
	w.Header().Set("Cache-Control", "no-store")
	if err := render(w, http.StatusOK, PageTemplate, v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
