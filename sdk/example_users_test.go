package sdk_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/websonic/websonic/sdk"
)

// A moderation page bans a user (the module's manifest lists user action
// "ban"). Outside the runtime, as here, the call fails with
// sdktest.ErrNotInRuntime.
func ExampleBanUser() {
	ban := func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.FormValue("user"), 10, 64)
		if err != nil {
			http.Error(w, "which user?", http.StatusBadRequest)
			return
		}
		switch err := sdk.BanUser(r.Context(), id, "spam in #general"); {
		case errors.Is(err, sdk.ErrDenied):
			// Not approved, or the user is an admin or staff.
			http.Error(w, "not allowed", http.StatusForbidden)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			fmt.Fprintln(w, "banned")
		}
	}
	_ = ban
}

// Flood control suspends a user for an hour (user action "suspend") and
// blocks the address for a day (user action "block_ip").
func ExampleSuspendUser() {
	flood := func(w http.ResponseWriter, r *http.Request) {
		u := sdk.UserFrom(r)
		if u == nil {
			return
		}
		if err := sdk.SuspendUser(r.Context(), u.ID, time.Hour, "flooding"); err != nil {
			sdk.Logger().Error("suspend failed", "error", err)
		}
		if err := sdk.BlockIP(r.Context(), "203.0.113.7", time.Now().Add(24*time.Hour), "flooding"); err != nil {
			sdk.Logger().Error("block failed", "error", err)
		}
	}
	_ = flood
}

// A module that appoints moderators grants and removes the staff role
// (user action "roles"; "staff" is the only role a module may change).
func ExampleGrantRole() {
	appoint := func(r *http.Request, userID int64, on bool) error {
		if on {
			return sdk.GrantRole(r.Context(), userID, "staff")
		}
		return sdk.RevokeRole(r.Context(), userID, "staff")
	}
	_ = appoint
}
