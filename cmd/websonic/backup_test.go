package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/websonic/websonic/runtime/server"
)

// TestBackupCommands runs the real binary's backup commands against a
// site on its embedded PostgreSQL: now, list, verify (the owner's key
// verifies; another key fails with exit code 1 and says so), restore
// (refused over a site with data without --replace-live-site; with it,
// the site is as the backup had it, and a backup of what it replaced is
// listed).
func TestBackupCommands(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	data := dataDir(t)
	t.Setenv("WEBSONIC_DATABASE_URL", "")
	cfg := server.Config{DataDir: data}
	srv, err := server.Open(ctx, cfg) // the site, its embedded cluster shared by the commands
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	if _, err := srv.CreateAdmin(ctx, "boss", "", "", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	owner, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	keys := t.TempDir()
	ownerKey, otherKey := filepath.Join(keys, "owner.txt"), filepath.Join(keys, "other.txt")
	os.WriteFile(ownerKey, []byte(owner.String()+"\n"), 0o600)
	os.WriteFile(otherKey, []byte(other.String()+"\n"), 0o600)
	if err := os.WriteFile(filepath.Join(data, server.BackupRecipientsFile), []byte(owner.Recipient().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_BACKUP_PASSPHRASE=", "WEBSONIC_BACKUP_IDENTITY="}
	site := []string{"--data-dir", data}
	fails := func(args ...string) string {
		t.Helper()
		c := exec.CommandContext(ctx, bin, append(args, site...)...)
		c.Env = append(os.Environ(), env...)
		var stderr strings.Builder
		c.Stderr = &stderr
		out, err := c.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("websonic %s: %v, want exit code 1\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return stderr.String()
	}
	run := func(args ...string) string { t.Helper(); return runCLI(t, ctx, bin, env, append(args, site...)...) }

	out := run("backup", "now", "--quiet")
	name := strings.Fields(strings.TrimPrefix(out, "wrote "))[0]
	if !strings.HasPrefix(out, "wrote websonic-") || !strings.HasSuffix(name, ".backup.age") {
		t.Fatalf("backup now: %s", out)
	}
	if out := run("backup", "list"); !strings.Contains(out, name) || !strings.Contains(out, "manual") {
		t.Fatalf("backup list: %s", out)
	}
	if out := run("backup", "verify", "latest", "--identity", ownerKey); !strings.Contains(out, "verification OK") {
		t.Fatalf("backup verify: %s", out)
	}
	if out := run("backup", "list"); !strings.Contains(out, "ok ") {
		t.Errorf("the verification is not recorded: %s", out)
	}
	if msg := fails("backup", "verify", name, "--identity", otherKey); !strings.Contains(msg, "no identity matched") {
		t.Errorf("verify with another key: %s", msg)
	}

	// A user made after the backup: the restore takes the site back.
	console, err := server.OpenConsole(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	if _, err := console.CreateAdmin(ctx, "mia", "", "", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if msg := fails("backup", "restore", name, "--identity", otherKey, "--replace-live-site"); !strings.Contains(msg, "no identity matched") ||
		!strings.Contains(msg, "left as it was") {
		t.Errorf("restore with another key: %s", msg)
	}
	if msg := fails("backup", "restore", name, "--identity", ownerKey); !strings.Contains(msg, "--replace-live-site") {
		t.Errorf("restore over the live site: %s", msg)
	}
	if _, err := console.User(ctx, "mia"); err != nil {
		t.Fatalf("the refused restores changed the site: %v", err)
	}
	out = run("backup", "restore", name, "--identity", ownerKey, "--replace-live-site")
	if !strings.Contains(out, "restored") {
		t.Fatalf("backup restore: %s", out)
	}
	// It names the backup of what it replaced, and how to go back to it.
	replaced := regexp.MustCompile(`the site as it was before is in (websonic-\S+\.backup\.age)`).FindStringSubmatch(out)
	if replaced == nil || replaced[1] == name || !strings.Contains(out, "websonic backup restore "+replaced[1]) {
		t.Errorf("backup restore does not name the backup of what it replaced:\n%s", out)
	}
	if _, err := console.User(ctx, "mia"); err == nil {
		t.Error("mia, made after the backup, is still there")
	}
	if _, err := console.User(ctx, "boss"); err != nil {
		t.Errorf("boss after the restore: %v", err)
	}
	if out := run("backup", "list"); !strings.Contains(out, "before restoring "+name) && strings.Count(out, ".backup.age") < 2 {
		t.Errorf("no backup of what the restore replaced: %s", out)
	}
}
