package sitemove

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

func ageDecrypt(r io.Reader, id age.Identity) (io.Reader, error) { return age.Decrypt(r, id) }

// TestImportRefusesArchiveForAnotherTarget: the site an archive was made
// for can decrypt it and encrypt it again, unchanged, to another target
// (anyone may encrypt to a recipient). The source's signature still
// verifies, so unless move.json names the target, the other target would
// take an archive its owner never asked the source for (an old export, a
// trial move to a staging server).
func TestImportRefusesArchiveForAnotherTarget(t *testing.T) {
	ctx := context.Background()
	firstDir, otherDir := t.TempDir(), t.TempDir()
	first, _ := Prepare(firstDir)
	other, _ := Prepare(otherDir)
	path, fp, _ := export(t, 1000, first)

	id, err := loadIdentity(firstDir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	plain, err := ageDecrypt(in, id)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ParseRecipient(other)
	again := filepath.Join(t.TempDir(), "again.age")
	out, _ := os.Create(again)
	aw, _ := ageEncrypt(out, r)
	if _, err := io.Copy(aw, plain); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	out.Close()

	for _, dry := range []bool{true, false} {
		tgt := &recordingTarget{}
		_, err := Import(ctx, ImportConfig{DataDir: otherDir, Target: tgt}, again, ImportOptions{SourceFingerprint: fp, DryRun: dry}, nil)
		if !errors.Is(err, ErrWrongRecipient) {
			t.Errorf("dry run %v: err = %v, want ErrWrongRecipient", dry, err)
		}
		if tgt.got != nil || tgt.finished {
			t.Errorf("dry run %v: the target was changed", dry)
		}
	}
	// The site it was made for takes it.
	tgt := &recordingTarget{}
	if _, err := Import(ctx, ImportConfig{DataDir: firstDir, Target: tgt}, path, ImportOptions{SourceFingerprint: fp}, nil); err != nil {
		t.Fatal(err)
	}
}
