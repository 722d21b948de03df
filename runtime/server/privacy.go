package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/jobs"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/manifest"
)

// GDPR duties of the runtime (issue 14): the core jobs that erase the
// accounts whose users asked for it once the grace period ends and apply
// the owner's retention rules, and the site's record of processing
// assembled from the core's declarations and every running module's
// manifest (personal_data).

// PrivacySettings are the owner's privacy rules (site.PrivacySettings).
type PrivacySettings = site.PrivacySettings

// ProcessingRecord is the site's record of processing.
type ProcessingRecord = site.ProcessingRecord

// Core job names and schedules (UTC).
const (
	jobErasures  = "erasures"  // every 5 minutes: accounts due for erasure
	jobRetention = "retention" // daily: the owner's retention rules
	jobRecord    = "record"    // every 5 minutes: the modules' declarations, for `websonic privacy record`
)

// erasureBatch bounds the accounts one run erases (each calls every
// module); the rest wait for the next run.
const erasureBatch = 50

// coreJobs are the runtime's own scheduled jobs.
func (s *Server) coreJobs() []jobs.CoreJob {
	return []jobs.CoreJob{
		{Name: jobErasures, Cron: "*/5 * * * *", Run: s.runErasures},
		{Name: jobRetention, Cron: "17 3 * * *", Run: s.runRetention},
		{Name: jobRecord, Cron: "*/5 * * * *", Run: func(ctx context.Context, _ time.Time) error { return s.saveDeclarations(ctx) }},
	}
}

// erasureWhy is the context key of why a job erases an account.
type erasureWhy struct{}

// byJob marks ctx as the erasure job's, with the reason the audit entry
// gives.
func byJob(ctx context.Context, why string) context.Context {
	return context.WithValue(ctx, erasureWhy{}, why)
}

// jobReason is why the job erases (""; not a job).
func jobReason(ctx context.Context) string {
	why, _ := ctx.Value(erasureWhy{}).(string)
	return why
}

// runErasures erases the accounts whose requested erasure is due at tick
// through EraseUser (every module first, then the core). A module that
// fails leaves the account as it was, still due: the next run tries
// again.
func (s *Server) runErasures(ctx context.Context, tick time.Time) error {
	ids, err := s.site.Store().DueErasures(ctx, tick, erasureBatch)
	if err != nil {
		return err
	}
	return s.eraseAll(byJob(ctx, "requested by the user"), ids)
}

// eraseAll erases ids one by one, going on after a failure; the error
// names those that failed.
func (s *Server) eraseAll(ctx context.Context, ids []int64) error {
	var failed []string
	for _, id := range ids {
		if ctx.Err() != nil {
			break // the rest at the next run
		}
		if err := s.EraseUser(ctx, id); err != nil && !errors.Is(err, site.ErrUnknownUser) {
			s.log.Warn("erasing an account failed", "user", id, "reason", jobReason(ctx), "error", err)
			failed = append(failed, fmt.Sprintf("user %d: %v", id, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("server: %d of %d erasures failed: %s", len(failed), len(ids), strings.Join(failed, "; "))
	}
	return nil
}

// runRetention applies the owner's retention rules at tick: the expired
// sessions, the audit log, the addresses, and the inactive accounts
// (erased through EraseUser).
func (s *Server) runRetention(ctx context.Context, tick time.Time) error {
	st := s.site.Store()
	ps, err := st.PrivacySettings(ctx)
	if err != nil {
		return err
	}
	var errs []error
	n, err := st.PruneSessions(ctx, tick)
	errs = append(errs, err)
	s.log.Info("retention: expired sessions", "deleted", n)
	if ps.AuditDays > 0 {
		n, err := st.PruneAudit(ctx, tick, ps.AuditDays)
		errs = append(errs, err)
		s.log.Info("retention: audit log", "days", ps.AuditDays, "deleted", n)
	}
	if ps.IPDays > 0 {
		addrs, entries, err := st.PruneAddresses(ctx, tick, ps.IPDays)
		errs = append(errs, err)
		s.log.Info("retention: addresses", "days", ps.IPDays, "addresses", addrs, "audit_entries", entries)
	}
	if ps.InactiveMonths > 0 {
		ids, err := st.InactiveAccounts(ctx, tick, ps.InactiveMonths, erasureBatch)
		if err == nil {
			err = s.eraseAll(byJob(ctx, fmt.Sprintf("no sign-in for %d months", ps.InactiveMonths)), ids)
		}
		errs = append(errs, err)
		s.log.Info("retention: inactive accounts", "months", ps.InactiveMonths, "erased", len(ids))
	}
	return errors.Join(errs...)
}

// saveDeclarations records the running modules' personal_data
// declarations (websonic.processing_declarations), for the record read
// without a runtime; modules no longer running are dropped.
func (s *Server) saveDeclarations(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		names := []string{}
		for _, m := range s.Modules() {
			man := m.Manifest()
			decl := man.PersonalData
			if decl == nil {
				decl = []manifest.PersonalData{}
			}
			raw, err := json.Marshal(decl)
			if err != nil {
				return err
			}
			names = append(names, man.Name)
			if _, err := tx.Exec(ctx, `INSERT INTO websonic.processing_declarations (module, version, declarations, seen_at)
				VALUES ($1, $2, $3, now()) ON CONFLICT (module) DO UPDATE
				SET version = EXCLUDED.version, declarations = EXCLUDED.declarations, seen_at = EXCLUDED.seen_at`, man.Name, man.Version, raw); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM websonic.processing_declarations WHERE NOT module = ANY($1)`, names)
		return err
	})
	if err != nil {
		return fmt.Errorf("server: save the modules' personal data declarations: %w", err)
	}
	return nil
}

// moduleDeclarations is one module's personal_data.
type moduleDeclarations struct {
	Module, Version string
	Data            []manifest.PersonalData
}

// assembleRecord is the record of processing of the core (with settings
// ps) and of the modules, in name order.
func assembleRecord(siteName string, ps site.PrivacySettings, sessionTTL time.Duration, mods []moduleDeclarations, now time.Time) *site.ProcessingRecord {
	rec := &site.ProcessingRecord{Format: site.RecordFormat, Site: siteName, Generated: now.UTC(), Activities: site.CoreActivities(ps, sessionTTL)}
	slices.SortFunc(mods, func(a, b moduleDeclarations) int { return strings.Compare(a.Module, b.Module) })
	for _, m := range mods {
		if len(m.Data) == 0 {
			rec.Activities = append(rec.Activities, site.Activity{Source: m.Module, Version: m.Version, Category: "(none declared)",
				Subjects: "-", Purpose: "the module declares no personal data", Retention: "-"})
			continue
		}
		for _, d := range m.Data {
			rec.Activities = append(rec.Activities, site.Activity{Source: m.Module, Version: m.Version, Category: d.Category,
				Subjects: d.SubjectsOrDefault(), Purpose: d.Purpose, Retention: d.Retention, Fields: d.Fields})
		}
	}
	return rec
}

// ProcessingRecord is the site's record of processing (GDPR Art. 30):
// what the core keeps, with the owner's retention rules, and what every
// running module declares it keeps. It also refreshes the copy `websonic
// privacy record` reads.
func (s *Server) ProcessingRecord(ctx context.Context) (*site.ProcessingRecord, error) {
	ps, err := s.site.Store().PrivacySettings(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.saveDeclarations(ctx); err != nil {
		s.log.Warn("saving the record of processing", "error", err)
	}
	var mods []moduleDeclarations
	for _, m := range s.Modules() {
		man := m.Manifest()
		mods = append(mods, moduleDeclarations{man.Name, man.Version, man.PersonalData})
	}
	name := ""
	if l := s.look.current(); l != nil {
		name = l.Site.Name
	}
	return assembleRecord(name, ps, 0, mods, time.Now()), nil
}

// PrivacySettings are the owner's privacy rules.
func (s *Server) PrivacySettings(ctx context.Context) (site.PrivacySettings, error) {
	return s.site.Store().PrivacySettings(ctx)
}

// ProcessingRecord is the site's record of processing as the runtimes
// last saw the modules (their declarations are saved every few minutes
// and whenever the admin area shows the record).
func (c *Console) ProcessingRecord(ctx context.Context) (*site.ProcessingRecord, error) {
	st := site.NewStore(c.db.Pool)
	ps, err := st.PrivacySettings(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.db.Pool.Query(ctx, `SELECT module, version, declarations FROM websonic.processing_declarations ORDER BY module`)
	if err != nil {
		return nil, fmt.Errorf("server: record of processing: %w", err)
	}
	mods, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (moduleDeclarations, error) {
		var m moduleDeclarations
		var raw []byte
		if err := r.Scan(&m.Module, &m.Version, &raw); err != nil {
			return m, err
		}
		return m, json.Unmarshal(raw, &m.Data)
	})
	if err != nil {
		return nil, fmt.Errorf("server: record of processing: %w", err)
	}
	var name string
	if err := c.db.Pool.QueryRow(ctx, `SELECT coalesce((SELECT name FROM websonic.site_settings), '')`).Scan(&name); err != nil {
		name = ""
	}
	return assembleRecord(name, ps, 0, mods, time.Now()), nil
}

// PrivacySettings reads the owner's privacy rules.
func (c *Console) PrivacySettings(ctx context.Context) (site.PrivacySettings, error) {
	return site.NewStore(c.db.Pool).PrivacySettings(ctx)
}

// SetPrivacySettings changes the owner's privacy rules from the terminal
// (audited as privacy.settings by "terminal"). The runtimes read them at
// each run of their jobs.
func (c *Console) SetPrivacySettings(ctx context.Context, ps site.PrivacySettings) error {
	return site.NewStore(c.db.Pool).SetPrivacySettings(ctx, site.Actor{}, ps)
}

// adminPrivacy is the admin area's view of the privacy duties.
type adminPrivacy struct{ s *Server }

func (p adminPrivacy) ProcessingRecord(ctx context.Context) (*site.ProcessingRecord, error) {
	return p.s.ProcessingRecord(ctx)
}

func (p adminPrivacy) PrivacySettings(ctx context.Context) (site.PrivacySettings, error) {
	return p.s.PrivacySettings(ctx)
}

func (p adminPrivacy) SetPrivacySettings(ctx context.Context, userID int64, ps site.PrivacySettings) error {
	return p.s.site.Store().SetPrivacySettings(ctx, site.Actor{UserID: userID}, ps)
}
