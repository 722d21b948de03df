package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
)

// ErrNotFound: the store holds no backup of that name.
var ErrNotFound = errors.New("backup: no such backup")

// nameLayout is the time in a backup's file name (UTC).
const nameLayout = "20060102T150405Z"

// Suffix ends every backup's file name; its record ends in infoSuffix.
const (
	Suffix     = ".backup.age"
	infoSuffix = ".backup.json"
	tmpPrefix  = ".tmp-"
)

var nameRE = regexp.MustCompile(`^websonic-([0-9]{8}T[0-9]{6}Z)\.backup\.age$`)

// FileName is the name of the backup made at t: websonic-<UTC
// yyyymmddThhmmssZ>.backup.age.
func FileName(t time.Time) string {
	return "websonic-" + t.UTC().Format(nameLayout) + Suffix
}

// parseName returns the time a backup's file name holds.
func parseName(name string) (time.Time, bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(nameLayout, m[1])
	return t, err == nil
}

// Info is what the store knows of one backup, kept beside it in
// <name>.backup.json (no secret in it: sizes, hashes, outcomes).
type Info struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Size and SHA256 are the encrypted file's.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Manual: made on demand (`backup now`, the admin page, before a
	// restore), kept until removed (see Retention.Manual); else made by
	// the schedule and kept by the retention rules.
	Manual bool `json:"manual"`
	// Note says why a manual backup was made ("before restore of …").
	Note string `json:"note,omitempty"`
	// SiteKey: the stream holds the site's data keys.
	SiteKey bool `json:"site_key,omitempty"`
	// Tables and Rows count what the dump holds.
	Tables int   `json:"tables,omitempty"`
	Rows   int64 `json:"rows,omitempty"`
	// Verified is when it was last restored into a scratch database and
	// compared (nil: never); VerifyError is why that failed ("": it
	// matched).
	Verified    *time.Time `json:"verified,omitempty"`
	VerifyError string     `json:"verify_error,omitempty"`
	// Kind is the retention rules that keep it (daily, weekly, monthly,
	// comma-separated, or manual); set by List.
	Kind string `json:"-"`
}

// Good reports whether the backup was verified and matched.
func (i Info) Good() bool { return i.Verified != nil && i.VerifyError == "" }

// Bad reports whether its verification failed.
func (i Info) Bad() bool { return i.Verified != nil && i.VerifyError != "" }

// Store is the folder of encrypted backups (DATA_DIR/backups by default),
// mode 0700, each file 0600. Writes are atomic: a backup is written to a
// temporary file, synced and renamed into place, so the folder never
// holds half a backup under a backup's name; temporary files a crash left
// are removed when the store opens (those unwritten for staleTmp: a
// backup under way keeps its own). Methods are safe for concurrent use
// by one process; the runtime serialises backups across replicas itself.
type Store struct {
	dir string
}

// OpenStore opens (making) the store in dir.
func OpenStore(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("backup: no store folder")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: store: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("backup: store: %w", err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		// A backup under way (another command, the schedule, the admin
		// page) writes its temporary file: only one left alone long
		// enough is a crash's.
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTmp {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Store{dir: dir}, nil
}

// staleTmp is how long a temporary file of the store goes unwritten before
// OpenStore takes it for a crash's leftover: longer than any pause of a
// backup in progress (pg_dump spools a schema before it is written).
const staleTmp = 6 * time.Hour

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

// Path is where the named backup lives.
func (s *Store) Path(name string) string { return filepath.Join(s.dir, name) }

// write encrypts what fill writes to keys' recipients into a new backup
// named for created (a second later while the name is taken), atomically,
// and records info. On any error nothing is left behind.
func (s *Store) write(created time.Time, keys Keys, info Info, fill func(w io.Writer) error) (_ *Info, err error) {
	recs, err := keys.recipients()
	if err != nil {
		return nil, err
	}
	created = created.UTC().Truncate(time.Second)
	for {
		if _, err := os.Lstat(s.Path(FileName(created))); errors.Is(err, fs.ErrNotExist) {
			break
		}
		created = created.Add(time.Second)
	}
	name := FileName(created)
	f, err := os.CreateTemp(s.dir, tmpPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	aw, err := age.Encrypt(cw, recs...)
	if err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	if err := fill(aw); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("backup: write: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("backup: write: %w", err)
	}
	info.Name, info.Created, info.Size, info.SHA256 = name, created, cw.n, hex.EncodeToString(h.Sum(nil))
	if err := s.putInfo(info); err != nil {
		return nil, err
	}
	if err := os.Rename(f.Name(), s.Path(name)); err != nil {
		os.Remove(s.Path(strings.TrimSuffix(name, Suffix) + infoSuffix))
		return nil, fmt.Errorf("backup: %w", err)
	}
	syncDir(s.dir)
	return &info, nil
}

// putInfo writes a backup's record atomically.
func (s *Store) putInfo(info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.CreateTemp(s.dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	err = errors.Join(err, f.Chmod(0o600), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), s.Path(strings.TrimSuffix(info.Name, Suffix)+infoSuffix))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("backup: record: %w", err)
	}
	syncDir(s.dir)
	return nil
}

// Get returns the named backup's record.
func (s *Store) Get(name string) (Info, error) {
	created, ok := parseName(name)
	if !ok {
		return Info{}, fmt.Errorf("%w: %q is not a backup's name (websonic-yyyymmddThhmmssZ%s)", ErrNotFound, name, Suffix)
	}
	st, err := os.Stat(s.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return Info{}, fmt.Errorf("backup: %w", err)
	}
	// A backup without a record (copied in by hand) counts as manual:
	// retention never removes what it knows nothing about.
	info := Info{Name: name, Created: created, Manual: true, Note: "no record"}
	if b, err := os.ReadFile(s.Path(strings.TrimSuffix(name, Suffix) + infoSuffix)); err == nil {
		var rec Info
		if json.Unmarshal(b, &rec) == nil && rec.Name == name {
			info = rec
		}
	}
	info.Size = st.Size()
	return info, nil
}

// List returns the store's backups, newest first, each with the
// retention rules that keep it under r (Kind).
func (s *Store) List(r Retention) ([]Info, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("backup: store: %w", err)
	}
	var out []Info
	for _, e := range ents {
		if _, ok := parseName(e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := s.Get(e.Name())
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, info)
	}
	plan := r.Plan(out)
	out = out[:0]
	for _, d := range plan {
		d.Info.Kind = d.Kind
		out = append(out, d.Info)
	}
	return out, nil
}

// Latest is the newest backup (ErrNotFound: none).
func (s *Store) Latest() (Info, error) {
	l, err := s.List(Retention{})
	if err != nil {
		return Info{}, err
	}
	if len(l) == 0 {
		return Info{}, fmt.Errorf("%w: the store %s is empty", ErrNotFound, s.dir)
	}
	return l[0], nil
}

// MarkVerified records a verification's outcome (verr nil: it matched).
func (s *Store) MarkVerified(name string, at time.Time, verr error) error {
	info, err := s.Get(name)
	if err != nil {
		return err
	}
	at = at.UTC()
	info.Verified, info.VerifyError = &at, ""
	if verr != nil {
		info.VerifyError = verr.Error()
	}
	return s.putInfo(info)
}

// Remove deletes a backup and its record.
func (s *Store) Remove(name string) error {
	if _, ok := parseName(name); !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	err := os.Remove(s.Path(name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	os.Remove(s.Path(strings.TrimSuffix(name, Suffix) + infoSuffix))
	syncDir(s.dir)
	return nil
}

// Prune removes the backups r does not keep, and returns them.
func (s *Store) Prune(r Retention) ([]Info, error) {
	all, err := s.List(r)
	if err != nil {
		return nil, err
	}
	var removed []Info
	for _, d := range r.Plan(all) {
		if d.Keep {
			continue
		}
		if err := s.Remove(d.Info.Name); err != nil {
			return removed, err
		}
		removed = append(removed, d.Info)
	}
	return removed, nil
}

// countWriter counts what passes.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// sortNewest sorts backups newest first.
func sortNewest(l []Info) {
	slices.SortStableFunc(l, func(a, b Info) int { return b.Created.Compare(a.Created) })
}
