package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/websonic/websonic/runtime/internal/updater"
)

// action is a module action in the owner's words: catalogue keys for the
// page's title and for the sentences said when it worked and when it did
// not, filled from args (name, value pairs such as "module", "chat").
type action struct {
	title, done, failed string
	args                []any
}

// answer shows the result of a module action: a translated sentence
// built from what happened, the runtime's own answer (English, for the
// technically minded) folded away below it; or, when it failed, what
// failed, what to do, and the technical reason folded away.
func (a *Area) answer(w http.ResponseWriter, r *http.Request, q *request, err error, act action, res string) {
	if err != nil {
		a.log.Warn("module request failed", "user", q.user.Username, "path", r.URL.Path, "error", err)
		a.failure(w, r, q, http.StatusConflict, q.T(act.failed, act.args...), err)
		return
	}
	a.show(w, r, q, http.StatusOK, "message.html", page{Title: act.title, Message: q.T(act.done, act.args...), Note: res})
}

// failure shows what failed (what, translated) and what the owner may do
// about err, with err's text folded away as the technical reason.
func (a *Area) failure(w http.ResponseWriter, r *http.Request, q *request, status int, what string, err error) {
	a.show(w, r, q, status, "message.html", page{Title: q.T("It did not work"), Message: what + " " + nextStep(q, err), Detail: err.Error()})
}

// nextStep says what the owner may do after a module request failed
// with err.
func nextStep(q *request, err error) string {
	switch {
	case errors.Is(err, updater.ErrNoRuntime):
		return q.T("No runtime of the site is running, so nothing was done: start the site, then try again.")
	case errors.Is(err, updater.ErrNotTaken):
		return q.T("The site did not take the request in time, so it was cancelled and nothing changed: try again in a moment.")
	case errors.Is(err, updater.ErrStillRunning):
		return q.T("The site is still working on it: the Updates page will say how it ended in a minute or two.")
	case errors.Is(err, updater.ErrTakerGone):
		return q.T("The runtime working on it stopped before it finished: look at the Updates page, then try again if needed.")
	}
	return q.T("The technical details below say why. Try again, or look at the system log for more.")
}

// policyWords says an update policy in the owner's words.
func policyWords(q *request, policy string) string {
	switch policy {
	case "auto":
		return q.T("install it automatically (auto)")
	case "notify":
		return q.T("tell me, and wait (notify)")
	case "pinned":
		return q.T("stay on this version (pinned)")
	}
	return policy
}

// channelWords says a release channel in the owner's words.
func channelWords(q *request, channel string) string {
	switch channel {
	case "stable":
		return q.T("stable: tested releases")
	case "beta":
		return q.T("beta: early releases")
	}
	return channel
}

// Reason says an update event's or a staged update's reason (the
// updater's English record) in the page's language: {{$.Reason .Reason}}.
// A reason the updater writes is translated; any other (a failure's
// technical cause) is shown as it is.
func (d page) Reason(reason string) string {
	p := d.Printer
	switch reason {
	case "installed by the site owner":
		return p.T("installed by the site owner")
	case "rolled back by the site owner; pinned until the next install":
		return p.T("rolled back by the site owner; it stays on this version until the next install")
	case "automatic update":
		return p.T("automatic update")
	case "the installed version was revoked":
		return p.T("the installed version was withdrawn by its publisher")
	}
	if rest, ok := strings.CutPrefix(reason, "approved by the site owner: "); ok {
		return p.T("approved by the site owner ({reason})", "reason", d.Reason(rest))
	}
	if rest, ok := strings.CutPrefix(reason, "asks for more than approved: "); ok {
		return p.T("asks for more than you approved: {what}", "what", rest)
	}
	return reason
}
