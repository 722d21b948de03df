package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/movelink"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/sitemove"
)

// Migration is the migration portal's work on the running runtime:
// exporting this site to another server, and importing one here
// (runtime/server, admin_migration.go, implements it with packages
// sitemove and movelink). Long work runs in the runtime, one job at a
// time; the pages poll MoveStatus.
type Migration interface {
	// Status is what the pages show.
	Status(ctx context.Context) (*MoveStatus, error)
	// Export starts an export encrypted to recipient (age1…) and returns
	// its one-time link, which works once the export is done (shown once).
	Export(ctx context.Context, user *site.User, recipient string) (link string, err error)
	// NewLink makes a new link to the newest export, revoking the others.
	NewLink(ctx context.Context, user *site.User) (link string, err error)
	// Fetch starts downloading a source's link into this site; Resume
	// continues the newest fetch that stopped.
	Fetch(ctx context.Context, user *site.User, link string) error
	Resume(ctx context.Context, user *site.User) error
	// NewUpload starts a chunked upload; PutChunk adds one chunk
	// (Content-Range "bytes a-b/total") and returns the bytes received.
	NewUpload(ctx context.Context, user *site.User, name string, size int64) (id string, err error)
	PutChunk(ctx context.Context, user *site.User, id, contentRange string, body io.Reader) (received int64, err error)
	// Check dry-runs the incoming archive; Import imports it, signed by
	// the source key fingerprint.
	Check(ctx context.Context, user *site.User) error
	Import(ctx context.Context, user *site.User, fingerprint string, replaceLive bool) error
}

// MoveStatus is the portal's state.
type MoveStatus struct {
	// Recipient is this site's import recipient (age1…); Fingerprint its
	// signing key's, once it has exported ("" before).
	Recipient, Fingerprint string
	Job                    *MoveJob           // running or last; nil: none since start
	Link                   *movelink.Link     // newest link
	Incoming               *movelink.Incoming // newest incoming archive
	MaxArchive             int64
	ChunkSize              int64 // the upload page's chunk
}

// MoveJob is an export, fetch, check or import, running or done.
type MoveJob struct {
	Kind     string // "export", "fetch", "check", "import"
	Running  bool
	Progress sitemove.Progress
	Started  time.Time
	Finished time.Time
	Err      string
	// Export: the source fingerprint; Check and Import: the report.
	Fingerprint string
	Report      *sitemove.Report
}

// migrationCSP is the portal's page policy: the area's (pageCSP) plus its
// one script, from the area's own origin, which may call the area back
// (the chunked upload, the progress). Nothing else runs.
const migrationCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxChunkBody bounds a PUT of the upload (a chunk and a little).
const maxChunkBody = 16 << 20

func (a *Area) migrationRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/migration/export", Access: Admins, handle: a.handleMoveExport},
		{Method: "POST", Pattern: "/migration/export", Access: Admins, handle: a.handleStartExport},
		{Method: "POST", Pattern: "/migration/export/link", Access: Admins, handle: a.handleNewLink},
		{Method: "GET", Pattern: "/migration/import", Access: Admins, handle: a.handleMoveImport},
		{Method: "POST", Pattern: "/migration/import/fetch", Access: Admins, handle: a.handleFetch},
		{Method: "POST", Pattern: "/migration/import/resume", Access: Admins, handle: a.handleResume},
		{Method: "POST", Pattern: "/migration/import/check", Access: Admins, handle: a.handleCheck},
		{Method: "POST", Pattern: "/migration/import/run", Access: Admins, handle: a.handleImport},
		{Method: "POST", Pattern: "/migration/upload", Access: Admins, handle: a.handleNewUpload},
		{Method: "PUT", Pattern: "/migration/upload/{id}", Access: Admins, handle: a.handlePutChunk},
		{Method: "GET", Pattern: "/migration/status", Access: Admins, handle: a.handleMoveStatus},
	}
}

// moveView is the data of the portal's pages.
type moveView struct {
	*MoveStatus
	Link       string // a link just made (shown once)
	Form       string // what the owner typed, shown again after an error
	Problem    string // the last job's failure, in the owner's words
	Now        time.Time
	ScriptPath string
}

func (a *Area) moveStatus(w http.ResponseWriter, r *http.Request, q *request) (*MoveStatus, bool) {
	if a.cfg.Migration == nil {
		http.NotFound(w, r)
		return nil, false
	}
	st, err := a.cfg.Migration.Status(r.Context())
	if err != nil {
		a.fail(w, r, q, "reading the migration's state failed", err)
		return nil, false
	}
	return st, true
}

// showMove renders a portal page with its script allowed.
func (a *Area) showMove(w http.ResponseWriter, r *http.Request, q *request, status int, name, title string, v moveView, errMsg string) {
	w.Header().Set("Content-Security-Policy", migrationCSP)
	v.Now, v.ScriptPath = time.Now(), Prefix+"/static/migration.js"
	if v.Job != nil && v.Job.Err != "" {
		v.Problem = moveProblem(q, v.Job.Err)
	}
	a.show(w, r, q, status, name, page{Title: title, Data: v, Error: errMsg})
}

func (a *Area) handleMoveExport(w http.ResponseWriter, r *http.Request, q *request) {
	st, ok := a.moveStatus(w, r, q)
	if !ok {
		return
	}
	a.showMove(w, r, q, http.StatusOK, "migration-export.html", i18n.Key("Move this site to another server"), moveView{MoveStatus: st}, "")
}

func (a *Area) handleStartExport(w http.ResponseWriter, r *http.Request, q *request) {
	st, ok := a.moveStatus(w, r, q)
	if !ok {
		return
	}
	recipient := strings.TrimSpace(r.PostForm.Get("recipient"))
	v := moveView{MoveStatus: st, Form: recipient}
	if _, err := sitemove.ParseRecipient(recipient); err != nil {
		a.showMove(w, r, q, http.StatusBadRequest, "migration-export.html", i18n.Key("Move this site to another server"), v,
			q.T("Paste the target's recipient: one line that starts with age1, as the target's “Move a site here” page shows it."))
		return
	}
	link, err := a.cfg.Migration.Export(r.Context(), q.user, recipient)
	if err != nil {
		a.moveRefused(w, r, q, "migration-export.html", i18n.Key("Move this site to another server"), v, err)
		return
	}
	a.log.Info("site export started from the admin area", "user", q.user.Username)
	st, ok = a.moveStatus(w, r, q)
	if !ok {
		return
	}
	a.showMove(w, r, q, http.StatusOK, "migration-export.html", i18n.Key("Move this site to another server"), moveView{MoveStatus: st, Link: link}, "")
}

func (a *Area) handleNewLink(w http.ResponseWriter, r *http.Request, q *request) {
	st, ok := a.moveStatus(w, r, q)
	if !ok {
		return
	}
	link, err := a.cfg.Migration.NewLink(r.Context(), q.user)
	if err != nil {
		a.moveRefused(w, r, q, "migration-export.html", i18n.Key("Move this site to another server"), moveView{MoveStatus: st}, err)
		return
	}
	st, ok = a.moveStatus(w, r, q)
	if !ok {
		return
	}
	a.showMove(w, r, q, http.StatusOK, "migration-export.html", i18n.Key("Move this site to another server"), moveView{MoveStatus: st, Link: link}, "")
}

func (a *Area) handleMoveImport(w http.ResponseWriter, r *http.Request, q *request) {
	st, ok := a.moveStatus(w, r, q)
	if !ok {
		return
	}
	a.showMove(w, r, q, http.StatusOK, "migration-import.html", i18n.Key("Move a site here"), moveView{MoveStatus: st}, "")
}

// importAction runs one of the import page's actions and shows the page
// again (303 to it when it worked, so that a reload does not repeat it).
func (a *Area) importAction(w http.ResponseWriter, r *http.Request, q *request, form string, act func(ctx context.Context) error) {
	st, ok := a.moveStatus(w, r, q)
	if !ok {
		return
	}
	if err := act(r.Context()); err != nil {
		a.moveRefused(w, r, q, "migration-import.html", i18n.Key("Move a site here"), moveView{MoveStatus: st, Form: form}, err)
		return
	}
	http.Redirect(w, r, Prefix+"/migration/import", http.StatusSeeOther)
}

func (a *Area) handleFetch(w http.ResponseWriter, r *http.Request, q *request) {
	link := strings.TrimSpace(r.PostForm.Get("link"))
	a.importAction(w, r, q, "", func(ctx context.Context) error { return a.cfg.Migration.Fetch(ctx, q.user, link) })
}

func (a *Area) handleResume(w http.ResponseWriter, r *http.Request, q *request) {
	a.importAction(w, r, q, "", func(ctx context.Context) error { return a.cfg.Migration.Resume(ctx, q.user) })
}

func (a *Area) handleCheck(w http.ResponseWriter, r *http.Request, q *request) {
	a.importAction(w, r, q, "", func(ctx context.Context) error { return a.cfg.Migration.Check(ctx, q.user) })
}

func (a *Area) handleImport(w http.ResponseWriter, r *http.Request, q *request) {
	fp := strings.TrimSpace(r.PostForm.Get("fingerprint"))
	if !strings.HasPrefix(fp, "SHA256:") || len(fp) > 100 {
		st, ok := a.moveStatus(w, r, q)
		if ok {
			a.showMove(w, r, q, http.StatusBadRequest, "migration-import.html", i18n.Key("Move a site here"), moveView{MoveStatus: st, Form: fp},
				q.T("Type the source's fingerprint (it starts with SHA256:), as the source's export page shows it."))
		}
		return
	}
	replace := r.PostForm.Get("replace") != ""
	a.importAction(w, r, q, fp, func(ctx context.Context) error { return a.cfg.Migration.Import(ctx, q.user, fp, replace) })
}

// moveRefused shows page again with what went wrong.
func (a *Area) moveRefused(w http.ResponseWriter, r *http.Request, q *request, name, title string, v moveView, err error) {
	a.log.Warn("migration action refused", "user", q.user.Username, "path", r.URL.Path, "error", err)
	status := http.StatusConflict
	if s := movelink.StatusOf(err); s != http.StatusInternalServerError {
		status = s
	}
	a.showMove(w, r, q, status, name, title, v, moveProblem(q, err.Error()))
}

// moveStatusOf is the HTTP status of a portal error: 409 while another
// job runs, else movelink's.
func moveStatusOf(err error) int {
	if errors.Is(err, ErrMoveBusy) {
		return http.StatusConflict
	}
	return movelink.StatusOf(err)
}

// ErrMoveBusy: another export, fetch, check or import is running.
var ErrMoveBusy = errors.New("admin: another transfer or import is running: wait for it to end")

// moveProblem says a failure in the owner's words, the technical text
// after it.
func moveProblem(q *request, text string) string {
	var what string
	switch {
	case strings.Contains(text, ErrMoveBusy.Error()):
		what = q.T("Another export, transfer or import is running: wait for it to end.")
	case strings.Contains(text, sitemove.ErrWrongRecipient.Error()):
		what = q.T("The archive was made for another site: on the source, export again to this site's recipient.")
	case strings.Contains(text, sitemove.ErrSourceKey.Error()), strings.Contains(text, sitemove.ErrSignature.Error()):
		what = q.T("The archive is not signed by the fingerprint you typed: compare it with the source's export page.")
	case strings.Contains(text, sitemove.ErrArchive.Error()):
		what = q.T("The archive is damaged or was changed: transfer it again.")
	case strings.Contains(text, sitemove.ErrRefused.Error()):
		what = q.T("This site cannot take the archive (a module version is withdrawn or unknown to the registry).")
	case strings.Contains(text, sitemove.ErrLiveSite.Error()):
		what = q.T("This site has data of its own: tick “replace this site's data” to import over it (a backup is made first).")
	case strings.Contains(text, movelink.ErrGone.Error()):
		what = q.T("The link was used, expired or revoked: make a new link on the source.")
	case strings.Contains(text, movelink.ErrURL.Error()):
		what = q.T("That is not a link from a source's export page: paste the whole https:// link.")
	case strings.Contains(text, movelink.ErrTooLarge.Error()):
		what = q.T("The archive is larger than this site accepts.")
	default:
		what = q.T("It did not work; the technical details say why.")
	}
	return what + " (" + text + ")"
}

// handleMoveStatus answers the pages' script: where the running job is.
func (a *Area) handleMoveStatus(w http.ResponseWriter, r *http.Request, q *request) {
	st, ok := a.moveStatus(w, r, q)
	if !ok {
		return
	}
	type jobJSON struct {
		Kind, Step, Unit, Error string
		Running                 bool
		Done, Total             int64
	}
	out := struct {
		Job      *jobJSON `json:"job"`
		Received int64    `json:"received"`
		Size     int64    `json:"size"`
		Complete bool     `json:"complete"`
	}{}
	if j := st.Job; j != nil {
		out.Job = &jobJSON{Kind: j.Kind, Step: j.Progress.Step, Unit: j.Progress.Unit, Error: j.Err, Running: j.Running, Done: j.Progress.Done, Total: j.Progress.Total}
	}
	if in := st.Incoming; in != nil {
		out.Received, out.Size, out.Complete = in.Received, in.Size, in.Complete
	}
	writeJSON(w, http.StatusOK, out)
}

// handleNewUpload starts an upload (the page's script posts name and
// size with the form's token).
func (a *Area) handleNewUpload(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Migration == nil {
		http.NotFound(w, r)
		return
	}
	size, err := strconv.ParseInt(r.PostForm.Get("size"), 10, 64)
	if err != nil || size <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": q.T("Choose the archive file to upload.")})
		return
	}
	id, err := a.cfg.Migration.NewUpload(r.Context(), q.user, r.PostForm.Get("name"), size)
	if err != nil {
		a.log.Warn("upload refused", "user", q.user.Username, "error", err)
		writeJSON(w, moveStatusOf(err), map[string]string{"error": moveProblem(q, err.Error())})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "received": 0})
}

// handlePutChunk takes one chunk: 200 with the bytes received, or 409
// with where the received bytes end.
func (a *Area) handlePutChunk(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Migration == nil {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxChunkBody)
	got, err := a.cfg.Migration.PutChunk(r.Context(), q.user, chi.URLParam(r, "id"), r.Header.Get("Content-Range"), r.Body)
	if err != nil {
		status := moveStatusOf(err)
		if status == http.StatusInternalServerError {
			a.log.Error("upload chunk failed", "user", q.user.Username, "error", err)
		}
		writeJSON(w, status, map[string]any{"error": moveProblem(q, err.Error()), "received": got})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": got})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

// Bytes writes a size for the owner: {{$.Bytes .Size}}.
func (page) Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
