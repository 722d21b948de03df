package pgembed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// validName is what Provision accepts for role and database names: plain
// lowercase identifiers that never need quoting, at most 63 bytes.
var validName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// provisionLockKey is the advisory lock key that serializes Provision calls.
const provisionLockKey int64 = 0x77656273_6f6e6963 // "websonic"

// roleAttributes are the powers of a provisioned role, reasserted on every call.
const roleAttributes = "LOGIN NOSUPERUSER CREATEROLE CREATEDB NOREPLICATION NOBYPASSRLS INHERIT"

// Provision connects with superuserURL (a postgres:// URL of a superuser) and
// makes sure that a LOGIN role named role exists with no power but CREATEROLE
// and CREATEDB (the scratch databases in which backups and site imports are
// checked, runtime/internal/sitedump; NOSUPERUSER, NOREPLICATION,
// NOBYPASSRLS; attributes are reset
// when the role exists with others), and that a database dbname exists owned
// by it. It returns the URL to connect to dbname as role: superuserURL with
// the user and database replaced.
//
// Provision is idempotent and safe to call concurrently (calls are
// serialized by an advisory lock in the database of superuserURL). Role memberships are
// left alone (on PostgreSQL 16 and later a CREATEROLE role administers the
// roles it creates through such memberships). When superuserURL carries a
// password (an external server with password authentication), the role gets
// a fresh random password on every call and the returned URL carries it, so
// URLs from earlier calls stop working for new connections; without one the
// role gets none (trust, peer or certificate authentication).
//
// It also does, as the superuser, what bounds the roles the provisioned role
// will make (see harden).
//
// Names must match ^[a-z_][a-z0-9_]{0,62}$, else the error wraps ErrInvalidName.
func Provision(ctx context.Context, superuserURL, dbname, role string) (roleURL string, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("pgembed: provision database %q for role %q: %w", dbname, role, err)
		}
	}()
	for _, n := range []string{dbname, role} {
		if !validName.MatchString(n) {
			return "", fmt.Errorf("%w: %q must match %s", ErrInvalidName, n, validName)
		}
	}
	u, err := url.Parse(superuserURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("superuser URL must be a postgres:// URL")
	}
	_, withPassword := u.User.Password()
	password := ""
	if withPassword {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		password = hex.EncodeToString(b)
	}

	conn, err := connectSuperuser(ctx, superuserURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())

	// Concurrent ALTER ROLE on one role fails ("tuple concurrently updated"),
	// so provisioning is serialized with a session advisory lock, released
	// when the connection closes.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", provisionLockKey); err != nil {
		return "", err
	}

	ident := pgx.Identifier{role}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+ident+" "+roleAttributes); err != nil && !isCode(err, "42710", "23505") { // duplicate_object, unique_violation: a concurrent call won
			return "", err
		}
	}
	alter := "ALTER ROLE " + ident + " " + roleAttributes
	if password != "" {
		alter += " PASSWORD '" + password + "'" // hex: needs no escaping
	}
	if _, err := conn.Exec(ctx, alter); err != nil {
		return "", err
	}

	db := pgx.Identifier{dbname}.Sanitize()
	var owner *string
	err = conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1", dbname).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db+" OWNER "+ident); err != nil {
			if !isCode(err, "42P04", "23505") { // duplicate_database, unique_violation: a concurrent call won
				return "", err
			}
			if _, err := conn.Exec(ctx, "ALTER DATABASE "+db+" OWNER TO "+ident); err != nil {
				return "", err
			}
		}
	case err != nil:
		return "", err
	case owner == nil || *owner != role:
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+db+" OWNER TO "+ident); err != nil {
			return "", err
		}
	}

	if err := harden(ctx, conn, u, dbname, ident); err != nil {
		return "", err
	}

	ru := *u
	if password != "" {
		ru.User = url.UserPassword(role, password)
	} else {
		ru.User = url.User(role)
	}
	ru.Path, ru.RawPath = "/"+dbname, ""
	q := ru.Query()
	for _, k := range []string{"user", "password", "dbname", "database"} {
		q.Del(k)
	}
	ru.RawQuery = q.Encode()
	return ru.String(), nil
}

// lockedFunctions are the functions harden takes from PUBLIC: they create
// large objects, which live outside every schema, so a module could fill the
// disk with them unseen by its storage quota.
var lockedFunctions = []string{
	"pg_catalog.lo_create(oid)", "pg_catalog.lo_creat(integer)", "pg_catalog.lo_from_bytea(oid, bytea)",
	"pg_catalog.lo_import(text)", "pg_catalog.lo_import(text, oid)", "pg_catalog.lo_put(oid, bigint, bytea)",
}

// harden does, as the superuser of conn, what only a superuser may do to
// bound the roles that the provisioned role will create:
//   - the role may set temp_file_limit (a superuser-only setting) on the
//     roles it makes (PostgreSQL 15 and later: GRANT SET ON PARAMETER);
//   - nobody may create large objects in dbname;
//   - nobody but the owner may create objects in dbname's public schema.
//
// On an external server these are the DBA's to run; see runtime/internal/dbroles.
func harden(ctx context.Context, conn *pgx.Conn, su *url.URL, dbname, role string) error {
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return err
	}
	if version >= 150000 {
		if _, err := conn.Exec(ctx, "GRANT SET ON PARAMETER temp_file_limit TO "+role); err != nil {
			return err
		}
	}
	du := *su
	du.Path, du.RawPath = "/"+dbname, ""
	q := du.Query()
	q.Del("dbname")
	q.Del("database")
	du.RawQuery = q.Encode()
	db, err := connectSuperuser(ctx, du.String())
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	for _, sql := range []string{
		"REVOKE EXECUTE ON FUNCTION " + strings.Join(lockedFunctions, ", ") + " FROM PUBLIC",
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}

// connectSuperuser connects with a superuser's URL, with a search_path
// of pg_catalog only: the databases it reaches hold schemas that less
// powerful roles may write (the application's roles, "$user" schemas, a
// public writable by everyone on PostgreSQL 14), where a function named
// and typed to match better than pg_catalog's would otherwise run as the
// superuser.
func connectSuperuser(ctx context.Context, url string) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cc.RuntimeParams["search_path"] = "pg_catalog, pg_temp"
	return pgx.ConnectConfig(ctx, cc)
}

// isCode reports whether err is a PostgreSQL error with one of the SQLSTATE codes.
func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}
