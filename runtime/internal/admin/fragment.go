package admin

import (
	"bytes"
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
//  2. builds what that left into a tree as a browser builds it inside the
//     page's <section> and writes it back from the tree, so the fragment
//     closes every element it opens and closes none of the shell's (an
//     unclosed <form> or <textarea> would otherwise take the shell's
//     controls after it, a stray </section> leave the box);
//  3. then, on that tree, points every form at the page itself
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
	// bluemonday filters tokens but leaves the tree to the browser: an
	// unclosed <form>, <textarea> or <table>, or a stray </section>,
	// would reach out of the box into the shell's markup after it (the
	// shell's own forms joining the module's, the rest of the page posted
	// as a textarea's value). So the fragment is built into a tree as a
	// browser builds it inside the page's <section>, and written back
	// from that tree: every element it opens it closes, and no end tag
	// of its closes one of the shell's.
	box := &html.Node{Type: html.ElementNode, Data: "section", DataAtom: atom.Section}
	nodes, err := html.ParseFragment(bytes.NewReader(clean), box)
	if err != nil {
		return "" // cannot happen on a reader of bytes; never pass what did not parse
	}
	var out bytes.Buffer
	for _, n := range nodes {
		confine(n, self, csrf, idPrefix, 0)
		if n.Parent == nil && n.Type != html.ElementNode && n.Type != html.TextNode {
			continue // comments, doctypes: bluemonday drops them already
		}
		if err := html.Render(&out, n); err != nil {
			return ""
		}
	}
	return out.String()
}

// maxFragmentDepth bounds the fragment's nesting: deeper elements are
// dropped (a browser gives up nesting long before; this keeps the
// rendering's recursion small whatever the module sends).
const maxFragmentDepth = 128

// confine applies rewrite to n's subtree: controls named csrf are
// removed, every POST form gets the shell's CSRF field first, elements
// deeper than maxFragmentDepth go.
func confine(n *html.Node, self, csrf, idPrefix string, depth int) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		switch {
		case c.Type == html.CommentNode || c.Type == html.DoctypeNode:
			n.RemoveChild(c)
		case c.Type != html.ElementNode:
		case depth+1 >= maxFragmentDepth || c.DataAtom == atom.Input && namedCSRF(c.Attr):
			n.RemoveChild(c)
		default:
			confine(c, self, csrf, idPrefix, depth+1)
		}
		c = next
	}
	if n.Type != html.ElementNode {
		return
	}
	if rewrite(n, self, idPrefix) {
		field := &html.Node{Type: html.ElementNode, Data: "input", DataAtom: atom.Input, Attr: []html.Attribute{
			{Key: "type", Val: "hidden"}, {Key: "name", Val: "csrf"}, {Key: "value", Val: csrf}}}
		n.InsertBefore(field, n.FirstChild)
	}
}

// rewrite confines one element to the page (see sanitizeFragment); it
// reports a POST form, which needs the CSRF field.
func rewrite(t *html.Node, self, idPrefix string) (postForm bool) {
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
func namedCSRF(attrs []html.Attribute) bool {
	for _, a := range attrs {
		if a.Key == "name" && strings.EqualFold(a.Val, "csrf") {
			return true
		}
	}
	return false
}
