// Package handler is the HTTP handler the benchmarks measure, written once
// and compiled twice: into the bench wasm module (GOOS=wasip1) and natively
// into the benchmark binary, so "wasm versus native" compares the same code.
//
// It depends on nothing but the standard library; where the data comes from
// is a Store, which each side implements with its own database access.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Item is one row of the items table.
type Item struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"price_cents"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ItemQuery is the one-row primary-key query every Store runs, with the
// item id as $1.
const ItemQuery = `SELECT id, name, description, price_cents, updated_at FROM items WHERE id = $1`

// ErrNotFound is returned by a Store that has no item with the id.
var ErrNotFound = errors.New("handler: item not found")

// Store fetches items. Implementations are safe for concurrent use.
type Store interface {
	Item(ctx context.Context, id int64) (Item, error)
	Pager
}

// MaxSpin bounds the n of the spin endpoint.
const MaxSpin = 10_000_000

// New returns the handler, serving under base (for example "/wasm"):
//
//	GET base/hello?name=N  a small HTML page (html/template) rendered from the request
//	GET base/greet?name=N  the same data as a small JSON document (encoding/json)
//	GET base/items/{id}    one item as JSON, read from store
//	GET base/items?after=N ten items after id N as JSON, read from store
//	GET base/spin?n=N      CPU only: counts the primes below N
//	GET base/page?name=N   hello's page through render (PageTemplate)
//	GET base/cached?name=N hello's page, marked cacheable (cached.go)
//	GET base/loop?shape=S&n=N&warm=W  Loop: one of the above served W+N times in process, N timed
func New(base string, store Store, render Render) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/hello", hello)
	mux.HandleFunc("GET "+base+"/greet", greet)
	mux.HandleFunc("GET "+base+"/items/{id}", func(w http.ResponseWriter, r *http.Request) { item(w, r, store) })
	mux.HandleFunc("GET "+base+"/spin", spin)
	mux.HandleFunc("GET "+base+"/page", func(w http.ResponseWriter, r *http.Request) { renderedPage(w, r, render) })
	mux.HandleFunc("GET "+base+"/items", func(w http.ResponseWriter, r *http.Request) { items(w, r, store) })
	mux.HandleFunc("GET "+base+"/cached", cached)
	mux.HandleFunc("GET "+base+"/loop", func(w http.ResponseWriter, r *http.Request) { serveLoop(w, r, mux, base) })
	return mux
}

var page = template.Must(template.New("hello").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>Hello, {{.Name}}</title></head>
<body><main>
<h1>Hello, {{.Name}}!</h1>
<p>You asked for <code>{{.Path}}</code> with {{.Method}}{{if .Agent}} from <em>{{.Agent}}</em>{{end}}.</p>
<ul>{{range .Links}}<li><a href="{{.Href}}">{{.Label}}</a></li>{{end}}</ul>
</main></body></html>
`))

type link struct {
	Href  string `json:"href"`
	Label string `json:"label"`
}

type helloData struct {
	Name   string `json:"name"`
	Lang   string `json:"lang"`
	Path   string `json:"path"`
	Method string `json:"method"`
	Agent  string `json:"agent,omitempty"`
	Links  []link `json:"links"`
}

// fromRequest gathers what both greetings show.
func fromRequest(r *http.Request) helloData {
	name := strings.TrimSpace(r.URL.Query().Get("name"))
	if name == "" {
		name = "world"
	}
	if len(name) > 64 {
		name = name[:64]
	}
	lang, _, _ := strings.Cut(r.Header.Get("Accept-Language"), ",")
	if lang == "" {
		lang = "en"
	}
	d := helloData{Name: name, Lang: lang, Path: r.URL.Path, Method: r.Method, Agent: r.UserAgent()}
	for i, label := range []string{"Home", "Guestbook", "Account", "Help", "About"} {
		d.Links = append(d.Links, link{Href: "/" + strings.ToLower(label) + "?from=" + strconv.Itoa(i), Label: label})
	}
	return d
}

func hello(w http.ResponseWriter, r *http.Request) {
	d := fromRequest(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := page.Execute(w, d); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func greet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(fromRequest(r))
}

func item(w http.ResponseWriter, r *http.Request, store Store) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "bad item id", http.StatusBadRequest)
		return
	}
	it, err := store.Item(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, "no such item", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "could not load the item", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(it)
}

func spin(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 0 || n > MaxSpin {
		http.Error(w, "n must be 0 to "+strconv.Itoa(MaxSpin), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("primes below " + strconv.Itoa(n) + ": " + strconv.Itoa(Primes(n)) + "\n"))
}

// Primes counts the primes below n by trial division: a tight loop of
// integer work with no allocation and no host calls.
func Primes(n int) int {
	count := 0
	for i := 2; i < n; i++ {
		prime := true
		for d := 2; d*d <= i; d++ {
			if i%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			count++
		}
	}
	return count
}
