package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/movelink"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/sitemove"
)

// The migration portal (issue 14): the admin area's "Move this site" and
// "Move a site here" pages (package admin, migration.go) run their work
// here, one job at a time per runtime, with the one-time links and the
// incoming archive of package movelink. The links are served on the
// site's own origin (movelink.LinkPath), cookie-free, since the target
// runtime (or the owner's browser) fetches them from the public address.

// uploadChunk is the chunk the upload page sends (8 MiB).
const uploadChunk = 8 << 20

// portal implements admin.Migration on the running runtime.
type portal struct {
	s     *Server
	links *movelink.Store
	log   hclog.Logger
	base  context.Context // the jobs' context: cancelled by Server.Close
	stop  context.CancelFunc

	mu  sync.Mutex
	job *admin.MoveJob // running or last; guarded by mu
}

var _ admin.Migration = (*portal)(nil)

func (s *Server) openPortal() (*portal, error) {
	links, err := movelink.New(movelink.Config{
		Pool: s.db.Pool, DataDir: s.cfg.DataDir, MaxArchive: s.cfg.MaxMoveArchive, Logger: s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &portal{s: s, links: links, log: s.log.Named("portal"), base: ctx, stop: stop}, nil
}

// close cancels a running job.
func (p *portal) close() {
	if p != nil {
		p.stop()
	}
}

// serveLink serves a one-time link on the site's origin.
func (p *portal) serveLink(w http.ResponseWriter, r *http.Request) {
	p.links.ServeLink(w, r, strings.TrimPrefix(r.URL.Path, movelink.LinkPath))
}

// publicURL is the site's address the links start with: Config.PublicURL,
// else https:// and the first ACME name, else http:// and Addr.
func (p *portal) publicURL() string {
	c := p.s.cfg
	switch {
	case c.PublicURL != "":
		return strings.TrimRight(c.PublicURL, "/")
	case len(c.TLS.ACMEDomains) > 0:
		return "https://" + c.TLS.ACMEDomains[0]
	}
	addr := c.Addr
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		addr = net.JoinHostPort("localhost", port)
	}
	return "http://" + addr
}

// Status implements admin.Migration.
func (p *portal) Status(ctx context.Context) (*admin.MoveStatus, error) {
	st := &admin.MoveStatus{MaxArchive: p.links.MaxArchive(), ChunkSize: uploadChunk}
	var err error
	if st.Recipient, err = p.s.PrepareImport(); err != nil {
		return nil, fmt.Errorf("server: the import recipient: %w", err)
	}
	st.Fingerprint, _ = sitemove.SourceFingerprint(p.s.cfg.DataDir) // "" until the first export made the key
	if st.Link, err = p.links.NewestLink(ctx); err != nil {
		return nil, err
	}
	if st.Incoming, err = p.links.Current(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.job != nil {
		j := *p.job
		st.Job = &j
	}
	p.mu.Unlock()
	if st.Job == nil {
		if st.Job, err = p.lastJob(ctx); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// lastJob is the newest export or import of websonic.site_moves, which
// the pages show when this runtime has run none since it started (a
// download's state is the incoming archive's, movelink's). One still
// recorded as running did not finish here: the runtime stopped during
// it (or `websonic site import` runs it in another process).
func (p *portal) lastJob(ctx context.Context) (*admin.MoveJob, error) {
	recs, err := sitemove.Moves(ctx, p.s.db.Pool, 1)
	if err != nil {
		return nil, fmt.Errorf("server: the last site move: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	r := recs[0]
	j := &admin.MoveJob{Kind: r.Kind, Started: r.Started, Err: r.Error, Fingerprint: r.Fingerprint,
		Progress: sitemove.Progress{Step: r.Step, Done: r.Done, Total: r.Total}}
	if r.Kind == "import" && r.DryRun {
		j.Kind = "check"
	}
	if r.Finished != nil {
		j.Finished = *r.Finished
	}
	if r.State == "running" {
		j.Err = fmt.Sprintf("server: the %s started %s did not finish here: the runtime stopped during it (or another process runs it); start it again",
			j.Kind, r.Started.UTC().Format(time.RFC3339))
	}
	if r.Kind == "import" && len(r.Report) > 0 && string(r.Report) != "null" {
		var rep sitemove.Report
		if err := json.Unmarshal(r.Report, &rep); err != nil {
			p.log.Warn("the last import's report does not read", "id", r.ID, "error", err)
		} else {
			j.Report = &rep
		}
	}
	return j, nil
}

// importing reports whether this runtime's portal checks or imports an
// archive now: the incoming archive must not change under it.
func (p *portal) importing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.job != nil && p.job.Running && (p.job.Kind == "check" || p.job.Kind == "import")
}

// start runs work as the portal's one job of kind, after prep (which
// runs first, under the portal's lock, and may refuse).
func (p *portal) start(kind string, prep func() error, work func(ctx context.Context, j *jobHandle) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.job != nil && p.job.Running {
		return admin.ErrMoveBusy
	}
	if prep != nil {
		if err := prep(); err != nil {
			return err
		}
	}
	p.job = &admin.MoveJob{Kind: kind, Running: true, Started: time.Now()}
	h := &jobHandle{p: p, job: p.job}
	go func() {
		err := work(p.base, h)
		p.mu.Lock()
		defer p.mu.Unlock()
		h.job.Running, h.job.Finished = false, time.Now()
		if err != nil {
			h.job.Err = err.Error()
			p.log.Error("migration job failed", "kind", kind, "error", err)
		} else {
			p.log.Info("migration job done", "kind", kind)
		}
	}()
	return nil
}

// jobHandle lets a job report progress and results.
type jobHandle struct {
	p   *portal
	job *admin.MoveJob
}

func (h *jobHandle) progress(pr sitemove.Progress) {
	h.p.mu.Lock()
	h.job.Progress = pr
	h.p.mu.Unlock()
}

func (h *jobHandle) set(f func(j *admin.MoveJob)) {
	h.p.mu.Lock()
	f(h.job)
	h.p.mu.Unlock()
}

func actor(u *site.User) MoveOptions { return MoveOptions{Actor: "admin " + u.Username, ActorID: u.ID} }

// Export implements admin.Migration: a link now, its archive when the
// export is done.
func (p *portal) Export(ctx context.Context, u *site.User, recipient string) (string, error) {
	if _, err := sitemove.ParseRecipient(recipient); err != nil {
		return "", err
	}
	var token string
	var id int64
	prep := func() (err error) {
		token, id, err = p.links.CreateLink(ctx, u.ID, false)
		return err
	}
	err := p.start("export", prep, func(ctx context.Context, h *jobHandle) error {
		a, err := p.links.CreateArchive()
		if err != nil {
			return err
		}
		o := actor(u)
		o.Progress = h.progress
		res, err := p.s.ExportSite(ctx, a, recipient, o)
		if err != nil {
			a.Abort()
			return err
		}
		h.set(func(j *admin.MoveJob) { j.Fingerprint = res.Fingerprint })
		return p.links.Attach(ctx, id, a)
	})
	if err != nil {
		return "", err
	}
	return p.publicURL() + movelink.LinkPath + token, nil
}

// NewLink implements admin.Migration.
func (p *portal) NewLink(ctx context.Context, u *site.User) (string, error) {
	token, _, err := p.links.CreateLink(ctx, u.ID, true)
	if err != nil {
		return "", err
	}
	return p.publicURL() + movelink.LinkPath + token, nil
}

// Fetch implements admin.Migration.
func (p *portal) Fetch(ctx context.Context, u *site.User, link string) error {
	var id string
	prep := func() (err error) {
		id, err = p.links.StartFetch(ctx, u.ID, link)
		return err
	}
	return p.start("fetch", prep, func(ctx context.Context, h *jobHandle) error {
		return p.fetch(ctx, h, u, id)
	})
}

func (p *portal) fetch(ctx context.Context, h *jobHandle, u *site.User, id string) error {
	return p.links.Fetch(ctx, u.ID, id, func(done, total int64) {
		h.progress(sitemove.Progress{Step: "download", Done: done, Total: total, Unit: "bytes"})
	})
}

// Resume implements admin.Migration.
func (p *portal) Resume(ctx context.Context, u *site.User) error {
	var id string
	prep := func() error {
		in, err := p.links.Current(ctx)
		if err != nil {
			return err
		}
		if in == nil || in.Source != "link" || in.Complete {
			return fmt.Errorf("%w: no unfinished download to resume", movelink.ErrNotFound)
		}
		id = in.ID
		return nil
	}
	return p.start("fetch", prep, func(ctx context.Context, h *jobHandle) error { return p.fetch(ctx, h, u, id) })
}

// NewUpload implements admin.Migration.
func (p *portal) NewUpload(ctx context.Context, u *site.User, name string, size int64) (string, error) {
	p.mu.Lock()
	busy := p.job != nil && p.job.Running
	p.mu.Unlock()
	if busy {
		return "", admin.ErrMoveBusy
	}
	return p.links.NewUpload(ctx, u.ID, name, size)
}

// PutChunk implements admin.Migration.
func (p *portal) PutChunk(ctx context.Context, u *site.User, id, contentRange string, body io.Reader) (int64, error) {
	cr, err := movelink.ParseContentRange(contentRange)
	if err != nil {
		return 0, err
	}
	if p.importing() {
		return 0, admin.ErrMoveBusy
	}
	return p.links.PutChunk(ctx, u.ID, id, cr, body)
}

// incomingPath is the complete incoming archive's file.
func (p *portal) incomingPath(ctx context.Context) (string, error) {
	in, err := p.links.Current(ctx)
	if err != nil {
		return "", err
	}
	if in == nil || !in.Complete {
		return "", errors.New("server: no complete archive here yet: bring one first (link or upload)")
	}
	return p.links.Path(ctx, in.ID)
}

// Check implements admin.Migration: a dry run.
func (p *portal) Check(ctx context.Context, u *site.User) error {
	return p.runImport(ctx, u, "check", sitemove.ImportOptions{DryRun: true})
}

// Import implements admin.Migration.
func (p *portal) Import(ctx context.Context, u *site.User, fingerprint string, replaceLive bool) error {
	return p.runImport(ctx, u, "import", sitemove.ImportOptions{SourceFingerprint: fingerprint, ReplaceLive: replaceLive})
}

func (p *portal) runImport(ctx context.Context, u *site.User, kind string, opts sitemove.ImportOptions) error {
	var path string
	prep := func() (err error) {
		path, err = p.incomingPath(ctx)
		return err
	}
	return p.start(kind, prep, func(ctx context.Context, h *jobHandle) error {
		o := actor(u)
		o.Progress = h.progress
		rep, err := p.s.ImportSite(ctx, path, opts, o)
		h.set(func(j *admin.MoveJob) { j.Report = rep })
		return err
	})
}

// redactLinkPath keeps a one-time link's token out of the access log.
func redactLinkPath(p string) string {
	if strings.HasPrefix(p, movelink.LinkPath) {
		return movelink.LinkPath + "…"
	}
	return p
}
