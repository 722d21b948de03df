// Package sentences finds the sentences a module's Go code answers people
// with (its API's errors), for the tests that check a module's translation
// catalogue and the texts its page hands its script. A sentence built at
// run time becomes a pattern, each value in it a placeholder in order
// ({a}, {b}…): "There is no user " + name + "." is "There is no user
// {a}.", fmt.Sprintf("at most %d", n) "at most {a}"; a page's script
// matches an answer against the patterns and puts the values into the
// translation.
package sentences

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Rules say where sentences are in the code.
type Rules struct {
	// Calls maps a callee's name (a function, or a selector's name as in
	// jsonapi.BadRequest) to the index of the argument that is a sentence.
	Calls map[string]int
	// Literals are composite literal types whose Msg field, or third
	// element when unkeyed, is a sentence (jsonapi.Error and its aliases).
	Literals []string
	// MapKeys are keys of map literals whose value is a sentence
	// (`"error"` of {"error": "…"}).
	MapKeys []string
}

// JSONAPI are the rules of modules/internal/jsonapi's helpers.
func JSONAPI() Rules {
	return Rules{
		Calls: map[string]int{
			"BadRequest": 0, "Forbidden": 0, "NotFound": 0, "Conflict": 0, "TooLarge": 0, "Unsupported": 0,
			"PathID": 2,
		},
		Literals: []string{"Error"},
		MapKeys:  []string{"error"},
	}
}

// With returns r with more calls and literals.
func (r Rules) With(calls map[string]int, literals ...string) Rules {
	c := maps.Clone(r.Calls)
	maps.Copy(c, calls)
	return Rules{Calls: c, Literals: append(slices.Clone(r.Literals), literals...), MapKeys: r.MapKeys}
}

// Extract returns the sentences of the non-test Go files of dirs, sorted.
func Extract(dirs []string, r Rules) ([]string, error) {
	fset := token.NewFileSet()
	seen := map[string]bool{}
	lit := func(e ast.Expr) {
		if v := Sentence(e); v != "" {
			seen[v] = true
		}
	}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				return nil, err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if i, ok := r.Calls[callee(n.Fun)]; ok && i < len(n.Args) {
						lit(n.Args[i])
					}
				case *ast.CompositeLit:
					if slices.Contains(r.Literals, callee(n.Type)) {
						for i, e := range n.Elts {
							if kv, ok := e.(*ast.KeyValueExpr); ok {
								if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Msg" {
									lit(kv.Value)
								}
							} else if i == 2 {
								lit(e)
							}
						}
					}
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							if k, ok := kv.Key.(*ast.BasicLit); ok && k.Kind == token.STRING && slices.Contains(r.MapKeys, unquote(k.Value)) {
								lit(kv.Value)
							}
						}
					}
				}
				return true
			})
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// callee is the name of a function or type expression: f, pkg.F.
func callee(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}

func unquote(s string) string {
	v, err := strconv.Unquote(s)
	if err != nil {
		return ""
	}
	return v
}

// Sentence is the text of e, a sentence: a string literal, a
// concatenation of literals and values, or fmt.Sprintf of a literal; each
// value becomes a placeholder, {a}, {b}… in order. "" when e is none of
// these or holds no literal text.
func Sentence(e ast.Expr) string {
	var b strings.Builder
	next := 'a'
	hole := func() { b.WriteString("{" + string(next) + "}"); next++ }
	literal := false
	var walk func(e ast.Expr) bool
	walk = func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.BasicLit:
			v, err := strconv.Unquote(e.Value)
			if e.Kind != token.STRING || err != nil {
				return false
			}
			b.WriteString(v)
			literal = literal || v != ""
		case *ast.BinaryExpr:
			return e.Op == token.ADD && walk(e.X) && walk(e.Y)
		case *ast.ParenExpr:
			return walk(e.X)
		case *ast.CallExpr:
			if !isSprintf(e) {
				hole()
				return true
			}
			v, err := strconv.Unquote(e.Args[0].(*ast.BasicLit).Value)
			if err != nil {
				return false
			}
			for i, part := range sprintfVerb.Split(v, -1) {
				if i > 0 {
					hole()
				}
				b.WriteString(part)
			}
			literal = true
		default:
			hole()
		}
		return true
	}
	if !walk(e) || !literal {
		return ""
	}
	return b.String()
}

var sprintfVerb = regexp.MustCompile(`%[-+# 0-9.]*[sdvq]`)

// isSprintf reports a call fmt.Sprintf(literal, …).
func isSprintf(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || len(c.Args) == 0 {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	_, lit := c.Args[0].(*ast.BasicLit)
	return ok && x.Name == "fmt" && sel.Sel.Name == "Sprintf" && lit
}
