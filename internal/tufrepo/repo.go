package tufrepo

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
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
	// ErrRejected is returned by AcceptTargets and AcceptRoot for metadata
	// that is malformed, badly signed, stale, expired or changes a release.
	ErrRejected = errors.New("tufrepo: metadata rejected")
	// ErrState is returned by Load for stored metadata that does not
	// verify.
	ErrState = errors.New("tufrepo: stored metadata invalid")
	// ErrMismatch is returned by Release.Matches for a package that is not
	// the release that was signed.
	ErrMismatch = errors.New("tufrepo: package does not match its signed release")
	// ErrNotInitialized is returned by an Empty Repo before its first
	// AcceptRoot.
	ErrNotInitialized = errors.New("tufrepo: repository has no root yet")
)

// MaxMetadataSize bounds a metadata file a Repo accepts (a root, or the
// body of a request); targets have their own, smaller bound.
const MaxMetadataSize = 16 << 20

// MaxTargetsSize bounds targets.json: AcceptTargets refuses a larger one
// and a Client refuses to download one. Were the registry to accept more
// than clients take, one release could stop every client's refresh.
const MaxTargetsSize = 4 << 20

// MaxCapabilitiesSize bounds a release's signed capabilities (a module
// manifest is at most 256 KiB in all).
const MaxCapabilitiesSize = 64 << 10

// Role is the key set of one top-level TUF role.
type Role struct {
	// Signers sign the role's metadata; their public keys are the role's
	// keys in root.json. Every signer signs.
	Signers []signature.Signer
	// PublicKeys are further keys of the role whose private halves live
	// elsewhere: a publisher creating a root lists the registry's online
	// snapshot and timestamp keys this way.
	PublicKeys []crypto.PublicKey
	// Threshold is how many distinct signatures clients require; 0 means 1.
	Threshold int
}

// Keys holds the four top-level roles. Root and Targets are the publisher's
// (offline) keys, Snapshot and Timestamp the registry's (online) keys. A
// Repo needs only the signers of what it signs: the registry's has the
// online ones, the publisher's the offline ones.
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
// top-level metadata files, signs what its keys allow and renders the
// files to serve.
//
// One process may hold every key (New, Publish, RotateRoot: tests and
// local development). In production they are split: the publisher's Repo
// (Load with the root and targets signers) signs targets with SignTargets
// and roots with SignRotation; the registry's Repo (Load or Empty with the
// snapshot and timestamp signers) checks them with AcceptTargets and
// AcceptRoot and signs snapshot and timestamp.
//
// A Repo is safe for concurrent use. Changes made by AddRelease and Revoke
// are pending until signed; Files always returns the last accepted state.
type Repo struct {
	mu   sync.Mutex
	cfg  Config
	keys Keys

	root      *metadata.Metadata[metadata.RootType] // nil until initialized
	roots     [][]byte                              // every root known, as signed, oldest first
	firstRoot int64                                 // the version of roots[0]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
	pending   map[string]*metadata.TargetFiles // targets for the next SignTargets
	published map[string][]byte                // snapshot.json, targets.json, timestamp.json
}

// State is a repository's metadata as stored: every root version, oldest
// first (from version 1 for a registry), and the current targets, snapshot
// and timestamp, as signed.
type State struct {
	Roots                        [][]byte
	Targets, Snapshot, Timestamp []byte
}

// New creates a repository holding every key: root version 1 listing keys,
// signed by the root signers, and version 1 of targets (empty), snapshot
// and timestamp.
func New(keys Keys, cfg Config) (*Repo, error) {
	root, targets, err := NewRoot(keys, cfg)
	if err != nil {
		return nil, err
	}
	r, err := Empty(keys, cfg)
	if err != nil {
		return nil, err
	}
	if err := r.AcceptRoot(root, targets, nil); err != nil {
		return nil, err
	}
	return r, nil
}

// NewRoot is the publisher's first step: root version 1 listing keys
// (signers and public keys), signed by the root signers, and an empty
// targets version 1 signed by the targets signers. The registry accepts
// both with AcceptRoot.
func NewRoot(keys Keys, cfg Config) (root, targets []byte, err error) {
	r, err := Empty(keys, cfg)
	if err != nil {
		return nil, nil, err
	}
	rm, err := r.newRoot(1, keys)
	if err != nil {
		return nil, nil, err
	}
	if err := sign(rm, keys.Root.Signers); err != nil {
		return nil, nil, err
	}
	if err := rm.VerifyDelegate(metadata.ROOT, rm); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrThreshold, err)
	}
	if root, err = rm.ToBytes(false); err != nil {
		return nil, nil, fmt.Errorf("tufrepo: encode root: %w", err)
	}
	tm := metadata.Targets(r.expires(r.cfg.Expiries.Targets))
	if targets, err = signVerify(rm, metadata.TARGETS, tm, keys.Targets.Signers); err != nil {
		return nil, nil, err
	}
	return root, targets, nil
}

// Empty returns a repository with no root yet: the registry before its
// publisher's first AcceptRoot. Files is empty until then.
func Empty(keys Keys, cfg Config) (*Repo, error) {
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
	return &Repo{cfg: cfg, keys: keys, pending: map[string]*metadata.TargetFiles{}}, nil
}

// Load rebuilds a repository from its stored state, verifying it: each
// root signed by a threshold of its predecessor's and its own root keys,
// versions consecutive (the first one is trusted as given: a registry
// stores them all from version 1, a publisher may pass only the current
// root its verified client holds), and targets, snapshot and timestamp signed by the
// current root's keys and consistent with each other. Expiry is not
// checked: a registry must be able to load expired metadata to renew it.
// keys needs only the signers of what this Repo will sign.
func Load(st State, keys Keys, cfg Config) (*Repo, error) {
	r, err := Empty(keys, cfg)
	if err != nil {
		return nil, err
	}
	if len(st.Roots) == 0 {
		return nil, fmt.Errorf("%w: no root", ErrState)
	}
	var prev *metadata.Metadata[metadata.RootType]
	for i, b := range st.Roots {
		root, err := metadata.Root().FromBytes(b)
		if err != nil {
			return nil, fmt.Errorf("%w: root %d: %w", ErrState, i+1, err)
		}
		if i == 0 {
			r.firstRoot = root.Signed.Version
			if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
				return nil, fmt.Errorf("%w: root %d: %w", ErrState, root.Signed.Version, err)
			}
		} else if err := verifyRoot(prev, root); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrState, err)
		}
		prev = root
	}
	targets, err := metadata.Targets().FromBytes(st.Targets)
	if err != nil {
		return nil, fmt.Errorf("%w: targets: %w", ErrState, err)
	}
	snapshot, err := metadata.Snapshot().FromBytes(st.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrState, err)
	}
	timestamp, err := metadata.Timestamp().FromBytes(st.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("%w: timestamp: %w", ErrState, err)
	}
	for role, m := range map[string]interface {
		verify(*metadata.Metadata[metadata.RootType], string) error
	}{
		metadata.TARGETS: verifier[metadata.TargetsType]{targets}, metadata.SNAPSHOT: verifier[metadata.SnapshotType]{snapshot},
		metadata.TIMESTAMP: verifier[metadata.TimestampType]{timestamp},
	} {
		if err := m.verify(prev, role); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrState, role, err)
		}
	}
	if mf := snapshot.Signed.Meta["targets.json"]; mf == nil || mf.Version != targets.Signed.Version {
		return nil, fmt.Errorf("%w: snapshot does not point at targets version %d", ErrState, targets.Signed.Version)
	}
	if mf := timestamp.Signed.Meta["snapshot.json"]; mf == nil || mf.Version != snapshot.Signed.Version {
		return nil, fmt.Errorf("%w: timestamp does not point at snapshot version %d", ErrState, snapshot.Signed.Version)
	}
	r.root, r.roots = prev, cloneAll(st.Roots)
	r.targets, r.snapshot, r.timestamp = targets, snapshot, timestamp
	r.pending = maps.Clone(targets.Signed.Targets)
	if r.pending == nil {
		r.pending = map[string]*metadata.TargetFiles{}
	}
	r.published = map[string][]byte{
		"targets.json": bytes.Clone(st.Targets), "snapshot.json": bytes.Clone(st.Snapshot), "timestamp.json": bytes.Clone(st.Timestamp),
	}
	return r, nil
}

type verifier[T metadata.Roles] struct{ m *metadata.Metadata[T] }

func (v verifier[T]) verify(root *metadata.Metadata[metadata.RootType], role string) error {
	return root.VerifyDelegate(role, v.m)
}

// verifyRoot checks root follows prev (nil for version 1): the next
// version, signed by a threshold of prev's root keys and of its own.
func verifyRoot(prev, root *metadata.Metadata[metadata.RootType]) error {
	want := int64(1)
	if prev != nil {
		want = prev.Signed.Version + 1
	}
	if root.Signed.Version != want {
		return fmt.Errorf("root version %d, want %d", root.Signed.Version, want)
	}
	if prev != nil {
		if err := prev.VerifyDelegate(metadata.ROOT, root); err != nil {
			return fmt.Errorf("%w: root %d by the root %d keys: %w", ErrThreshold, want, want-1, err)
		}
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return fmt.Errorf("%w: root %d by its own keys: %w", ErrThreshold, want, err)
	}
	if root.Signed.ConsistentSnapshot {
		return fmt.Errorf("root %d: consistent snapshots are not supported (see the package doc)", want)
	}
	return nil
}

func cloneAll(bs [][]byte) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = bytes.Clone(b)
	}
	return out
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
		pubs := slices.Clone(role.PublicKeys)
		for _, s := range role.Signers {
			pub, err := s.PublicKey()
			if err != nil {
				return nil, fmt.Errorf("%w: role %s: %w", ErrKeys, name, err)
			}
			pubs = append(pubs, pub)
		}
		if len(pubs) == 0 || threshold < 1 || threshold > len(pubs) {
			return nil, fmt.Errorf("%w: role %s has %d keys for threshold %d", ErrKeys, name, len(pubs), threshold)
		}
		for _, pub := range pubs {
			key, err := metadata.KeyFromPublicKey(pub)
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

// KeyID is the TUF key id of a public key: the sha256 of its canonical
// JSON form (not signing.KeyID).
func KeyID(pub crypto.PublicKey) (string, error) {
	key, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("tufrepo: key: %w", err)
	}
	return key.ID()
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

// signVerify signs meta as role with signers and checks root accepts it.
func signVerify[T metadata.Roles](root *metadata.Metadata[metadata.RootType], role string, meta *metadata.Metadata[T], signers []signature.Signer) ([]byte, error) {
	if len(signers) == 0 {
		return nil, fmt.Errorf("%w: no %s signer here", ErrKeys, role)
	}
	if err := sign(meta, signers); err != nil {
		return nil, fmt.Errorf("tufrepo: %s: %w", role, err)
	}
	if err := root.VerifyDelegate(role, meta); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeys, role, err)
	}
	b, err := meta.ToBytes(false)
	if err != nil {
		return nil, fmt.Errorf("tufrepo: encode %s: %w", role, err)
	}
	return b, nil
}

// AddRelease adds a module or theme release (rel.Kind), pending until
// signed. artifact is the
// exact byte string clients download and verify (the OCI manifest, whose
// digest pins the rest of the package): its length and sha256 are signed,
// and must agree with rel.ManifestDigest.
func (r *Repo) AddRelease(rel Release, artifact []byte) error {
	if err := rel.validate(); err != nil {
		return err
	}
	sum := sha256.Sum256(artifact)
	if want := "sha256:" + hex.EncodeToString(sum[:]); rel.ManifestDigest != want {
		return fmt.Errorf("%w: manifest digest %s, but the artifact's is %s", ErrInvalidRelease, rel.ManifestDigest, want)
	}
	rel.Revoked = false
	path := rel.TargetPath()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[path]; ok {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	raw, err := rel.customJSON()
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

// Revoke marks a release revoked, pending until signed. The target stays
// listed, with "revoked": true in its signed custom object, so a runtime
// that has it installed learns it must move off it. Revoking a revoked
// release is a no-op.
func (r *Repo) Revoke(module, version string) error {
	return r.revoke(TargetPath(module, version))
}

// RevokeTheme is Revoke for a theme release.
func (r *Repo) RevokeTheme(theme, version string) error {
	return r.revoke(ThemeTargetPath(theme, version))
}

func (r *Repo) revoke(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tf, ok := r.pending[path]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	rel, err := releaseOf(tf)
	if err != nil {
		return err
	}
	rel.Revoked = true
	raw, err := rel.customJSON()
	if err != nil {
		return fmt.Errorf("tufrepo: encode custom: %w", err)
	}
	msg := json.RawMessage(raw)
	next := *tf
	next.Custom = &msg
	r.pending[path] = &next
	return nil
}

func releaseOf(tf *metadata.TargetFiles) (*Release, error) {
	var raw []byte
	if tf.Custom != nil {
		raw = *tf.Custom
	}
	return releaseFromTarget(tf.Path, tf.Length, tf.Hashes["sha256"], raw)
}

// Revoked lists the target names of the revoked releases, as pending.
func (r *Repo) Revoked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for path, tf := range r.pending {
		if rel, err := releaseOf(tf); err == nil && rel.Revoked {
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return out
}

// Releases lists the accepted releases (revoked ones included), sorted by
// target name.
func (r *Repo) Releases() []*Release {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.targets == nil {
		return nil
	}
	var out []*Release
	for _, tf := range r.targets.Signed.Targets {
		if rel, err := releaseOf(tf); err == nil {
			out = append(out, rel)
		}
	}
	slices.SortFunc(out, func(a, b *Release) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Publish signs the pending targets as the next targets version, then the
// next snapshot (pointing at it) and the next timestamp (pointing at the
// snapshot): SignTargets and AcceptTargets in one, for a Repo holding the
// targets and online keys. Nothing changes if signing fails.
func (r *Repo) Publish() error {
	raw, err := r.SignTargets()
	if err != nil {
		return err
	}
	_, err = r.AcceptTargets(raw, nil)
	return err
}

// SignTargets signs the pending releases as the next targets version with
// the targets signers and returns it, for the registry's AcceptTargets.
// The Repo itself does not change.
func (r *Repo) SignTargets() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return nil, ErrNotInitialized
	}
	targets := metadata.Targets(r.expires(r.cfg.Expiries.Targets))
	targets.Signed.Version = r.targets.Signed.Version + 1
	targets.Signed.Targets = maps.Clone(r.pending)
	return signVerify(r.root, metadata.TARGETS, targets, r.keys.Targets.Signers)
}

// Change is one release that a new targets version adds or revokes.
type Change struct {
	// Old is the release as listed before, nil for a new release.
	Old *Release
	// New is the release as listed in the new targets.
	New *Release
}

// AcceptTargets is the registry's check of a publisher's signed targets:
// signed by a threshold of the current root's targets keys, the next
// version, not expired, no delegations, every target a valid module or
// theme release, and releases immutable: none removed, none changed except
// being revoked. check, when not nil, sees the changes first and may
// refuse them (the registry checks the publisher's token scope and that
// every new artifact is stored). Then the next snapshot and timestamp are
// signed with the online keys. Errors wrap ErrRejected for bad input; on
// any error nothing changes.
func (r *Repo) AcceptTargets(raw []byte, check func([]Change) error) ([]Change, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return nil, ErrNotInitialized
	}
	targets, err := r.checkTargets(r.root, raw, r.targets.Signed.Version+1)
	if err != nil {
		return nil, err
	}
	changes, err := diffTargets(r.targets, targets)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(changes); err != nil {
			return nil, err
		}
	}
	if err := r.commit(r.root, nil, targets, bytes.Clone(raw)); err != nil {
		return nil, err
	}
	return changes, nil
}

// checkTargets decodes and verifies raw as targets version want under root.
func (r *Repo) checkTargets(root *metadata.Metadata[metadata.RootType], raw []byte, want int64) (*metadata.Metadata[metadata.TargetsType], error) {
	if len(raw) > MaxTargetsSize {
		return nil, fmt.Errorf("%w: targets of %d bytes, larger than the %d bytes clients accept", ErrRejected, len(raw), MaxTargetsSize)
	}
	targets, err := metadata.Targets().FromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: targets: %w", ErrRejected, err)
	}
	if err := root.VerifyDelegate(metadata.TARGETS, targets); err != nil {
		return nil, fmt.Errorf("%w: targets not signed by a threshold of the targets keys of root version %d: %w", ErrRejected, root.Signed.Version, err)
	}
	if targets.Signed.Version != want {
		return nil, fmt.Errorf("%w: targets version %d, want %d (fetch the current targets and sign again)", ErrRejected, targets.Signed.Version, want)
	}
	if targets.Signed.IsExpired(r.cfg.Now()) {
		return nil, fmt.Errorf("%w: targets expired on %s", ErrRejected, targets.Signed.Expires.Format(time.RFC3339))
	}
	if targets.Signed.Delegations != nil {
		return nil, fmt.Errorf("%w: targets delegations are not supported", ErrRejected)
	}
	for path, tf := range targets.Signed.Targets {
		if tf.Path != path {
			return nil, fmt.Errorf("%w: target %q", ErrRejected, path)
		}
		rel, err := releaseOf(tf)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRejected, err)
		}
		if want := "sha256:" + rel.SHA256Hex(); len(rel.SHA256) != sha256.Size || rel.ManifestDigest != want || len(tf.Hashes) != 1 {
			return nil, fmt.Errorf("%w: target %q: its one sha256 hash must be its manifest digest %s", ErrRejected, path, rel.ManifestDigest)
		}
	}
	return targets, nil
}

// diffTargets lists what next adds or revokes relative to cur, refusing
// removals and any other change: releases are immutable.
func diffTargets(cur, next *metadata.Metadata[metadata.TargetsType]) ([]Change, error) {
	var changes []Change
	for path, tf := range cur.Signed.Targets {
		ntf, ok := next.Signed.Targets[path]
		if !ok {
			return nil, fmt.Errorf("%w: release %s was removed (releases are immutable: revoke it instead)", ErrRejected, path)
		}
		old, err := releaseOf(tf)
		if err != nil {
			return nil, err
		}
		nw, err := releaseOf(ntf)
		if err != nil {
			return nil, err
		}
		same := *nw
		same.Revoked = old.Revoked
		if !sameRelease(old, &same) || (old.Revoked && !nw.Revoked) {
			return nil, fmt.Errorf("%w: release %s was changed (releases are immutable: only revoking is allowed)", ErrRejected, path)
		}
		if nw.Revoked != old.Revoked {
			changes = append(changes, Change{Old: old, New: nw})
		}
	}
	for path, tf := range next.Signed.Targets {
		if _, ok := cur.Signed.Targets[path]; ok {
			continue
		}
		nw, err := releaseOf(tf)
		if err != nil {
			return nil, err
		}
		changes = append(changes, Change{New: nw})
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.New.Path, b.New.Path) })
	return changes, nil
}

func sameRelease(a, b *Release) bool {
	return a.Kind == b.Kind && a.ThemeVersion == b.ThemeVersion &&
		a.Module == b.Module && a.Version == b.Version && a.ABIVersion == b.ABIVersion &&
		jsonEqual(a.Capabilities, b.Capabilities) && a.Channel == b.Channel && a.ManifestDigest == b.ManifestDigest &&
		a.Path == b.Path && a.Length == b.Length && bytes.Equal(a.SHA256, b.SHA256) && a.Revoked == b.Revoked &&
		a.Description == b.Description && a.OS == b.OS && a.Arch == b.Arch &&
		a.BinarySHA256 == b.BinarySHA256 && a.BinarySize == b.BinarySize
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// commit signs the next snapshot (pointing at targets) and timestamp
// under root with the online keys and, when all verify, makes them the
// repository's state; newRoot, when not nil, is appended to the roots.
func (r *Repo) commit(root *metadata.Metadata[metadata.RootType], newRoot []byte, targets *metadata.Metadata[metadata.TargetsType], targetsRaw []byte) error {
	snapshot := metadata.Snapshot(r.expires(r.cfg.Expiries.Snapshot))
	snapshot.Signed.Version = 1
	if r.snapshot != nil {
		snapshot.Signed.Version = r.snapshot.Signed.Version + 1
	}
	mf := metadata.MetaFile(targets.Signed.Version)
	sum := sha256.Sum256(targetsRaw)
	mf.Length, mf.Hashes = int64(len(targetsRaw)), metadata.Hashes{"sha256": sum[:]}
	snapshot.Signed.Meta["targets.json"] = mf
	snapRaw, err := signVerify(root, metadata.SNAPSHOT, snapshot, r.keys.Snapshot.Signers)
	if err != nil {
		return err
	}
	timestamp, tsRaw, err := r.nextTimestamp(root, snapshot)
	if err != nil {
		return err
	}
	if newRoot != nil {
		if len(r.roots) == 0 {
			r.firstRoot = root.Signed.Version
		}
		r.root, r.roots = root, append(r.roots, newRoot)
	}
	r.targets, r.snapshot, r.timestamp = targets, snapshot, timestamp
	r.pending = maps.Clone(targets.Signed.Targets)
	if r.pending == nil {
		r.pending = map[string]*metadata.TargetFiles{}
	}
	r.published = map[string][]byte{"targets.json": targetsRaw, "snapshot.json": snapRaw, "timestamp.json": tsRaw}
	return nil
}

func (r *Repo) nextTimestamp(root *metadata.Metadata[metadata.RootType], snapshot *metadata.Metadata[metadata.SnapshotType]) (*metadata.Metadata[metadata.TimestampType], []byte, error) {
	timestamp := metadata.Timestamp(r.expires(r.cfg.Expiries.Timestamp))
	timestamp.Signed.Version = 1
	if r.timestamp != nil {
		timestamp.Signed.Version = r.timestamp.Signed.Version + 1
	}
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(snapshot.Signed.Version)
	raw, err := signVerify(root, metadata.TIMESTAMP, timestamp, r.keys.Timestamp.Signers)
	return timestamp, raw, err
}

// RenewTimestamp re-signs the timestamp alone, as the next version with a
// fresh expiry, pointing at the current snapshot: what the registry does
// on a timer with its online timestamp key, so runtimes never see a
// frozen repository as merely quiet.
func (r *Repo) RenewTimestamp() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return ErrNotInitialized
	}
	timestamp, raw, err := r.nextTimestamp(r.root, r.snapshot)
	if err != nil {
		return err
	}
	r.timestamp, r.published["timestamp.json"] = timestamp, raw
	return nil
}

// RenewSnapshot re-signs the snapshot (and so the timestamp) as the next
// versions with fresh expiries, for the registry's timer.
func (r *Repo) RenewSnapshot() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return ErrNotInitialized
	}
	return r.commit(r.root, nil, r.targets, r.published["targets.json"])
}

// Expires returns when each current role's metadata expires.
func (r *Repo) Expires() (root, targets, snapshot, timestamp time.Time, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return root, targets, snapshot, timestamp, ErrNotInitialized
	}
	return r.root.Signed.Expires, r.targets.Signed.Expires, r.snapshot.Signed.Expires, r.timestamp.Signed.Expires, nil
}

// SignRotation is the publisher's side of a key rotation: root version N+1
// listing next, signed by the current root signers oldRoot and the new
// ones (next.Root.Signers), and the next targets version (the pending
// releases) signed by next.Targets signers under it. It refuses
// (ErrThreshold) unless both root thresholds are met. The Repo itself does
// not change; the registry takes both with AcceptRoot.
func (r *Repo) SignRotation(next Keys, oldRoot []signature.Signer) (root, targets []byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return nil, nil, ErrNotInitialized
	}
	rm, err := r.newRoot(r.root.Signed.Version+1, next)
	if err != nil {
		return nil, nil, err
	}
	if err := sign(rm, oldRoot, next.Root.Signers); err != nil {
		return nil, nil, err
	}
	if err := verifyRoot(r.root, rm); err != nil {
		return nil, nil, err
	}
	if root, err = rm.ToBytes(false); err != nil {
		return nil, nil, fmt.Errorf("tufrepo: encode root: %w", err)
	}
	tm := metadata.Targets(r.expires(r.cfg.Expiries.Targets))
	tm.Signed.Version = r.targets.Signed.Version + 1
	tm.Signed.Targets = maps.Clone(r.pending)
	if targets, err = signVerify(rm, metadata.TARGETS, tm, next.Targets.Signers); err != nil {
		return nil, nil, err
	}
	return root, targets, nil
}

// AcceptRoot is the registry's check of a new root and the targets signed
// under it: for an empty Repo, root version 1 signed by a threshold of its
// own keys and targets version 1; afterwards root version N+1 signed by a
// threshold of the current and of its own root keys (ErrThreshold
// otherwise) and the next targets version, which may only add or revoke
// releases; check, when not nil, sees those changes first, as in
// AcceptTargets. The online signers must be the new root's snapshot and
// timestamp keys. Then the next snapshot and timestamp are signed under
// the new root. On any error nothing changes.
func (r *Repo) AcceptRoot(rootRaw, targetsRaw []byte, check func([]Change) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(rootRaw) > MaxMetadataSize {
		return fmt.Errorf("%w: root larger than %d bytes", ErrRejected, MaxMetadataSize)
	}
	root, err := metadata.Root().FromBytes(rootRaw)
	if err != nil {
		return fmt.Errorf("%w: root: %w", ErrRejected, err)
	}
	if err := verifyRoot(r.root, root); err != nil {
		if errors.Is(err, ErrThreshold) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	if root.Signed.IsExpired(r.cfg.Now()) {
		return fmt.Errorf("%w: root expired on %s", ErrRejected, root.Signed.Expires.Format(time.RFC3339))
	}
	want := int64(1)
	if r.targets != nil {
		want = r.targets.Signed.Version + 1
	}
	targets, err := r.checkTargets(root, targetsRaw, want)
	if err != nil {
		return err
	}
	if r.targets != nil {
		changes, err := diffTargets(r.targets, targets)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(changes); err != nil {
				return err
			}
		}
	} else if len(targets.Signed.Targets) != 0 {
		return fmt.Errorf("%w: the first targets must be empty", ErrRejected)
	}
	return r.commit(root, bytes.Clone(rootRaw), targets, bytes.Clone(targetsRaw))
}

// RotateRoot replaces the keys of every role, for a Repo holding every
// key: SignRotation, then AcceptRoot with next's online keys.
func (r *Repo) RotateRoot(next Keys, oldRoot []signature.Signer) error {
	root, targets, err := r.SignRotation(next, oldRoot)
	if err != nil {
		return err
	}
	r.mu.Lock()
	prev := r.keys
	r.keys = next
	r.mu.Unlock()
	if err := r.AcceptRoot(root, targets, nil); err != nil {
		r.mu.Lock()
		r.keys = prev
		r.mu.Unlock()
		return err
	}
	return nil
}

// Root returns the current root.json: what a runtime pins on first use.
// It is nil before the first root.
func (r *Repo) Root() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.roots) == 0 {
		return nil
	}
	return bytes.Clone(r.roots[len(r.roots)-1])
}

// RoleKeys returns the current root's keys and threshold for role
// (metadata.ROOT, TARGETS, SNAPSHOT or TIMESTAMP).
func (r *Repo) RoleKeys(role string) ([]crypto.PublicKey, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return nil, 0, ErrNotInitialized
	}
	rr, ok := r.root.Signed.Roles[role]
	if !ok {
		return nil, 0, fmt.Errorf("tufrepo: no role %q", role)
	}
	var out []crypto.PublicKey
	for _, id := range rr.KeyIDs {
		pub, err := r.root.Signed.Keys[id].ToPublicKey()
		if err != nil {
			return nil, 0, fmt.Errorf("tufrepo: %s key %s: %w", role, id, err)
		}
		out = append(out, pub)
	}
	return out, rr.Threshold, nil
}

// TimestampVersion is the current timestamp's version, 0 before the
// first root.
func (r *Repo) TimestampVersion() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timestamp == nil {
		return 0
	}
	return r.timestamp.Signed.Version
}

// State returns the repository's state, to store and Load later.
func (r *Repo) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return State{
		Roots:     cloneAll(r.roots),
		Targets:   bytes.Clone(r.published["targets.json"]),
		Snapshot:  bytes.Clone(r.published["snapshot.json"]),
		Timestamp: bytes.Clone(r.published["timestamp.json"]),
	}
}

// Files returns the published metadata by the path it is served at,
// relative to the repository's metadata URL: "<N>.root.json" for every root
// version N, "root.json" (the current root), "targets.json",
// "snapshot.json" and "timestamp.json". The map and slices are the
// caller's; it is empty before the first root.
func (r *Repo) Files() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte, len(r.roots)+4)
	if len(r.roots) == 0 {
		return out
	}
	for i, b := range r.roots {
		out[strconv.FormatInt(r.firstRoot+int64(i), 10)+".root.json"] = bytes.Clone(b)
	}
	out["root.json"] = bytes.Clone(r.roots[len(r.roots)-1])
	for name, b := range r.published {
		out[name] = bytes.Clone(b)
	}
	return out
}

// CanonicalTargets returns the canonical JSON of a targets file's
// "signed" object: exactly the bytes its signatures sign (go-tuf encodes
// metadata.Metadata.Signed with securesystemslib's cjson to sign and to
// verify). A verifier without a TUF library (install.sh: openssl) checks
// the signatures of targets.json over these bytes. raw is decoded as
// go-tuf does; its signatures are not checked here.
func CanonicalTargets(raw []byte) ([]byte, error) {
	if len(raw) > MaxTargetsSize {
		return nil, fmt.Errorf("%w: targets of %d bytes, more than %d", ErrRejected, len(raw), MaxTargetsSize)
	}
	t, err := metadata.Targets().FromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: targets: %w", ErrRejected, err)
	}
	b, err := cjson.EncodeCanonical(t.Signed)
	if err != nil {
		return nil, fmt.Errorf("tufrepo: canonical targets: %w", err)
	}
	return b, nil
}
