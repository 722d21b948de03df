package admin

import (
	"strings"
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
			want: []string{`<form method="post" action="` + testSelf + `"><input type="hidden" name="csrf" value="tok&amp;en&#34;&lt;">`, `<input name="q">`},
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
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := sanitizeFragment([]byte(in), testSelf, testCSRF, testPrefix)
		checkConfined(t, out)
	})
}
