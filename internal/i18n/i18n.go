// Package i18n translates the product's user-facing text.
//
// A Catalog holds, per language, messages keyed by their English source
// text, loaded from JSON files a translator edits without touching code:
//
//	{
//	  "Log in": "Se connecter",
//	  "Signed in as {user}": "Connecté en tant que {user}",
//	  "{n} modules need your attention": {"one": "{n} module demande votre attention", "other": "{n} modules demandent votre attention"}
//	}
//
// A message is a string, or an object of plural forms ("one", "other");
// {name} placeholders are filled from the arguments, given as name, value
// pairs. English needs no catalogue (the key is the text) except for
// plurals. A message missing from a catalogue falls back to its English
// source, so a missing translation shows English, never a key or a blank;
// the locales package's tests fail on any missing translation.
//
// Pages get a Printer for the request's language (Negotiate: the owner's
// choice, then the browser's Accept-Language) and call it from templates
// through the page data: {{$.T "Log in"}}. Modules ship catalogues of their
// own (Parse), consulted before the site's (Printer.With).
package i18n

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/language"
)

// Source is the language of the keys: English.
const Source = "en"

// message is one translation: Other, and One for the singular when the
// message has plural forms.
type message struct {
	One, Other string
	plural     bool
}

func (m *message) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		m.Other = s
		return nil
	}
	var forms struct{ One, Other *string }
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&forms); err != nil || forms.Other == nil {
		return errors.New(`a message is a string or {"one": "…", "other": "…"}`)
	}
	m.Other, m.plural = *forms.Other, true
	if forms.One != nil {
		m.One = *forms.One
	}
	return nil
}

// Catalog is the messages of several languages. It is immutable once
// built, and safe for concurrent use.
type Catalog struct {
	msgs    map[string]map[string]message // language → key → message
	tags    []language.Tag
	matcher language.Matcher
}

// maxCatalogBytes bounds one catalogue file (a module's is untrusted).
const maxCatalogBytes = 1 << 20

// Load reads the catalogues under dir of fsys: one folder per language
// (dir/fr/*.json, dir/en/*.json…), whose files are merged; a key defined
// twice with different texts is an error. Languages without a folder
// still include Source.
func Load(fsys fs.FS, dir string) (*Catalog, error) {
	files := map[string][]byte{}
	langs, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	for _, l := range langs {
		if !l.IsDir() {
			continue
		}
		names, err := fs.Glob(fsys, path.Join(dir, l.Name(), "*.json"))
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		for _, n := range names {
			b, err := fs.ReadFile(fsys, n)
			if err != nil {
				return nil, fmt.Errorf("i18n: %w", err)
			}
			files[l.Name()+"/"+path.Base(n)] = b
		}
	}
	return Parse(files)
}

// Parse builds a catalogue from files named "LANG/NAME.json" or
// "LANG.json" (a module's locales/ assets), each a JSON object of
// messages. Languages must be well-formed BCP 47 tags.
func Parse(files map[string][]byte) (*Catalog, error) {
	c := &Catalog{msgs: map[string]map[string]message{Source: {}}}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		lang, _, _ := strings.Cut(strings.TrimSuffix(name, ".json"), "/")
		tag, err := language.Parse(lang)
		if err != nil || tag.String() != lang {
			return nil, fmt.Errorf("i18n: %s: %q is not a language tag such as fr or pt-BR", name, lang)
		}
		b := files[name]
		if len(b) > maxCatalogBytes {
			return nil, fmt.Errorf("i18n: %s: larger than %d bytes", name, maxCatalogBytes)
		}
		var m map[string]message
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", name, err)
		}
		into := c.msgs[lang]
		if into == nil {
			into = map[string]message{}
			c.msgs[lang] = into
		}
		for k, v := range m {
			if old, ok := into[k]; ok && old != v {
				return nil, fmt.Errorf("i18n: %s: %q is translated twice, differently", name, k)
			}
			into[k] = v
		}
	}
	c.tags = []language.Tag{language.English} // the first is the fallback
	for _, l := range slices.Sorted(maps.Keys(c.msgs)) {
		if l != Source {
			c.tags = append(c.tags, language.MustParse(l))
		}
	}
	c.matcher = language.NewMatcher(c.tags)
	return c, nil
}

// Languages lists the catalogue's languages, Source first.
func (c *Catalog) Languages() []string {
	out := make([]string, len(c.tags))
	for i, t := range c.tags {
		out[i] = t.String()
	}
	return out
}

// Keys lists the keys translated into lang.
func (c *Catalog) Keys(lang string) []string { return slices.Sorted(maps.Keys(c.msgs[lang])) }

// Negotiate picks the language of a page: choice when the catalogue has
// it (the owner's setting, or the user's), else the best match for the
// browser's Accept-Language header, else Source.
func (c *Catalog) Negotiate(choice, acceptLanguage string) string {
	if _, ok := c.msgs[choice]; ok && choice != "" {
		return choice
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return Source
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return Source
	}
	return c.tags[i].String()
}

// Printer returns the printer of lang (Source when the catalogue lacks it).
func (c *Catalog) Printer(lang string) *Printer {
	if _, ok := c.msgs[lang]; !ok {
		lang = Source
	}
	return &Printer{lang: lang, cats: []*Catalog{c}}
}

// Printer translates into one language. Its zero value (or nil) prints
// the English source text.
type Printer struct {
	lang string
	cats []*Catalog // consulted in order
}

// Lang is the printer's language, e.g. "fr" (for <html lang>).
func (p *Printer) Lang() string {
	if p == nil || p.lang == "" {
		return Source
	}
	return p.lang
}

// With returns a printer that looks in c (a module's catalogue) first,
// then in p's catalogues.
func (p *Printer) With(c *Catalog) *Printer {
	if c == nil {
		return p
	}
	q := &Printer{lang: p.Lang(), cats: []*Catalog{c}}
	if p != nil {
		q.cats = append(q.cats, p.cats...)
	}
	return q
}

func (p *Printer) lookup(key string) (message, bool) {
	if p == nil {
		return message{}, false
	}
	for _, c := range p.cats {
		if m, ok := c.msgs[p.lang][key]; ok {
			return m, true
		}
		if p.lang != Source { // the module's English plural forms
			if m, ok := c.msgs[Source][key]; ok && m.plural {
				return m, true
			}
		}
	}
	return message{}, false
}

// T translates key and fills its {name} placeholders from args, name,
// value pairs. A message with plural forms takes the "one" form when the
// argument "n" is 1 (or 0 or 1 in French).
func (p *Printer) T(key string, args ...any) string {
	text := key
	if m, ok := p.lookup(key); ok {
		text = m.Other
		if m.plural && m.One != "" && p.singular(args) {
			text = m.One
		}
	}
	if len(args) == 0 || !strings.Contains(text, "{") {
		return text
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		name, ok := args[i].(string)
		if !ok {
			continue
		}
		pairs = append(pairs, "{"+name+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// singular says whether args' "n" takes the singular in p's language.
func (p *Printer) singular(args []any) bool {
	for i := 0; i+1 < len(args); i += 2 {
		if name, _ := args[i].(string); name == "n" {
			n, err := strconv.ParseInt(fmt.Sprint(args[i+1]), 10, 64)
			if err != nil {
				return false
			}
			if base, _ := language.Make(p.Lang()).Base(); base.String() == "fr" {
				return n == 0 || n == 1
			}
			return n == 1
		}
	}
	return false
}

// Key marks s as a catalogue key translated later (a page title, a
// message chosen before the request's language is known): it returns s,
// and the locales tests find it as they find T's.
func Key(s string) string { return s }
