package server

import (
	"context"
	"fmt"

	"github.com/websonic/websonic/internal/pgembed"
	"github.com/websonic/websonic/registry/internal/publishers"
)

// TokenSpec describes a publisher token to create.
type TokenSpec = publishers.TokenSpec

// AuditEntry is one record of the registry's audit log.
type AuditEntry = publishers.Entry

// ThemeScope prefixes a theme name in a token's scopes ("theme:<name>").
const ThemeScope = publishers.ThemeScope

// Accounts manages publisher tokens on a registry's database, while the
// registry runs or not (the embedded PostgreSQL is shared).
type Accounts struct {
	db    *pgembed.DB
	store *publishers.Store
}

// OpenAccounts opens the database of cfg (DataDir, DatabaseURL, Logger)
// for account management.
func OpenAccounts(ctx context.Context, cfg Config) (*Accounts, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "registry-data"
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Accounts{db: db, store: publishers.New(db.Pool)}, nil
}

func openDB(ctx context.Context, cfg Config) (*pgembed.DB, error) {
	db, err := pgembed.Open(ctx, pgembed.OpenConfig{
		URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Database: "websonic_registry", Role: "websonic_registry",
		AppName: "websonic registry", Logger: cfg.Logger, Migrate: migrateAll,
		MaxConns: 16, // many concurrent pulls and publishes; each query is short
	})
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return db, nil
}

// CreateToken creates a token (and its publisher if new); the token is
// returned once and only its hash is stored.
func (a *Accounts) CreateToken(ctx context.Context, spec TokenSpec) (string, int64, error) {
	return a.store.CreateToken(ctx, spec)
}

// RevokeToken revokes a token by id.
func (a *Accounts) RevokeToken(ctx context.Context, id int64) error {
	return a.store.RevokeToken(ctx, id)
}

// AuditLog returns the newest audit entries first.
func (a *Accounts) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	return a.store.AuditLog(ctx, limit)
}

// Close closes the database (stopping an embedded cluster it started).
func (a *Accounts) Close() error { return a.db.Close() }
