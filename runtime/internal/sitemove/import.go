package sitemove

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
)

// holdBack is how many of the dump's last bytes the second reading keeps
// from Target.Replace until the whole archive has verified again: the
// dump's tar ends there, so Replace cannot finish (and switch) on bytes
// that changed since the first reading.
const holdBack = 64 << 10

// Import imports the archive at path into cfg.Target (see the package
// doc): it reads the archive through and checks it, the source and the
// target before changing anything, then loads and switches. The report
// comes back with most errors, saying how far it got; whatever the error,
// a target whose Report.Switched is false is as it was.
func Import(ctx context.Context, cfg ImportConfig, path string, opts ImportOptions, progress func(Progress)) (rep *Report, err error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	if cfg.Target == nil || cfg.DataDir == "" {
		return nil, fmt.Errorf("sitemove: import: no target or data dir")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sitemove: import: %w", err)
	}
	defer f.Close()
	id, err := loadIdentity(cfg.DataDir)
	notPrepared := err
	if err != nil && !errors.Is(err, ErrNotPrepared) {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sitemove: import: %w", err)
	}
	size := fi.Size()
	rep = &Report{DryRun: opts.DryRun, Started: time.Now()}
	j := startJournal(ctx, cfg.DB, log, "import", opts.DryRun, cfg.Actor, "")
	defer func() {
		rep.Took = time.Since(rep.Started)
		if rep.Switched {
			j.again(ctx) // the row was in the schema the switch set aside
		}
		j.end(ctx, rep, err)
		audit(ctx, cfg.DB, log, cfg.ActorID, "site.import", map[string]any{
			"fingerprint": rep.Fingerprint, "dry_run": opts.DryRun, "switched": rep.Switched, "backup": rep.Backup,
			"ok": err == nil, "error": errText(err), "actor": actorOf(cfg.Actor),
		})
	}()
	report := func(p Progress) { j.progress(ctx, p); progress(p) }

	// First reading: everything verified, nothing changed.
	var p *parsed
	retired := false // made for a key an import used
	if id != nil {
		p, err = readArchive(&progressReader{r: f, total: size, step: "check", report: report}, id, nil)
	}
	if id == nil || errors.Is(err, ErrWrongRecipient) {
		// Made for a key an import used (retireIdentity)? Then it was
		// imported already, and is refused as a replay of an older state;
		// but for this site's own backup of what that import replaced
		// (Target.Backup), which brings the replaced site back.
		used, at, ok := usedBy(cfg.DataDir, f)
		switch {
		case !ok && id == nil:
			return rep, notPrepared
		case !ok:
			return rep, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return rep, fmt.Errorf("sitemove: import: %w", err)
		}
		id, retired = used, true
		p, err = readArchive(&progressReader{r: f, total: size, step: "check", report: report}, id, nil)
		if err == nil {
			own, ferr := SourceFingerprint(cfg.DataDir)
			if ferr != nil {
				return rep, ferr
			}
			if p.fp != own {
				err = fmt.Errorf("%w (on %s): an import key serves once; to import again, run `websonic site import --prepare` here and export anew to the recipient it prints",
					ErrImported, at.Format(time.RFC3339))
			}
		}
	}
	if err != nil {
		return rep, err
	}
	rep.Move, rep.Fingerprint = p.move.Public(), p.fp
	if p.move.Target != id.Recipient().String() {
		return rep, fmt.Errorf("%w: it was made for %q, and this site is %s: ask the source for an export to this site's recipient",
			ErrWrongRecipient, p.move.Target, id.Recipient())
	}
	j.fingerprint(ctx, p.fp)
	given := []byte(opts.SourceFingerprint)
	rep.Confirmed = len(given) > 0 && subtle.ConstantTimeCompare(given, []byte(p.fp)) == 1
	switch {
	case len(given) > 0 && !rep.Confirmed:
		return rep, fmt.Errorf("%w: it is signed by another key than %s: it does not come from the site you confirmed, or was changed", ErrSourceKey, opts.SourceFingerprint)
	case !rep.Confirmed && !opts.DryRun:
		return rep, fmt.Errorf("%w: pass the fingerprint `websonic site export` printed on the source (--source-key SHA256:…)", ErrSourceKey)
	}
	report(Progress{Step: "check target"})
	if rep.Plan, err = cfg.Target.Check(ctx, p.move); err != nil {
		return rep, err
	}
	has, err := cfg.Target.HasData(ctx)
	if err != nil {
		return rep, fmt.Errorf("sitemove: import: %w", err)
	}
	if has && !opts.DryRun {
		if !opts.ReplaceLive {
			return rep, fmt.Errorf("%w: it has users or modules of its own; to replace them with the archive's, import with --replace-live-site (a backup of this site is made first)", ErrLiveSite)
		}
		report(Progress{Step: "backup"})
		if rep.Backup, err = cfg.Target.Backup(ctx); err != nil {
			return rep, fmt.Errorf("sitemove: import: the backup before replacing this site failed, nothing was changed: %w", err)
		}
	}

	// Second reading, into the target.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return rep, fmt.Errorf("sitemove: import: %w", err)
	}
	pr, pw := io.Pipe()
	hb := &holdWriter{w: pw}
	read := make(chan error, 1)
	go func() {
		p2, err := readArchive(&progressReader{r: f, total: size, step: "load", report: report}, id, func(r io.Reader) error {
			_, err := io.Copy(hb, r)
			return err
		})
		if err == nil && !bytes.Equal(p2.moveJSON, p.moveJSON) {
			err = fmt.Errorf("%w: the file changed during the import", ErrArchive)
		}
		if err == nil {
			err = hb.flush()
		}
		pw.CloseWithError(err) // nil: EOF
		read <- err
	}()
	data, err := cfg.Target.Replace(ctx, pr, opts.DryRun, report)
	pr.CloseWithError(errors.New("sitemove: import: the load stopped"))
	rerr := <-read
	rep.Data = data
	if err == nil && rerr != nil {
		err = rerr // Replace finished without the held-back end: cannot be, but never switch on it silently
	}
	if err != nil {
		if rerr != nil && !errors.Is(err, rerr) {
			err = errors.Join(err, rerr)
		}
		return rep, err
	}
	if data == nil || !data.OK {
		return rep, fmt.Errorf("%w: see the report", ErrMismatch)
	}
	if opts.DryRun {
		report(Progress{Step: "dry run done"})
		return rep, nil
	}
	rep.Switched = true
	report(Progress{Step: "finish"})
	if err := cfg.Target.Finish(ctx, p.move, rep); err != nil {
		return rep, fmt.Errorf("sitemove: import: the data was switched, but finishing failed (run the import again or restart the runtime): %w", err)
	}
	if !retired { // this site's own backup of a replaced site: its key was set aside already
		if err := retireIdentity(cfg.DataDir, time.Now()); err != nil {
			log.Warn("the site is imported, but its import key stays: an archive made for it could be imported again", "error", err)
		}
	}

	log.Info("site imported", "fingerprint", p.fp, "modules", len(p.move.Modules), "tables", len(data.Tables))
	return rep, nil
}

// holdWriter passes what is written on to w but the last holdBack bytes,
// which flush writes.
type holdWriter struct {
	w   io.Writer
	buf []byte
}

func (h *holdWriter) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p...)
	if over := len(h.buf) - holdBack; over > 0 {
		if _, err := h.w.Write(h.buf[:over]); err != nil {
			return 0, err
		}
		h.buf = append(h.buf[:0], h.buf[over:]...)
	}
	return len(p), nil
}

func (h *holdWriter) flush() error {
	_, err := h.w.Write(h.buf)
	h.buf = nil
	return err
}

// progressReader reports how much of a file was read, at most every MiB.
type progressReader struct {
	r           io.Reader
	done, total int64
	last        int64
	step        string
	report      func(Progress)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.done-p.last >= 1<<20 || (err != nil && p.done != p.last) {
		p.last = p.done
		p.report(Progress{Step: p.step, Done: p.done, Total: p.total, Unit: "bytes"})
	}
	return n, err
}
