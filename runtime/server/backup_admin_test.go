package server

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/site"
)

// TestAdminBackupsPage: the admin area's Backups page over HTTP. With no
// key, "Back up now" runs in the background, fails at its keys stage, and
// the dashboard alerts the owner; bad settings are refused and change
// nothing; with a recipient saved the next backup is written, listed, and
// the alert goes away.
func TestAdminBackupsPage(t *testing.T) {
	s := newSiteWith(t, "", hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: testLog{t}}), func(c *Config) { c.Backup.Disabled = true })
	as := httptest.NewServer(s.srv.AdminHandler())
	defer as.Close()
	ctx := t.Context()
	u := s.mkUser(t, "owner", site.RoleAdmin)
	token := make([]byte, 32)
	rand.Read(token)
	if _, err := s.srv.db.Pool.Exec(ctx, `INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at)
		VALUES (sha256($1), $2, now() + interval '1 hour')`, token, u.ID); err != nil {
		t.Fatal(err)
	}
	c := &adminClient{t: t, origin: as.URL, cookie: &http.Cookie{Name: admin.AdminCookie, Value: base64.RawURLEncoding.EncodeToString(token)}}
	csrfOf := func(page string) string {
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no csrf in %.300s", page)
		}
		return m[1]
	}
	page := func() string {
		resp, b := c.do("GET", "/admin/backups", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /admin/backups: %d %.300s", resp.StatusCode, b)
		}
		return b
	}
	dashboard := func() string {
		_, b := c.do("GET", "/admin/", nil, nil)
		return b
	}
	backUpNow := func() *admin.BackupJob {
		t.Helper()
		resp, b := c.do("POST", "/admin/backups/now", url.Values{"csrf": {csrfOf(page())}}, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("back up now: %d %.300s", resp.StatusCode, b)
		}
		var job *admin.BackupJob
		waitFor(t, func() bool {
			st, err := s.srv.backups.BackupStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			job = st.Job
			return job != nil && !job.Running
		})
		return job
	}
	const failedAlert = "A backup failed"

	b := page()
	if !strings.Contains(b, "Backups cannot be written") || !strings.Contains(b, "No backups yet.") {
		t.Fatalf("the page without keys: %.2000s", b)
	}
	if strings.Contains(dashboard(), failedAlert) {
		t.Fatal("an alert before any backup")
	}
	job := backUpNow()
	if !strings.Contains(job.Err, "keys") {
		t.Fatalf("the backup without keys: %+v", job)
	}
	if !strings.Contains(page(), "failed") || !strings.Contains(dashboard(), failedAlert) {
		t.Fatal("the failed backup shows neither on the page nor as the dashboard's alert")
	}

	before, err := backupSettings(ctx, s.srv.db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	good := url.Values{"enabled": {"1"}, "hour": {"4"}, "daily": {"5"}, "weekly": {"2"}, "monthly": {"3"}, "manual": {"0"},
		"recipients": {"# the owner's laptop\r\n" + id.Recipient().String()}}
	for name, change := range map[string]func(url.Values){
		"hour 24":       func(v url.Values) { v.Set("hour", "24") },
		"not a number":  func(v url.Values) { v.Set("daily", "seven") },
		"a private key": func(v url.Values) { v.Set("recipients", id.String()) },
		"nothing kept":  func(v url.Values) { v.Set("daily", "0"); v.Set("weekly", "0"); v.Set("monthly", "0") },
	} {
		form := url.Values{}
		for k, vs := range good {
			form[k] = vs
		}
		change(form)
		form.Set("csrf", csrfOf(page()))
		resp, b := c.do("POST", "/admin/backups/settings", form, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(b, "The settings were not saved") {
			t.Errorf("%s: %d %.300s", name, resp.StatusCode, b)
		}
		if after, _ := backupSettings(ctx, s.srv.db.Pool); after != before {
			t.Errorf("%s changed the settings: %+v", name, after)
		}
	}
	good.Set("csrf", csrfOf(page()))
	if resp, b := c.do("POST", "/admin/backups/settings", good, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving: %d %.300s", resp.StatusCode, b)
	}
	st, _ := backupSettings(ctx, s.srv.db.Pool)
	if !st.Enabled || st.Hour != 4 || st.Retention.Daily != 5 || st.Retention.Monthly != 3 || !strings.Contains(st.Recipients, id.Recipient().String()) {
		t.Fatalf("saved %+v", st)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'backup.settings' AND actor_id = $1`, u.ID); n != 1 {
		t.Errorf("%d settings changes audited", n)
	}

	job = backUpNow()
	if job.Err != "" || job.File == "" {
		t.Fatalf("the backup with a recipient: %+v", job)
	}
	if b := page(); !strings.Contains(b, job.File) {
		t.Errorf("the page does not list %s", job.File)
	}
	if strings.Contains(dashboard(), failedAlert) {
		t.Error("the alert stays after a backup succeeded")
	}
}
