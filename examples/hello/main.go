// Command hello is the smallest useful Web Sonic module: a guestbook. It is
// the SDK tutorial; README.md walks through it.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm .
package main

import (
	"database/sql"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

// A reactor module does its set-up in init: there is no main to run.
func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /guestbook", list)
	mux.HandleFunc("POST /guestbook", sign)
	sdk.Handle(mux)
}

// main is never called in a wasm reactor; the Go toolchain wants it.
func main() {}

type config struct {
	Title      string `json:"title"`
	MaxEntries int    `json:"max_entries"`
}

type entry struct {
	Author  string
	Message string
	At      time.Time
}

// page is an HTML fragment: sdk.SitePage asks the runtime to render it
// inside the site's layout (navigation, sign-in state, theme).
var page = template.Must(template.New("page").Parse(`<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .User}}<form class="card" method="post" action="/guestbook">
<label for="message">Message</label>
<textarea id="message" name="message" rows="3" maxlength="500" required></textarea>
<button type="submit">Sign the guestbook</button>
</form>
{{else}}<p><a href="/login?next=/guestbook">Sign in</a> to leave a message.</p>{{end}}
<ul id="entries" class="entries">{{range .Entries}}
<li><strong>{{.Author}}</strong> <time class="muted">{{.At.Format "2006-01-02 15:04"}}</time><p>{{.Message}}</p></li>
{{else}}<li class="muted">No entries yet.</li>{{end}}</ul>
`))

type pageData struct {
	Title   string
	User    *sdk.User
	Entries []entry
	Error   string
}

func list(w http.ResponseWriter, r *http.Request) {
	render(w, r, http.StatusOK, "")
}

func render(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	var cfg config
	if err := sdk.Config(&cfg); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// websonic_api.users is a read-only view of core data, granted because
	// the manifest asks for "users" and the site owner approved it.
	rows, err := sdk.DB().QueryContext(r.Context(), `
		SELECT u.display_name, e.message, e.created_at
		FROM entries e JOIN websonic_api.users u ON u.id = e.user_id
		ORDER BY e.created_at DESC, e.id DESC LIMIT $1`, cfg.MaxEntries)
	if err != nil {
		sdk.Logger().Error("list entries", "error", err)
		http.Error(w, "could not load the guestbook", http.StatusInternalServerError)
		return
	}
	defer rows.Close()
	data := pageData{Title: cfg.Title, User: sdk.UserFrom(r), Error: errMsg}
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.Author, &e.Message, &e.At); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		data.Entries = append(data.Entries, e)
	}
	if err := rows.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sdk.SitePage(w, cfg.Title)
	w.WriteHeader(status)
	page.Execute(w, data)
}

func sign(w http.ResponseWriter, r *http.Request) {
	u := sdk.UserFrom(r)
	if u == nil {
		http.Redirect(w, r, "/login?next=/guestbook", http.StatusSeeOther)
		return
	}
	msg := strings.TrimSpace(r.FormValue("message"))
	if msg == "" || len(msg) > 500 {
		render(w, r, http.StatusBadRequest, "A message is 1 to 500 characters.")
		return
	}
	if err := insert(sdk.DB(), u.ID, msg); err != nil {
		sdk.Logger().Error("sign guestbook", "user", u.Username, "error", err)
		http.Error(w, "could not save your message", http.StatusInternalServerError)
		return
	}
	sdk.Logger().Info("guestbook signed", "user", u.Username)
	http.Redirect(w, r, "/guestbook", http.StatusSeeOther)
}

func insert(db *sql.DB, userID int64, msg string) error {
	_, err := db.Exec(`INSERT INTO entries (user_id, message) VALUES ($1, $2)`, userID, msg)
	return err
}
