package sitemove

import (
	"archive/tar"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/go-hclog"
)

// ParseRecipient checks an import recipient (age1…, as Prepare prints it).
func ParseRecipient(s string) (*age.X25519Recipient, error) {
	s = strings.TrimSpace(s)
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: want the age1… line `websonic site import --prepare` printed on the target: %w", ErrRecipient, s, err)
	}
	return r, nil
}

// Export writes the site cfg.Source describes to w as an archive for
// recipient (see the package doc), signed with the source's key, and
// returns its fingerprint. progress, when not nil, sees each step. On an
// error w holds an unusable prefix; nothing of the site changes.
func Export(ctx context.Context, cfg ExportConfig, w io.Writer, recipient string, progress func(Progress)) (res *ExportResult, err error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	rcpt, err := ParseRecipient(recipient)
	if err != nil {
		return nil, err
	}
	if cfg.Source == nil || cfg.DataDir == "" {
		return nil, fmt.Errorf("sitemove: export: no source or data dir")
	}
	priv, err := SigningKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	fp := Fingerprint(priv.Public().(ed25519.PublicKey))
	j := startJournal(ctx, cfg.DB, log, "export", false, cfg.Actor, fp)
	defer func() {
		if res != nil {
			res.ID = j.id
		}
		j.end(ctx, res, err)
		audit(ctx, cfg.DB, log, cfg.ActorID, "site.export", map[string]any{"fingerprint": fp, "ok": err == nil, "error": errText(err), "actor": actorOf(cfg.Actor)})
	}()
	report := func(p Progress) { j.progress(ctx, p); progress(p) }

	info, err := cfg.Source.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	out := &countingWriter{w: w}
	aw, err := age.Encrypt(out, rcpt)
	if err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	now := time.Now().UTC()
	tw := tar.NewWriter(aw)
	pw := newPartWriter(tw, now)
	defer pw.man.finish()
	if err := cfg.Source.Dump(ctx, pw, func(p Progress) {
		step := p.Step
		if step != "dump" {
			step = "dump: " + step
		}
		report(Progress{Step: step, Done: p.Done, Total: p.Total, Unit: p.Unit})
	}); err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	ref, err := pw.ref()
	if err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	m := *info
	m.Format, m.Created, m.Dump, m.Target = FormatMove, now, ref, rcpt.String()
	m.Source.PublicKey = priv.Public().(ed25519.PublicKey)
	if m.Modules == nil {
		m.Modules = []Module{}
	}
	if m.Themes == nil {
		m.Themes = []Theme{}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("sitemove: export: the site's description: %w", err)
	}
	mj, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	if err := writeEntry(tw, moveEntry, mj, now); err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	if err := writeEntry(tw, sigEntry, ed25519.Sign(priv, mj), now); err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("sitemove: export: %w", err)
	}
	report(Progress{Step: "written", Done: out.n, Unit: "bytes"})
	log.Info("site exported", "bytes", out.n, "dump_bytes", ref.Size, "modules", len(m.Modules), "fingerprint", fp)
	return &ExportResult{Fingerprint: fp, Move: m.Public(), Bytes: out.n}, nil
}

func actorOf(a string) string {
	if a == "" {
		return "terminal"
	}
	return a
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
