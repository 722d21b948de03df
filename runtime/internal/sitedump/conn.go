package sitedump

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// login is one role's way into one database: a pgx configuration for
// this process's own sessions, and the same for the client tools.
type login struct {
	cc *pgx.ConnConfig // User, Password and Database set; no hooks
	// tls holds the libpq TLS keywords of the site's connection string
	// (sslmode, sslrootcert, …), for the client tools.
	tls map[string]string
}

// tlsKeys are the libpq keywords passed on to the client tools; the rest
// of the site's connection string is either set from the parsed
// configuration (host, port, user, dbname) or pgx's own.
var tlsKeys = []string{"sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslsni", "connect_timeout", "target_session_attrs", "gssencmode", "channel_binding", "require_auth"}

// loginOf returns the login of the serving pool's configuration.
func loginOf(cc *pgx.ConnConfig) login {
	return login{cc: cc.Copy(), tls: tlsParams(cc.ConnString())}
}

// as returns l for another role and database ("" keeps each).
func (l login) as(user, password, db string) login {
	c := l.cc.Copy()
	if user != "" {
		c.User, c.Password = user, password
	}
	if db != "" {
		c.Database = db
	}
	return login{cc: c, tls: l.tls}
}

// sessionParams make row text, and so checksums, the same in every
// session, whatever the roles or the server set.
var sessionParams = map[string]string{
	"search_path":                         "pg_catalog, pg_temp",
	"TimeZone":                            "UTC",
	"DateStyle":                           "ISO, MDY",
	"IntervalStyle":                       "postgres",
	"extra_float_digits":                  "1",
	"bytea_output":                        "hex",
	"row_security":                        "off",
	"statement_timeout":                   "0",
	"lock_timeout":                        "0",
	"idle_in_transaction_session_timeout": "0",
	"application_name":                    "websonic sitedump",
}

// connect opens a session for l with sessionParams.
func (l login) connect(ctx context.Context) (*pgx.Conn, error) {
	c := l.cc.Copy()
	c.RuntimeParams = map[string]string{}
	for k, v := range sessionParams {
		c.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("connect to %s as %s: %w", c.Database, c.User, err)
	}
	return conn, nil
}

// conninfo is l as libpq keyword/value pairs, without the password (which
// the client tools get from the environment).
func (l login) conninfo() string {
	kv := map[string]string{
		"host": l.cc.Host, "port": strconv.Itoa(int(l.cc.Port)), "user": l.cc.User, "dbname": l.cc.Database,
		"application_name": "websonic sitedump",
	}
	for k, v := range l.tls {
		kv[k] = v
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v := strings.ReplaceAll(strings.ReplaceAll(kv[k], `\`, `\\`), `'`, `\'`)
		fmt.Fprintf(&b, "%s='%s' ", k, v)
	}
	return strings.TrimSpace(b.String())
}

// clearedEnv are variables of this process's environment that would
// change which server, database or role a client tool reaches, or what
// it runs there.
var clearedEnv = []string{"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE",
	"PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGAPPNAME", "PGTARGETSESSIONATTRS"}

// command prepares a client tool run as l: the connection as --dbname,
// the password in the environment (never in argv, which other users of
// the machine can read).
func (l login) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, append(args, "--dbname="+l.conninfo())...)
	env := []string{}
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if !slices.Contains(clearedEnv, k) {
			env = append(env, e)
		}
	}
	if l.cc.Password != "" {
		env = append(env, "PGPASSWORD="+l.cc.Password)
	}
	cmd.Env = env
	return cmd
}

// run runs cmd, returning its standard error's tail in the error.
func run(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		return fmt.Errorf("%s: %w: %s", cmd.Args[0], err, msg)
	}
	return nil
}

// tlsParams picks tlsKeys out of a connection string, URL or
// keyword/value.
func tlsParams(s string) map[string]string {
	out := map[string]string{}
	var all map[string]string
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return out
		}
		all = map[string]string{}
		for k, v := range u.Query() {
			if len(v) > 0 {
				all[k] = v[0]
			}
		}
	} else {
		all = parseDSN(s)
	}
	for _, k := range tlsKeys {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

// parseDSN parses libpq's keyword/value form (key=value, values quoted
// with ' and escaped with \); what it cannot parse it leaves out.
func parseDSN(s string) map[string]string {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			return out
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return out
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t\n\r")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			for {
				if s == "" {
					return out
				}
				c := s[0]
				s = s[1:]
				if c == '\\' && s != "" {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					break
				}
				val.WriteByte(c)
			}
		} else {
			end := strings.IndexAny(s, " \t\n\r")
			if end < 0 {
				end = len(s)
			}
			val.WriteString(strings.ReplaceAll(s[:end], `\`, ""))
			s = s[end:]
		}
		out[key] = val.String()
	}
}
