// Command hello is the smallest useful Web Sonic module: a guestbook. It is
// the SDK tutorial; README.md walks through it.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm .
package main

import (
	"database/sql"
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
	// A member's entries are theirs: the site's personal data export and
	// account erasure reach them through these two (privacy.go).
	sdk.UserData(exportEntries, eraseEntries)
}

// main is never called in a wasm reactor; the Go toolchain wants it.
func main() {}

type config struct {
	Title      string `json:"title"`
	MaxEntries int    `json:"max_entries"`
}

// entry is one message as the page shows it. The page is
// assets/templates/guestbook.html, which the runtime renders (sdk.Render)
// with this data: it reads fields, not methods, so the time comes formatted.
type entry struct {
	Author  string
	Message string
	At      string
}

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
		var at time.Time
		if err := rows.Scan(&e.Author, &e.Message, &at); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		e.At = at.Format("2006-01-02 15:04")
		data.Entries = append(data.Entries, e)
	}
	if err := rows.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// The page is an HTML fragment: sdk.SitePage asks the runtime to render
	// it inside the site's layout (navigation, sign-in state, theme).
	sdk.SitePage(w, cfg.Title)
	sdk.Render(w, status, "guestbook.html", data)
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
