package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/runtime/internal/updater"
	"github.com/websonic/websonic/sdk/manifest"
)

// Local modules (Config.ModulesDir) are unsigned builds: deny by default.
// A folder's module starts only once the owner approved what it asks for
// (websonic.local_module_approvals, migration 013), and a rebuild that asks
// for more than was approved (updater.Grows) waits again while the version
// approved before keeps serving. The owner approves through the request
// queue (action "approve", as for a staged registry update: the admin
// area or `websonic module approve NAME`), bound to the digest of the
// build they were shown. Config.ApproveLocalModules (development) approves
// everything at once, as before.

// LocalAwaiting is a local module build waiting for the owner's approval.
type LocalAwaiting struct {
	Module, Version, Folder string
	// Digest names the build (its manifest, code and migrations): an
	// approval names it, so that a rebuild is never approved unseen.
	Digest string
	// Capabilities are what the build asks for.
	Capabilities manifest.Capabilities
	// Approved is what the owner approved before (nil: never).
	Approved *manifest.Capabilities
	// Grows lists what it asks beyond Approved (updater.Grows).
	Grows []string
	// Serving is the version that keeps serving meanwhile ("": none).
	Serving string
}

// awaitingLocal is a build waiting, with its loaded package.
type awaitingLocal struct {
	LocalAwaiting
	pkg *modhost.Package
}

// errNotAwaiting: no local build of that name waits for approval here.
var errNotAwaiting = errors.New("server: no local module of that name awaits approval")

// approval is what the owner approved for p (loaded from folder path), or
// false when p must wait for their approval (recorded in l.awaiting).
func (l *localModules) approval(ctx context.Context, path string, f *localFolder, p *modhost.Package, digest string) (modhost.Approval, bool) {
	name := p.Manifest.Name
	if l.s.cfg.ApproveLocalModules {
		l.log.Warn("development mode: loading an unsigned local module and approving all it asks for",
			"module", name, "version", p.Manifest.Version, "folder", path, "core_data", p.Manifest.Capabilities.CoreData)
		l.setAwaiting(name, nil)
		return modhost.ApproveAll(p.Manifest), true
	}
	approved, err := readLocalApproval(ctx, l.s.db.Pool, name)
	if err != nil {
		l.fail(path, f, name, StageLoad, err)
		return modhost.Approval{}, false
	}
	var grows []string
	if approved != nil {
		if grows = updater.Grows(*approved, p.Manifest.Capabilities); len(grows) == 0 {
			l.setAwaiting(name, nil)
			return localGrant(p.Manifest, *approved), true
		}
	}
	aw := &awaitingLocal{pkg: p, LocalAwaiting: LocalAwaiting{
		Module: name, Version: p.Manifest.Version, Folder: path, Digest: digest,
		Capabilities: p.Manifest.Capabilities, Approved: approved, Grows: grows,
	}}
	if m := l.s.Module(name); m != nil && l.mine[name] {
		aw.Serving = m.Manifest().Version
	}
	l.setAwaiting(name, aw)
	l.setProblem(path, nil)
	if approved == nil {
		l.log.Warn("a local module waits for the owner's approval of what it asks for before it runs (the admin area's Modules page, or `websonic module approve "+name+"`)",
			"module", name, "version", p.Manifest.Version, "folder", path)
	} else {
		l.log.Warn("a rebuilt local module asks for more than the owner approved; it waits for approval",
			"module", name, "version", p.Manifest.Version, "folder", path, "asks", strings.Join(grows, ", "), "serving", aw.Serving)
	}
	return modhost.Approval{}, false
}

// localGrant is what the runtime grants m under approved: the core data
// views both name.
func localGrant(m *manifest.Manifest, approved manifest.Capabilities) modhost.Approval {
	var views []string
	for _, v := range m.Capabilities.CoreData {
		if slices.Contains(approved.CoreData, v) {
			views = append(views, v)
		}
	}
	return modhost.Approval{Views: views}
}

// readLocalApproval reads what the owner approved for local module name
// (nil: nothing yet).
func readLocalApproval(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (*manifest.Capabilities, error) {
	var raw []byte
	err := db.QueryRow(ctx, `SELECT approved FROM websonic.local_module_approvals WHERE name = $1`, name).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: local module approval of %s: %w", name, err)
	}
	var caps manifest.Capabilities
	if err := json.Unmarshal(raw, &caps); err != nil {
		return nil, fmt.Errorf("server: local module approval of %s: %w", name, err)
	}
	return &caps, nil
}

func (l *localModules) setAwaiting(name string, aw *awaitingLocal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if aw == nil {
		delete(l.awaiting, name)
		return
	}
	l.awaiting[name] = aw
}

// dropAwaiting forgets the build of a folder that is gone.
func (l *localModules) dropAwaiting(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, aw := range l.awaiting {
		if aw.Folder == path {
			delete(l.awaiting, name)
		}
	}
}

func (l *localModules) awaitingList() []LocalAwaiting {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LocalAwaiting, 0, len(l.awaiting))
	for _, aw := range l.awaiting {
		out = append(out, aw.LocalAwaiting)
	}
	slices.SortFunc(out, func(a, b LocalAwaiting) int { return strings.Compare(a.Module, b.Module) })
	return out
}

func (l *localModules) awaitingBuild(name string) *awaitingLocal {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.awaiting[name]
}

// retryAwaiting starts the waiting builds whose approval now covers them
// (given on another runtime of the site); l.loadMu is held.
func (l *localModules) retryAwaiting(ctx context.Context) {
	for _, aw := range l.awaitingList() {
		approved, err := readLocalApproval(ctx, l.s.db.Pool, aw.Module)
		if err != nil || approved == nil || len(updater.Grows(*approved, aw.Capabilities)) > 0 {
			continue
		}
		if f := l.folders[aw.Folder]; f != nil {
			if b := l.awaitingBuild(aw.Module); b != nil {
				l.start(ctx, aw.Folder, f, b.pkg)
			}
		}
	}
}

// approve approves the build of local module r.Module that waits (of
// digest r.Digest, when set) and starts it; handled is false when no such
// build waits here (the request is then the updater's).
func (l *localModules) approve(ctx context.Context, r requestq.Request) (res string, handled bool, err error) {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	aw := l.awaitingBuild(r.Module)
	if aw == nil {
		return "", false, nil
	}
	if r.DryRun {
		p := &updater.Preview{Module: aw.Module, Version: aw.Version, Digest: aw.Digest, Installed: aw.Serving, Capabilities: aw.Capabilities, New: aw.Grows}
		b, err := json.Marshal(p)
		return string(b), true, err
	}
	if r.Digest != "" && r.Digest != aw.Digest {
		return "", true, fmt.Errorf("%w: the local module %s was rebuilt since it was shown (now %s@%s): look at what it asks for again",
			updater.ErrChanged, r.Module, aw.Module, aw.Version)
	}
	f := l.folders[aw.Folder]
	if f == nil {
		return "", true, fmt.Errorf("server: the folder of local module %s is gone", r.Module)
	}
	caps, err := json.Marshal(aw.Capabilities)
	if err != nil {
		return "", true, fmt.Errorf("server: %w", err)
	}
	if _, err := l.s.db.Pool.Exec(ctx, `INSERT INTO websonic.local_module_approvals (name, approved, version, digest, approved_by)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET approved = $2, version = $3, digest = $4, approved_by = $5, approved_at = now()`,
		aw.Module, caps, aw.Version, aw.Digest, r.Actor); err != nil {
		return "", true, fmt.Errorf("server: recording the approval of %s: %w", aw.Module, err)
	}
	l.start(ctx, aw.Folder, f, aw.pkg)
	if m := l.s.Module(aw.Module); m == nil || m.Manifest().Version != aw.Version {
		for _, pr := range l.problemList() {
			if pr.Module == aw.Module {
				return "", true, fmt.Errorf("server: %s@%s was approved but did not start: %s", aw.Module, aw.Version, pr)
			}
		}
		return "", true, fmt.Errorf("server: %s@%s was approved but did not start", aw.Module, aw.Version)
	}
	return fmt.Sprintf("%s@%s (local) approved and started", aw.Module, aw.Version), true, nil
}

// AwaitingApproval lists the local module builds waiting for the owner's
// approval on this runtime.
func (s *Server) AwaitingApproval() []LocalAwaiting {
	if s.local == nil {
		return nil
	}
	return s.local.awaitingList()
}

// Module request actions the server adds to the updater's (install,
// rollback, approve, policy, available).
const (
	actionUninstall    = "uninstall"
	actionModuleExport = "module_export"
)

// handleModuleRequests registers, on the request queue, approve for local
// modules (around the updater's, which takes what is not local),
// uninstall and module_export.
func (s *Server) handleModuleRequests() {
	next := s.queue.Handler("approve")
	s.queue.Handle("approve", func(ctx context.Context, r requestq.Request) (string, error) {
		if s.local != nil {
			if res, handled, err := s.local.approve(ctx, r); handled {
				return res, err
			}
		}
		if next == nil {
			return "", fmt.Errorf("%w: %s (and the runtime has no registry to stage updates from)", errNotAwaiting, r.Module)
		}
		return next(ctx, r)
	})
	s.queue.Handle(actionUninstall, func(ctx context.Context, r requestq.Request) (string, error) {
		if err := s.UninstallModule(ctx, r.Module); err != nil {
			return "", err
		}
		_ = coredb.Audit(ctx, s.db.Pool, 0, "module.uninstall", r.Module, map[string]any{"by": r.Actor})
		return fmt.Sprintf("%s uninstalled: its schema mod_%s, its role and its records are gone", r.Module, r.Module), nil
	})
	s.queue.Handle(actionModuleExport, func(ctx context.Context, r requestq.Request) (string, error) {
		return s.exportModuleRequest(ctx, r.Module)
	})
}

// ErrNoSuchModule: no module of that name is installed, running or keeps
// data on the site.
var ErrNoSuchModule = errors.New("server: no such module")

// UninstallModule is Uninstall for the owner's request: it refuses a name
// the site knows nothing of, and forgets a local module's approval too
// (its folder, if still there, waits for approval again at the next
// start).
func (s *Server) UninstallModule(ctx context.Context, name string) error {
	var known bool
	if err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.modules WHERE name = $1)
		OR EXISTS (SELECT 1 FROM websonic.module_installs WHERE name = $1)
		OR EXISTS (SELECT 1 FROM websonic.local_module_approvals WHERE name = $1)`, name).Scan(&known); err != nil {
		return fmt.Errorf("server: uninstall %s: %w", name, err)
	}
	if !known && s.Module(name) == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchModule, name)
	}
	if err := s.Uninstall(ctx, name); err != nil {
		return err
	}
	if _, err := s.db.Pool.Exec(ctx, `DELETE FROM websonic.local_module_approvals WHERE name = $1`, name); err != nil {
		return fmt.Errorf("server: uninstall %s: %w", name, err)
	}
	return nil
}
