package sitemove

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// journal is an export's or import's row in websonic.site_moves. A
// journal without a pool records nothing; recording never fails the move
// (it is logged).
type journal struct {
	db              *pgxpool.Pool
	log             hclog.Logger
	id              int64
	kind, actor, fp string
	dry             bool
	last            time.Time
	step            string
	done, total     int64
}

func startJournal(ctx context.Context, db *pgxpool.Pool, log hclog.Logger, kind string, dry bool, actor, fp string) *journal {
	j := &journal{db: db, log: log, kind: kind, dry: dry, actor: actorOf(actor), fp: fp}
	j.insert(ctx)
	return j
}

func (j *journal) insert(ctx context.Context) {
	if j.db == nil {
		return
	}
	if err := j.db.QueryRow(ctx, `INSERT INTO websonic.site_moves (kind, dry_run, actor, fingerprint, step, done, total)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, j.kind, j.dry, j.actor, j.fp, j.step, j.done, j.total).Scan(&j.id); err != nil {
		j.log.Warn("could not record the site move", "kind", j.kind, "error", err)
	}
}

// again records the move anew, in a schema that replaced the one its row
// was in.
func (j *journal) again(ctx context.Context) {
	j.id = 0
	j.insert(ctx)
}

func (j *journal) fingerprint(ctx context.Context, fp string) {
	j.fp = fp
	j.exec(ctx, `UPDATE websonic.site_moves SET fingerprint = $2 WHERE id = $1`, j.id, fp)
}

// progress records p, at most once a second unless the step changes.
func (j *journal) progress(ctx context.Context, p Progress) {
	now := time.Now()
	if p.Step == j.step && now.Sub(j.last) < time.Second {
		j.done, j.total = p.Done, p.Total
		return
	}
	j.step, j.done, j.total, j.last = p.Step, p.Done, p.Total, now
	j.exec(ctx, `UPDATE websonic.site_moves SET step = $2, done = $3, total = $4 WHERE id = $1`, j.id, p.Step, p.Done, p.Total)
}

// end records the outcome and its report.
func (j *journal) end(ctx context.Context, report any, err error) {
	state := "done"
	if err != nil {
		state = "failed"
	}
	b, jerr := json.Marshal(report)
	if jerr != nil {
		b = []byte("null")
	}
	j.exec(context.WithoutCancel(ctx), `UPDATE websonic.site_moves SET state = $2, step = $3, done = $4, total = $5, report = $6, error = $7, finished_at = now()
		WHERE id = $1`, j.id, state, j.step, j.done, j.total, b, errText(err))
}

func (j *journal) exec(ctx context.Context, q string, args ...any) {
	if j.db == nil || j.id == 0 {
		return
	}
	if _, err := j.db.Exec(ctx, q, args...); err != nil {
		j.log.Warn("could not record the site move", "kind", j.kind, "error", err)
	}
}

// audit appends to the audit log (logged when it fails).
func audit(ctx context.Context, db *pgxpool.Pool, log hclog.Logger, actorID int64, action string, detail any) {
	if db == nil {
		return
	}
	if err := coredb.Audit(context.WithoutCancel(ctx), db, actorID, action, "site", detail); err != nil {
		log.Warn("could not audit the site move", "action", action, "error", err)
	}
}

// Moves lists the most recent exports and imports, newest first.
func Moves(ctx context.Context, db *pgxpool.Pool, limit int) ([]Record, error) {
	rows, err := db.Query(ctx, `SELECT id, kind, state, dry_run, actor, fingerprint, step, done, total, coalesce(report, 'null'), error, started_at, finished_at
		FROM websonic.site_moves ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		if err := rows.Scan(&r.ID, &r.Kind, &r.State, &r.DryRun, &r.Actor, &r.Fingerprint, &r.Step, &r.Done, &r.Total, &r.Report, &r.Error, &r.Started, &r.Finished); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Record is a row of websonic.site_moves: one export or import, running
// or finished.
type Record struct {
	ID                 int64
	Kind, State        string // export|import; running|done|failed
	DryRun             bool
	Actor, Fingerprint string
	Step               string
	Done, Total        int64
	Report             json.RawMessage // ExportResult or Report as JSON
	Error              string
	Started            time.Time
	Finished           *time.Time
}
