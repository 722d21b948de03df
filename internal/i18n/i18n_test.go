package i18n_test

import (
	"testing"
	"testing/fstest"

	"github.com/websonic/websonic/internal/i18n"
)

func catalog(t *testing.T) *i18n.Catalog {
	t.Helper()
	c, err := i18n.Load(fstest.MapFS{
		"l/fr/a.json": {Data: []byte(`{"Log in": "Se connecter", "Signed in as {user}": "Connecté en tant que {user}"}`)},
		"l/fr/b.json": {Data: []byte(`{"{n} modules": {"one": "{n} module", "other": "{n} modules"}, "Log in": "Se connecter"}`)},
		"l/en/a.json": {Data: []byte(`{"{n} modules": {"one": "{n} module", "other": "{n} modules"}}`)},
		"l/README":    {Data: []byte(`not a language`)},
	}, "l")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTranslate(t *testing.T) {
	c := catalog(t)
	tests := []struct {
		lang, key string
		args      []any
		want      string
	}{
		{"fr", "Log in", nil, "Se connecter"},
		{"en", "Log in", nil, "Log in"},
		{"de", "Log in", nil, "Log in"}, // unknown language: the source
		{"fr", "Not translated", nil, "Not translated"},
		{"fr", "Signed in as {user}", []any{"user", "ana"}, "Connecté en tant que ana"},
		{"en", "Signed in as {user}", []any{"user", "<b>"}, "Signed in as <b>"}, // escaping is the template's job
		{"fr", "{n} modules", []any{"n", 0}, "0 module"},
		{"fr", "{n} modules", []any{"n", 1}, "1 module"},
		{"fr", "{n} modules", []any{"n", 2}, "2 modules"},
		{"en", "{n} modules", []any{"n", 0}, "0 modules"},
		{"en", "{n} modules", []any{"n", 1}, "1 module"},
		{"fr", "Signed in as {user}", []any{"user"}, "Connecté en tant que {user}"}, // odd args: left as is
	}
	for _, tt := range tests {
		if got := c.Printer(tt.lang).T(tt.key, tt.args...); got != tt.want {
			t.Errorf("%s: T(%q, %v) = %q, want %q", tt.lang, tt.key, tt.args, got, tt.want)
		}
	}
	var nilPrinter *i18n.Printer
	if got := nilPrinter.T("Log in"); got != "Log in" || nilPrinter.Lang() != "en" {
		t.Errorf("nil printer: %q %q", got, nilPrinter.Lang())
	}
}

func TestNegotiate(t *testing.T) {
	c := catalog(t)
	tests := []struct{ choice, accept, want string }{
		{"", "", "en"},
		{"", "fr-FR,fr;q=0.9,en;q=0.8", "fr"},
		{"", "de-DE,de;q=0.9", "en"},
		{"", "de;q=0.9,fr;q=0.5", "fr"},
		{"en", "fr-FR", "en"}, // the owner's choice wins
		{"fr", "en-US", "fr"},
		{"xx", "fr", "fr"}, // a choice the catalogue lacks is ignored
		{"", "garbage;;;q=x", "en"},
	}
	for _, tt := range tests {
		if got := c.Negotiate(tt.choice, tt.accept); got != tt.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", tt.choice, tt.accept, got, tt.want)
		}
	}
}

func TestModuleCatalogFirst(t *testing.T) {
	site := catalog(t)
	mod, err := i18n.Parse(map[string][]byte{"fr.json": []byte(`{"Log in": "Entrer", "Notices": "Annonces"}`)})
	if err != nil {
		t.Fatal(err)
	}
	p := site.Printer("fr").With(mod)
	for key, want := range map[string]string{"Log in": "Entrer", "Notices": "Annonces", "Signed in as {user}": "Connecté en tant que {user}"} {
		if got := p.T(key); got != want {
			t.Errorf("T(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	tests := map[string]map[string][]byte{
		"bad language":      {"français.json": []byte(`{}`)},
		"not canonical":     {"FR.json": []byte(`{}`)},
		"not an object":     {"fr.json": []byte(`["a"]`)},
		"bad plural":        {"fr.json": []byte(`{"a": {"one": "x"}}`)},
		"unknown form":      {"fr.json": []byte(`{"a": {"other": "x", "few": "y"}}`)},
		"number":            {"fr.json": []byte(`{"a": 1}`)},
		"conflicting twice": {"fr/a.json": []byte(`{"a": "x"}`), "fr/b.json": []byte(`{"a": "y"}`)},
		"too large":         {"fr.json": make([]byte, 2<<20)},
	}
	for name, files := range tests {
		if _, err := i18n.Parse(files); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("fr", []byte(`{"a": "b", "{n} x": {"one": "{n} y", "other": "{n} ys"}}`))
	f.Add("pt-BR", []byte(`{}`))
	f.Fuzz(func(t *testing.T, lang string, b []byte) {
		c, err := i18n.Parse(map[string][]byte{lang + ".json": b})
		if err != nil {
			return
		}
		p := c.Printer(c.Negotiate(lang, lang))
		for _, k := range c.Keys(lang) {
			p.T(k, "n", 1, "user", "x")
		}
	})
}
