package privacy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// KeyFile is the key ring's file, under the site's data directory.
const KeyFile = "data-keys.json"

// EnvVar is the environment variable that may hold the key ring instead of
// KeyFile (the runtime's command reads it; this package reads no
// environment itself).
const EnvVar = "WEBSONIC_SITE_KEY"

// ReloadEvery is how often a runtime looks for a rotated key file.
const ReloadEvery = 5 * time.Second

// keyLen is an AES-256 key's length.
const keyLen = 32

// Errors of the key ring.
var (
	// ErrKeyMissing: the site's database knows data keys that the key file
	// (or the environment) does not hold.
	ErrKeyMissing = errors.New("privacy: the site's data key is missing")
	// ErrKeyMismatch: a key does not match the check value the database
	// keeps for its id (another site's key file?).
	ErrKeyMismatch = errors.New("privacy: data key does not belong to this site")
	// ErrKeyFileMode: the key file may be read by others, or belongs to
	// another user than the runtime's (a key someone planted).
	ErrKeyFileMode = errors.New("privacy: the data key file is not the runtime user's alone")
	// ErrKeyFromEnv: the keys come from the environment, which the
	// runtime cannot rewrite.
	ErrKeyFromEnv = errors.New("privacy: the data keys come from " + EnvVar)
)

// Config configures Load.
type Config struct {
	// Dir is the site's data directory, which holds KeyFile (required
	// unless Env is set).
	Dir string
	// Env is the content of WEBSONIC_SITE_KEY ("": use the file).
	Env string
	// DB is the site's database (websonic.data_keys; required).
	DB *pgxpool.Pool
	// Logger (nil: none) is named "privacy".
	Logger hclog.Logger
}

// Keyring is the site's data keys. See the package doc.
type Keyring struct {
	cfg  Config
	log  hclog.Logger
	path string // "" when the keys come from the environment

	mu       sync.RWMutex
	keys     map[uint32][]byte
	newest   uint32
	fileStat fileStamp
	checked  time.Time // when the file was last looked at
	missing  error     // why the ring is empty (no key file on a site with keys)
	derived  map[derivedKey]*moduleKey
}

// fileStamp tells a changed key file.
type fileStamp struct {
	mod  time.Time
	size int64
}

// keyFile is KeyFile's content.
type keyFile struct {
	Version int       `json:"version"`
	Keys    []fileKey `json:"keys"`
}

type fileKey struct {
	ID      uint32    `json:"id"`
	Key     []byte    `json:"key"` // base64 in JSON
	Created time.Time `json:"created"`
}

// checkMAC is the check value the database keeps for key.
func checkMAC(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("websonic data key check v1"))
	return m.Sum(nil)[:16]
}

// Load reads the site's key ring, from cfg.Env or the key file, and
// checks it against the check values in the database; a site with no keys
// yet (its first start) gets its first key, written to a new key file.
// It refuses a key file others may read (ErrKeyFileMode) and keys the
// database does not recognise (ErrKeyMismatch). A missing key file on a
// site whose database knows keys (a replica the file was not copied to)
// is logged, and the ring starts empty: Seal and Open fail with
// ErrKeyMissing until the file appears (it is looked for as after a
// rotation).
func Load(ctx context.Context, cfg Config) (*Keyring, error) {
	if cfg.DB == nil {
		return nil, errors.New("privacy: Config.DB is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	k := &Keyring{cfg: cfg, log: cfg.Logger.Named("privacy"), derived: map[derivedKey]*moduleKey{}}
	known, err := knownKeys(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	var keys map[uint32][]byte
	switch {
	case cfg.Env != "":
		if keys, err = parseEnv(cfg.Env); err != nil {
			return nil, err
		}
	case cfg.Dir == "":
		return nil, errors.New("privacy: Config.Dir or Config.Env is required")
	default:
		k.path = filepath.Join(cfg.Dir, KeyFile)
		var st fileStamp
		keys, st, err = readKeyFile(k.path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && len(known) == 0:
			if keys, err = createKeyFile(k.path); err != nil {
				return nil, err
			}
			k.log.Info("made the site's data key; back it up with the database", "file", k.path)
			if _, st, err = readKeyFile(k.path); err != nil {
				return nil, err
			}
		case errors.Is(err, fs.ErrNotExist):
			// Never a new key here: what the site sealed would not open.
			// The runtime serves; sealing waits for the file.
			k.missing = fmt.Errorf("%w: the site's database knows data keys %v, but %s does not exist: copy it from another replica or your backup (mode 0600), or set %s",
				ErrKeyMissing, slices.Sorted(maps.Keys(known)), k.path, EnvVar)
			k.log.Error("no data key: modules cannot seal or open until the key file is in place", "error", k.missing)
			k.keys = map[uint32][]byte{}
			k.checked = time.Now()
			return k, nil
		case err != nil:
			return nil, err
		}
		k.fileStat = st
	}
	if err := k.install(ctx, keys, known); err != nil {
		return nil, err
	}
	k.checked = time.Now()
	return k, nil
}

// install checks keys against the database's check values, records those
// it lacks, and makes them the ring's.
func (k *Keyring) install(ctx context.Context, keys map[uint32][]byte, known map[uint32][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: the key ring is empty", ErrKeyMissing)
	}
	for id, key := range keys {
		mac := checkMAC(key)
		if want, ok := known[id]; ok {
			if !hmac.Equal(want, mac) {
				return fmt.Errorf("%w: key %d differs from the one this site made (is this the site's own key file?)", ErrKeyMismatch, id)
			}
			continue
		}
		if _, err := k.cfg.DB.Exec(ctx, `INSERT INTO websonic.data_keys (id, check_mac) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, int64(id), mac); err != nil {
			return fmt.Errorf("privacy: record data key %d: %w", id, err)
		}
	}
	var missing []uint32
	for id := range known {
		if _, ok := keys[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		k.log.Warn("the site knows data keys this runtime lacks: what they sealed will not open here; copy the site's newest key file", "missing", missing)
	}
	newest := slices.Max(slices.Collect(maps.Keys(keys)))
	k.mu.Lock()
	k.keys, k.newest, k.missing = keys, newest, nil
	clear(k.derived) // an id may now name another key (Reset)
	k.mu.Unlock()
	return nil
}

// knownKeys reads the check values of the site's data keys.
func knownKeys(ctx context.Context, db *pgxpool.Pool) (map[uint32][]byte, error) {
	rows, err := db.Query(ctx, `SELECT id, check_mac FROM websonic.data_keys`)
	if err != nil {
		return nil, fmt.Errorf("privacy: data keys: %w", err)
	}
	known := map[uint32][]byte{}
	var id int64
	var mac []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &mac}, func() error {
		known[uint32(id)] = slices.Clone(mac)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("privacy: data keys: %w", err)
	}
	return known, nil
}

// readKeyFile reads and checks a key file.
func readKeyFile(path string) (map[uint32][]byte, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("privacy: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("privacy: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fileStamp{}, fmt.Errorf("privacy: %s is not a regular file", path)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return nil, fileStamp{}, fmt.Errorf("%w: %s belongs to user %d, not to the runtime's (%d): a key someone else planted would seal the site's data; chown it to the runtime's user",
			ErrKeyFileMode, path, uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fileStamp{}, fmt.Errorf("%w: %s has mode %04o; it holds the key to the site's sealed data: make it the runtime user's alone (chmod 600 %s)",
			ErrKeyFileMode, path, perm, path)
	}
	var kf keyFile
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fileStamp{}, fmt.Errorf("privacy: %s: %w", path, err)
	}
	if kf.Version != 1 {
		return nil, fileStamp{}, fmt.Errorf("privacy: %s: version %d (this runtime reads 1)", path, kf.Version)
	}
	keys := map[uint32][]byte{}
	for _, fk := range kf.Keys {
		if fk.ID == 0 || len(fk.Key) != keyLen || keys[fk.ID] != nil {
			return nil, fileStamp{}, fmt.Errorf("privacy: %s: key %d: want a unique id above 0 and %d bytes", path, fk.ID, keyLen)
		}
		keys[fk.ID] = fk.Key
	}
	return keys, fileStamp{fi.ModTime(), fi.Size()}, nil
}

// writeKeyFile writes keys to path atomically, mode 0600 (its folder is
// made 0700 if needed). exclusive fails when path exists.
func writeKeyFile(path string, kf keyFile, exclusive bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".data-keys-*")
	if err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("privacy: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("privacy: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("privacy: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	if exclusive {
		// A hard link fails if path exists: two first starts cannot
		// both make a key.
		if err := os.Link(tmp.Name(), path); err != nil {
			return fmt.Errorf("privacy: %w", err)
		}
		return nil
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	return nil
}

func newKey() []byte {
	b := make([]byte, keyLen)
	rand.Read(b)
	return b
}

// createKeyFile makes a site's first key ring.
func createKeyFile(path string) (map[uint32][]byte, error) {
	key := newKey()
	if err := writeKeyFile(path, keyFile{Version: 1, Keys: []fileKey{{ID: 1, Key: key, Created: time.Now().UTC()}}}, true); err != nil {
		return nil, err
	}
	return map[uint32][]byte{1: key}, nil
}

// parseEnv reads WEBSONIC_SITE_KEY: "ID:BASE64,ID:BASE64" or one bare
// base64 key (id 1).
func parseEnv(s string) (map[uint32][]byte, error) {
	keys := map[uint32][]byte{}
	bad := func(what string) error {
		return fmt.Errorf("privacy: %s: %s (want ID:BASE64 entries separated by commas, each key %d bytes of standard base64)", EnvVar, what, keyLen)
	}
	for i, entry := range strings.Split(strings.TrimSpace(s), ",") {
		entry = strings.TrimSpace(entry)
		id, b64 := uint64(1), entry
		if before, after, ok := strings.Cut(entry, ":"); ok {
			var err error
			if id, err = strconv.ParseUint(before, 10, 32); err != nil || id == 0 {
				return nil, bad(fmt.Sprintf("entry %d: bad id", i+1))
			}
			b64 = after
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != keyLen {
			return nil, bad(fmt.Sprintf("entry %d: bad key", i+1))
		}
		if keys[uint32(id)] != nil {
			return nil, bad(fmt.Sprintf("entry %d: id %d twice", i+1, id))
		}
		keys[uint32(id)] = key
	}
	return keys, nil
}

// Rotate adds a key to the site's key file in dir, with an id above every
// id the file or the database knows, and records its check value; it
// returns the new id. Running runtimes seal with it within ReloadEvery
// (replicas on other machines once the file is copied to them). It fails
// with ErrKeyFromEnv when env (WEBSONIC_SITE_KEY) is set, and with the
// errors of Load when the file is missing or wrong.
func Rotate(ctx context.Context, dir, env string, db *pgxpool.Pool) (uint32, error) {
	if env != "" {
		return 0, fmt.Errorf("%w: add a key there yourself (an entry ID:BASE64 with a higher id; e.g. `openssl rand -base64 32`), on every replica", ErrKeyFromEnv)
	}
	k, err := Load(ctx, Config{Dir: dir, DB: db, Logger: hclog.NewNullLogger()})
	if err != nil {
		return 0, err
	}
	if k.missing != nil {
		return 0, k.missing // a file with only the new key would lose the others
	}
	known, err := knownKeys(ctx, db)
	if err != nil {
		return 0, err
	}
	k.mu.RLock()
	id := k.newest
	var kf keyFile
	kf.Version = 1
	for _, i := range slices.Sorted(maps.Keys(k.keys)) {
		kf.Keys = append(kf.Keys, fileKey{ID: i, Key: k.keys[i]})
	}
	k.mu.RUnlock()
	for i := range known {
		id = max(id, i)
	}
	id++
	// Keep the file's creation times.
	if old, err := os.ReadFile(k.path); err == nil {
		var prev keyFile
		if json.Unmarshal(old, &prev) == nil {
			for i := range kf.Keys {
				for _, p := range prev.Keys {
					if p.ID == kf.Keys[i].ID {
						kf.Keys[i].Created = p.Created
					}
				}
			}
		}
	}
	key := newKey()
	kf.Keys = append(kf.Keys, fileKey{ID: id, Key: key, Created: time.Now().UTC()})
	// The check value first: a file with a key the database lacks would
	// still load (Load records it), the reverse would not.
	if _, err := db.Exec(ctx, `INSERT INTO websonic.data_keys (id, check_mac) VALUES ($1, $2)`, int64(id), checkMAC(key)); err != nil {
		return 0, fmt.Errorf("privacy: record data key %d: %w", id, err)
	}
	if err := writeKeyFile(k.path, kf, false); err != nil {
		return 0, err
	}
	return id, nil
}

// KeyIDs lists the ring's key ids, oldest first; the last seals.
func (k *Keyring) KeyIDs() []uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Sorted(maps.Keys(k.keys))
}

// Reset makes the key file (or the environment's keys) the whole ring
// again, checked against the database's check values as by Load: for a
// site whose data was replaced under the running runtime (a site import
// put another site's database and key file in place), where keys the ring
// held may be gone and an id may name another key. On error the ring
// keeps the keys it had.
func (k *Keyring) Reset(ctx context.Context) error {
	var keys map[uint32][]byte
	var st fileStamp
	var err error
	if k.path == "" {
		if keys, err = parseEnv(k.cfg.Env); err != nil {
			return err
		}
	} else if keys, st, err = readKeyFile(k.path); err != nil {
		return err
	}
	known, err := knownKeys(ctx, k.cfg.DB)
	if err != nil {
		return err
	}
	if err := k.install(ctx, keys, known); err != nil {
		return err
	}
	k.mu.Lock()
	k.fileStat, k.checked = st, time.Now()
	k.mu.Unlock()
	k.log.Info("data keys read again", "newest", k.newestID())
	return nil
}

// reload re-reads the key file if it changed (never for keys from the
// environment); force shortens the ReloadEvery wait to a second.
func (k *Keyring) reload(ctx context.Context, force bool) {
	if k.path == "" {
		return
	}
	k.mu.Lock()
	// At most once a second even when forced: a module's values naming
	// unknown keys cannot make the runtime read the file on every call.
	if since := time.Since(k.checked); since < time.Second || (!force && since < ReloadEvery) {
		k.mu.Unlock()
		return
	}
	k.checked = time.Now()
	old := k.fileStat
	k.mu.Unlock()
	fi, err := os.Stat(k.path)
	if err != nil || (fi.ModTime().Equal(old.mod) && fi.Size() == old.size) {
		return
	}
	keys, st, err := readKeyFile(k.path)
	if err != nil {
		k.log.Error("the data key file changed and does not load; keeping the keys in use", "error", err)
		return
	}
	known, err := knownKeys(ctx, k.cfg.DB)
	if err != nil {
		k.log.Warn("reloading the data keys failed", "error", err)
		return
	}
	// A rotated file holds every key this ring holds.
	k.mu.RLock()
	for id := range k.keys {
		if keys[id] == nil {
			k.mu.RUnlock()
			k.log.Error("the data key file lost keys in use; keeping the keys in use", "missing", id)
			return
		}
	}
	k.mu.RUnlock()
	if err := k.install(ctx, keys, known); err != nil {
		k.log.Error("the data key file changed and does not load; keeping the keys in use", "error", err)
		return
	}
	k.mu.Lock()
	k.fileStat = st
	k.mu.Unlock()
	k.log.Info("data keys reloaded", "newest", k.newestID())
}

func (k *Keyring) newestID() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.newest
}
