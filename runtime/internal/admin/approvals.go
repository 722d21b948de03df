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
	version := a.awaitingVersion(r.Context(), module, digest)
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RequestWait)
	defer cancel()
	res, err := a.cfg.Modules.Approve(ctx, module, digest)
	a.audit(r.Context(), r, q.user.ID, "admin.module_approve", module, map[string]any{"digest": digest, "ok": err == nil})
	if err != nil {
		a.log.Warn("approval failed", "user", q.user.Username, "module", module, "error", err)
		a.failure(w, r, q, http.StatusConflict, q.T("{module} {version} could not be approved.", "module", module, "version", version), err)
		return
	}
	a.log.Info("module approved", "user", q.user.Username, "module", module, "digest", digest)
	a.show(w, r, q, http.StatusOK, "message.html", page{Title: i18n.Key("Approved"),
		Message: q.T("{module} {version} is approved and starts serving.", "module", module, "version", version), Note: res})
}

// awaitingVersion is the version of module's release of digest waiting
// for approval, for the owner's sentence (its digest when unknown).
func (a *Area) awaitingVersion(ctx context.Context, module, digest string) string {
	if a.cfg.Lifecycle != nil {
		if states, err := a.cfg.Lifecycle.States(ctx); err == nil {
			for _, st := range states {
				switch {
				case st.Name != module:
				case st.Awaiting != nil && st.Awaiting.Digest == digest:
					return st.Awaiting.Version
				case st.Installed != nil && st.Installed.StagedVersion != "":
					return st.Installed.StagedVersion
				}
			}
		}
	}
	return "(" + digest + ")"
}

// reauthenticate checks the password the form carries against the
// signed-in admin's (through the site's login guard); otherwise it
// answers and returns false.
func (a *Area) reauthenticate(w http.ResponseWriter, r *http.Request, q *request) bool {
	u, err := a.cfg.Site.CheckLogin(w, r, q.user.Username, r.PostForm.Get("password"))
	if err == nil && u.ID == q.user.ID {
		return true
	}
	status, msg := a.cfg.Site.LoginFailureIn(w, q.p, err)
	if err == nil || status == http.StatusInternalServerError {
		status, msg = http.StatusForbidden, i18n.Key("Your password was not confirmed.")
	}
	a.message(w, r, q, status, i18n.Key("Not confirmed"), q.T("Confirm with your password:")+" "+q.T(msg))
	return false
}
