package main

import (
	"net/http"
	"strconv"

	"github.com/websonic/websonic/sdk"
)

// The moderation page (capabilities.admin_pages): admins see the newest
// notices in the admin area and delete one. The page is
// assets/templates/moderation.html, rendered by the runtime (sdk.Render);
// the runtime sanitizes the fragment, points its forms at this page and
// adds its CSRF token; a 303 to "?deleted=1" shows the page again.
func moderation(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		id, err := strconv.ParseInt(r.FormValue("delete"), 10, 64)
		if err != nil {
			http.Error(w, "which notice?", http.StatusBadRequest)
			return
		}
		if _, err := sdk.DB().ExecContext(r.Context(), `DELETE FROM notices WHERE id = $1`, id); err != nil {
			sdk.Logger().Error("delete notice", "error", err)
			http.Error(w, "could not delete the notice", http.StatusInternalServerError)
			return
		}
		sdk.Logger().Info("notice deleted by an admin", "notice", id, "admin", sdk.UserFrom(r).Username)
		w.Header().Set("Location", "?deleted=1")
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	notices, err := latest(r.Context(), 100)
	if err != nil {
		sdk.Logger().Error("list notices", "error", err)
		http.Error(w, "could not load the notices", http.StatusInternalServerError)
		return
	}
	sdk.Render(w, http.StatusOK, "moderation.html", map[string]any{"Notices": notices, "Deleted": r.URL.Query().Get("deleted") == "1"})
}
