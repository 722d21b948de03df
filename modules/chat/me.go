package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"

	"github.com/websonic/websonic/sdk"
)

func init() {
	mux.Handle("GET /chat/api/me", api(getMe))
}

// meView is GET /chat/api/me: who the page serves, whether they administer
// the chat, and the presence status they chose (the page's selector).
type meView struct {
	User     userRef `json:"user"`
	Admin    bool    `json:"admin"`
	Presence string  `json:"presence"`
}

func getMe(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	return me(r.Context(), u)
}

// me reads u as the chat shows them (their chat display name when they set
// one) and the status they chose.
func me(ctx context.Context, u *sdk.User) (meView, error) {
	ref, err := userByID(ctx, u.ID)
	if err != nil {
		return meView{}, err
	}
	status, err := chosenStatus(ctx, u.ID)
	if err != nil {
		return meView{}, err
	}
	return meView{User: ref, Admin: isAdmin(u), Presence: status}, nil
}

// chosenStatus is the status user chose in the presence selector: online
// when they never chose one. (What others see, their effective presence,
// also turns offline without a heartbeat: presence.go.)
func chosenStatus(ctx context.Context, user int64) (string, error) {
	var status string
	err := sdk.DB().QueryRowContext(ctx, `SELECT status FROM presence WHERE user_id = $1`, user).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "online", nil
	}
	return status, err
}
