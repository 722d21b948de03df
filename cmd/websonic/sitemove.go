package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// `websonic site export|import|fetch`: moving a site from one server to
// another (package sitemove; the migration portal does the same in the
// admin area).

func addSiteMoveCommands(cmds map[string]commandInfo, siteEnv map[string]string) {
	cmds["site export"] = commandInfo{siteExport, "--to RECIPIENT [--out FILE] [flags]", "export the whole site, encrypted to the site it moves to",
		"RECIPIENT is the age1… line `websonic site import --prepare` printed on the target. The archive holds the database\n" +
			"(core and every module's schema), the modules' and themes' versions and approvals, and the site key, signed\n" +
			"with this site's key: give the fingerprint it prints to the target's owner. No runtime needs to run.", siteEnv}
	cmds["site import"] = commandInfo{siteImport, "--prepare | FILE --source-key FINGERPRINT [--dry-run] [--replace-live-site] [flags]",
		"import a site exported for this one",
		"--prepare makes this site's import key and prints the recipient to export to. An import checks the archive, its\n" +
			"signature (the fingerprint the source printed) and every checksum, and asks the running runtime whether the\n" +
			"registry still signs every module version, before changing anything; then loads the data into staging schemas and\n" +
			"switches only when every table's rows and checksum match. --dry-run stops before the switch and prints the report.\n" +
			"A site with users or modules of its own is replaced only with --replace-live-site, after a backup of it.\n" +
			"A prepared key serves one import: once a site is switched in, archives made for it are refused (but this\n" +
			"site's own backup of what the import replaced); --prepare again makes a new one.", siteEnv}
	cmds["site fetch"] = commandInfo{siteFetch, "URL --out FILE [--retries N] [--wait D]", "download an export (one-time link), resuming where a cut download stopped",
		"Run it again after an interruption: it continues from what FILE.part holds (HTTP Range and If-Range).\n" +
			"A source still writing its export answers 503: fetch waits as it asks (Retry-After), up to --wait.", nil}
}

func siteExport(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "site export"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	to := fs.String("to", "", "the target's `recipient` (age1…, from site import --prepare there)")
	out := fs.String("out", "", "write the archive here (default: site-<time>.move.age; - for standard output)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("%s: want --to RECIPIENT: run `websonic site import --prepare` on the target and pass the age1… line it prints", cmd)
	}
	if err := server.CheckMoveRecipient(*to); err != nil {
		return fmt.Errorf("%s: --to: %w", cmd, err)
	}
	if *out == "" {
		*out = "site-" + time.Now().UTC().Format("20060102T150405Z") + ".move.age"
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	var res *server.MoveExport
	toFile, err := writeArchive(*out, stdout, func(w io.Writer) (err error) {
		res, err = console.ExportSite(ctx, c.dataDir, w, *to, server.MoveOptions{Progress: moveProgress(stderr)}, log.Named("sitemove"))
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	where := "standard output"
	if toFile {
		where = *out
	}
	fmt.Fprintf(stderr, "wrote the site (%d modules, %d themes, %.1f MiB) to %s\n", len(res.Move.Modules), len(res.Move.Themes), float64(res.Bytes)/(1<<20), where)
	fmt.Fprintf(stderr, "source fingerprint: %s\n", res.Fingerprint)
	fmt.Fprintf(stderr, "On the target: websonic site import %s --source-key %s (--dry-run first to see the report)\n", where, res.Fingerprint)
	return nil
}

func siteImport(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "site import"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	prepare := fs.Bool("prepare", false, "make this site's import key and print the recipient to export to")
	key := fs.String("source-key", "", "the `fingerprint` the export printed on the source (SHA256:…)")
	dry := fs.Bool("dry-run", false, "check and load everything, switch nothing, print the report")
	replace := fs.Bool("replace-live-site", false, "replace this site's own users and modules (a backup of them is made first)")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if *prepare {
		if len(pos) != 0 {
			return fmt.Errorf("%s: --prepare takes no file", cmd)
		}
		rcpt, err := server.PrepareSiteImport(c.dataDir)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		fmt.Fprintln(stdout, rcpt)
		fmt.Fprintf(stderr, "On the source: websonic site export --to %s --out site.move.age\n"+
			"then bring the file here (or `websonic site fetch LINK --out site.move.age`) and run\n"+
			"websonic site import site.move.age --source-key FINGERPRINT (the one the export printed)\n", rcpt)
		return nil
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want one archive: websonic site import FILE --source-key FINGERPRINT (see websonic %s -h)", cmd, cmd)
	}
	if *key == "" && !*dry {
		return fmt.Errorf("%s: want --source-key: the fingerprint `websonic site export` printed on the source (ask its owner; --dry-run shows the archive's)", cmd)
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	rep, err := console.ImportSite(ctx, c.dataDir, pos[0], server.MoveImportOptions{SourceFingerprint: *key, DryRun: *dry, ReplaceLive: *replace},
		server.MoveOptions{Progress: moveProgress(stderr)}, log.Named("sitemove"))
	if rep != nil {
		fmt.Fprint(stdout, rep.Text())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if rep.Switched {
		fmt.Fprintln(stdout, "Next: the running runtimes take the imported site up now (data keys, modules from the registry, settings,\n"+
			"theme), every replica of it (copy the site key to those with a data folder of their own); point the domain's DNS\n"+
			"(A/AAAA) at this server; check TLS (--tls-domain or certificate files); sign in with an account of the old site;\n"+
			"then retire the old server.")
	}
	return nil
}

// moveProgress prints progress lines, at most one a second per step.
func moveProgress(w io.Writer) func(server.MoveProgress) {
	var mu sync.Mutex
	var last time.Time
	var step string
	return func(p server.MoveProgress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Step == step && time.Since(last) < time.Second {
			return
		}
		step, last = p.Step, time.Now()
		fmt.Fprintln(w, p.String())
	}
}

func siteFetch(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "site fetch"
	fs := newFlagSet(cmd, stdout, stderr)
	out := fs.String("out", "", "the file to write (required); FILE.part holds a download in progress")
	retries := fs.Int("retries", 5, "how often to resume after a cut download before giving up")
	wait := fs.Duration("wait", 30*time.Minute, "how long to wait for a source still writing its export (503 with Retry-After)")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return fmt.Errorf("%s: want URL --out FILE", cmd)
	}
	if !strings.HasPrefix(pos[0], "https://") && !strings.HasPrefix(pos[0], "http://") {
		return fmt.Errorf("%s: %q is not an http(s) URL", cmd, pos[0])
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s: %s exists; pick another --out", cmd, *out)
	}
	ctx, stop := signalContext()
	defer stop()
	f := fetcher{client: http.DefaultClient, url: pos[0], out: *out, progress: moveProgress(stderr)}
	waitUntil := time.Now().Add(*wait)
	for attempt := 0; ; {
		err = f.fetch(ctx)
		var later *notReadyError
		if errors.As(err, &later) {
			if !time.Now().Add(later.after).Before(waitUntil) {
				err = fmt.Errorf("%w: %w (waited --wait %v)", errFetchFinal, err, *wait)
				break
			}
			// The source is still writing the export: wait as it asks,
			// without spending a retry.
			fmt.Fprintf(stderr, "%s: %v; trying again in %v\n", cmd, err, later.after)
			if sleepCtx(ctx, later.after) != nil {
				err = ctx.Err()
				break
			}
			continue
		}
		if err == nil || errors.Is(err, errFetchFinal) || attempt >= *retries || ctx.Err() != nil {
			break
		}
		attempt++
		fmt.Fprintf(stderr, "%s: %v; resuming\n", cmd, err)
		if sleepCtx(ctx, time.Duration(attempt)*time.Second) != nil {
			err = ctx.Err()
			break
		}
	}
	switch {
	case errors.Is(err, errFetchFinal): // resuming cannot change it
		return fmt.Errorf("%s: %w", cmd, err)
	case err != nil:
		return fmt.Errorf("%s: %w (run it again to resume)", cmd, err)
	}
	fmt.Fprintf(stderr, "wrote %s\n", *out)
	return nil
}

// errFetchFinal: an answer that resuming cannot change (gone, refused).
var errFetchFinal = errors.New("the server refused the download")

// notReadyError: the source answered 503 with a Retry-After (its export is
// not written yet); after is how long it asks to wait, 1 s to 5 min.
type notReadyError struct {
	msg   string
	after time.Duration
}

func (e *notReadyError) Error() string { return e.msg }

// retryAfter reads a Retry-After header (seconds or an HTTP date), clamped
// to 1 s..5 min; ok is false without a usable one.
func retryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, time.Second), 5*time.Minute), true
}

// sleepCtx waits d or until ctx ends (its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fetcher downloads url into out, through out.part, resuming with Range
// and If-Range (the validator kept in out.part.etag) where it stopped.
type fetcher struct {
	client   *http.Client
	url, out string
	progress func(server.MoveProgress)
	stall    time.Duration // 0: fetchStall
}

// fetchStall is how long a download may go without a byte (or an answer)
// before the attempt ends and resumes.
const fetchStall = 2 * time.Minute

// errStalled: the source sent nothing for a while; resuming may help.
var errStalled = errors.New("the source sent nothing")

func (f *fetcher) fetch(ctx context.Context) (err error) {
	part, tagFile := f.out+".part", f.out+".part.etag"
	var have int64
	if fi, err := os.Stat(part); err == nil {
		have = fi.Size()
	}
	tag, _ := os.ReadFile(tagFile)
	// A source that stops sending (no answer, or a body that stalls) ends
	// the attempt after f.stall without a byte, to be resumed.
	stall := f.stall
	if stall <= 0 {
		stall = fetchStall
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(stall, func() { cancel(fmt.Errorf("%w for %v", errStalled, stall)) })
	defer watchdog.Stop()
	defer func() {
		if cause := context.Cause(ctx); err != nil && errors.Is(cause, errStalled) {
			err = cause
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", errFetchFinal, err)
	}
	if have > 0 && len(tag) > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		req.Header.Set("If-Range", string(tag))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var w *os.File
	var total int64
	switch resp.StatusCode {
	case http.StatusOK: // from the start (first time, or the file changed)
		have, total = 0, resp.ContentLength
		w, err = os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		v := resp.Header.Get("ETag")
		if v == "" || strings.HasPrefix(v, "W/") {
			v = resp.Header.Get("Last-Modified")
		}
		if err == nil {
			err = os.WriteFile(tagFile, []byte(v), 0o600)
		}
	case http.StatusPartialContent:
		var start int64
		if _, serr := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &start, new(int64), &total); serr != nil || start != have {
			return fmt.Errorf("%w: the server answered range %q to a request from byte %d", errFetchFinal, resp.Header.Get("Content-Range"), have)
		}
		w, err = os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0o600)
	default: // the source's own words say why (a used link: ask for a new one)
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && resp.StatusCode == http.StatusServiceUnavailable {
			m := termSafe(strings.TrimSpace(string(msg)))
			if m == "" {
				m = resp.Status
			}
			return &notReadyError{msg: m, after: d}
		}
		if m := termSafe(strings.TrimSpace(string(msg))); m != "" {
			return fmt.Errorf("%w: %s: %s", errFetchFinal, resp.Status, m)
		}
		return fmt.Errorf("%w: %s", errFetchFinal, resp.Status)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errFetchFinal, err)
	}
	n, cerr := io.Copy(w, &fetchProgress{r: resp.Body, done: have, total: total, report: f.progress, read: func() { watchdog.Reset(stall) }})
	if err := w.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		return cerr
	}
	if total >= 0 && have+n != total {
		return fmt.Errorf("the download stopped at %d of %d bytes", have+n, total)
	}
	os.Remove(tagFile)
	return os.Rename(part, f.out)
}

type fetchProgress struct {
	r           io.Reader
	done, total int64
	report      func(server.MoveProgress)
	read        func() // after bytes arrived
}

func (p *fetchProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.read != nil {
		p.read()
	}
	p.done += int64(n)
	p.report(server.MoveProgress{Step: "download", Done: p.done, Total: max(p.total, 0), Unit: "bytes"})
	return n, err
}
