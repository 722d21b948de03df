package admin

import (
	"html/template"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"
)

const (
	testSelf   = "/admin/modules/chat/pages/moderation"
	testCSRF   = "tok&en\"<"
	testPrefix = "m-chat-"
)

// TestSanitizeFragment: each way out of the box is closed, and what a
// module page needs stays.
func TestSanitizeFragment(t *testing.T) {
	for _, tc := range []struct {
		name, in  string
		want, not []string
	}{
		{name: "script", in: `<p>a</p><script>alert(1)</script><svg><script>alert(2)</script></svg>`,
			want: []string{"<p>a</p>"}, not: []string{"script", "alert", "svg"}},
		{name: "event handlers", in: `<img src=x onerror="alert(1)"><p onclick="alert(2)" onmouseover=x>t</p>`,
			want: []string{"<p>t</p>"}, not: []string{"onerror", "onclick", "onmouseover", "alert", "<img"}},
		{name: "javascript url", in: `<a href="javascript:alert(1)">x</a><a href="JaVaScRiPt:alert(1)">y</a><a href="java&#09;script:alert(1)">z</a>`,
			not: []string{"javascript", "JaVaScRiPt", "alert", "href"}},
		{name: "links elsewhere", in: `<a href="https://evil.example/">a</a><a href="//evil.example/">b</a><a href="/admin/users">c</a><a href="../x">d</a>`,
			not: []string{"evil", "href"}},
		{name: "links to the page", in: `<a href="?tab=2&amp;x=%3Cb%3E">a</a><a href="#top">b</a>`,
			want: []string{`href="` + testSelf + `?tab=2&amp;x=%3Cb%3E"`, `href="#m-chat-top"`}},
		{name: "form elsewhere", in: `<form action="https://evil.example/steal" method="POST"><input name="q"><button formaction="https://evil.example/">go</button></form>`,
			want: []string{`<form method="post" action="` + testSelf + `"><input type="hidden" name="csrf" value="tok&amp;en&#34;&lt;"/>`, `<input name="q"/>`},
			not:  []string{"evil", "formaction"}},
		{name: "get form", in: `<form action="?page=2"><input name="q"></form>`,
			want: []string{`<form method="get" action="` + testSelf + `?page=2">`}, not: []string{"csrf"}},
		{name: "forged csrf and password", in: `<form method="post"><input name="csrf" value="forged"><input type="password" name="pw"><input form="logout" name="x"></form>`,
			not: []string{"forged", "password", `form="logout"`}},
		{name: "styles and frames", in: `<style>body{display:none}</style><p style="position:fixed" class="top brand">s</p><iframe src="https://evil.example"></iframe><object data="x"></object><embed src="x">`,
			want: []string{"<p>s</p>"}, not: []string{"style", "display", "fixed", "top", "iframe", "object", "embed", "evil"}},
		{name: "base and meta", in: `<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example/"><link rel="stylesheet" href="https://evil.example/x.css">`,
			not: []string{"base", "meta", "link", "evil"}},
		{name: "ids prefixed", in: `<div id="main">x</div><label for="q">Q</label><input id="q" name="q">`,
			want: []string{`id="m-chat-main"`, `for="m-chat-q"`, `id="m-chat-q"`}, not: []string{`id="main"`}},
		{name: "allowed classes only", in: `<span class="badge ok">ok</span><span class="skip">x</span>`,
			want: []string{`<span class="badge ok">ok</span>`, `<span>x</span>`}},
		{name: "tables and text escape", in: `<table><tr><th scope="col">a &lt;b&gt;</th><td colspan="2">1</td></tr></table>`,
			want: []string{`<th scope="col">a &lt;b&gt;</th>`, `<td colspan="2">1</td>`}},
		{name: "comments and unclosed", in: `<!-- <script>x</script> --><p>unclosed <b>bold`,
			want: []string{"<p>unclosed <b>bold"}, not: []string{"<!--", "script"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sanitizeFragment([]byte(tc.in), testSelf, testCSRF, testPrefix)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("%q left in\n%s", n, got)
				}
			}
			checkConfined(t, got)
		})
	}
}

// checkConfined fails t unless out keeps every rule of sanitizeFragment.
func checkConfined(t *testing.T, out string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(out))
	pendingCSRF := false
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		tok := z.Token()
		if pendingCSRF {
			if tok.Type != html.StartTagToken && tok.Type != html.SelfClosingTagToken || tok.Data != "input" || attr(tok, "name") != "csrf" || attr(tok, "value") != testCSRF {
				t.Fatalf("a POST form does not start with the CSRF field: %s in\n%s", tok, out)
			}
			pendingCSRF = false
			continue
		}
		switch tok.Type {
		case html.CommentToken, html.DoctypeToken:
			t.Fatalf("comment or doctype left: %s", out)
		case html.StartTagToken, html.SelfClosingTagToken:
			switch tok.Data {
			case "script", "style", "iframe", "object", "embed", "base", "meta", "link", "img", "svg", "math", "frame", "frameset", "template", "noscript":
				t.Fatalf("<%s> left in\n%s", tok.Data, out)
			}
			for _, a := range tok.Attr {
				k := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(k, "on"), k == "style", k == "formaction", k == "form", k == "src", k == "srcdoc", k == "background":
					t.Fatalf("attribute %s left in\n%s", a.Key, out)
				case k == "href" && !(a.Val == testSelf || strings.HasPrefix(a.Val, testSelf+"?") || strings.HasPrefix(a.Val, "#"+testPrefix)):
					t.Fatalf("a link leaves the page: %q in\n%s", a.Val, out)
				case (k == "id" || k == "for") && !strings.HasPrefix(a.Val, testPrefix):
					t.Fatalf("%s %q not prefixed in\n%s", k, a.Val, out)
				case k == "type" && strings.EqualFold(a.Val, "password"):
					t.Fatalf("a password field in\n%s", out)
				case k == "name" && strings.EqualFold(a.Val, "csrf"):
					t.Fatalf("a csrf field of the module's in\n%s", out)
				}
			}
			if tok.Data == "form" {
				action := attr(tok, "action")
				if action != testSelf && !strings.HasPrefix(action, testSelf+"?") {
					t.Fatalf("a form posts elsewhere: %q in\n%s", action, out)
				}
				switch attr(tok, "method") {
				case "post":
					pendingCSRF = tok.Type == html.StartTagToken
				case "get":
				default:
					t.Fatalf("form method %q in\n%s", attr(tok, "method"), out)
				}
			}
		}
	}
}

func attr(t html.Token, key string) string {
	for _, a := range t.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// FuzzSanitizeFragment: whatever a module answers, the result keeps every
// rule, and sanitizing it again changes nothing a browser would see.
func FuzzSanitizeFragment(f *testing.F) {
	for _, s := range []string{
		`<form method="post" action="https://x"><input name=csrf value=f><a href="javascript:x">a</a></form>`,
		`<p onclick=x style=y id=main>t</p><script>x</script>`,
		`<a href="?a=1#b">x</a><a href="#c">y</a><a href="//e">z</a>`,
		`<table><tr><td colspan=2>x</td></tr></table><select name=s><option value=1 selected>1</option></select>`,
		`<form><form method=post><input type=password name=p></form></form>`,
		"<p>\x00</p><textarea name=t><script></textarea>",
		`<form method=post><textarea name=x>`,
		`<table><form method=post><tr><td><input name=a>`,
		`</section></main><h2>x</h2>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := sanitizeFragment([]byte(in), testSelf, testCSRF, testPrefix)
		checkConfined(t, out)
		checkBoxed(t, in)
	})
}

// modulePageTree renders the real module page (layout, module-page.html
// and the module-extras partial after the fragment) around what
// sanitizeFragment made of fragment, and parses it as a browser does.
func modulePageTree(t *testing.T, fragment string) *html.Node {
	t.Helper()
	pages, err := testPages()
	if err != nil {
		t.Fatal(err)
	}
	d := page{Title: "Moderation", CSRF: testCSRF, Data: modulePageData{
		X:        &extrasData{Module: "chat", Version: "1.0.0", Enabled: true},
		Label:    "Moderation",
		Fragment: template.HTML(sanitizeFragment([]byte(fragment), testSelf, testCSRF, testPrefix)),
	}}
	var b strings.Builder
	if err := pages["module-page.html"].ExecuteTemplate(&b, "layout", d); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// testPages are the area's templates, parsed once for the tests.
var testPages = sync.OnceValues(parse)

// findID is the element of doc with that id, or nil.
func findID(n *html.Node, id string) *html.Node {
	if n.Type == html.ElementNode && attrOf(n, "id") == id {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findID(c, id); f != nil {
			return f
		}
	}
	return nil
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// checkBoxed fails t unless, in the page a browser builds, the fragment
// stays inside its section: the section is main's, the shell's parts
// after it (the module-extras card, with its own disable form, CSRF field
// and button) are there, outside the fragment's section, and untouched.
func checkBoxed(t *testing.T, fragment string) {
	t.Helper()
	doc := modulePageTree(t, fragment)
	main, box, extras := findID(doc, "main"), findID(doc, "module-page"), findID(doc, "module-extras")
	if main == nil || box == nil || extras == nil {
		t.Fatalf("the page lost its main, the fragment's box or the module card (%v %v %v)", main != nil, box != nil, extras != nil)
	}
	if box.Parent != main || extras.Parent != main {
		t.Fatalf("the fragment's box or the module card left main")
	}
	for c := box.NextSibling; c != extras; c = c.NextSibling {
		if c == nil || c.Type == html.ElementNode || strings.TrimSpace(c.Data) != "" {
			t.Fatalf("the fragment's markup between its box and the module card")
		}
	}
	for p := extras.Parent; p != nil; p = p.Parent {
		if p == box {
			t.Fatalf("the module card is inside the fragment's box")
		}
	}
	toggle := findID(doc, "module-toggle")
	if toggle == nil || toggle.Parent == nil || toggle.Parent.Data != "form" || attrOf(toggle.Parent, "action") != "/admin/modules/chat/disable" {
		t.Fatalf("the shell's disable button is not in its own form any more")
	}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var s strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			s.WriteString(text(c))
		}
		return s.String()
	}
	if s := text(box); strings.Contains(s, `id="module-toggle"`) || strings.Contains(s, `name="csrf"`) {
		t.Fatalf("the fragment's box swallowed the shell's markup: %q", s)
	}
	// Nothing of the fragment after its box: main ends with the card.
	for c := extras.NextSibling; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			t.Fatalf("<%s> after the module card in main", c.Data)
		}
	}
}

// TestFragmentStaysInItsBox: whatever a module leaves open or closes, its
// fragment ends inside its own section: the shell's card and its
// disable form after it stay the shell's.
func TestFragmentStaysInItsBox(t *testing.T) {
	for name, in := range map[string]string{
		"plain":               `<p>hello</p><form method="post"><button>Go</button></form>`,
		"closes its section":  `</section></main><h2>Fake shell</h2><p>`,
		"unclosed form":       `<form method="post"><button>Approve</button>`,
		"unclosed textarea":   `<form method="post"><button>Send</button><textarea name="x">`,
		"unclosed table":      `<table><tr><td>cell`,
		"unclosed select":     `<form><select name="s"><option>a`,
		"unclosed formatting": `<a href="?x=1"><b><i>all of it`,
		"form in a table":     `<table><form method="post"><tr><td><input name="a"></td></tr></table><button>x</button>`,
		"stray end tags":      `</div></div></form></form></section></main></body></html>`,
	} {
		t.Run(name, func(t *testing.T) { checkBoxed(t, in) })
	}
}

// TestFragmentDepth: a fragment nested deeper than a page needs is cut,
// whatever its size (the admin's page stays small and the rendering's
// recursion bounded).
func TestFragmentDepth(t *testing.T) {
	for name, in := range map[string]string{
		"divs":       strings.Repeat("<div>", 200000),
		"formatting": strings.Repeat(`<a href="?x"><b><i><em>`, 40000),
		"lists":      strings.Repeat("<ul><li>", 100000),
	} {
		t.Run(name, func(t *testing.T) {
			out := sanitizeFragment([]byte(in), testSelf, testCSRF, testPrefix)
			z := html.NewTokenizer(strings.NewReader(out))
			depth, most := 0, 0
			for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
				switch tt {
				case html.StartTagToken:
					depth++
					most = max(most, depth)
				case html.EndTagToken:
					depth--
				}
			}
			if most > maxFragmentDepth || depth != 0 {
				t.Fatalf("nesting %d (most %d), %d left open", most, maxFragmentDepth, depth)
			}
		})
	}
}
