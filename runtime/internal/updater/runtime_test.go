package updater

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/tufrepo"
)

// TestCheckBinary: only the signed bytes pass, whatever differs.
func TestCheckBinary(t *testing.T) {
	good := []byte("the signed binary")
	sum := sha256.Sum256(good)
	rel := &tufrepo.Release{Module: "websonic", Version: "1.2.3", BinarySHA256: hex.EncodeToString(sum[:]), BinarySize: int64(len(good))}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"signed", good, true},
		{"one byte changed", []byte("the signed binarY"), false},
		{"truncated", good[:len(good)-1], false},
		{"longer", append(append([]byte{}, good...), 0), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBinary(tc.b, rel)
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrVerify) {
				t.Fatalf("checkBinary: %v", err)
			}
		})
	}
}

// TestCheckReports: the new binary must run and report the release's
// version on its first line. Only a binary that answers with another
// version (or not as websonic) is refused for good (ErrVerify); one that
// cannot run here (a full disk, noexec, a machine too loaded) is not.
func TestCheckReports(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script, want string // want: part of the error, "" for none
		refuse             bool
	}{
		{"right version", `echo "websonic 1.2.3 linux/amd64 go1.26.8"`, "", false},
		{"older binary under a newer release", `echo "websonic 1.0.0 linux/amd64 go1.26.8"`, "reports version 1.0.0, not the release's 1.2.3", true},
		{"not websonic", `echo "hello"`, "printed", true},
		{"exits at once", `exit 3`, "exit status 3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			err := checkReports(context.Background(), bin, "1.2.3")
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("checkReports: %v, want %q", err, tc.want)
			}
			if errors.Is(err, ErrVerify) != tc.refuse {
				t.Fatalf("checkReports: %v: refused for good %v, want %v", err, !tc.refuse, tc.refuse)
			}
		})
	}
}

// TestReplaceKeepingAndRestore: the new file takes the executable's place,
// the old one stays as .previous, and restoring puts it back.
func TestReplaceKeepingAndRestore(t *testing.T) {
	dir := t.TempDir()
	exe, prev, tmp := filepath.Join(dir, "websonic"), filepath.Join(dir, "websonic.previous"), filepath.Join(dir, ".new")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write(exe, "old")
	write(prev, "older") // replaced
	write(tmp, "new")
	if err := replaceKeeping(tmp, exe, prev); err != nil {
		t.Fatal(err)
	}
	if read(exe) != "new" || read(prev) != "old" {
		t.Fatalf("after replace: exe %q, previous %q", read(exe), read(prev))
	}
	if err := restoreFile(prev, exe); err != nil {
		t.Fatal(err)
	}
	if read(exe) != "old" {
		t.Fatalf("after restore: exe %q", read(exe))
	}
}

// TestRemoveStaged: at a start not by an upgrade, what a staging left
// beside the executable goes and nothing else; a process an upgrade
// started (its parent may be staging) removes nothing.
func TestRemoveStaged(t *testing.T) {
	for _, upgraded := range []bool{false, true} {
		dir := t.TempDir()
		files := map[string]bool{ // name: removed
			"websonic": false, "websonic.previous": false, ".websonic-notes": false,
			".websonic-1.2.3-4711": true, ".websonic-1.3.0-beta.1-99": true, ".websonic-probe-12": true,
		}
		for n := range files {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		u := &Updater{cfg: Config{SelfUpdate: RuntimeConfig{Executable: filepath.Join(dir, "websonic"), Upgraded: upgraded}}, log: hclog.NewNullLogger()}
		u.removeStaged()
		for n, removed := range files {
			_, err := os.Stat(filepath.Join(dir, n))
			if gone := errors.Is(err, os.ErrNotExist); gone != (removed && !upgraded) {
				t.Errorf("upgraded %v: %s removed %v", upgraded, n, gone)
			}
		}
	}
}
