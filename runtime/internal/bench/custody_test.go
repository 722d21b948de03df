package bench

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/backup"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/movelink"
	"github.com/websonic/websonic/runtime/internal/realtime"
	coresite "github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/sitedump"
	"github.com/websonic/websonic/runtime/internal/sitemove"
	"github.com/websonic/websonic/runtime/server"
)

// The custody benchmark (issue 14): backups and site moves of a big site,
// against plain pg_dump and pg_restore of the same database in the same
// run. The site is a real runtime serving the real chat and tickets
// modules (their migrations run under their own roles as the runtime runs
// them), filled by the chat and tickets benchmarks' generators
// (chat_data_test.go, tickets_data_test.go).

// The big site's size (smoke runs, WEBSONIC_BENCH_SMOKE: 4,000 messages,
// 1,000 tickets).
const (
	custodyMessages = 1_000_000
	custodyRooms    = 4 // the messages are spread over this many rooms
	custodyTickets  = 100_000
)

// custodyPackages builds the chat and tickets modules once per test binary
// into one folder (server.Config.ModulesDir).
var custodyPackages = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "packages", "custodysite")
	for _, src := range []string{chatSrc, ticketsSrc} {
		if err := modbuild.Package(context.Background(), src, filepath.Join(dir, filepath.Base(src))); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// custodyLog prints a line of the custody benchmark's findings (sizes,
// row counts) on the benchmark's output, whatever -test.v says.
func custodyLog(format string, args ...any) {
	fmt.Printf("custody: "+format+"\n", args...)
}

// custodyNode is one runtime serving chat and tickets on its own database
// and its own data folder, with the migration portal's link store over
// its database.
type custodyNode struct {
	srv     *server.Server
	db      *pgtest.DB
	dataDir string
	core    *coredb.DB
	// prov is the provisioning role's pool (the database URL's role,
	// granted CREATEDB as an owner grants it: scratch databases).
	prov  *pgxpool.Pool
	super *pgxpool.Pool
	links *movelink.Store
}

// finishNode opens what every node has besides its runtime.
func finishNode(b *testing.B, n *custodyNode) {
	b.Helper()
	ctx := context.Background()
	n.core = openCore(b, n.db)
	var err error
	if n.prov, err = pgxpool.New(ctx, n.db.URL); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(n.prov.Close)
	if n.super == nil {
		if n.super, err = pgxpool.New(ctx, n.db.AdminURL); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(n.super.Close)
	}
	var owner string
	if err := n.prov.QueryRow(ctx, `SELECT current_user`).Scan(&owner); err != nil {
		b.Fatal(err)
	}
	if _, err := n.super.Exec(ctx, `ALTER ROLE `+pgx.Identifier{owner}.Sanitize()+` CREATEDB`); err != nil {
		b.Fatal(err)
	}
	if n.links, err = movelink.New(movelink.Config{Pool: n.core.Pool, DataDir: n.dataDir, Logger: logger()}); err != nil {
		b.Fatal(err)
	}
}

// newCustodyTarget starts an empty runtime with the same modules (no
// users, nothing installed from a registry: a fresh site to import into).
// importKey, when not "", is another target's data folder whose import
// identity (sitemove.Prepare) this one takes, so that one archive can be
// imported into several fresh targets.
func newCustodyTarget(b *testing.B, importKey string) *custodyNode {
	b.Helper()
	dir, err := custodyPackages()
	if err != nil {
		b.Fatal(err)
	}
	n := &custodyNode{db: pgtest.NewDB(b), dataDir: b.TempDir()}
	if importKey != "" {
		key, err := os.ReadFile(filepath.Join(importKey, sitemove.ImportDir, sitemove.IdentityFile))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(n.dataDir, sitemove.ImportDir), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.dataDir, sitemove.ImportDir, sitemove.IdentityFile), key, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	n.srv = openRuntime(b, n.db, n.dataDir, dir, realtime.Limits{})
	serveSite(b, n.srv)
	finishNode(b, n)
	return n
}

// newCustodySource starts the big site: a runtime serving chat and
// tickets, siteMembers users, custodyRooms rooms holding custodyMessages
// messages between them, and a desk of custodyTickets tickets with their
// messages (ticketsSite.fillDesk), vacuumed and analysed.
func newCustodySource(b *testing.B) *custodyNode {
	b.Helper()
	dir, err := custodyPackages()
	if err != nil {
		b.Fatal(err)
	}
	dataDir := b.TempDir()
	ms := newModuleSiteIn(b, "chat", dir, dataDir, realtime.Limits{})
	n := &custodyNode{srv: ms.srv, db: ms.db, dataDir: dataDir, super: ms.super}
	finishNode(b, n)

	messages, tickets := custodyMessages, custodyTickets
	if smokeRun() {
		messages, tickets = 4000, 1000
	}
	chat := &chatSite{ms}
	admin, _ := ms.signIn(b, "custodian", coresite.RoleAdmin)
	for i := range custodyRooms {
		room := chat.newRoom(b, admin, fmt.Sprintf("Room %d", i+1))
		chat.fillRoom(b, room.ID, ms.members, messages/custodyRooms)
	}
	desk := *ms
	desk.name = "tickets"
	if desk.mod = ms.srv.Module("tickets"); desk.mod == nil {
		b.Fatal("the tickets module is not running")
	}
	ts := &ticketsSite{moduleSite: &desk}
	ts.staffDesk(b)
	ts.fillDesk(b, tickets)
	custodyLog("site: %s", n.sizes(b))
	return n
}

// sizes describes the node's database: its size on disk, each schema's
// tables and indexes, and the big tables' rows.
func (n *custodyNode) sizes(b *testing.B) string {
	b.Helper()
	var out string
	err := n.super.QueryRow(context.Background(), `SELECT
		pg_size_pretty(pg_database_size(current_database())) || ' on disk; ' ||
		(SELECT string_agg(nspname || ' ' || pg_size_pretty(s), ', ' ORDER BY nspname) FROM (
			SELECT n.nspname, sum(pg_total_relation_size(c.oid)) AS s FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind = 'r' AND n.nspname IN ('websonic', 'mod_chat', 'mod_tickets') GROUP BY 1) x) || '; rows: ' ||
		(SELECT count(*) FROM websonic.users) || ' users, ' ||
		(SELECT count(*) FROM mod_chat.messages) || ' chat messages, ' ||
		(SELECT count(*) FROM mod_tickets.tickets) || ' tickets, ' ||
		(SELECT count(*) FROM mod_tickets.messages) || ' ticket messages'`).Scan(&out)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// backups is the node's backup configuration as the runtime assembles it
// (server.backupConfig): the store in DATA_DIR/backups, the dump engine
// on the serving role with scratch databases through the provisioning
// role, encrypted to an age X25519 recipient whose identity opens it.
func (n *custodyNode) backups(b *testing.B) backup.Config {
	b.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	store, err := backup.OpenStore(filepath.Join(n.dataDir, "backups"))
	if err != nil {
		b.Fatal(err)
	}
	return backup.Config{
		Store:   store,
		DataDir: n.dataDir,
		Engine: backup.SiteEngine{Config: sitedump.Config{
			Serving: n.core.Pool, Roles: n.core.Roles, Scratch: sitedump.ProvisioningScratch(n.prov), Logger: logger(),
		}},
		Keys:       backup.Keys{Recipients: []age.Recipient{id.Recipient()}, Text: []string{id.Recipient().String()}},
		Identities: []age.Identity{id},
		Logger:     logger(),
	}
}

// cutHandler serves h, cutting the body of the next one-time link
// response after cut bytes (when positive): the connection then closes
// short of its Content-Length, as a network failure would.
type cutHandler struct {
	h   http.Handler
	cut atomic.Int64
}

func (c *cutHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, movelink.LinkPath) {
		if n := c.cut.Swap(0); n > 0 {
			w = &cutWriter{ResponseWriter: w, left: n}
		}
	}
	c.h.ServeHTTP(w, r)
}

// cutWriter fails every write after left bytes.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.left = 0
		return n, fmt.Errorf("cut")
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}

// custodyAsked reports whether the -test.bench pattern names the custody
// benchmark: building its site takes minutes and gigabytes, so `-bench=.`
// skips it (make bench runs it by name).
func custodyAsked() bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), "Custody")
}

// perOp is a sub-benchmark's time per operation.
func perOp(b *testing.B) time.Duration { return b.Elapsed() / time.Duration(b.N) }

func mb(n int64) float64 { return float64(n) / 1e6 }

// BenchmarkCustody: backups and a site move of a site of 1,000,000 chat
// messages and 100,000 tickets (about 300,000 ticket messages) with 2,000
// users, against plain pg_dump --format=custom and pg_restore of the same
// database in the same run. One operation per sub-benchmark is the
// intended run (-benchtime=1x); the site is built once, untimed.
//
//	plain/pg_dump        pg_dump -Fc of the whole database (superuser)
//	plain/pg_restore     pg_restore of it into a new database
//	backup/create        backup.Create: the dump engine (one snapshot, each
//	                     module schema as its role, every table checksummed)
//	                     encrypted with age into the store; x-pg_dump is its
//	                     time over pg_dump's, size-x-pg_dump its file's size
//	backup/verify        backup.VerifyStored: decrypt, restore into a
//	                     scratch database, compare every table's rows and
//	                     checksum (x-pg_restore: over pg_restore's time)
//	move/export          sitemove.Export through the runtime into the
//	                     portal's link archive (movelink)
//	move/transfer        the archive fetched by the target through a
//	                     one-time link on the source's handler (loopback)
//	move/transfer-cut    the same, the response cut at half the archive and
//	                     resumed by Fetch (x-uncut: over the uncut transfer)
//	move/import          sitemove.Import into a fresh runtime serving the
//	                     same modules: read and check, staging, verify,
//	                     switch (x-plain: export+import over pg_dump+
//	                     pg_restore)
//	backup/restore       backup.Restore over the live site: a dry run
//	                     (staging, checked) then the real one and the swap;
//	                     the safety backup the CLI takes first is not
//	                     counted (it is one backup/create)
//
// The module releases of a move come from the target's module folder here
// (no registry): the registry's install and verification are not timed.
// Skipped unless -bench names it (BenchmarkCustody), so that -bench=. does
// not build the site; make bench runs it by name.
func BenchmarkCustody(b *testing.B) {
	if !custodyAsked() {
		b.Skip("builds a site of 1.1 million rows: run it by name, -bench=Custody")
	}
	ctx := context.Background()
	start := time.Now()
	src := newCustodySource(b)
	custodyLog("the site built in %v", time.Since(start).Round(time.Second))
	var wantMessages, wantTicketMessages int64
	if err := src.super.QueryRow(ctx, `SELECT (SELECT count(*) FROM mod_chat.messages), (SELECT count(*) FROM mod_tickets.messages)`).
		Scan(&wantMessages, &wantTicketMessages); err != nil {
		b.Fatal(err)
	}
	tools := src.plainTools(b)
	work := b.TempDir()
	plainFile := filepath.Join(work, "plain.pgdump")
	plainDB := src.db.Name + "_plain"
	b.Cleanup(func() { src.dropPlain(b, plainDB) })

	// What later sub-benchmarks compare with, per operation.
	var plainDump, plainRestore, export, uncut time.Duration
	var plainSize int64
	ratio := func(b *testing.B, over time.Duration, unit string) {
		if over > 0 {
			b.ReportMetric(float64(perOp(b))/float64(over), unit)
		}
	}

	b.Run("plain/pg_dump", func(b *testing.B) {
		for range b.N {
			src.plainDump(b, tools, plainFile)
		}
		plainDump = perOp(b)
		st, err := os.Stat(plainFile)
		if err != nil {
			b.Fatal(err)
		}
		plainSize = st.Size()
		b.ReportMetric(mb(plainSize), "MB")
	})
	b.Run("plain/pg_restore", func(b *testing.B) {
		if plainSize == 0 {
			b.Skip("needs plain/pg_dump")
		}
		for range b.N {
			b.StopTimer()
			src.dropPlain(b, plainDB)
			b.StartTimer()
			src.plainRestore(b, tools, plainFile, plainDB)
		}
		plainRestore = perOp(b)
		if got := src.plainCount(b, plainDB, "mod_chat.messages"); got != wantMessages {
			b.Fatalf("pg_restore: %d chat messages, want %d", got, wantMessages)
		}
		src.dropPlain(b, plainDB)
	})

	bcfg := src.backups(b)
	var backupName string
	b.Run("backup/create", func(b *testing.B) {
		var size int64
		for range b.N {
			res, err := backup.Create(ctx, bcfg, backup.CreateOptions{Manual: true, Note: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			backupName, size = res.Info.Name, res.Info.Size
			if res.Info.Rows < wantMessages+wantTicketMessages {
				b.Fatalf("the backup holds %d rows, fewer than the %d messages", res.Info.Rows, wantMessages+wantTicketMessages)
			}
		}
		b.ReportMetric(mb(size), "MB")
		ratio(b, plainDump, "x-pg_dump")
		if plainSize > 0 {
			b.ReportMetric(float64(size)/float64(plainSize), "size-x-pg_dump")
		}
	})
	b.Run("backup/verify", func(b *testing.B) {
		if backupName == "" {
			b.Skip("needs backup/create")
		}
		for range b.N {
			rep, err := backup.VerifyStored(ctx, bcfg, backupName, nil)
			if err != nil {
				b.Fatal(err)
			}
			if !rep.OK {
				b.Fatalf("verification:\n%s", rep.Text())
			}
		}
		ratio(b, plainRestore, "x-pg_restore")
	})

	// The move: a target prepared first (its recipient), the archive
	// exported into a one-time link of the source's portal, fetched by the
	// target through the source's own handler.
	target := newCustodyTarget(b, "")
	rcpt, err := sitemove.Prepare(target.dataDir)
	if err != nil {
		b.Fatal(err)
	}
	cut := &cutHandler{h: src.srv.Handler()}
	origin := httptest.NewServer(cut)
	b.Cleanup(origin.Close)
	var fingerprint, archive string
	var archiveSize int64
	b.Run("move/export", func(b *testing.B) {
		for range b.N {
			_, id, err := src.links.CreateLink(ctx, 0, false)
			if err != nil {
				b.Fatal(err)
			}
			a, err := src.links.CreateArchive()
			if err != nil {
				b.Fatal(err)
			}
			exp, err := src.srv.ExportSite(ctx, a, rcpt, server.MoveOptions{Actor: "bench"})
			if err != nil {
				a.Abort()
				b.Fatal(err)
			}
			if err := src.links.Attach(ctx, id, a); err != nil {
				b.Fatal(err)
			}
			fingerprint, archiveSize = exp.Fingerprint, exp.Bytes
		}
		export = perOp(b)
		b.ReportMetric(mb(archiveSize), "MB")
		ratio(b, plainDump, "x-pg_dump")
	})
	transfer := func(b *testing.B, cutAt int64) {
		if archiveSize == 0 {
			b.Skip("needs move/export")
		}
		for range b.N {
			b.StopTimer()
			token, _, err := src.links.CreateLink(ctx, 0, true)
			if err != nil {
				b.Fatal(err)
			}
			cut.cut.Store(cutAt)
			b.StartTimer()
			id, err := target.links.StartFetch(ctx, 0, origin.URL+movelink.LinkPath+token)
			if err != nil {
				b.Fatal(err)
			}
			if err := target.links.Fetch(ctx, 0, id, nil); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if archive, err = target.links.Path(ctx, id); err != nil {
				b.Fatal(err)
			}
			if st, err := os.Stat(archive); err != nil || st.Size() != archiveSize {
				b.Fatalf("fetched %v (%v), want %d bytes", st, err, archiveSize)
			}
			if cut.cut.Load() != 0 {
				b.Fatal("the transfer was not cut")
			}
			b.StartTimer()
		}
		b.ReportMetric(mb(archiveSize)/perOp(b).Seconds(), "MB/s")
	}
	b.Run("move/transfer", func(b *testing.B) {
		transfer(b, 0)
		uncut = perOp(b)
	})
	b.Run("move/transfer-cut", func(b *testing.B) {
		transfer(b, archiveSize/2)
		ratio(b, uncut, "x-uncut")
		if uncut > 0 {
			b.ReportMetric((perOp(b) - uncut).Seconds(), "s-overhead")
		}
	})
	b.Run("move/import", func(b *testing.B) {
		if archive == "" {
			b.Skip("needs move/transfer")
		}
		for range b.N {
			b.StopTimer()
			fresh := newCustodyTarget(b, target.dataDir)
			b.StartTimer()
			rep, err := fresh.srv.ImportSite(ctx, archive, sitemove.ImportOptions{SourceFingerprint: fingerprint}, server.MoveOptions{Actor: "bench"})
			if err != nil {
				if rep != nil {
					b.Log(rep.Text())
				}
				b.Fatal(err)
			}
			b.StopTimer()
			if !rep.OK() || !rep.Switched {
				b.Fatalf("import report:\n%s", rep.Text())
			}
			var got int64
			if err := fresh.super.QueryRow(ctx, `SELECT count(*) FROM mod_chat.messages`).Scan(&got); err != nil || got != wantMessages {
				b.Fatalf("the target has %d chat messages (%v), want %d", got, err, wantMessages)
			}
			b.StartTimer()
		}
		ratio(b, plainRestore, "x-pg_restore")
		if plainDump > 0 && plainRestore > 0 && export > 0 {
			b.ReportMetric(float64(export+perOp(b))/float64(plainDump+plainRestore), "x-plain")
		}
	})

	b.Run("backup/restore", func(b *testing.B) {
		if backupName == "" {
			b.Skip("needs backup/create")
		}
		for range b.N {
			rep, err := backup.Restore(ctx, bcfg, bcfg.Store.Path(backupName), backup.RestoreOptions{})
			if err != nil {
				if rep != nil {
					b.Log(rep.Text())
				}
				b.Fatal(err)
			}
			if !rep.OK {
				b.Fatalf("restore:\n%s", rep.Text())
			}
		}
		ratio(b, plainRestore, "x-pg_restore")
		var got int64
		if err := src.super.QueryRow(ctx, `SELECT count(*) FROM mod_chat.messages`).Scan(&got); err != nil || got != wantMessages {
			b.Fatalf("after the restore: %d chat messages (%v), want %d", got, err, wantMessages)
		}
	})
}
