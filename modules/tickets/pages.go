package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// The desk's pages (API.md lists them): the customer's "my tickets"
// (GET /tickets), a new ticket (GET /tickets/new), a ticket (GET
// /tickets/{id}: the customer's view, or for its agents the staff view,
// the conversation and the notes side by side), the staff queue (GET
// /tickets/staff), the panel and group admin (GET /tickets/admin), the
// reports (GET /tickets/admin/reports; the admin area's "reports" page is
// admin.go's), and the guests' pages (GET /tickets/guest, GET
// /tickets/guest/t/{token}).
//
// The runtime renders assets/templates/tickets.html in the site's theme
// with the page's first state; the script (assets/tickets.js, a signed
// asset) draws it and keeps it live with the runtime's realtime client and
// the JSON API. The state is read through the module's own API, served
// in-process by the same mux (subGet): the first paint and the script see
// the same shapes, and the pages depend on API.md only.
func init() {
	mux.HandleFunc("GET /tickets", webMine)
	mux.HandleFunc("GET /tickets/{$}", webMine)
	mux.HandleFunc("GET /tickets/new", webNew)
	mux.HandleFunc("GET /tickets/{id}", webTicket)
	mux.HandleFunc("GET /tickets/staff", webStaff)
	mux.HandleFunc("GET /tickets/staff/{$}", webStaff)
	mux.HandleFunc("GET /tickets/admin", webAdmin)
	mux.HandleFunc("GET /tickets/admin/{$}", webAdmin)
	mux.HandleFunc("GET /tickets/admin/reports", webReports)
	mux.HandleFunc("GET /tickets/guest", webGuest)
	mux.HandleFunc("GET /tickets/guest/{$}", webGuest)
	mux.HandleFunc("GET /tickets/guest/t/{token}", webGuestTicket)
}

// pageData is tickets.html's data: which page, who is looking, the
// page's first state (API answers, as they came) and a sentence when
// something failed.
type pageData struct {
	Page  string          // mine, new, ticket, staff, admin, guest, guest_ticket
	Me    json.RawMessage // {"id", "username", "display_name", "staff", "admin"}; null for a visitor
	State map[string]any  // the page's first state (tickets.js reads it)
	Error string          // what failed, for the person
	Staff bool            // the ticket page is the staff view
}

// meOf is the page's view of its user.
func meOf(u *sdk.User) json.RawMessage {
	if u == nil {
		return json.RawMessage("null")
	}
	b, _ := json.Marshal(map[string]any{"id": u.ID, "username": u.Username, "display_name": u.DisplayName,
		"staff": isStaff(u), "admin": isAdmin(u)})
	return b
}

// webPage is one page being made: render writes it once.
type webPage struct {
	w      http.ResponseWriter
	r      *http.Request
	title  string
	status int
	d      pageData
}

func newWebPage(w http.ResponseWriter, r *http.Request, name, title string) *webPage {
	return &webPage{w: w, r: r, title: title, status: http.StatusOK,
		d: pageData{Page: name, Me: meOf(sdk.UserFrom(r)), State: map[string]any{}}}
}

// firstPaintBudget bounds an answer the page is rendered with. The host
// takes at most 2 MiB of data and writes at most 4 MiB of page (ABI.md,
// "Host-rendered pages"), and text in a JSON script can grow six times
// (each "<" is written \u003c). A longer answer (a ticket of many long
// messages) is left to the script, which reads it from the API at once
// (the state's "later" names the key and the path).
const firstPaintBudget = 384 << 10

// get reads path through the module's API into the state's key; false
// (and the page's error set) when it failed.
func (p *webPage) get(key, path string) bool {
	var v json.RawMessage
	if err := subGet(p.r, path, &v); err != nil {
		p.fail(err)
		return false
	}
	if len(v) > firstPaintBudget {
		p.d.State["later"] = map[string]string{"key": key, "path": path}
		return true
	}
	p.d.State[key] = v
	return true
}

// fail sets the page's error from an API error, or a general one.
func (p *webPage) fail(err error) {
	var ae *jsonapi.Error
	if !errors.As(err, &ae) {
		sdk.Logger().Error("tickets page", "path", p.r.URL.Path, "error", err)
		ae = &jsonapi.Error{Status: http.StatusInternalServerError, Code: "internal", Msg: "Something went wrong on the server; try again."}
	}
	if p.d.Error == "" {
		p.status, p.d.Error = ae.Status, ae.Msg
	}
}

func (p *webPage) render() {
	sdk.SitePage(p.w, p.title)
	if err := sdk.Render(p.w, p.status, "tickets.html", p.d); err != nil {
		sdk.Logger().Error("render a tickets page", "page", p.d.Page, "error", err)
	}
}

// webMine: the customer's tickets, open or closed.
func webMine(w http.ResponseWriter, r *http.Request) {
	p := newWebPage(w, r, "mine", "My requests")
	status := "open"
	if r.URL.Query().Get("status") == "closed" {
		status = "closed"
	}
	p.d.State["status"] = status
	p.get("list", "/tickets/api/tickets?status="+status)
	p.render()
}

// webNew: the panels as big buttons, then the chosen panel's form.
func webNew(w http.ResponseWriter, r *http.Request) {
	p := newWebPage(w, r, "new", "New request")
	p.d.State["panel"], _ = strconv.ParseInt(r.URL.Query().Get("panel"), 10, 64)
	p.get("panels", "/tickets/api/panels")
	p.render()
}

// webTicket: one ticket. Its agents get the staff view (notes beside the
// conversation, the actions); its customers the conversation.
func webTicket(w http.ResponseWriter, r *http.Request) {
	p := newWebPage(w, r, "ticket", "Request")
	id, err := ticketID(r)
	if err != nil {
		p.fail(err)
		p.render()
		return
	}
	p.d.State["id"] = id
	u := sdk.UserFrom(r)
	path := "/tickets/api/tickets/" + strconv.FormatInt(id, 10)
	if isStaff(u) {
		if a, err := ticketAccess(r.Context(), u, id); err == nil && a == agent {
			path = "/tickets/staff/api/tickets/" + strconv.FormatInt(id, 10)
			p.d.Staff = true
		}
	}
	p.d.State["staff"] = p.d.Staff
	if p.get("view", path) {
		var v struct {
			Ticket struct {
				Subject string `json:"subject"`
			} `json:"ticket"`
		}
		if raw, ok := p.d.State["view"].(json.RawMessage); ok && json.Unmarshal(raw, &v) == nil && v.Ticket.Subject != "" {
			p.title = "#" + strconv.FormatInt(id, 10) + " " + v.Ticket.Subject
		}
	}
	p.render()
}

// webStaff: the queue, with the counts as tabs. The page follows the
// queue of every panel its user works (tickets.panel.ID).
func webStaff(w http.ResponseWriter, r *http.Request) {
	p := newWebPage(w, r, "staff", "Ticket queue")
	q := webQueueQuery(r.URL.Query())
	p.d.State["query"] = q
	panels, err := staffPanels(r.Context(), sdk.UserFrom(r))
	if err != nil {
		p.fail(err)
	}
	p.d.State["panels"] = panels
	if p.get("counts", "/tickets/staff/api/counts") {
		p.get("queue", "/tickets/staff/api/queue?"+q.Encode())
	}
	p.render()
}

// webQueueParams are the queue's parameters (API.md) a page address may
// carry; the page keeps them in its address so that a reload or a shared
// link shows the same queue.
var webQueueParams = []string{"status", "panel", "assignee", "priority", "overdue", "due_soon", "q", "sort", "order"}

// webQueueQuery keeps the queue's parameters of an address, each once and
// at most 200 bytes.
func webQueueQuery(in url.Values) url.Values {
	out := url.Values{}
	for _, k := range webQueueParams {
		if v := in.Get(k); v != "" && len(v) <= 200 && utf8.ValidString(v) {
			out.Set(k, v)
		}
	}
	return out
}

// panelName is a panel the queue's filter offers.
type panelName struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Archived bool   `json:"archived"`
}

// staffPanels are the panels u works (workablePanels), for the queue's
// filter and its realtime subscriptions.
func staffPanels(ctx context.Context, u *sdk.User) ([]panelName, error) {
	ids, err := workablePanels(ctx, u)
	if err != nil {
		return nil, err
	}
	rows, err := sdk.DB().QueryContext(ctx, `SELECT id, name, archived_at IS NOT NULL FROM panels
		WHERE id = ANY($1::bigint[]) ORDER BY archived_at IS NOT NULL, position, id`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []panelName{}
	for rows.Next() {
		var p panelName
		if err := rows.Scan(&p.ID, &p.Name, &p.Archived); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// webAdmin: panels (with their forms' fields) and groups.
func webAdmin(w http.ResponseWriter, r *http.Request) {
	p := newWebPage(w, r, "admin", "Support desk settings")
	if p.get("panels", "/tickets/admin/api/panels") {
		p.get("groups", "/tickets/admin/api/groups")
	}
	p.render()
}

// reportData is reports.html's data.
type reportData struct {
	Days   int
	Report json.RawMessage // GET /tickets/admin/api/reports, null when it failed
	Error  string
}

// webReports: the desk's figures over the last days (30 by
// default), as tables, read from GET /tickets/admin/api/reports.
func webReports(w http.ResponseWriter, r *http.Request) {
	d := reportData{Days: 30, Report: json.RawMessage("null")}
	if n, err := strconv.Atoi(r.URL.Query().Get("days")); err == nil && n >= 1 && n <= 3650 {
		d.Days = n
	}
	status := http.StatusOK
	var rep json.RawMessage
	if err := subGet(r, "/tickets/admin/api/reports?days="+strconv.Itoa(d.Days), &rep); err != nil {
		var ae *jsonapi.Error
		if !errors.As(err, &ae) {
			sdk.Logger().Error("reports page", "error", err)
			ae = &jsonapi.Error{Status: http.StatusInternalServerError, Code: "internal", Msg: "Something went wrong on the server; try again."}
		}
		status, d.Error = ae.Status, ae.Msg
	} else {
		d.Report = rep
	}
	sdk.SitePage(w, "Support reports")
	if err := sdk.Render(w, status, "reports.html", d); err != nil {
		sdk.Logger().Error("render the reports page", "error", err)
	}
}

// webGuest: open a ticket without an account.
func webGuest(w http.ResponseWriter, r *http.Request) {
	p := newWebPage(w, r, "guest", "Contact support")
	p.d.State["panel"], _ = strconv.ParseInt(r.URL.Query().Get("panel"), 10, 64)
	p.get("panels", "/tickets/guest/api/panels")
	p.render()
}

// webGuestTicket: a guest's ticket, through its private link.
func webGuestTicket(w http.ResponseWriter, r *http.Request) {
	p := newWebPage(w, r, "guest_ticket", "Your request")
	w.Header().Set("Referrer-Policy", "no-referrer") // the address is the key to the ticket
	token := r.PathValue("token")
	if len(token) != 43 || strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		p.fail(notFound("This link does not lead to a request. Check that you copied all of it."))
		p.render()
		return
	}
	p.d.State["token"] = token
	p.get("view", "/tickets/guest/api/t/"+token)
	p.render()
}

// subGet reads a page's first state through the module's own API
// (jsonapi.SubGet over mux).
func subGet(r *http.Request, path string, v any) error { return jsonapi.SubGet(mux, r, path, v) }
