package admin

import (
	"bytes"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// A module's admin page answers an HTML fragment that the area shows in
// its own layout, on its own origin, to an admin. The fragment must stay
// in its box: run no script (the pages' CSP forbids any, and the fragment
// carries none), restyle nothing outside it, lead nowhere but its own
// page, and post nowhere but there. So sanitizeFragment:
//
//  1. keeps only plain markup (text, headings, lists, tables, forms and
//     their controls) with a short list of attributes, through
//     bluemonday's policy engine: no script, style, event handler,
//     iframe, object, base, meta, image, or URL with a scheme;
//  2. then, on what that left, points every form at the page itself
//     (GET or POST only) and puts the shell's CSRF token in each POST
//     form; keeps only links to the page itself ("?query" or "#anchor");
//     prefixes every id (and label's for) so none clashes with the
//     shell's; drops any control named csrf.
//
// Password fields are not allowed: a module page must not ask the admin
// for their password.

// fragmentPolicy is the markup a module's admin page may use.
var fragmentPolicy = func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "small",
		"code", "pre", "kbd", "samp", "blockquote", "q", "abbr", "time", "mark", "sub", "sup",
		"ul", "ol", "li", "dl", "dt", "dd", "div", "span", "section", "article", "details", "summary",
		"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "colgroup", "col",
		"form", "fieldset", "legend", "label", "input", "button", "select", "option", "optgroup", "textarea", "output")
	p.AllowAttrs("href").OnElements("a")
	p.AllowElements("a")
	p.AllowRelativeURLs(true) // checked again below: only the page itself
	p.RequireParseableURLs(true)
	p.AllowAttrs("method").Matching(regexp.MustCompile(`(?i)^(get|post)$`)).OnElements("form")
	p.AllowAttrs("action").OnElements("form") // rewritten below
	p.AllowAttrs("type").Matching(regexp.MustCompile(`(?i)^(text|search|number|email|url|tel|date|time|datetime-local|month|week|color|range|checkbox|radio|hidden|submit|reset)$`)).OnElements("input")
	p.AllowAttrs("type").Matching(regexp.MustCompile(`(?i)^(submit|reset)$`)).OnElements("button")
	p.AllowAttrs("name").Matching(regexp.MustCompile(`^[A-Za-z0-9_.\-\[\]]{1,64}$`)).OnElements("input", "button", "select", "textarea", "output")
	p.AllowAttrs("value").OnElements("input", "button", "option", "li", "output")
	p.AllowAttrs("placeholder", "required", "checked", "disabled", "readonly", "min", "max", "step", "size",
		"maxlength", "minlength", "pattern", "autocomplete").OnElements("input")
	p.AllowAttrs("required", "disabled", "readonly", "rows", "cols", "maxlength", "minlength", "placeholder").OnElements("textarea")
	p.AllowAttrs("required", "disabled", "multiple", "size").OnElements("select")
	p.AllowAttrs("selected", "disabled", "label").OnElements("option")
	p.AllowAttrs("disabled", "label").OnElements("optgroup")
	p.AllowAttrs("disabled").OnElements("button", "fieldset")
	p.AllowAttrs("open").OnElements("details")
	p.AllowAttrs("colspan", "rowspan").Matching(bluemonday.Integer).OnElements("th", "td")
	p.AllowAttrs("scope").Matching(regexp.MustCompile(`^(row|col|rowgroup|colgroup)$`)).OnElements("th")
	p.AllowAttrs("span").Matching(bluemonday.Integer).OnElements("col", "colgroup")
	p.AllowAttrs("start", "reversed").OnElements("ol")
	p.AllowAttrs("datetime").OnElements("time")
	p.AllowAttrs("title").Globally()
	p.AllowAttrs("lang").Matching(regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)).Globally()
	p.AllowAttrs("id").Matching(regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_\-]{0,63}$`)).Globally()
	p.AllowAttrs("for").Matching(regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_\-]{0,63}$`)).OnElements("label", "output")
	// The area's stylesheet's own classes only: a module cannot dress
	// its box as the shell's header or navigation.
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^(card|badge|ok|warn|error|secondary|danger|table-wrap|muted|hint|num|inline)( (card|badge|ok|warn|error|secondary|danger|table-wrap|muted|hint|num|inline))*$`)).Globally()
	p.AllowAttrs("aria-label", "aria-describedby").Globally()
	return p
}()

// sanitizeFragment makes a module's admin page fragment safe to place in
// the area's layout: self is the page's own path (every form posts there,
// every link leads there), csrf the admin session's token, idPrefix the
// prefix of every id (e.g. "m-chat-").
func sanitizeFragment(fragment []byte, self, csrf, idPrefix string) string {
	clean := fragmentPolicy.SanitizeBytes(fragment)
	var out bytes.Buffer
	z := html.NewTokenizer(bytes.NewReader(clean))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				return "" // cannot happen on bluemonday's output; never pass what did not parse
			}
			return out.String()
		}
		t := z.Token()
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			if t.DataAtom == atom.Input && namedCSRF(t) {
				continue // a field of the module's named csrf: gone (an input has no end tag)
			}
			post := rewrite(&t, self, idPrefix)
			out.WriteString(t.String())
			if post && tt == html.StartTagToken {
				out.WriteString(`<input type="hidden" name="csrf" value="` + html.EscapeString(csrf) + `">`)
			}
		case html.TextToken, html.EndTagToken:
			out.WriteString(t.String())
		default: // comments, doctypes: bluemonday drops them already
		}
	}
}

// rewrite confines one start tag to the page (see sanitizeFragment); it
// reports a POST form, which needs the CSRF field.
func rewrite(t *html.Token, self, idPrefix string) (postForm bool) {
	attrs := t.Attr[:0]
	var action, method string
	for _, a := range t.Attr {
		switch a.Key {
		case "id", "for":
			a.Val = idPrefix + a.Val
		case "href":
			v, ok := selfURL(a.Val, self, idPrefix)
			if !ok {
				continue
			}
			a.Val = v
		case "action":
			action = a.Val
			continue
		case "method":
			method = strings.ToLower(a.Val)
			continue
		case "name":
			if strings.EqualFold(a.Val, "csrf") {
				continue
			}
		}
		attrs = append(attrs, a)
	}
	t.Attr = attrs
	if t.DataAtom != atom.Form {
		return false
	}
	target := self
	if strings.HasPrefix(action, "?") {
		target += "?" + cleanQuery(action[1:])
	}
	if method != "post" {
		method = "get"
	}
	t.Attr = append(t.Attr, html.Attribute{Key: "method", Val: method}, html.Attribute{Key: "action", Val: strings.TrimSuffix(target, "?")})
	return method == "post"
}

// selfURL keeps a link that stays on the page: "?query" (re-encoded) or
// "#anchor" (prefixed as ids are).
func selfURL(v, self, idPrefix string) (string, bool) {
	switch {
	case strings.HasPrefix(v, "?"):
		if i := strings.IndexByte(v, '#'); i >= 0 {
			v = v[:i]
		}
		q := cleanQuery(v[1:])
		if q == "" {
			return self, true
		}
		return self + "?" + q, true
	case strings.HasPrefix(v, "#") && len(v) > 1:
		id := v[1:]
		if u, err := url.PathUnescape(id); err == nil {
			id = u
		}
		if !fragmentID.MatchString(id) {
			return "", false
		}
		return "#" + idPrefix + id, true
	}
	return "", false
}

var fragmentID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_\-]{0,63}$`)

// namedCSRF says whether t is a control named csrf, the shell's field.
func namedCSRF(t html.Token) bool {
	for _, a := range t.Attr {
		if a.Key == "name" && strings.EqualFold(a.Val, "csrf") {
			return true
		}
	}
	return false
}
