package admin

import (
	"context"
	"github.com/websonic/websonic/internal/i18n"
	"net/http"

	"github.com/websonic/websonic/runtime/internal/updater"
)

// pending is a module whose staged update awaits approval.
type pending struct {
	updater.Installed
	Preview *updater.Preview
	Error   string
}

// pendingUpdates lists the modules whose staged update awaits approval,
// with what approving would grant.
func (a *Area) pendingUpdates(ctx context.Context) ([]pending, error) {
	ins, err := a.cfg.Modules.Installed(ctx)
	if err != nil {
		return nil, err
	}
	var out []pending
	for _, in := range ins {
		if in.StagedVersion == "" {
			continue
		}
		p := pending{Installed: in}
		pctx, cancel := context.WithTimeout(ctx, a.cfg.RequestWait)
		p.Preview, err = a.cfg.Modules.Preview(pctx, in.Name)
		cancel()
		if err != nil {
			p.Error = err.Error()
		}
		out = append(out, p)
	}
	return out, nil
}

// handleApprove approves a module's staged release: the form names the
// module and the digest of the release the admin was shown, and carries
// the admin's password (asked again: approving grants a module new powers
// over the site).
func (a *Area) handleApprove(w http.ResponseWriter, r *http.Request, q *request) {
	module, digest := r.PostForm.Get("module"), r.PostForm.Get("digest")
	if module == "" || digest == "" {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Name the module and the release."))
		return
	}
	if !a.reauthenticate(w, r, q) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RequestWait)
	defer cancel()
	res, err := a.cfg.Modules.Approve(ctx, module, digest)
	a.audit(r.Context(), r, q.user.ID, "admin.module_approve", module, map[string]any{"digest": digest, "ok": err == nil})
	if err != nil {
		a.log.Warn("approval failed", "user", q.user.Username, "module", module, "error", err)
		a.message(w, r, q, http.StatusConflict, i18n.Key("Not approved"), err.Error())
		return
	}
	a.log.Info("module approved", "user", q.user.Username, "module", module, "digest", digest)
	a.message(w, r, q, http.StatusOK, i18n.Key("Approved"), res)
}

// reauthenticate checks the password the form carries against the
// signed-in admin's (through the site's login guard); otherwise it
// answers and returns false.
func (a *Area) reauthenticate(w http.ResponseWriter, r *http.Request, q *request) bool {
	u, err := a.cfg.Site.CheckLogin(w, r, q.user.Username, r.PostForm.Get("password"))
	if err == nil && u.ID == q.user.ID {
		return true
	}
	status, msg := a.cfg.Site.LoginFailure(w, err)
	if err == nil || status == http.StatusInternalServerError {
		status, msg = http.StatusForbidden, i18n.Key("Your password was not confirmed.")
	}
	a.message(w, r, q, status, i18n.Key("Not confirmed"), q.T("Confirm with your password:")+" "+q.T(msg))
	return false
}
