package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

// The admins' side of the desk (API.md, "Admins"): panels, the staff
// groups that handle them, and the reports. The runtime lets only the
// site's admins reach /tickets/admin; the handlers check again (isAdmin),
// so a route moved by mistake under a wider prefix stays closed.

func init() {
	mux.HandleFunc("GET /tickets/admin/api/panels", admin(listPanels))
	mux.HandleFunc("POST /tickets/admin/api/panels", admin(createPanel))
	mux.HandleFunc("PUT /tickets/admin/api/panels/{id}", admin(updatePanel))
	mux.HandleFunc("DELETE /tickets/admin/api/panels/{id}", admin(archivePanel))
	mux.HandleFunc("GET /tickets/admin/api/groups", admin(listGroups))
	mux.HandleFunc("POST /tickets/admin/api/groups", admin(createGroup))
	mux.HandleFunc("DELETE /tickets/admin/api/groups/{name}", admin(deleteGroup))
	mux.HandleFunc("POST /tickets/admin/api/groups/{name}/members", admin(addMember))
	mux.HandleFunc("DELETE /tickets/admin/api/groups/{name}/members/{user_id}", admin(removeMember))
	mux.HandleFunc("GET /tickets/admin/api/reports", admin(getReports))
	sdk.Command("stats", cmdStats)
	sdk.AdminPage("reports", http.HandlerFunc(reportsPage))
}

// admin adapts a handler for the desk's admins.
func admin(f func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error)) http.HandlerFunc {
	return api(func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
		if !isAdmin(u) {
			return nil, forbidden("Only the site's admins manage the support desk.")
		}
		return f(w, r, u)
	})
}

// Limits of panels and groups.
const (
	maxPanelName        = 80
	maxPanelDescription = 500
	maxSLAMinutes       = 525600 // a year
	maxOpenLimit        = 100
	defaultMaxOpen      = 3
	maxGroupLabel       = 80
)

var groupName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// adminPanel is API.md's "panel" as admins see it.
type adminPanel struct {
	ID                   int64   `json:"id"`
	Name                 string  `json:"name"`
	Description          string  `json:"description"`
	Fields               []field `json:"fields"`
	Guests               bool    `json:"guests"`
	Group                *string `json:"group"`
	FirstResponseMinutes *int64  `json:"first_response_minutes"`
	ResolutionMinutes    *int64  `json:"resolution_minutes"`
	MaxOpen              int64   `json:"max_open"`
	Position             int64   `json:"position"`
	Archived             bool    `json:"archived"`
}

const adminPanelSelect = `SELECT id, name, description, fields::text, guests, group_name,
	first_response_minutes, resolution_minutes, max_open, position, archived_at IS NOT NULL FROM panels `

func scanAdminPanel(row scanner) (adminPanel, error) {
	var (
		p        adminPanel
		fields   string
		group    sql.NullString
		fr, res  sql.NullInt64
		archived bool
	)
	if err := row.Scan(&p.ID, &p.Name, &p.Description, &fields, &p.Guests, &group, &fr, &res, &p.MaxOpen, &p.Position, &archived); err != nil {
		return p, err
	}
	p.Archived = archived
	if group.Valid {
		p.Group = &group.String
	}
	if fr.Valid {
		p.FirstResponseMinutes = &fr.Int64
	}
	if res.Valid {
		p.ResolutionMinutes = &res.Int64
	}
	p.Fields = []field{}
	if err := json.Unmarshal([]byte(fields), &p.Fields); err != nil {
		return p, fmt.Errorf("panel %d's fields: %w", p.ID, err)
	}
	return p, nil
}

func listPanels(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	rows, err := sdk.DB().QueryContext(r.Context(), adminPanelSelect+`ORDER BY archived_at IS NOT NULL, position, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []adminPanel{}
	for rows.Next() {
		p, err := scanAdminPanel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return map[string]any{"panels": out}, rows.Err()
}

// panelInput is the body of POST and PUT …/panels: PUT replaces every
// setting, an absent one taking its default.
type panelInput struct {
	Name                 string  `json:"name"`
	Description          string  `json:"description"`
	Fields               []field `json:"fields"`
	Group                *string `json:"group"`
	FirstResponseMinutes *int64  `json:"first_response_minutes"`
	ResolutionMinutes    *int64  `json:"resolution_minutes"`
	MaxOpen              *int64  `json:"max_open"`
	Guests               bool    `json:"guests"`
	Position             int64   `json:"position"`
}

// checkPanel validates a panel's settings (the group's existence is
// checked in the transaction that saves it).
func checkPanel(in panelInput) (panelInput, error) {
	name, err := jsonapi.CheckText(in.Name, maxPanelName, false)
	if err != nil || name == "" {
		return in, badRequest("A panel's name is 1 to 80 characters on one line.")
	}
	in.Name = name
	desc, err := jsonapi.CheckText(in.Description, maxPanelDescription, true)
	if err != nil {
		return in, badRequest("A panel's description is at most 500 characters, without control characters.")
	}
	in.Description = desc
	if in.Fields == nil {
		in.Fields = []field{}
	}
	if in.Fields, err = checkFields(in.Fields); err != nil {
		return in, err
	}
	if in.Group != nil && *in.Group == "" {
		in.Group = nil
	}
	if in.Group != nil && !groupName.MatchString(*in.Group) {
		return in, badRequest("There is no such group.")
	}
	for _, m := range []*int64{in.FirstResponseMinutes, in.ResolutionMinutes} {
		if m != nil && (*m < 1 || *m > maxSLAMinutes) {
			return in, badRequest("A response or resolution target is 1 to 525,600 minutes (a year), or none.")
		}
	}
	if in.MaxOpen == nil {
		n := int64(defaultMaxOpen)
		in.MaxOpen = &n
	}
	if *in.MaxOpen < 1 || *in.MaxOpen > maxOpenLimit {
		return in, badRequest("The open tickets a customer may have on a panel are 1 to 100.")
	}
	if in.Position < -1_000_000 || in.Position > 1_000_000 {
		return in, badRequest("A panel's position is a number from -1,000,000 to 1,000,000.")
	}
	return in, nil
}

// savePanel inserts (id 0) or updates a panel in one transaction, with
// the checks that read the database: the group exists, the name is not
// another open panel's.
func savePanel(ctx context.Context, id int64, in panelInput) (adminPanel, error) {
	in, err := checkPanel(in)
	if err != nil {
		return adminPanel{}, err
	}
	fields, err := json.Marshal(in.Fields)
	if err != nil {
		return adminPanel{}, err
	}
	var p adminPanel
	err = inTx(ctx, func(tx *sql.Tx) error {
		if in.Group != nil {
			var ok bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM groups WHERE name = $1)`, *in.Group).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return badRequest("There is no group " + *in.Group + ": create it first.")
			}
		}
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM panels
			WHERE lower(name) = lower($1) AND archived_at IS NULL AND id <> $2)`, in.Name, id).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return conflict("Another panel is already called " + in.Name + ".")
		}
		args := []any{in.Name, in.Description, string(fields), in.Group, in.FirstResponseMinutes, in.ResolutionMinutes, *in.MaxOpen, in.Guests, in.Position}
		var row *sql.Row
		if id == 0 {
			row = tx.QueryRowContext(ctx, `INSERT INTO panels (name, description, fields, group_name,
				first_response_minutes, resolution_minutes, max_open, guests, position)
				VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9) RETURNING id`, args...)
		} else {
			row = tx.QueryRowContext(ctx, `UPDATE panels SET name = $1, description = $2, fields = $3::jsonb,
				group_name = $4, first_response_minutes = $5, resolution_minutes = $6, max_open = $7,
				guests = $8, position = $9 WHERE id = $10 RETURNING id`, append(args, id)...)
		}
		if err := row.Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return notFound("There is no such panel.")
		} else if err != nil {
			if isUniqueViolation(err) {
				return conflict("Another panel is already called " + in.Name + ".")
			}
			return err
		}
		p, err = scanAdminPanel(tx.QueryRowContext(ctx, adminPanelSelect+`WHERE id = $1`, id))
		return err
	})
	return p, err
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var de *abi.DBError
	return errors.As(err, &de) && de.Code == "23505"
}

func createPanel(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	var in panelInput
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	p, err := savePanel(r.Context(), 0, in)
	if err != nil {
		return nil, err
	}
	adminAudit(r.Context(), u, "panel.create", map[string]any{"panel": p.ID, "name": p.Name})
	return created(p), nil
}

func panelID(r *http.Request) (int64, error) {
	return jsonapi.PathID(r, "id", "There is no such panel.")
}

func updatePanel(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := panelID(r)
	if err != nil {
		return nil, err
	}
	var in panelInput
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	var was sql.NullString
	if err := sdk.DB().QueryRowContext(r.Context(), `SELECT group_name FROM panels WHERE id = $1`, id).Scan(&was); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	p, err := savePanel(r.Context(), id, in)
	if err != nil {
		return nil, err
	}
	adminAudit(r.Context(), u, "panel.update", map[string]any{"panel": p.ID, "name": p.Name})
	if p.Group != nil && (!was.Valid || was.String != *p.Group) {
		// Staff who worked the panel may not any more.
		revokeStaff(r.Context(), 0, `SELECT $1::bigint AS id`, p.ID)
	}
	return p, nil
}

// archivePanel hides a panel from new tickets; its tickets stay.
func archivePanel(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := panelID(r)
	if err != nil {
		return nil, err
	}
	res, err := sdk.DB().ExecContext(r.Context(), `UPDATE panels SET archived_at = coalesce(archived_at, now()) WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, notFound("There is no such panel.")
	}
	adminAudit(r.Context(), u, "panel.archive", map[string]any{"panel": id})
	return nil, nil
}

// adminAudit writes an admin's action in the desk's audit table; a
// failure is logged (the action is done).
func adminAudit(ctx context.Context, u *sdk.User, action string, detail map[string]any) {
	b, _ := json.Marshal(detail)
	var actor any
	if u != nil {
		actor = u.ID
	}
	if _, err := sdk.DB().ExecContext(ctx, `INSERT INTO audit (actor_id, action, detail) VALUES ($1, $2, $3::jsonb)`,
		actor, action, string(b)); err != nil {
		sdk.Logger().Warn("audit", "action", action, "error", err)
	}
}

// groupView is a staff group with its members.
type groupView struct {
	Name    string    `json:"name"`
	Label   string    `json:"label"`
	Members []userRef `json:"members"`
}

func listGroups(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	ctx := r.Context()
	rows, err := sdk.DB().QueryContext(ctx, `SELECT name, label FROM groups ORDER BY name`)
	if err != nil {
		return nil, err
	}
	out := []groupView{}
	at := map[string]int{}
	for rows.Next() {
		g := groupView{Members: []userRef{}}
		if err := rows.Scan(&g.Name, &g.Label); err != nil {
			rows.Close()
			return nil, err
		}
		at[g.Name] = len(out)
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = sdk.DB().QueryContext(ctx, `SELECT m.group_name, x.id, x.username, x.display_name FROM group_members m
		JOIN LATERAL (SELECT y.id, y.username, y.display_name FROM websonic_api.users y WHERE y.id = m.user_id LIMIT 1) x ON true
		ORDER BY m.group_name, lower(x.username)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			g string
			m userRef
		)
		if err := rows.Scan(&g, &m.ID, &m.Username, &m.DisplayName); err != nil {
			return nil, err
		}
		if i, ok := at[g]; ok {
			out[i].Members = append(out[i].Members, m)
		}
	}
	return map[string]any{"groups": out}, rows.Err()
}

func createGroup(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	var in struct {
		Name  string `json:"name"`
		Label string `json:"label"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if !groupName.MatchString(in.Name) {
		return nil, badRequest("A group's name is 1 to 40 of a-z, 0-9 and _, starting with a letter.")
	}
	label, err := jsonapi.CheckText(in.Label, maxGroupLabel, false)
	if err != nil || label == "" {
		return nil, badRequest("A group's label is 1 to 80 characters on one line.")
	}
	_, err = sdk.DB().ExecContext(r.Context(), `INSERT INTO groups (name, label) VALUES ($1, $2)`, in.Name, label)
	if isUniqueViolation(err) {
		return nil, conflict("There is already a group " + in.Name + ".")
	}
	if err != nil {
		return nil, err
	}
	adminAudit(r.Context(), u, "group.create", map[string]any{"group": in.Name})
	return created(groupView{Name: in.Name, Label: label, Members: []userRef{}}), nil
}

// pathGroup reads the {name} of a group's path.
func pathGroup(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !groupName.MatchString(name) {
		return "", notFound("There is no such group.")
	}
	return name, nil
}

// deleteGroup deletes a group that no panel uses. A panel's group decides
// which staff read its tickets and their notes: deleting the group of a
// panel would open them to every staff member (the panel's group_name goes
// NULL), so the admin gives the panel another group, or none, first.
func deleteGroup(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	name, err := pathGroup(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	err = inTx(ctx, func(tx *sql.Tx) error {
		// The group's row locked: a panel given to it meanwhile waits
		// (its foreign key), or is seen below.
		var found string
		err := tx.QueryRowContext(ctx, `SELECT name FROM groups WHERE name = $1 FOR UPDATE`, name).Scan(&found)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("There is no such group.")
		}
		if err != nil {
			return err
		}
		var panels sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT string_agg(name, ', ' ORDER BY position, id) FROM panels WHERE group_name = $1`,
			name).Scan(&panels); err != nil {
			return err
		}
		if panels.Valid {
			return conflict(fmt.Sprintf("This group handles the panels %s: give them another group, or none, before deleting it.", panels.String))
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM groups WHERE name = $1`, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	adminAudit(ctx, u, "group.delete", map[string]any{"group": name})
	return nil, nil
}

func addMember(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	name, err := pathGroup(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		Username string `json:"username"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	who, roles, err := userByName(r.Context(), in.Username)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(roles, "staff") {
		return nil, badRequest(who.Username + " is not staff: only staff members handle tickets.")
	}
	res, err := sdk.DB().ExecContext(r.Context(), `INSERT INTO group_members (group_name, user_id)
		SELECT name, $2 FROM groups WHERE name = $1 ON CONFLICT DO NOTHING`, name, who.ID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var ok bool
		if err := sdk.DB().QueryRowContext(r.Context(), `SELECT EXISTS (SELECT 1 FROM groups WHERE name = $1)`, name).Scan(&ok); err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFound("There is no such group.")
		}
		return who, nil // already a member
	}
	adminAudit(r.Context(), u, "group.member_add", map[string]any{"group": name, "user": who.ID})
	return created(who), nil
}

func removeMember(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	name, err := pathGroup(r)
	if err != nil {
		return nil, err
	}
	id, err := jsonapi.PathID(r, "user_id", "This person is not in the group.")
	if err != nil {
		return nil, err
	}
	res, err := sdk.DB().ExecContext(r.Context(), `DELETE FROM group_members WHERE group_name = $1 AND user_id = $2`, name, id)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, notFound("This person is not in the group.")
	}
	adminAudit(r.Context(), u, "group.member_remove", map[string]any{"group": name, "user": id})
	revokeStaff(r.Context(), id, `SELECT id FROM panels WHERE group_name = $1`, name)
	return nil, nil
}

// maxRevokedTickets bounds the tickets whose topics one change of who
// works a panel revokes: the tickets not closed, latest changed first (a
// closed ticket's page hardly changes; its events carry ids only).
const maxRevokedTickets = 500

// revokeStaff ends, after a change that took panels (panelsQuery, with
// args, lists their ids) from some staff, the realtime subscriptions the
// staff may hold there as agents (sdk.Unsubscribe): the panels' queues,
// and the conversations and notes of their tickets. user is the one who
// lost them, or 0 for everyone (whose pages subscribe again and are asked
// again). A failure is logged: the change is made, and access is checked
// again on every read through the API.
func revokeStaff(ctx context.Context, user int64, panelsQuery string, args ...any) {
	revoke := func(topic string) {
		var err error
		if user > 0 {
			err = sdk.Unsubscribe(ctx, topic, user)
		} else {
			err = sdk.UnsubscribeAll(ctx, topic)
		}
		if err != nil {
			sdk.Logger().Warn("revoke a topic from staff", "topic", topic, "user", user, "error", err)
		}
	}
	var topics []string
	err := func() error {
		rows, err := sdk.DB().QueryContext(ctx, `WITH p AS (`+panelsQuery+`)
			SELECT 0, p.id FROM p
			UNION ALL (SELECT t.id, t.panel_id FROM tickets t WHERE t.panel_id IN (SELECT id FROM p) AND t.status <> 'closed'
				ORDER BY t.updated_at DESC LIMIT `+strconv.Itoa(maxRevokedTickets)+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ticket, panel int64
			if err := rows.Scan(&ticket, &panel); err != nil {
				return err
			}
			if ticket == 0 {
				topics = append(topics, panelTopic(panel))
			} else {
				topics = append(topics, notesTopic(ticket), ticketTopic(ticket))
			}
		}
		return rows.Err()
	}()
	if err != nil {
		sdk.Logger().Warn("revoke a panel's topics from staff", "user", user, "error", err)
	}
	for _, tp := range topics {
		revoke(tp)
	}
}

// The reports (API.md, GET /tickets/admin/api/reports), over the last
// days up to now:
//
//   - opened: tickets created in the period; solved: tickets solved in it
//     (solved_at stays when a solved ticket closes);
//   - first_response_breaches: tickets first answered in the period after
//     their first-response due time; resolution_breaches: tickets solved
//     in the period after their resolution due time (due times move by
//     the pauses, as the SLA clock does);
//   - median_first_response_minutes: over the tickets first answered in
//     the period, from opening to that answer (null: none);
//   - by_panel: those figures per panel, with the ratings given in the
//     period; by_agent: per assignee of the tickets solved in the period
//     (who has the ticket when it is solved), with their ratings.

// Bounds of a report's period.
const (
	defaultReportDays = 30
	maxReportDays     = 3650
)

// report is the reports' answer.
type report struct {
	From                       time.Time     `json:"from"`
	To                         time.Time     `json:"to"`
	Opened                     int64         `json:"opened"`
	Solved                     int64         `json:"solved"`
	FirstResponseBreaches      int64         `json:"first_response_breaches"`
	ResolutionBreaches         int64         `json:"resolution_breaches"`
	MedianFirstResponseMinutes *float64      `json:"median_first_response_minutes"`
	Ratings                    int64         `json:"ratings"`
	AverageRating              *float64      `json:"average_rating"`
	ByPanel                    []panelReport `json:"by_panel"`
	ByAgent                    []agentReport `json:"by_agent"`
}

type panelReport struct {
	Panel                 panelRef `json:"panel"`
	Opened                int64    `json:"opened"`
	Solved                int64    `json:"solved"`
	FirstResponseBreaches int64    `json:"first_response_breaches"`
	ResolutionBreaches    int64    `json:"resolution_breaches"`
	MedianFirstResponse   *float64 `json:"median_first_response_minutes"`
	Ratings               int64    `json:"ratings"`
	AverageRating         *float64 `json:"average_rating"`
}

type agentReport struct {
	Agent         userRef  `json:"agent"`
	Solved        int64    `json:"solved"`
	Ratings       int64    `json:"ratings"`
	AverageRating *float64 `json:"average_rating"`
}

// reportDays reads a number of days of 1 to maxReportDays ("" is the
// default).
func reportDays(s string) (int64, error) {
	if s == "" {
		return defaultReportDays, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > maxReportDays {
		return 0, badRequest("A report covers 1 to 3,650 days.")
	}
	return n, nil
}

func getReports(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	days, err := reportDays(r.URL.Query().Get("days"))
	if err != nil {
		return nil, err
	}
	return buildReport(r.Context(), days)
}

// reportPanels computes the per-panel figures over [$1, $2); every panel
// not archived is listed, an archived one only with figures in the
// period, in the panels' order. The last row (id NULL) is the whole
// desk's.
const reportPanels = `WITH t AS (
	SELECT t.panel_id,
	       t.created_at >= $1 AS opened,
	       t.solved_at >= $1 AS solved,
	       t.first_response_at >= $1 AS answered,
	       t.first_response_at >= $1 AND t.first_response_at > t.first_response_due AS fr_breach,
	       t.solved_at >= $1 AND t.solved_at > t.resolution_due AS res_breach,
	       CASE WHEN t.first_response_at >= $1 THEN extract(epoch FROM t.first_response_at - t.created_at) / 60 END AS fr_minutes,
	       CASE WHEN t.rated_at >= $1 THEN t.rating END AS rating
	FROM tickets t
	WHERE t.created_at >= $1 OR t.solved_at >= $1 OR t.first_response_at >= $1 OR t.rated_at >= $1
), f AS (
	SELECT panel_id,
	       count(*) FILTER (WHERE opened) AS opened,
	       count(*) FILTER (WHERE solved) AS solved,
	       count(*) FILTER (WHERE fr_breach) AS fr_breaches,
	       count(*) FILTER (WHERE res_breach) AS res_breaches,
	       percentile_cont(0.5) WITHIN GROUP (ORDER BY fr_minutes) AS median_fr,
	       count(rating) AS ratings,
	       avg(rating)::float8 AS avg_rating
	FROM t GROUP BY GROUPING SETS ((panel_id), ())
)
SELECT p.id, p.name, coalesce(f.opened, 0), coalesce(f.solved, 0), coalesce(f.fr_breaches, 0),
       coalesce(f.res_breaches, 0), f.median_fr, coalesce(f.ratings, 0), f.avg_rating, false AS total, p.position AS pos
FROM panels p LEFT JOIN f ON f.panel_id = p.id
WHERE p.archived_at IS NULL OR f.panel_id IS NOT NULL
UNION ALL
SELECT NULL, '', coalesce(f.opened, 0), coalesce(f.solved, 0), coalesce(f.fr_breaches, 0),
       coalesce(f.res_breaches, 0), f.median_fr, coalesce(f.ratings, 0), f.avg_rating, true, 0
FROM (SELECT 1) one LEFT JOIN f ON f.panel_id IS NULL
ORDER BY total, pos, 1`

// buildReport computes the reports over the last days.
func buildReport(ctx context.Context, days int64) (*report, error) {
	rep := &report{ByPanel: []panelReport{}, ByAgent: []agentReport{}}
	if err := sdk.DB().QueryRowContext(ctx, `SELECT now() - make_interval(days => $1::integer), now()`, days).Scan(&rep.From, &rep.To); err != nil {
		return nil, err
	}
	rows, err := sdk.DB().QueryContext(ctx, reportPanels, rep.From)
	if err != nil {
		return nil, fmt.Errorf("report by panel: %w", err)
	}
	for rows.Next() {
		var (
			id       sql.NullInt64
			pr       panelReport
			median   sql.NullFloat64
			average  sql.NullFloat64
			total    bool
			position int64
		)
		if err := rows.Scan(&id, &pr.Panel.Name, &pr.Opened, &pr.Solved, &pr.FirstResponseBreaches, &pr.ResolutionBreaches,
			&median, &pr.Ratings, &average, &total, &position); err != nil {
			rows.Close()
			return nil, err
		}
		pr.AverageRating = rounded(average, 100)
		pr.MedianFirstResponse = rounded(median, 10)
		if id.Valid {
			pr.Panel.ID = id.Int64
			rep.ByPanel = append(rep.ByPanel, pr)
			continue
		}
		rep.Opened, rep.Solved = pr.Opened, pr.Solved
		rep.FirstResponseBreaches, rep.ResolutionBreaches = pr.FirstResponseBreaches, pr.ResolutionBreaches
		rep.MedianFirstResponseMinutes = pr.MedianFirstResponse
		rep.Ratings, rep.AverageRating = pr.Ratings, pr.AverageRating
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report by panel: %w", err)
	}
	rows, err = sdk.DB().QueryContext(ctx, `SELECT a.id, a.username, a.display_name, s.solved, s.ratings, s.avg_rating
		FROM (SELECT assignee_id, count(*) AS solved, count(rating) AS ratings, avg(rating)::float8 AS avg_rating
		      FROM tickets WHERE solved_at >= $1 AND assignee_id IS NOT NULL GROUP BY assignee_id) s
		JOIN LATERAL (SELECT x.id, x.username, x.display_name FROM websonic_api.users x WHERE x.id = s.assignee_id LIMIT 1) a ON true
		ORDER BY s.solved DESC, lower(a.username)`, rep.From)
	if err != nil {
		return nil, fmt.Errorf("report by agent: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ar      agentReport
			average sql.NullFloat64
		)
		if err := rows.Scan(&ar.Agent.ID, &ar.Agent.Username, &ar.Agent.DisplayName, &ar.Solved, &ar.Ratings, &average); err != nil {
			return nil, err
		}
		ar.AverageRating = rounded(average, 100)
		rep.ByAgent = append(rep.ByAgent, ar)
	}
	return rep, rows.Err()
}

// rounded is v rounded to 1/scale, nil when NULL.
func rounded(v sql.NullFloat64, scale float64) *float64 {
	if !v.Valid {
		return nil
	}
	f := float64(int64(v.Float64*scale+0.5)) / scale
	return &f
}

// cmdStats is the `stats [days]` admin command: the reports as a table,
// one row for the desk, one per panel, one per agent.
func cmdStats(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	days := args.Int("days")
	if days < 1 || days > maxReportDays {
		return sdk.Result{}, errors.New("a report covers 1 to 3650 days")
	}
	rep, err := buildReport(ctx, days)
	if err != nil {
		return sdk.Result{}, err
	}
	cols := []string{"scope", "name", "opened", "solved", "first response breaches", "resolution breaches",
		"median first response (minutes)", "ratings", "average rating"}
	rows := [][]any{{"desk", fmt.Sprintf("%d days to %s", days, rep.To.UTC().Format("2006-01-02 15:04 UTC")),
		rep.Opened, rep.Solved, rep.FirstResponseBreaches, rep.ResolutionBreaches,
		orNil(rep.MedianFirstResponseMinutes), rep.Ratings, orNil(rep.AverageRating)}}
	for _, p := range rep.ByPanel {
		rows = append(rows, []any{"panel", p.Panel.Name, p.Opened, p.Solved, p.FirstResponseBreaches, p.ResolutionBreaches,
			orNil(p.MedianFirstResponse), p.Ratings, orNil(p.AverageRating)})
	}
	for _, a := range rep.ByAgent {
		rows = append(rows, []any{"agent", a.Agent.Username, nil, a.Solved, nil, nil, nil, a.Ratings, orNil(a.AverageRating)})
	}
	return sdk.Table(cols, rows), nil
}

// orNil is *f, or nil (an empty cell).
func orNil(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// reportsPage is the admin area's "Support reports" page: the reports as
// tables over a period the admin picks (?days=), and the address of the
// desk's own reports page (the admin area keeps links on the page, so the
// address is text).
func reportsPage(w http.ResponseWriter, r *http.Request) {
	if !isAdmin(sdk.UserFrom(r)) {
		http.Error(w, "admins only", http.StatusForbidden)
		return
	}
	days, err := reportDays(r.URL.Query().Get("days"))
	msg := ""
	if err != nil {
		days, msg = defaultReportDays, err.Error()
	}
	rep, err := buildReport(r.Context(), days)
	if err != nil {
		sdk.Logger().Error("the reports page", "error", err)
		http.Error(w, "could not compute the reports", http.StatusInternalServerError)
		return
	}
	num := func(f *float64) string {
		if f == nil {
			return "–"
		}
		return strconv.FormatFloat(*f, 'f', -1, 64)
	}
	type line struct {
		Name                                             string
		Opened, Solved, FRBreaches, ResBreaches, Ratings int64
		Median, Average                                  string
	}
	panels := make([]line, 0, len(rep.ByPanel))
	for _, p := range rep.ByPanel {
		panels = append(panels, line{Name: p.Panel.Name, Opened: p.Opened, Solved: p.Solved, FRBreaches: p.FirstResponseBreaches,
			ResBreaches: p.ResolutionBreaches, Median: num(p.MedianFirstResponse), Ratings: p.Ratings, Average: num(p.AverageRating)})
	}
	agents := make([]line, 0, len(rep.ByAgent))
	for _, a := range rep.ByAgent {
		agents = append(agents, line{Name: personName(&a.Agent), Solved: a.Solved, Ratings: a.Ratings, Average: num(a.AverageRating)})
	}
	choices := []int64{7, 30, 90, 365}
	if !slices.Contains(choices, days) {
		choices = append(choices, days)
		slices.Sort(choices)
	}
	sdk.Render(w, http.StatusOK, "admin_reports.html", map[string]any{
		"Error": msg, "Days": days, "Choices": choices,
		"From": rep.From.UTC().Format("2006-01-02 15:04 UTC"), "To": rep.To.UTC().Format("2006-01-02 15:04 UTC"),
		"Desk": line{Opened: rep.Opened, Solved: rep.Solved, FRBreaches: rep.FirstResponseBreaches, ResBreaches: rep.ResolutionBreaches,
			Ratings: rep.Ratings, Median: num(rep.MedianFirstResponseMinutes), Average: num(rep.AverageRating)},
		"Panels": panels, "Agents": agents, "Full": "/tickets/admin/reports",
	})
}
