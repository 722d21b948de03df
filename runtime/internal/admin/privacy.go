package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/site"
)

// Privacy is the site's GDPR duties as the admin area shows them: the
// record of processing and the owner's privacy rules (server/privacy.go).
type Privacy interface {
	ProcessingRecord(ctx context.Context) (*site.ProcessingRecord, error)
	PrivacySettings(ctx context.Context) (site.PrivacySettings, error)
	// SetPrivacySettings saves the rules, audited as the admin userID's.
	SetPrivacySettings(ctx context.Context, userID int64, ps site.PrivacySettings) error
}

// privacyRoutes are the privacy page's routes (nil Config.Privacy: they
// answer 404).
func (a *Area) privacyRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/privacy", Access: Admins, handle: a.handlePrivacy},
		{Method: "POST", Pattern: "/privacy", Access: Admins, handle: a.handleSavePrivacy},
		{Method: "GET", Pattern: "/privacy/record.json", Access: Admins, handle: a.handleRecordFile},
		{Method: "GET", Pattern: "/privacy/record.csv", Access: Admins, handle: a.handleRecordFile},
	}
}

type privacyView struct {
	Record   *site.ProcessingRecord
	Settings site.PrivacySettings
	Saved    bool
}

func (a *Area) handlePrivacy(w http.ResponseWriter, r *http.Request, q *request) {
	a.showPrivacy(w, r, q, http.StatusOK, nil, "")
}

// showPrivacy renders the page; form, when not nil, is what the admin
// typed (after a refusal).
func (a *Area) showPrivacy(w http.ResponseWriter, r *http.Request, q *request, status int, form *site.PrivacySettings, errText string) {
	if a.cfg.Privacy == nil {
		http.NotFound(w, r)
		return
	}
	rec, err := a.cfg.Privacy.ProcessingRecord(r.Context())
	if err != nil {
		a.fail(w, r, q, "reading the record of processing failed", err)
		return
	}
	v := privacyView{Record: rec, Saved: r.URL.Query().Get("saved") != ""}
	if form != nil {
		v.Settings = *form
	} else if v.Settings, err = a.cfg.Privacy.PrivacySettings(r.Context()); err != nil {
		a.fail(w, r, q, "reading the privacy settings failed", err)
		return
	}
	a.show(w, r, q, status, "privacy.html", page{Title: i18n.Key("Privacy"), Error: errText, Data: v})
}

// formDays reads a rule from the form: empty or "off" is 0 (off).
func formDays(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" || v == "off" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

func (a *Area) handleSavePrivacy(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Privacy == nil {
		http.NotFound(w, r)
		return
	}
	var ps site.PrivacySettings
	ok := true
	for _, f := range []struct {
		name string
		to   *int
	}{{"erase_grace_days", &ps.EraseGraceDays}, {"audit_days", &ps.AuditDays}, {"ip_days", &ps.IPDays}, {"inactive_months", &ps.InactiveMonths}} {
		n, good := formDays(r.PostForm.Get(f.name))
		ok = ok && good
		*f.to = n
	}
	err := site.ErrInvalidPrivacySettings
	if ok {
		err = a.cfg.Privacy.SetPrivacySettings(r.Context(), q.user.ID, ps)
	}
	switch {
	case errors.Is(err, site.ErrInvalidPrivacySettings):
		a.showPrivacy(w, r, q, http.StatusUnprocessableEntity, &ps,
			q.T("Each rule is empty (off) or a whole number: the grace period 0 to 365 days, the audit log and addresses 1 to 36500 days, inactive accounts 1 to 1200 months."))
		return
	case err != nil:
		a.fail(w, r, q, "saving the privacy settings failed", err)
		return
	}
	a.log.Info("privacy settings changed", "user", q.user.Username)
	http.Redirect(w, r, Prefix+"/privacy?saved=1", http.StatusSeeOther)
}

// handleRecordFile sends the record of processing as JSON or CSV.
func (a *Area) handleRecordFile(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Privacy == nil {
		http.NotFound(w, r)
		return
	}
	rec, err := a.cfg.Privacy.ProcessingRecord(r.Context())
	if err != nil {
		a.fail(w, r, q, "reading the record of processing failed", err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if strings.HasSuffix(r.URL.Path, ".csv") {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="record-of-processing.csv"`)
		if err := rec.WriteCSV(w); err != nil {
			a.log.Warn("sending the record of processing", "error", err)
		}
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="record-of-processing.json"`)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rec); err != nil {
		a.log.Warn("sending the record of processing", "error", err)
	}
}
