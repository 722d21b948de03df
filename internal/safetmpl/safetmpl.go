// Package safetmpl is what the host needs to run html/template code that
// someone else wrote — a theme's layout and pages, a module's page
// templates — without that code being able to stall or swamp the runtime:
//
//   - CheckCalls refuses templates that call themselves (text/template
//     cannot be stopped once it runs) and pages whose template calls add up
//     past a bound;
//   - Bound rewrites every {{range}} so that the iterations one execution
//     runs are charged against a Budget before they run, across nested
//     ranges and called templates, so that a range over a huge list, or a
//     range nested in a range over the same data, fails at once instead of
//     running for minutes;
//   - Writer fails past a byte cap, so output is bounded too;
//   - Funcs replaces the builtins that could allocate without bound
//     (printf and friends with a huge width) by capped ones.
//
// The escaping is html/template's own and unchanged: these checks only
// bound the work.
package safetmpl

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"text/template/parse"
)

// ErrTooLarge is wrapped by an execution that wrote more than its Writer's
// cap.
var ErrTooLarge = errors.New("safetmpl: output too large")

// ErrBudget is wrapped by an execution whose ranges would iterate more
// than its Budget allows.
var ErrBudget = errors.New("safetmpl: too many range iterations")

// Writer is an io.Writer that fails past Max bytes.
type Writer struct {
	W   io.Writer
	N   int // written so far
	Max int
}

func (c *Writer) Write(p []byte) (int, error) {
	if c.N+len(p) > c.Max {
		return 0, ErrTooLarge
	}
	n, err := c.W.Write(p)
	c.N += n
	return n, err
}

// Walk calls f on n and every node below it.
func Walk(n parse.Node, f func(parse.Node)) {
	if n == nil {
		return
	}
	f(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				Walk(c, f)
			}
		}
	case *parse.ActionNode:
		Walk(n.Pipe, f)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				Walk(c, f)
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			Walk(a, f)
		}
	case *parse.ChainNode:
		Walk(n.Node, f)
	case *parse.IfNode:
		Walk(n.Pipe, f)
		Walk(n.List, f)
		Walk(n.ElseList, f)
	case *parse.RangeNode:
		Walk(n.Pipe, f)
		Walk(n.List, f)
		Walk(n.ElseList, f)
	case *parse.WithNode:
		Walk(n.Pipe, f)
		Walk(n.List, f)
		Walk(n.ElseList, f)
	case *parse.TemplateNode:
		Walk(n.Pipe, f)
	}
}

// MaxCalls bounds the template calls one execution makes, counted through
// every template it calls (a range's body counted once: its iterations are
// Budget's to bound).
const MaxCalls = 10000

// CheckCalls refuses, in the templates of t, one that calls itself
// (directly or through others) and an execution from root whose calls add
// up to more than MaxCalls.
func CheckCalls(t *template.Template, root string) error {
	const visiting = -1
	count := map[string]int{}
	var visit func(name string) (int, error)
	visit = func(name string) (int, error) {
		switch c := count[name]; {
		case c == visiting:
			return 0, fmt.Errorf("template %q calls itself: templates the host runs do not recurse", name)
		case c > 0:
			return c, nil
		}
		tt := t.Lookup(name)
		if tt == nil || tt.Tree == nil {
			return 1, nil // html/template reports it when it runs
		}
		count[name] = visiting
		total := 1
		var err error
		Walk(tt.Tree.Root, func(n parse.Node) {
			if tn, ok := n.(*parse.TemplateNode); ok && err == nil {
				var c int
				if c, err = visit(tn.Name); err == nil {
					if total += c; total > MaxCalls {
						err = fmt.Errorf("template %q calls templates more than %d times in one execution", name, MaxCalls)
					}
				}
			}
		})
		if err != nil {
			count[name] = 0
			return 0, err
		}
		count[name] = total
		return total, nil
	}
	_, err := visit(root)
	return err
}

// Budget counts the range iterations of one execution, and its steps. It
// is not safe for concurrent use: give each execution its own (Bound's
// charge function reads the one its caller set up for it).
type Budget struct {
	// Left is the range iterations still allowed.
	Left int
	// Steps is the work still allowed, in the units of Cost: each range
	// charges its iterations times its body's cost before it runs.
	Steps int64
}

// MaxSteps bounds the work of one execution in the units of Cost (about a
// node of a template evaluated; a template call counts more): what runs
// outside any range (Bound refuses a template that would pass it), and
// the Budget.Steps of ranges (MaxSteps for Pages). At a few tens of
// nanoseconds a step, a rendering stays well under a second of the host's
// CPU, however its template is written.
const MaxSteps = 2_000_000

// rangeFunc is the name Bound gives its charge function in templates; a
// template may not use it itself (Bound refuses it).
const rangeFunc = "websonic_range_budget"

// Bound rewrites every {{range PIPELINE}} of the templates of t into
// {{range PIPELINE | websonic_range_budget COST}}, whose function charges
// the iterations the range is about to run (the length of a slice, array
// or map, the count of an integer) to the Budget budget returns, and their
// work (the iterations times COST, the static cost of the range's body,
// the templates it calls included: see Cost), and fails the execution with
// ErrBudget once either is spent. A range over anything else (channels,
// functions) fails. It refuses a template that calls itself and one whose
// work outside ranges passes MaxSteps. Call it after parsing and before
// the first execution (html/template escapes then); t must have been given
// Funcs' functions before parsing, with budget.
func Bound(t *template.Template) error {
	c := newCoster(t)
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		var err error
		var ranges []*parse.RangeNode
		Walk(tt.Tree.Root, func(n parse.Node) {
			switch n := n.(type) {
			case *parse.IdentifierNode:
				if n.Ident == rangeFunc && err == nil {
					err = fmt.Errorf("template %q: %s is the host's own function", tt.Name(), rangeFunc)
				}
			case *parse.RangeNode:
				ranges = append(ranges, n)
			}
		})
		if err != nil {
			return err
		}
		if cost, err := c.template(tt.Name()); err != nil {
			return err
		} else if cost > MaxSteps {
			return fmt.Errorf("template %q does too much work in one execution (%d steps, at most %d)", tt.Name(), cost, MaxSteps)
		}
		// The costs first, on the bodies as written, then the rewrite.
		weights := make([]int64, len(ranges))
		for i, n := range ranges {
			body, err := c.node(n.List)
			if err != nil {
				return err
			}
			weights[i] = min(1+body, MaxSteps+1)
		}
		for i, n := range ranges {
			id := parse.NewIdentifier(rangeFunc).SetTree(tt.Tree).SetPos(n.Pos)
			w := &parse.NumberNode{
				NodeType: parse.NodeNumber, Pos: n.Pos, IsInt: true, IsUint: true, IsFloat: true,
				Int64: weights[i], Uint64: uint64(weights[i]), Float64: float64(weights[i]), Text: strconv.FormatInt(weights[i], 10),
			}
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{id, w}})
		}
	}
	return nil
}

// callCost is what one template call costs beside the called template's
// own nodes (a call costs several times a node).
const callCost = 4

// coster computes Cost: the static cost of templates, memoized.
type coster struct {
	t    *template.Template
	memo map[string]int64 // -1 while visiting
}

func newCoster(t *template.Template) *coster { return &coster{t: t, memo: map[string]int64{}} }

// Cost is the static work of one execution of template name of t: its
// nodes, once each (both branches of an if counted), and those of the
// templates it calls, but for the bodies of its ranges, which Bound
// charges when they run. It fails for a template that calls itself.
func Cost(t *template.Template, name string) (int64, error) {
	return newCoster(t).template(name)
}

func (c *coster) template(name string) (int64, error) {
	switch v, ok := c.memo[name]; {
	case ok && v < 0:
		return 0, fmt.Errorf("template %q calls itself: templates the host runs do not recurse", name)
	case ok:
		return v, nil
	}
	tt := c.t.Lookup(name)
	if tt == nil || tt.Tree == nil {
		return 1, nil // html/template reports it when it runs
	}
	c.memo[name] = -1
	v, err := c.node(tt.Tree.Root)
	if err != nil {
		delete(c.memo, name)
		return 0, err
	}
	c.memo[name] = v
	return v, nil
}

// node is the static cost of n (saturating past MaxSteps).
func (c *coster) node(n parse.Node) (int64, error) {
	var sum int64 = 1
	add := func(ns ...parse.Node) error {
		for _, m := range ns {
			if m == nil || (reflect.ValueOf(m).Kind() == reflect.Pointer && reflect.ValueOf(m).IsNil()) {
				continue
			}
			v, err := c.node(m)
			if err != nil {
				return err
			}
			sum = min(sum+v, MaxSteps+1)
		}
		return nil
	}
	var err error
	switch n := n.(type) {
	case *parse.ListNode:
		for _, m := range n.Nodes {
			if err = add(m); err != nil {
				break
			}
		}
	case *parse.ActionNode:
		err = add(n.Pipe)
	case *parse.PipeNode:
		for _, m := range n.Cmds {
			if err = add(m); err != nil {
				break
			}
		}
	case *parse.CommandNode:
		err = add(n.Args...)
	case *parse.ChainNode:
		err = add(n.Node)
	case *parse.IfNode:
		err = add(n.Pipe, n.List, n.ElseList)
	case *parse.WithNode:
		err = add(n.Pipe, n.List, n.ElseList)
	case *parse.RangeNode:
		err = add(n.Pipe, n.ElseList) // the body: charged per iteration
	case *parse.TemplateNode:
		if err = add(n.Pipe); err == nil {
			var v int64
			if v, err = c.template(n.Name); err == nil {
				sum = min(sum+callCost+v, MaxSteps+1)
			}
		}
	}
	return sum, err
}

// MaxPrint caps what printf, print and println may produce in one call,
// and what html, js and urlquery may format from several operands.
const MaxPrint = 64 << 10

// Funcs returns the functions Bound's rewrite and the capped builtins need:
// budget returns the Budget of the execution that is running (the caller
// keeps one per template clone, see Pages).
//
// The formatting builtins (printf, print, println, and html, js and
// urlquery, which format their operands as print does) are replaced by
// ones that format one operand at a time and stop past MaxPrint: the
// standard ones build the whole string first, so a few KiB of template
// (printf "%0999999d…", or print with one datum named a thousand times)
// would allocate gigabytes before any cap could look at the result.
// printf's * width and precision are not supported (an operand reads as
// %!(BADWIDTH)), nor are %T and %p (they describe the wrapper that
// bounds the operand).
func Funcs(budget func() *Budget) template.FuncMap {
	return template.FuncMap{
		rangeFunc: func(cost int64, v any) (any, error) {
			n, err := iterations(v)
			if err != nil {
				return nil, err
			}
			b := budget()
			if b.Left -= n; b.Left < 0 {
				return nil, fmt.Errorf("%w (the data has too many items for this template)", ErrBudget)
			}
			if cost > 0 && int64(n) > b.Steps/cost {
				b.Steps = -1
				return nil, fmt.Errorf("%w (the template does too much for each of the data's items)", ErrBudget)
			}
			b.Steps -= int64(n) * cost
			return v, nil
		},
		"printf":   sprintf,
		"print":    func(args ...any) (string, error) { return sprint("print", false, args) },
		"println":  func(args ...any) (string, error) { return sprint("println", true, args) },
		"html":     escaper("html", template.HTMLEscapeString),
		"js":       escaper("js", template.JSEscapeString),
		"urlquery": escaper("urlquery", url.QueryEscape),
	}
}

// errPrint is the error of a formatting builtin past MaxPrint.
func errPrint(name string) error {
	return fmt.Errorf("%s: result larger than %d bytes", name, MaxPrint)
}

// sprint is fmt.Sprint (ln: fmt.Sprintln) failing past MaxPrint bytes,
// formatting one operand at a time.
func sprint(name string, ln bool, args []any) (string, error) {
	var b strings.Builder
	prevString := false
	for i, a := range args {
		isString := a != nil && reflect.TypeOf(a).Kind() == reflect.String
		if i > 0 && (ln || (!isString && !prevString)) {
			b.WriteByte(' ')
		}
		prevString = isString
		s, ok := a.(string)
		if !ok {
			s = fmt.Sprint(a)
		}
		if b.Len()+len(s) > MaxPrint {
			return "", errPrint(name)
		}
		b.WriteString(s)
	}
	if ln {
		b.WriteByte('\n')
	}
	if b.Len() > MaxPrint {
		return "", errPrint(name)
	}
	return b.String(), nil
}

// escaper is the builtin name (html, js, urlquery): esc applied to its
// operands formatted as text/template does (one string as it is, others
// as print), the formatting bounded as sprint's.
func escaper(name string, esc func(string) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		if len(args) == 1 {
			if s, ok := args[0].(string); ok {
				return esc(s), nil
			}
		}
		s, err := sprint(name, false, args)
		if err != nil {
			return "", err
		}
		return esc(s), nil
	}
}

// sprintf is fmt.Sprintf failing past MaxPrint bytes: every operand is
// formatted on its own (boundedArg), into the budget of the call, and
// none once it is spent.
func sprintf(format string, args ...any) (string, error) {
	left := MaxPrint
	wrapped := make([]any, len(args))
	for i, a := range args {
		wrapped[i] = boundedArg{v: a, left: &left}
	}
	s := fmt.Sprintf(format, wrapped...)
	if left < 0 || len(s) > MaxPrint {
		return "", errPrint("printf")
	}
	return s, nil
}

// boundedArg formats v for sprintf, charging what it writes to *left and
// writing nothing once it is spent.
type boundedArg struct {
	v    any
	left *int
}

// Format implements fmt.Formatter.
func (a boundedArg) Format(f fmt.State, verb rune) {
	if *a.left < 0 {
		return
	}
	s := fmt.Sprintf(fmt.FormatString(f, verb), a.v)
	if *a.left -= len(s); *a.left >= 0 {
		io.WriteString(f, s)
	}
}

// iterations is how many times {{range}} would run over v.
func iterations(v any) (int, error) {
	if v == nil {
		return 0, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return rv.Len(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(max(rv.Int(), 0)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > 1<<31 {
			return 1 << 31, nil
		}
		return int(rv.Uint()), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return 0, nil
		}
		return iterations(rv.Elem().Interface())
	}
	return 0, fmt.Errorf("safetmpl: cannot range over %T here", v)
}
