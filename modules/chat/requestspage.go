package main

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/websonic/websonic/sdk"
)

// The join requests page of the admin area (capabilities.admin_pages,
// "requests"): the pending requests grouped by user, most requests first,
// each with approve and refuse (with an optional reason). The page is
// assets/templates/admin_requests.html, rendered by the runtime; its forms
// post back to the page, which decides and shows the queue again.

func init() {
	sdk.AdminPage("requests", http.HandlerFunc(requestsPage))
}

// pageRequest is a request as the page shows it.
type pageRequest struct {
	ID   int64  `json:"ID"`
	Room string `json:"Room"`
	When string `json:"When"` // UTC, to the minute
}

// pageUser is one user's pending requests on the page.
type pageUser struct {
	Name     string        `json:"Name"`
	Username string        `json:"Username"`
	Count    int           `json:"Count"`
	Requests []pageRequest `json:"Requests"`
}

func requestsPage(w http.ResponseWriter, r *http.Request) {
	u := sdk.UserFrom(r)
	if !isAdmin(u) { // the admin area is for the site's admins already
		http.Error(w, "admins only", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodPost {
		decidePage(w, r, u)
		return
	}
	renderRequests(w, r, http.StatusOK, r.URL.Query().Get("done"), "")
}

// decidePage applies a form's decision: request=ID, decision=approve or
// refuse, reason (optional).
func decidePage(w http.ResponseWriter, r *http.Request, u *sdk.User) {
	id, err := strconv.ParseInt(r.FormValue("request"), 10, 64)
	decision := r.FormValue("decision")
	if err != nil || id <= 0 || decision != "approve" && decision != "refuse" {
		renderRequests(w, r, http.StatusBadRequest, "", "Choose a request and a decision.")
		return
	}
	if _, err := decideRequest(r.Context(), u, id, decision == "approve", r.FormValue("reason")); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			renderRequests(w, r, ae.Status, "", ae.Msg)
			return
		}
		sdk.Logger().Error("decide a join request", "request", id, "error", err)
		renderRequests(w, r, http.StatusInternalServerError, "", "The decision could not be saved; try again.")
		return
	}
	done := "approved"
	if decision == "refuse" {
		done = "refused"
	}
	w.Header().Set("Location", "?done="+done)
	w.WriteHeader(http.StatusSeeOther)
}

func renderRequests(w http.ResponseWriter, r *http.Request, status int, done, errMsg string) {
	queue, err := pendingQueue(r.Context())
	if err != nil {
		sdk.Logger().Error("the join request queue", "error", err)
		http.Error(w, "could not load the requests", http.StatusInternalServerError)
		return
	}
	users := make([]pageUser, 0, len(queue))
	for _, g := range queue {
		pu := pageUser{Name: g.User.DisplayName, Username: g.User.Username, Count: g.Count}
		for _, jr := range g.Requests {
			pu.Requests = append(pu.Requests, pageRequest{ID: jr.ID, Room: jr.Room.Name, When: jr.CreatedAt.Format("2006-01-02 15:04 UTC")})
		}
		users = append(users, pu)
	}
	if done != "approved" && done != "refused" {
		done = ""
	}
	sdk.Render(w, status, "admin_requests.html", map[string]any{"Users": users, "Done": done, "Error": errMsg})
}
