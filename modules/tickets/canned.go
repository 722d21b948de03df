package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// Canned replies (API.md, "Staff"): texts any agent writes once and
// inserts into replies, for one panel or (panel_id null) every panel.

func init() {
	mux.HandleFunc("GET /tickets/staff/api/canned", api(cannedList))
	mux.HandleFunc("POST /tickets/staff/api/canned", api(cannedCreate))
	mux.HandleFunc("PUT /tickets/staff/api/canned/{id}", api(cannedUpdate))
	mux.HandleFunc("DELETE /tickets/staff/api/canned/{id}", api(cannedDelete))
}

const maxCannedTitle = 120

// cannedView is a canned reply as the API shows it.
type cannedView struct {
	ID      int64  `json:"id"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	PanelID *int64 `json:"panel_id"`
}

// Canned replies of a panel are its agents' (they read, use and edit
// them); those of no panel every staff member's. One of a panel the caller
// does not work is a canned reply that does not exist.

// cannedList lists the canned replies the caller may use, those of one
// panel (and of every panel) with panel=ID.
func cannedList(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	panels, err := workablePanels(r.Context(), u)
	if err != nil {
		return nil, err
	}
	var panel any
	if s := r.URL.Query().Get("panel"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, badRequest("A panel filter is a panel's number.")
		}
		panel = id
	}
	rows, err := sdk.DB().QueryContext(r.Context(), `SELECT id, title, body, panel_id FROM canned
		WHERE ($1::bigint IS NULL OR panel_id IS NULL OR panel_id = $1) AND (panel_id IS NULL OR panel_id = ANY($2::bigint[]))
		ORDER BY lower(title), id`, panel, panels)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []cannedView{}
	for rows.Next() {
		c, err := scanCanned(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return map[string]any{"canned": out}, nil
}

func scanCanned(row scanner) (cannedView, error) {
	var c cannedView
	var panel sql.NullInt64
	if err := row.Scan(&c.ID, &c.Title, &c.Body, &panel); err != nil {
		return c, err
	}
	if panel.Valid {
		c.PanelID = &panel.Int64
	}
	return c, nil
}

// readCanned reads and checks a canned reply's body; its panel must be
// one the caller works (panels, workablePanels').
func readCanned(ctx context.Context, r *http.Request, panels string) (cannedView, error) {
	var req struct {
		Title   string `json:"title"`
		Body    string `json:"body"`
		PanelID *int64 `json:"panel_id"`
	}
	if err := readJSON(r, &req); err != nil {
		return cannedView{}, err
	}
	title, err := jsonapi.CheckText(req.Title, maxCannedTitle, false)
	if err != nil || title == "" {
		return cannedView{}, badRequest(fmt.Sprintf("A title is 1 to %d characters on one line.", maxCannedTitle))
	}
	body, err := checkBody(req.Body, false)
	if err != nil {
		return cannedView{}, err
	}
	if req.PanelID != nil {
		var ok bool
		err := sdk.DB().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM panels WHERE id = $1 AND id = ANY($2::bigint[]))`,
			*req.PanelID, panels).Scan(&ok)
		if err != nil {
			return cannedView{}, err
		}
		if !ok {
			return cannedView{}, badRequest("There is no such panel.")
		}
	}
	return cannedView{Title: title, Body: body, PanelID: req.PanelID}, nil
}

func cannedCreate(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	panels, err := workablePanels(r.Context(), u)
	if err != nil {
		return nil, err
	}
	c, err := readCanned(r.Context(), r, panels)
	if err != nil {
		return nil, err
	}
	out, err := scanCanned(sdk.DB().QueryRowContext(r.Context(), `INSERT INTO canned (title, body, panel_id, created_by)
		VALUES ($1, $2, $3, $4) RETURNING id, title, body, panel_id`, c.Title, c.Body, nullID(c.PanelID), u.ID))
	if err != nil {
		return nil, err
	}
	return created(out), nil
}

func cannedUpdate(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := jsonapi.PathID(r, "id", "There is no such canned reply.")
	if err != nil {
		return nil, err
	}
	panels, err := workablePanels(r.Context(), u)
	if err != nil {
		return nil, err
	}
	c, err := readCanned(r.Context(), r, panels)
	if err != nil {
		return nil, err
	}
	out, err := scanCanned(sdk.DB().QueryRowContext(r.Context(), `UPDATE canned SET title = $2, body = $3, panel_id = $4,
		updated_at = now() WHERE id = $1 AND (panel_id IS NULL OR panel_id = ANY($5::bigint[]))
		RETURNING id, title, body, panel_id`, id, c.Title, c.Body, nullID(c.PanelID), panels))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("There is no such canned reply.")
	}
	return out, err
}

func cannedDelete(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := jsonapi.PathID(r, "id", "There is no such canned reply.")
	if err != nil {
		return nil, err
	}
	panels, err := workablePanels(r.Context(), u)
	if err != nil {
		return nil, err
	}
	res, err := sdk.DB().ExecContext(r.Context(), `DELETE FROM canned WHERE id = $1 AND (panel_id IS NULL OR panel_id = ANY($2::bigint[]))`,
		id, panels)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, notFound("There is no such canned reply.")
	}
	return nil, nil
}

// nullID is an optional id as a query argument.
func nullID(id *int64) any {
	if id == nil {
		return nil
	}
	return *id
}
