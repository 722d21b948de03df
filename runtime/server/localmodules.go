package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/manifest"
)

// StageLoad is reading a local module folder (Config.ModulesDir): its
// manifest, code and migrations. It comes before every stage of a start.
const StageLoad Stage = "load"

// ModuleProblem is a local module folder (Config.ModulesDir) whose last
// version did not start: either nothing of it serves, or an earlier version
// of it keeps serving (Serving).
type ModuleProblem struct {
	Folder  string // the package folder
	Module  string // the module's name; "" when its manifest did not load
	Serving string // the version that keeps serving; "" when none does
	Stage   Stage
	Err     error
}

func (p ModuleProblem) String() string {
	who := "module folder " + p.Folder
	if p.Module != "" {
		who = fmt.Sprintf("module %s (%s)", p.Module, p.Folder)
	}
	if p.Serving != "" {
		return fmt.Sprintf("%s: serves %s; its new build failed at stage %s: %v", who, p.Serving, p.Stage, p.Err)
	}
	return fmt.Sprintf("%s: not serving: failed at stage %s: %v", who, p.Stage, p.Err)
}

// ModuleProblems lists the local module folders whose last version did not
// start, by folder; /readyz shows them. Empty without Config.ModulesDir.
func (s *Server) ModuleProblems() []ModuleProblem {
	if s.local == nil {
		return nil
	}
	return s.local.problemList()
}

// localModules serves the module folders of Config.ModulesDir: each folder
// is started on its own, so one that fails leaves the others serving, and
// (while Serve runs, see reload.go) a folder that changes is swapped in.
//
// scan is not safe for concurrent use (Open runs it, then the one watch
// goroutine); the problems are, for the HTTP handlers.
type localModules struct {
	s       *Server
	dir     string
	log     hclog.Logger
	folders map[string]*localFolder // by folder path
	// mine are the modules a folder started: a folder may take one over
	// from another folder (moved, renamed), never from the registry.
	mine map[string]bool

	mu       sync.Mutex
	problems map[string]ModuleProblem  // by folder path
	awaiting map[string]*awaitingLocal // by module name (localapproval.go)

	// loadMu serialises loading (scan) with the owner's approvals, which
	// come from the request queue.
	loadMu sync.Mutex
}

// localFolder is what localModules knows of one module folder.
type localFolder struct {
	// stamp is the folder's files' sizes and times when it was last
	// loaded; pending is a newer stamp seen once, loaded when the next
	// poll sees it unchanged (the build that writes it is done).
	stamp, pending string
	// module is the module the folder last started, and digest the
	// digest of that package ("" if none started).
	module, digest string
}

// openLocal starts every module folder in dir. Only an unreadable dir is
// an error: a module that fails is logged and kept as a ModuleProblem, and
// the others serve.
func openLocal(ctx context.Context, s *Server, dir string) (*localModules, error) {
	l := &localModules{s: s, dir: dir, log: s.log.Named("modules-dir"), folders: map[string]*localFolder{}, mine: map[string]bool{},
		problems: map[string]ModuleProblem{}, awaiting: map[string]*awaitingLocal{}}
	if _, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("server: modules dir: %w", err)
	}
	l.scan(ctx, false)
	return l, nil
}

// scan looks at every package folder in l.dir (a folder, or a link to
// one, with a module.json) and loads those that are new or changed. With
// settle, a change is loaded only once two scans in a row have seen the
// same files, so that a build still writing them is not caught halfway.
func (l *localModules) scan(ctx context.Context, settle bool) {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	defer l.retryAwaiting(ctx) // approved meanwhile, maybe on another runtime
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		l.log.Error("cannot read the modules folder", "dir", l.dir, "error", err)
		return
	}
	var present []string
	for _, e := range entries {
		path := filepath.Join(l.dir, e.Name())
		if st, err := os.Stat(path); err != nil || !st.IsDir() { // a link to a folder counts
			continue
		}
		if _, err := os.Stat(filepath.Join(path, manifest.FileName)); err == nil {
			present = append(present, path)
		}
	}
	// Folders that are gone first, so that one moved elsewhere is not
	// mistaken for a second copy of its module.
	for path, f := range l.folders {
		if !slices.Contains(present, path) {
			if f.module != "" {
				l.log.Warn("a module folder is gone; its module keeps serving until the site restarts", "folder", path, "module", f.module)
			}
			delete(l.folders, path)
			l.setProblem(path, nil)
			l.dropAwaiting(path)
		}
	}
	for _, path := range present {
		f := l.folders[path]
		if f == nil {
			f = &localFolder{}
			l.folders[path] = f
		}
		st := stamp(path)
		if st == f.stamp {
			f.pending = ""
			continue
		}
		if settle && st != f.pending {
			f.pending = st
			continue
		}
		f.stamp, f.pending = st, ""
		l.load(ctx, path, f)
	}
}

// load starts the package in folder path, or swaps it in for the version
// that folder started before, through Server.Swap.
func (l *localModules) load(ctx context.Context, path string, f *localFolder) {
	p, err := modhost.LoadDir(path)
	if err != nil {
		l.fail(path, f, "", StageLoad, err)
		return
	}
	l.start(ctx, path, f, p)
}

// start starts p, loaded from folder path, once its capabilities are
// approved (localapproval.go), or swaps it in for the version that folder
// started before.
func (l *localModules) start(ctx context.Context, path string, f *localFolder, p *modhost.Package) {
	name := p.Manifest.Name
	digest := packageDigest(p)
	if name == f.module && digest == f.digest {
		l.log.Debug("a module folder changed but its package did not", "folder", path, "module", name)
		l.setProblem(path, nil)
		return
	}
	for other, o := range l.folders {
		if other != path && o.module == name {
			l.fail(path, f, name, StageLoad, fmt.Errorf("server: module %s is already served from %s", name, other))
			return
		}
	}
	if f.module != "" && f.module != name {
		// The folder now holds another module; the one it held keeps
		// serving until the site restarts, like a removed folder's.
		l.log.Warn("a module folder now holds another module", "folder", path, "was", f.module, "now", name)
		f.module, f.digest = "", ""
	}
	running := l.s.Module(name)
	if running != nil && !l.mine[name] {
		l.fail(path, f, name, StageLoad, fmt.Errorf("server: module %s is already running (installed from the registry?)", name))
		return
	}
	ap, ok := l.approval(ctx, path, f, p, digest)
	if !ok {
		return
	}
	if err := l.s.Swap(ctx, p, ap, SwapOptions{}); err != nil {
		if ctx.Err() != nil {
			f.stamp = "" // the site is stopping: try again at the next start
			return
		}
		stage := StageProvision
		var se *SwapError
		if errors.As(err, &se) {
			stage, err = se.Stage, se.Err
		}
		l.fail(path, f, name, stage, err)
		return
	}
	f.module, f.digest = name, digest
	l.mine[name] = true
	l.setProblem(path, nil)
	if running != nil { // logged once /readyz shows it
		l.log.Info("reloaded a rebuilt module", "module", name, "folder", path,
			"from", running.Manifest().Version, "to", p.Manifest.Version, "digest", digest[:12])
	}
}

// fail records and logs a folder that did not start.
func (l *localModules) fail(path string, f *localFolder, module string, stage Stage, err error) {
	if module == "" {
		module = f.module // a folder whose new files do not load
	}
	pr := ModuleProblem{Folder: path, Module: module, Stage: stage, Err: err}
	if module != "" && module == f.module {
		if m := l.s.Module(module); m != nil {
			pr.Serving = m.Manifest().Version
		}
	}
	l.setProblem(path, &pr) // before the log says it
	if pr.Serving != "" {
		l.log.Error("a rebuilt local module did not start; its running version keeps serving",
			"module", module, "folder", path, "serving", pr.Serving, "stage", stage, "error", err)
	} else {
		l.log.Error("a local module did not start; the other modules serve",
			"module", module, "folder", path, "stage", stage, "error", err)
	}
}

func (l *localModules) setProblem(path string, p *ModuleProblem) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p == nil {
		delete(l.problems, path)
		return
	}
	l.problems[path] = *p
}

func (l *localModules) problemList() []ModuleProblem {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ModuleProblem, 0, len(l.problems))
	for _, p := range l.problems {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b ModuleProblem) int { return strings.Compare(a.Folder, b.Folder) })
	return out
}

// stamp summarises the names, sizes and modification times of the files
// of a package folder: it changes whenever a build rewrites one.
func stamp(dir string) string {
	var b strings.Builder
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // WalkDir does not enter a link
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", path, err)
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			fmt.Fprintf(&b, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

// packageDigest is the sha256 of a package's manifest, code, migrations
// and assets (page templates, scripts, styles, catalogues): a rebuild that
// changes any of them is a new build.
func packageDigest(p *modhost.Package) string {
	h := sha256.New()
	fmt.Fprintf(h, "assets %s\n", p.AssetsDigest)
	mf, _ := json.Marshal(p.Manifest) // a decoded manifest always encodes
	for _, part := range [][]byte{mf, p.Wasm} {
		fmt.Fprintf(h, "%d\n", len(part))
		h.Write(part)
	}
	for _, n := range slices.Sorted(maps.Keys(p.Migrations)) {
		fmt.Fprintf(h, "%s %d\n", n, len(p.Migrations[n]))
		h.Write(p.Migrations[n])
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
