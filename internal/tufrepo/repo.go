package tufrepo

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var (
	// ErrKeys is returned for a role without signers or with a threshold
	// its signers cannot meet.
	ErrKeys = errors.New("tufrepo: invalid role keys")
	// ErrThreshold is returned by RotateRoot when the new root would not be
	// signed by a threshold of both the current and the new root keys.
	ErrThreshold = errors.New("tufrepo: root signature threshold not met")
	// ErrInvalidRelease is returned for a release with a bad name, version,
	// channel, ABI version, digest or capabilities.
	ErrInvalidRelease = errors.New("tufrepo: invalid release")
	// ErrExists is returned by AddRelease for a version already published:
	// releases are immutable; publish a new version instead.
	ErrExists = errors.New("tufrepo: release already exists")
	// ErrNotFound is returned for a release the repository or the client's
	// trusted metadata does not list.
	ErrNotFound = errors.New("tufrepo: release not found")
)

// Role is the key set of one top-level TUF role.
type Role struct {
	// Signers sign the role's metadata; their public keys are the role's
	// keys in root.json. Every signer signs.
	Signers []signature.Signer
	// Threshold is how many distinct signatures clients require; 0 means 1.
	Threshold int
}

// Keys holds the four top-level roles. Root and Targets are the publisher's
// (offline) keys, Snapshot and Timestamp the registry's (online) keys.
type Keys struct {
	Root, Targets, Snapshot, Timestamp Role
}

// Expiries is how long each role's metadata stays valid after it is signed.
type Expiries struct {
	Root, Targets, Snapshot, Timestamp time.Duration
}

// DefaultExpiries are used for the zero fields of Config.Expiries.
var DefaultExpiries = Expiries{
	Root:      365 * 24 * time.Hour,
	Targets:   90 * 24 * time.Hour,
	Snapshot:  7 * 24 * time.Hour,
	Timestamp: 24 * time.Hour,
}

// Config configures a Repo. The zero value is valid.
type Config struct {
	Expiries Expiries
	// Now is the clock expiry dates are computed from; nil means
	// time.Now. Tests use it to sign already expired metadata.
	Now func() time.Time
}

// Repo is the repository side of a TUF repository: it keeps the four
// top-level metadata files, signs them and renders the files to serve.
//
// A Repo is safe for concurrent use. Changes made by AddRelease and Revoke
// are pending until Publish; Files always returns the last published state.
type Repo struct {
	mu   sync.Mutex
	cfg  Config
	keys Keys // Root.Signers unused after New

	root      *metadata.Metadata[metadata.RootType]
	roots     [][]byte // roots[i] is version i+1, as signed
	targets   *metadata.Metadata[metadata.TargetsType]
	pending   map[string]*metadata.TargetFiles // targets for the next Publish
	published map[string][]byte                // snapshot.json, targets.json, timestamp.json
}

// New creates a repository: root version 1 listing keys, signed by the root
// signers, and version 1 of targets (empty), snapshot and timestamp.
func New(keys Keys, cfg Config) (*Repo, error) {
	for _, f := range []*time.Duration{&cfg.Expiries.Root, &cfg.Expiries.Targets, &cfg.Expiries.Snapshot, &cfg.Expiries.Timestamp} {
		if *f < 0 {
			return nil, errors.New("tufrepo: negative expiry")
		}
	}
	if cfg.Expiries.Root == 0 {
		cfg.Expiries.Root = DefaultExpiries.Root
	}
	if cfg.Expiries.Targets == 0 {
		cfg.Expiries.Targets = DefaultExpiries.Targets
	}
	if cfg.Expiries.Snapshot == 0 {
		cfg.Expiries.Snapshot = DefaultExpiries.Snapshot
	}
	if cfg.Expiries.Timestamp == 0 {
		cfg.Expiries.Timestamp = DefaultExpiries.Timestamp
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Repo{cfg: cfg, keys: keys, pending: map[string]*metadata.TargetFiles{}}
	root, err := r.newRoot(1, keys)
	if err != nil {
		return nil, err
	}
	if err := sign(root, keys.Root.Signers); err != nil {
		return nil, err
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrThreshold, err)
	}
	rootBytes, err := root.ToBytes(false)
	if err != nil {
		return nil, fmt.Errorf("tufrepo: encode root: %w", err)
	}
	r.root, r.roots = root, [][]byte{rootBytes}
	r.targets = metadata.Targets(r.expires(0)) // version 0; Publish makes it 1
	r.targets.Signed.Version = 0
	if err := r.publish(r.root, keys); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Repo) expires(d time.Duration) time.Time {
	return r.cfg.Now().UTC().Add(d).Truncate(time.Second)
}

// newRoot builds an unsigned root of the given version listing keys.
func (r *Repo) newRoot(version int64, keys Keys) (*metadata.Metadata[metadata.RootType], error) {
	root := metadata.Root(r.expires(r.cfg.Expiries.Root))
	root.Signed.Version = version
	// Plain file names (root.json, targets.json, ...): the updater then
	// fetches the latest of each, see doc.go.
	root.Signed.ConsistentSnapshot = false
	for name, role := range map[string]Role{
		metadata.ROOT: keys.Root, metadata.TARGETS: keys.Targets,
		metadata.SNAPSHOT: keys.Snapshot, metadata.TIMESTAMP: keys.Timestamp,
	} {
		threshold := role.Threshold
		if threshold == 0 {
			threshold = 1
		}
		if len(role.Signers) == 0 || threshold < 1 || threshold > len(role.Signers) {
			return nil, fmt.Errorf("%w: role %s has %d signers for threshold %d", ErrKeys, name, len(role.Signers), threshold)
		}
		for _, s := range role.Signers {
			key, err := tufKey(s)
			if err != nil {
				return nil, fmt.Errorf("%w: role %s: %w", ErrKeys, name, err)
			}
			if err := root.Signed.AddKey(key, name); err != nil {
				return nil, fmt.Errorf("%w: role %s: %w", ErrKeys, name, err)
			}
		}
		if n := len(root.Signed.Roles[name].KeyIDs); threshold > n {
			return nil, fmt.Errorf("%w: role %s has %d distinct keys for threshold %d", ErrKeys, name, n, threshold)
		}
		root.Signed.Roles[name].Threshold = threshold
	}
	return root, nil
}

func tufKey(s signature.Signer) (*metadata.Key, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, err
	}
	return metadata.KeyFromPublicKey(pub)
}

// sign replaces meta's signatures by one from each distinct key in groups.
func sign[T metadata.Roles](meta *metadata.Metadata[T], groups ...[]signature.Signer) error {
	meta.ClearSignatures()
	seen := map[string]bool{}
	for _, group := range groups {
		for _, s := range group {
			key, err := tufKey(s)
			if err != nil {
				return fmt.Errorf("tufrepo: signer key: %w", err)
			}
			id, err := key.ID()
			if err != nil {
				return fmt.Errorf("tufrepo: signer key: %w", err)
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			if _, err := meta.Sign(s); err != nil {
				return fmt.Errorf("tufrepo: sign: %w", err)
			}
		}
	}
	return nil
}

// AddRelease adds a module release, pending until Publish. artifact is the
// exact byte string clients download and verify (the OCI manifest, whose
// digest pins the rest of the package): its length and sha256 are signed.
func (r *Repo) AddRelease(rel Release, artifact []byte) error {
	if err := rel.validate(); err != nil {
		return err
	}
	rel.Revoked = false
	path := TargetPath(rel.Module, rel.Version)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[path]; ok {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	sum := sha256.Sum256(artifact)
	raw, err := json.Marshal(rel.custom())
	if err != nil {
		return fmt.Errorf("tufrepo: encode custom: %w", err)
	}
	msg := json.RawMessage(raw)
	r.pending[path] = &metadata.TargetFiles{
		Length: int64(len(artifact)),
		Hashes: metadata.Hashes{"sha256": sum[:]},
		Custom: &msg,
		Path:   path,
	}
	return nil
}

// Revoke marks a release revoked, pending until Publish. The target stays
// listed, with "revoked": true in its signed custom object, so a runtime
// that has it installed learns it must move off it. Revoking a revoked
// release is a no-op.
func (r *Repo) Revoke(module, version string) error {
	path := TargetPath(module, version)
	r.mu.Lock()
	defer r.mu.Unlock()
	tf, ok := r.pending[path]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	rel, err := releaseFromTarget(path, tf.Length, tf.Hashes["sha256"], *tf.Custom)
	if err != nil {
		return err
	}
	rel.Revoked = true
	raw, err := json.Marshal(rel.custom())
	if err != nil {
		return fmt.Errorf("tufrepo: encode custom: %w", err)
	}
	msg := json.RawMessage(raw)
	next := *tf
	next.Custom = &msg
	r.pending[path] = &next
	return nil
}

// Revoked lists the target names of the revoked releases, as pending.
func (r *Repo) Revoked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for path, tf := range r.pending {
		var c custom
		if tf.Custom != nil && json.Unmarshal(*tf.Custom, &c) == nil && c.Revoked {
			out = append(out, path)
		}
	}
	return out
}

// Publish signs the pending targets as the next targets version, then the
// next snapshot (pointing at it) and the next timestamp (pointing at the
// snapshot), each with its role's signers. Nothing changes if signing
// fails or the signatures would not meet a role's threshold.
func (r *Repo) Publish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publish(r.root, r.keys)
}

// RenewTimestamp re-signs the timestamp alone, as the next version with a
// fresh expiry, pointing at the current snapshot: what the registry does
// on a timer with its online timestamp key, so runtimes never see a
// frozen repository as merely quiet.
func (r *Repo) RenewTimestamp() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, err := metadata.Timestamp().FromBytes(r.published["timestamp.json"])
	if err != nil {
		return fmt.Errorf("tufrepo: decode timestamp: %w", err)
	}
	cur.Signed.Version++
	cur.Signed.Expires = r.expires(r.cfg.Expiries.Timestamp)
	files := map[string][]byte{}
	if err := signVerify(r.root, metadata.TIMESTAMP, cur, r.keys.Timestamp.Signers, files); err != nil {
		return err
	}
	r.published["timestamp.json"] = files["timestamp.json"]
	return nil
}

// publish renders targets, snapshot and timestamp for root, with keys, as
// the versions after the current ones, and commits them only if all
// verify. Each role counts its own versions: RenewTimestamp moves the
// timestamp alone.
func (r *Repo) publish(root *metadata.Metadata[metadata.RootType], keys Keys) error {
	targets := metadata.Targets(r.expires(r.cfg.Expiries.Targets))
	targets.Signed.Version = r.targets.Signed.Version + 1
	targets.Signed.Targets = maps.Clone(r.pending)
	snapshot := metadata.Snapshot(r.expires(r.cfg.Expiries.Snapshot))
	snapshot.Signed.Version = r.version("snapshot.json") + 1
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(targets.Signed.Version)
	timestamp := metadata.Timestamp(r.expires(r.cfg.Expiries.Timestamp))
	timestamp.Signed.Version = r.version("timestamp.json") + 1
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(snapshot.Signed.Version)

	files := map[string][]byte{}
	if err := signVerify(root, metadata.TARGETS, targets, keys.Targets.Signers, files); err != nil {
		return err
	}
	if err := signVerify(root, metadata.SNAPSHOT, snapshot, keys.Snapshot.Signers, files); err != nil {
		return err
	}
	if err := signVerify(root, metadata.TIMESTAMP, timestamp, keys.Timestamp.Signers, files); err != nil {
		return err
	}
	r.targets, r.published = targets, files
	return nil
}

// version is the version of a published snapshot.json or timestamp.json,
// 0 before the first publish.
func (r *Repo) version(name string) int64 {
	b, ok := r.published[name]
	if !ok {
		return 0
	}
	var m struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	if json.Unmarshal(b, &m) != nil {
		return 0 // unreachable: we encoded it
	}
	return m.Signed.Version
}

func signVerify[T metadata.Roles](root *metadata.Metadata[metadata.RootType], role string, meta *metadata.Metadata[T], signers []signature.Signer, files map[string][]byte) error {
	if err := sign(meta, signers); err != nil {
		return fmt.Errorf("tufrepo: %s: %w", role, err)
	}
	if err := root.VerifyDelegate(role, meta); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrKeys, role, err)
	}
	b, err := meta.ToBytes(false)
	if err != nil {
		return fmt.Errorf("tufrepo: encode %s: %w", role, err)
	}
	files[role+".json"] = b
	return nil
}

// RotateRoot replaces the keys of every role: it signs root version N+1,
// listing next, with the current root signers oldRoot and the new ones
// (next.Root.Signers), checks both thresholds are met (ErrThreshold
// otherwise, and nothing changes), then publishes targets, snapshot and
// timestamp signed by the new keys.
func (r *Repo) RotateRoot(next Keys, oldRoot []signature.Signer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	root, err := r.newRoot(r.root.Signed.Version+1, next)
	if err != nil {
		return err
	}
	if err := sign(root, oldRoot, next.Root.Signers); err != nil {
		return err
	}
	if err := r.root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return fmt.Errorf("%w: by the current root keys: %w", ErrThreshold, err)
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return fmt.Errorf("%w: by the new root keys: %w", ErrThreshold, err)
	}
	b, err := root.ToBytes(false)
	if err != nil {
		return fmt.Errorf("tufrepo: encode root: %w", err)
	}
	if err := r.publish(root, next); err != nil {
		return err
	}
	r.root, r.roots, r.keys = root, append(r.roots, b), next
	return nil
}

// Root returns the current root.json: what a runtime pins on first use.
func (r *Repo) Root() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.roots[len(r.roots)-1])
}

// Files returns the published metadata by the path it is served at,
// relative to the repository's metadata URL: "<N>.root.json" for every root
// version N, "root.json" (the current root), "targets.json",
// "snapshot.json" and "timestamp.json". The map and slices are the
// caller's.
func (r *Repo) Files() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte, len(r.roots)+4)
	for i, b := range r.roots {
		out[strconv.Itoa(i+1)+".root.json"] = bytes.Clone(b)
	}
	out["root.json"] = bytes.Clone(r.roots[len(r.roots)-1])
	for name, b := range r.published {
		out[name] = bytes.Clone(b)
	}
	return out
}
