package theme

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/template/parse"

	"golang.org/x/net/html"
)

// The markup check. A template's text is trusted by html/template: it
// writes it as is, and escapes only what actions write. The check must
// therefore see the markup a page will have, not the pieces of it each
// text node holds: html/template glues text around a comment, an action
// or a branch (`<scr{{/**/}}ipt>` writes `<script>`), and a partial may
// open a tag another template closes. So each template's tree is
// flattened into one text, with a mark where an action writes something
// (markValue) and where a branch begins or ends (markFlow), and that text
// is read as a browser reads HTML: a mark in a tag's name or an
// attribute's name is refused (a template may not make up names), and so
// are the elements, attributes and URLs a theme may not have, whichever
// way they are spelt. A template may begin inside a tag (a partial
// writing attributes), so it is also read as if it did; one that ends
// inside a tag is refused.
const (
	markValue = "\ue000"
	markFlow  = "\ue001"
)

var (
	unmark = strings.NewReplacer(markValue, "", markFlow, "")
	// show writes marked text for an error message.
	show = strings.NewReplacer(markValue, "{{…}}", markFlow, "")
)

// flatten writes n's text with marks for actions and branches.
func flatten(b *strings.Builder, n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			flatten(b, c)
		}
	case *parse.TextNode:
		b.Write(n.Text)
	case *parse.ActionNode, *parse.TemplateNode:
		b.WriteString(markValue)
	case *parse.IfNode:
		flattenBranch(b, &n.BranchNode)
	case *parse.RangeNode:
		flattenBranch(b, &n.BranchNode)
	case *parse.WithNode:
		flattenBranch(b, &n.BranchNode)
	case *parse.BreakNode, *parse.ContinueNode:
		b.WriteString(markFlow)
	}
}

func flattenBranch(b *strings.Builder, n *parse.BranchNode) {
	b.WriteString(markFlow)
	flatten(b, n.List)
	b.WriteString(markFlow)
	flatten(b, n.ElseList)
	b.WriteString(markFlow)
}

// Elements, attributes and link relations a theme may not write.
var (
	forbiddenElements = map[string]bool{
		"script": true, "iframe": true, "object": true, "embed": true, "base": true, "frame": true,
		"frameset": true, "applet": true, "portal": true, "fencedframe": true,
	}
	// Link relations that fetch or connect elsewhere outside the page's
	// policy (a DNS lookup names the data it carries).
	forbiddenRels = map[string]bool{"dns-prefetch": true, "preconnect": true, "prefetch": true, "prerender": true, "modulepreload": true}
	// urlAttrs are attributes holding a URL.
	urlAttrs = map[string]bool{
		"href": true, "src": true, "action": true, "formaction": true, "xlink:href": true, "data": true,
		"poster": true, "background": true, "cite": true, "ping": true, "srcset": true, "lowsrc": true, "dynsrc": true,
	}
	// gluedMark is an action's mark glued to a name's character or to
	// another action's: the action writes part of a name.
	gluedMark = regexp.MustCompile(`\x{e000}[\w:.\x{e000}-]|[\w:.-]\x{e000}`)
	badScheme = regexp.MustCompile(`^(?i)(javascript|vbscript|livescript):`)
)

// errMarkup is a markup refusal; the caller adds where.
var errMarkup = errors.New("a theme runs no script and loads nothing from elsewhere")

// checkMarkup reads text (a flattened template, or a rendered page) as
// HTML and refuses what a theme may not write. Only a template's text has
// marks.
func checkMarkup(text string, template bool) error {
	if m := forbidden.FindString(unmark.Replace(text)); m != "" {
		return fmt.Errorf("%q: %w", m, errMarkup)
	}
	if !template {
		return checkTokens(text)
	}
	// As it stands (a template ending inside a tag makes the closing mark
	// part of the tag), and as if it began inside a tag.
	if err := checkTokens(text + markValue + ">"); err != nil {
		return err
	}
	// As if it began inside a tag: only that tag's attributes read
	// differently, and an action alone, or followed by text, is likely
	// the page's text, so only a name that has a value counts there.
	z := html.NewTokenizer(strings.NewReader("<x " + text + ">"))
	z.Next()
	first := z.Token()
	first.Attr = slices.DeleteFunc(first.Attr, func(a html.Attribute) bool {
		return a.Val == "" && strings.Contains(a.Key, markValue)
	})
	return checkTag(first, false)
}

// checkTokens reads s as a browser would and refuses forbidden markup.
func checkTokens(s string) error {
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if errors.Is(z.Err(), io.EOF) {
				return nil
			}
			return z.Err()
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			if err := checkTag(z.Token(), true); err != nil {
				return err
			}
		}
	}
}

// checkTag refuses a forbidden tag; strict also refuses two actions'
// marks glued in one attribute name (a template's own tags; at its start,
// two actions in a row are the page's text).
func checkTag(t html.Token, strict bool) error {
	name := t.Data
	if strings.ContainsAny(name, markValue+markFlow) {
		return fmt.Errorf("<%s: a template action writes part of a tag's name: %w", show.Replace(name), errMarkup)
	}
	if forbiddenElements[name] {
		return fmt.Errorf("<%s>: %w", name, errMarkup)
	}
	for _, a := range t.Attr {
		// An action alone may write attributes (html/template refuses
		// those it would not write: on*, style…); an action writing part
		// of one name may not.
		key := strings.ReplaceAll(a.Key, markFlow, "")
		if gluedMark.MatchString(key) && (strict || !strings.Contains(key, markValue+markValue)) {
			return fmt.Errorf("<%s %s>: a template action writes part of an attribute's name: %w", name, show.Replace(key), errMarkup)
		}
		val := unmark.Replace(a.Val)
		switch {
		case len(key) > 2 && strings.HasPrefix(key, "on"):
			return fmt.Errorf("<%s %s>: %w", name, key, errMarkup)
		case key == "srcdoc":
			return fmt.Errorf("<%s %s>: %w", name, key, errMarkup)
		case name == "meta" && key == "http-equiv":
			return fmt.Errorf("<meta http-equiv>: %w", errMarkup)
		case name == "link" && key == "rel":
			if strings.ContainsAny(a.Val, markValue+markFlow) {
				return fmt.Errorf("<link rel>: a template action writes a link's relation: %w", errMarkup)
			}
			for _, r := range strings.Fields(strings.ToLower(a.Val)) {
				if forbiddenRels[r] {
					return fmt.Errorf("<link rel=%q>: %w", r, errMarkup)
				}
			}
		case urlAttrs[key]:
			if i := strings.IndexAny(a.Val, markValue+markFlow); i > 0 && !strings.ContainsAny(a.Val[:i], ":/?#") {
				return fmt.Errorf("<%s %s=%q>: a template action writes part of a URL's scheme: %w", name, key, show.Replace(a.Val), errMarkup)
			}
			if badScheme.MatchString(strings.Map(dropSpace, val)) {
				return fmt.Errorf("<%s %s=%q>: %w", name, key, val, errMarkup)
			}
		}
	}
	return nil
}

// dropSpace drops what browsers ignore in a URL's scheme.
func dropSpace(r rune) rune {
	if r <= ' ' {
		return -1
	}
	return r
}

// checkTemplateMarkup checks every template of t (one file's, parsed with
// those before it) as checkMarkup does.
func checkTemplateMarkup(t *template.Template) error {
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		var b strings.Builder
		flatten(&b, tt.Tree.Root)
		if err := checkMarkup(b.String(), true); err != nil {
			return fmt.Errorf("%s (template %q): %w", tt.Tree.ParseName, tt.Name(), err)
		}
	}
	return nil
}
