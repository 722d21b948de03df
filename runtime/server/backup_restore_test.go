package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/backup"
	"github.com/websonic/websonic/runtime/internal/site"
)

// backupModules is a module folder with hello, chat and tickets, linking
// the builds other tests of this binary make anyway.
var backupModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "backupmods")
	hello, err := modulesDir()
	if err != nil {
		return "", err
	}
	chat, err := chatRoomsModules()
	if err != nil {
		return "", err
	}
	tickets, err := ticketsModules()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for name, src := range map[string]string{"hello": hello, "chat": chat, "tickets": tickets} {
		if err := os.Symlink(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// siteRows counts the rows of every table of the core schema and of every
// module schema, read as the server's superuser (a test's view).
func siteRows(t *testing.T, admin *pgx.Conn) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	rows, err := admin.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND (n.nspname = 'websonic' OR n.nspname LIKE 'mod\_%') ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var s [2]string
		return s, r.Scan(&s[0], &s[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{n[0], n[1]}.Sanitize()).Scan(&c); err != nil {
			t.Fatal(err)
		}
		out[n[0]+"."+n[1]] = c
	}
	return out
}

// TestBackupRestoreSite: a running site with users and data in hello,
// chat and tickets is backed up; its users and every module's rows are
// destroyed; a wrongly-keyed and a corrupted backup are refused with a
// clear error and change nothing, and a restore without
// --replace-live-site is refused; the restore (replacing the live site,
// after a backup of it) brings every table's rows back, the runtime
// reloads, the same pages show the same data, and the same users sign in
// with their passwords.
func TestBackupRestoreSite(t *testing.T) {
	mods, err := backupModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), trustLoopback, func(c *Config) { c.Backup.Disabled = true })
	grantCreateDB(t, s.db)
	ctx := context.Background()
	defer serveRequests(t, s)() // as Serve does: the runtime answers the owner's requests (the reload)
	admin, err := pgx.Connect(ctx, s.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	// Data in the core and every module.
	alice := s.person(t, "alice", site.RoleAdmin)
	bob := s.person(t, "bob", site.RoleMember)
	if st, b := bob.form(t, "/guestbook", url.Values{"message": {"MARK-GUESTBOOK from bob"}}); st >= 400 {
		t.Fatalf("guestbook: %d %.300s", st, b)
	}
	var room chatRoom
	alice.must(t, "POST", "/chat/api/rooms", map[string]string{"name": "Backups", "policy": "everyone"}, 200, &room)
	alice.post(t, room.ID, "MARK-CHAT the restore works")
	var panels struct {
		Panels []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"panels"`
	}
	bob.must(t, "GET", "/tickets/api/panels", nil, 200, &panels)
	if len(panels.Panels) == 0 {
		t.Fatal("no ticket panels")
	}
	var tk tkTicket
	bob.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": panels.Panels[0].ID, "subject": "MARK-TICKET printer",
		"description": "It smokes."}, 201, &tk)

	// What the site shows, and holds.
	pages := func() (string, string, string) {
		_, guest := get(t, http.DefaultClient, s.URL+"/guestbook")
		a := newChatter(t, s.URL, "alice", alice.ip)
		if st, b := a.login(t, chatPassword); st != http.StatusSeeOther {
			t.Fatalf("alice's sign-in: %d %.300s", st, b)
		}
		_, hist := a.api(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", room.ID), nil)
		b := newChatter(t, s.URL, "bob", bob.ip)
		if st, body := b.login(t, chatPassword); st != http.StatusSeeOther {
			t.Fatalf("bob's sign-in: %d %.300s", st, body)
		}
		_, ticket := b.api(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", tk.ID), nil)
		return guest, string(hist), string(ticket)
	}
	guest, hist, ticket := pages()
	for _, c := range []struct{ page, mark string }{{guest, "MARK-GUESTBOOK"}, {hist, "MARK-CHAT"}, {ticket, "MARK-TICKET"}} {
		if !strings.Contains(c.page, c.mark) {
			t.Fatalf("before the backup, no %s in %.300s", c.mark, c.page)
		}
	}
	want := siteRows(t, admin)
	for _, tb := range []string{"websonic.users", "mod_chat.messages", "mod_tickets.tickets"} {
		if want[tb] == 0 {
			t.Fatalf("no rows in %s: %v", tb, want)
		}
	}

	// The backup, to the owner's key.
	owner, _ := age.GenerateX25519Identity()
	st, err := backupSettings(ctx, s.srv.db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	st.Recipients = owner.Recipient().String()
	if err := saveBackupSettings(ctx, s.srv.db.Pool, st); err != nil {
		t.Fatal(err)
	}
	console := &Console{db: s.srv.db}
	cfg := s.srv.cfg
	made, err := console.Backup(ctx, cfg, BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A second replica, which does not answer the owner's requests: it
	// takes the restored site up on the switch's notification.
	replica, replicaHS := s.replicaOf(t)
	replicaChat := replica.Module("chat")
	if replicaChat == nil {
		t.Fatal("the replica runs no chat")
	}

	// Destroy: every module's rows and the users (and what hangs on them).
	for tb := range want {
		if strings.HasPrefix(tb, "mod_") && !strings.HasSuffix(tb, "._migrations") {
			if _, err := admin.Exec(ctx, "TRUNCATE "+tb+" CASCADE"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := admin.Exec(ctx, "TRUNCATE websonic.users CASCADE"); err != nil {
		t.Fatal(err)
	}
	if resp := loginFrom(t, s.client(t), s.URL, bob.ip, "bob", chatPassword); resp.StatusCode == http.StatusSeeOther {
		t.Fatal("bob still signs in after the destruction")
	}
	lost := siteRows(t, admin)

	// Refused, and nothing changed.
	other, _ := age.GenerateX25519Identity()
	raw, err := os.ReadFile(filepath.Join(cfg.DataDir, "backups", made.Info.Name))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(t.TempDir(), "corrupt.backup.age")
	if err := os.WriteFile(corrupt, flip(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file string
		ids        []age.Identity
		live       bool
		want       error
		says       string
	}{
		{"wrong key", made.Info.Name, []age.Identity{other}, true, backup.ErrNoIdentity, "no identity matched"},
		{"corrupted", corrupt, []age.Identity{owner}, true, backup.ErrCorrupt, "corrupted"},
		{"live site", made.Info.Name, []age.Identity{owner}, false, ErrLiveSite, "--replace-live-site"},
	} {
		_, err := console.Restore(ctx, cfg, c.file, RestoreOptions{Identities: c.ids, ReplaceLive: c.live})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Fatalf("%s: %v, want %v saying %q", c.name, err, c.want, c.says)
		}
		if got := siteRows(t, admin); fmt.Sprint(got) != fmt.Sprint(lost) {
			t.Fatalf("%s changed the site: %v, was %v", c.name, got, lost)
		}
	}
	if l, _ := backup.OpenStore(filepath.Join(cfg.DataDir, "backups")); l != nil {
		if list, _ := l.List(backup.DefaultRetention()); len(list) != 1 {
			t.Fatalf("the refused restores wrote backups: %d", len(list))
		}
	}

	// The restore.
	res, err := console.Restore(ctx, cfg, made.Info.Name, RestoreOptions{Identities: []age.Identity{owner}, ReplaceLive: true})
	if err != nil {
		if res != nil && res.Report != nil {
			t.Log(res.Report.Text())
		}
		t.Fatal(err)
	}
	if !res.Report.OK || !res.Reloaded || len(res.Installed) != 0 {
		t.Fatalf("restore: ok %v, reloaded %v, installed %v", res.Report.OK, res.Reloaded, res.Installed)
	}
	got := siteRows(t, admin)
	for tb, n := range want {
		switch tb {
		case "websonic.audit_log", "websonic.backup_runs", "websonic.sessions", "websonic.module_requests", "websonic.job_runs":
			continue // written since: the backup runs, the sign-ins above, the reload request, a core job's tick
		}
		if got[tb] != n {
			t.Errorf("%s: %d rows after the restore, %d before the backup", tb, got[tb], n)
		}
	}
	guest2, hist2, ticket2 := pages() // the same users sign in with their passwords
	for _, c := range []struct{ page, mark string }{{guest2, "MARK-GUESTBOOK"}, {hist2, "MARK-CHAT"}, {ticket2, "MARK-TICKET"}} {
		if !strings.Contains(c.page, c.mark) {
			t.Errorf("after the restore, no %s in %.300s", c.mark, c.page)
		}
	}
	if resp := loginFrom(t, s.client(t), s.URL, "192.0.2.9", "bob", "not bob's password"); resp.StatusCode == http.StatusSeeOther {
		t.Error("a wrong password signs in after the restore")
	}
	for deadline := time.Now().Add(time.Minute); replica.Module("chat") == replicaChat || replica.Module("chat") == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the other replica did not take the restored site up (its chat module was not restarted)")
		}
	}
	if _, page := get(t, http.DefaultClient, replicaHS.URL+"/guestbook"); !strings.Contains(page, "MARK-GUESTBOOK") {
		t.Errorf("the other replica's guestbook after the restore: %.300s", page)
	}
	store, err := backup.OpenStore(filepath.Join(cfg.DataDir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	list, _ := store.List(backup.DefaultRetention())
	if len(list) != 2 || !strings.Contains(list[0].Note, "before restoring") {
		t.Errorf("backups after the restore: %+v, want the one of what it replaced", list)
	} else if res.Replaced != list[0].Name {
		t.Errorf("the restore names %q as the backup of what it replaced, want %q", res.Replaced, list[0].Name)
	}
	// The runs as the restored site records them: the restored backup's
	// own run (running when its dump was taken) finished, and the backup
	// of what the restore replaced, made in the schema set aside, recorded.
	runs, err := backupRuns(ctx, s.srv.db, 10)
	if err != nil {
		t.Fatal(err)
	}
	var restored, replaced bool
	for _, r := range runs {
		if r.Status == "running" {
			t.Errorf("a run still running after the restore: %+v", r)
		}
		restored = restored || (r.File == made.Info.Name && r.Status == "ok")
		replaced = replaced || (r.File == res.Replaced && r.Trigger == "restore" && r.Status == "ok")
	}
	if !restored || !replaced {
		t.Errorf("runs after the restore (restored backup's run ok: %v, the replaced site's backup: %v): %+v", restored, replaced, runs)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'backup.restore'`); n != 1 {
		t.Errorf("%d restores audited", n)
	}
}
