// Command noticeboard is a Web Sonic module that shows each host service in
// use: members post notices that appear at once on every open board
// (realtime, through an asset script), whose text is encrypted at rest
// with the site's data key (Seal), which a nightly job expires, which
// admins count and purge with commands, and which a member can export or
// have erased. README.md walks through it.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm .
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

// Topic is where new notices are announced; the manifest owns
// "noticeboard.*".
const topic = "noticeboard.new"

// purpose binds sealed notices: sdk.Open with another purpose (or another
// module) cannot read them.
const purpose = "notice"

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /noticeboard", board)
	mux.HandleFunc("POST /noticeboard", post)
	sdk.Handle(mux)

	// Realtime: the runtime asks before each subscription. Any signed-in
	// member may follow the board; nothing else is ours to allow.
	sdk.OnSubscribe(func(ctx context.Context, u *sdk.User, t string) error {
		if u == nil || t != topic {
			return errors.New("members only")
		}
		return nil
	})
	// A nightly job (capabilities.schedules) expires old notices.
	sdk.Job("expire", expire)
	// Admin commands (capabilities.admin_commands): websonic exec noticeboard stats.
	sdk.Command("stats", stats)
	sdk.Command("purge", purge)
	// An admin page (capabilities.admin_pages), in the admin area.
	sdk.AdminPage("moderation", http.HandlerFunc(moderation))
	// A member's data: part of `websonic user export` and `user erase`.
	sdk.UserData(exportUser, eraseUser)
}

func main() {}

type config struct {
	KeepDays int `json:"keep_days"`
}

type notice struct {
	ID     int64  `json:"id"`
	Author string `json:"author"`
	Text   string `json:"text"`
	At     string `json:"at"`
}

// board serves the board's page, assets/templates/board.html, which the
// runtime renders (sdk.Render) with the notices as their JSON fields (id,
// author, text, at).
func board(w http.ResponseWriter, r *http.Request) { render(w, r, http.StatusOK, "") }

func render(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	notices, err := latest(r.Context(), 50)
	if err != nil {
		sdk.Logger().Error("list notices", "error", err)
		http.Error(w, "could not load the noticeboard", http.StatusInternalServerError)
		return
	}
	sdk.SitePage(w, "Noticeboard")
	sdk.Render(w, status, "board.html", map[string]any{"Notices": notices, "Error": errMsg})
}

// latest reads and opens the newest notices.
func latest(ctx context.Context, n int) ([]notice, error) {
	rows, err := sdk.DB().QueryContext(ctx, `
		SELECT n.id, u.display_name, n.sealed, n.created_at
		FROM notices n JOIN websonic_api.users u ON u.id = n.user_id
		ORDER BY n.created_at DESC, n.id DESC LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []notice
	for rows.Next() {
		var (
			nt     notice
			sealed []byte
			at     time.Time
		)
		if err := rows.Scan(&nt.ID, &nt.Author, &sealed, &at); err != nil {
			return nil, err
		}
		text, err := sdk.Open(ctx, purpose, sealed)
		if err != nil {
			return nil, fmt.Errorf("open notice %d: %w", nt.ID, err)
		}
		nt.Text, nt.At = string(text), at.UTC().Format("2006-01-02 15:04")
		out = append(out, nt)
	}
	return out, rows.Err()
}

func post(w http.ResponseWriter, r *http.Request) {
	u := sdk.UserFrom(r) // the route is for members: never nil here
	text := strings.TrimSpace(r.FormValue("text"))
	if text == "" || len(text) > 500 {
		render(w, r, http.StatusBadRequest, "A notice is 1 to 500 characters.")
		return
	}
	sealed, err := sdk.Seal(r.Context(), purpose, []byte(text))
	if err != nil {
		sdk.Logger().Error("seal notice", "error", err)
		http.Error(w, "could not save your notice", http.StatusInternalServerError)
		return
	}
	var (
		id int64
		at time.Time
	)
	err = sdk.DB().QueryRowContext(r.Context(), `INSERT INTO notices (user_id, sealed) VALUES ($1, $2) RETURNING id, created_at`,
		u.ID, sealed).Scan(&id, &at)
	if err != nil {
		sdk.Logger().Error("post notice", "user", u.Username, "error", err)
		http.Error(w, "could not save your notice", http.StatusInternalServerError)
		return
	}
	// Every open board hears of it, on every replica of the site.
	n := notice{ID: id, Author: u.DisplayName, Text: text, At: at.UTC().Format("2006-01-02 15:04")}
	if err := sdk.Publish(r.Context(), topic, n); err != nil {
		sdk.Logger().Warn("announce notice", "id", id, "error", err) // saved all the same
	}
	http.Redirect(w, r, "/noticeboard", http.StatusSeeOther)
}

// expire deletes the notices older than the configured number of days.
func expire(ctx context.Context) error {
	var cfg config
	if err := sdk.Config(&cfg); err != nil {
		return err
	}
	n, err := deleteOlder(ctx, cfg.KeepDays)
	if err != nil {
		return err
	}
	sdk.Logger().Info("expired notices", "count", n, "tick", sdk.JobTick(ctx))
	return nil
}

func deleteOlder(ctx context.Context, days int) (int64, error) {
	res, err := sdk.DB().ExecContext(ctx, `DELETE FROM notices WHERE created_at < now() - make_interval(days => $1)`, days)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func stats(ctx context.Context, _ sdk.Args) (sdk.Result, error) {
	rows, err := sdk.DB().QueryContext(ctx, `
		SELECT u.username, count(*), max(n.created_at)
		FROM notices n JOIN websonic_api.users u ON u.id = n.user_id
		GROUP BY u.username ORDER BY count(*) DESC, u.username`)
	if err != nil {
		return sdk.Result{}, err
	}
	defer rows.Close()
	var table [][]any
	for rows.Next() {
		var (
			user string
			n    int64
			last time.Time
		)
		if err := rows.Scan(&user, &n, &last); err != nil {
			return sdk.Result{}, err
		}
		table = append(table, []any{user, n, last.UTC().Format(time.RFC3339)})
	}
	if err := rows.Err(); err != nil {
		return sdk.Result{}, err
	}
	return sdk.Table([]string{"author", "notices", "last"}, table), nil
}

func purge(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	days := args.Int("older_than_days")
	if days < 0 {
		return sdk.Result{}, errors.New("older_than_days must be 0 or more")
	}
	if args.Bool("dry_run") {
		var n int64
		err := sdk.DB().QueryRowContext(ctx, `SELECT count(*) FROM notices WHERE created_at < now() - make_interval(days => $1)`, days).Scan(&n)
		verb := "are"
		if n == 1 {
			verb = "is"
		}
		return sdk.Text(fmt.Sprintf("%s %s older than %d days (nothing deleted)", count(n), verb, days)), err
	}
	n, err := deleteOlder(ctx, int(days))
	return sdk.Text(fmt.Sprintf("deleted %s older than %d days", count(n), days)), err
}

// count says "1 notice" or "N notices".
func count(n int64) string {
	if n == 1 {
		return "1 notice"
	}
	return fmt.Sprintf("%d notices", n)
}

// exportUser is a member's notices, opened: the person has a right to
// read what they wrote.
func exportUser(ctx context.Context, userID int64) (any, error) {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT id, sealed, created_at FROM notices WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type exported struct {
		ID   int64     `json:"id"`
		Text string    `json:"text"`
		At   time.Time `json:"at"`
	}
	out := []exported{}
	for rows.Next() {
		var (
			e      exported
			sealed []byte
		)
		if err := rows.Scan(&e.ID, &sealed, &e.At); err != nil {
			return nil, err
		}
		text, err := sdk.Open(ctx, purpose, sealed)
		if err != nil {
			return nil, err
		}
		e.Text = string(text)
		out = append(out, e)
	}
	return map[string]any{"notices": out}, rows.Err()
}

func eraseUser(ctx context.Context, userID int64) error {
	_, err := sdk.DB().ExecContext(ctx, `DELETE FROM notices WHERE user_id = $1`, userID)
	return err
}
