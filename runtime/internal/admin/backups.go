package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/internal/i18n"
)

// Backups is the site's backups as the admin area shows them
// (server/backup_admin.go).
type Backups interface {
	// BackupStatus lists the backups, the recent runs, the settings and
	// the owner's manual run under way, if any.
	BackupStatus(ctx context.Context) (*BackupStatus, error)
	// BackUpNow starts a manual backup in the background (one at a
	// time: ErrBackupBusy), audited as the admin userID's.
	BackUpNow(ctx context.Context, userID int64) error
	// SaveBackupSettings checks and saves the settings; a refusal is an
	// error wrapping ErrBackupSettings whose text says why.
	SaveBackupSettings(ctx context.Context, userID int64, s BackupSettings) error
	// BackupFailure is the newest failed backup since the last one that
	// succeeded (nil: none), for the dashboard.
	BackupFailure(ctx context.Context) (*BackupRun, error)
}

// Errors of Backups.
var (
	ErrBackupBusy     = errors.New("admin: a backup or restore is running")
	ErrBackupSettings = errors.New("admin: invalid backup settings")
)

// BackupSettings are the owner's backup choices.
type BackupSettings struct {
	Enabled                        bool
	Hour                           int // UTC
	Daily, Weekly, Monthly, Manual int
	Recipients                     string // public keys, one a line
}

// BackupStatus is the backups page's content.
type BackupStatus struct {
	Settings BackupSettings
	Backups  []BackupFile
	Runs     []BackupRun
	// LastScheduled is the newest scheduled run (nil: none yet).
	LastScheduled *BackupRun
	// Job is the manual backup started here, running or last (nil: none).
	Job *BackupJob
	// Keys says whether backups can be written (recipients or a
	// passphrase); Opens whether this runtime can verify them.
	Keys, Opens bool
	Dir         string
}

// BackupFile is one backup of the store.
type BackupFile struct {
	Name    string
	Created time.Time
	Size    int64
	// Kind is the retention rule that keeps it (daily, weekly, monthly,
	// manual; "": removed at the next prune).
	Kind, Note string
	// Verified: "ok", "failed" or "" (not verified).
	Verified, VerifyError string
}

// BackupRun is one recorded backup run.
type BackupRun struct {
	Started                time.Time
	Finished               *time.Time
	Trigger, Status, Stage string
	File, Error            string
	Size                   int64
}

// BackupJob is a manual backup started from the admin area.
type BackupJob struct {
	Running        bool
	Started, Ended time.Time
	Step           string
	Done, Total    int64
	File, Err      string
}

func (a *Area) backupRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/backups", Access: Admins, handle: a.handleBackups},
		{Method: "POST", Pattern: "/backups/now", Access: Admins, handle: a.handleBackUpNow},
		{Method: "POST", Pattern: "/backups/settings", Access: Admins, handle: a.handleBackupSettings},
	}
}

type backupsView struct {
	*BackupStatus
	Form    BackupSettings
	Started bool
	Saved   bool
}

func (a *Area) handleBackups(w http.ResponseWriter, r *http.Request, q *request) {
	a.showBackups(w, r, q, http.StatusOK, nil, "")
}

// showBackups renders the page; form, when not nil, is what the admin
// typed (after a refusal).
func (a *Area) showBackups(w http.ResponseWriter, r *http.Request, q *request, status int, form *BackupSettings, errText string) {
	if a.cfg.Backups == nil {
		http.NotFound(w, r)
		return
	}
	st, err := a.cfg.Backups.BackupStatus(r.Context())
	if err != nil {
		a.fail(w, r, q, "reading the backups failed", err)
		return
	}
	v := backupsView{BackupStatus: st, Form: st.Settings, Started: r.URL.Query().Get("started") != "", Saved: r.URL.Query().Get("saved") != ""}
	if form != nil {
		v.Form = *form
	}
	if st.Job != nil && st.Job.Running {
		w.Header().Set("Refresh", "3") // the run's progress, without a script
	}
	a.show(w, r, q, status, "backups.html", page{Title: i18n.Key("Backups"), Error: errText, Data: v})
}

func (a *Area) handleBackUpNow(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Backups == nil {
		http.NotFound(w, r)
		return
	}
	err := a.cfg.Backups.BackUpNow(r.Context(), q.user.ID)
	switch {
	case errors.Is(err, ErrBackupBusy):
		a.showBackups(w, r, q, http.StatusConflict, nil, q.T("A backup or a restore is running already: wait for it to end."))
		return
	case err != nil:
		a.fail(w, r, q, "starting a backup failed", err)
		return
	}
	a.log.Info("backup started", "user", q.user.Username)
	http.Redirect(w, r, Prefix+"/backups?started=1", http.StatusSeeOther)
}

func (a *Area) handleBackupSettings(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Backups == nil {
		http.NotFound(w, r)
		return
	}
	f := r.PostForm
	s := BackupSettings{Enabled: f.Get("enabled") != "", Recipients: strings.ReplaceAll(f.Get("recipients"), "\r\n", "\n")}
	ok := true
	for _, n := range []struct {
		name string
		to   *int
	}{{"hour", &s.Hour}, {"daily", &s.Daily}, {"weekly", &s.Weekly}, {"monthly", &s.Monthly}, {"manual", &s.Manual}} {
		v, err := strconv.Atoi(strings.TrimSpace(f.Get(n.name)))
		ok = ok && err == nil
		*n.to = v
	}
	err := ErrBackupSettings
	if ok {
		err = a.cfg.Backups.SaveBackupSettings(r.Context(), q.user.ID, s)
	}
	switch {
	case errors.Is(err, ErrBackupSettings):
		msg := q.T("The settings were not saved: the hour is 0 to 23 (UTC), each count a whole number (at least one period kept), and the recipients public keys (age1… or ssh-…), one a line.")
		if detail := strings.TrimPrefix(err.Error(), ErrBackupSettings.Error()+": "); detail != err.Error() {
			msg += " " + detail
		}
		a.showBackups(w, r, q, http.StatusUnprocessableEntity, &s, msg)
		return
	case err != nil:
		a.fail(w, r, q, "saving the backup settings failed", err)
		return
	}
	a.log.Info("backup settings changed", "user", q.user.Username)
	http.Redirect(w, r, Prefix+"/backups?saved=1", http.StatusSeeOther)
}
