package tufrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/websonic/websonic/internal/signing"
	"github.com/websonic/websonic/internal/signing/signingtest"
)

// publisherKeys are loaded once through internal/signing (an scrypt
// derivation each): root and targets ed25519, snapshot ECDSA P-256,
// timestamp ed25519.
var (
	keysOnce      sync.Once
	publisherKeys [4]signature.Signer
	keysErr       error
)

func loadKeys(t testing.TB) Keys {
	t.Helper()
	keysOnce.Do(func() {
		algs := []signing.Algorithm{signing.Ed25519, signing.Ed25519, signing.ECDSAP256, signing.Ed25519}
		for i, alg := range algs {
			kp, err := signing.Generate(alg, []byte("test password"))
			if err != nil {
				keysErr = err
				return
			}
			if publisherKeys[i], keysErr = signing.Load(kp.PrivatePEM, []byte("test password")); keysErr != nil {
				return
			}
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return Keys{
		Root:      Role{Signers: []signature.Signer{publisherKeys[0]}},
		Targets:   Role{Signers: []signature.Signer{publisherKeys[1]}},
		Snapshot:  Role{Signers: []signature.Signer{publisherKeys[2]}},
		Timestamp: Role{Signers: []signature.Signer{publisherKeys[3]}},
	}
}

// env is a repository served by an httptest server from maps the tests
// tamper with, and a client of it.
type env struct {
	t      *testing.T
	keys   Keys
	repo   *Repo
	shift  time.Duration // the repository clock's offset
	mu     sync.Mutex
	meta   map[string][]byte // served at /metadata/<name>
	blobs  map[string][]byte // artifacts, served at /targets/<target name>
	srv    *httptest.Server
	dir    string
	client *Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, keys: loadKeys(t), blobs: map[string][]byte{}, dir: t.TempDir()}
	repo, err := New(e.keys, Config{Now: func() time.Time { return time.Now().Add(e.shift) }})
	if err != nil {
		t.Fatal(err)
	}
	e.repo = repo
	e.serve()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		var b []byte
		var ok bool
		if name, isMeta := strings.CutPrefix(r.URL.Path, "/metadata/"); isMeta {
			b, ok = e.meta[name]
		} else if name, isTarget := strings.CutPrefix(r.URL.Path, "/targets/"); isTarget {
			b, ok = e.blobs[name]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(e.srv.Close)
	e.client = e.newClient(repo.Root())
	return e
}

func (e *env) newClient(root []byte) *Client {
	e.t.Helper()
	c, err := NewClient(ClientConfig{
		MetadataURL: e.srv.URL + "/metadata",
		TargetsURL:  e.srv.URL + "/targets",
		Root:        root,
		Dir:         e.dir,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// serve serves the repository's published files, untampered.
func (e *env) serve() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.meta = e.repo.Files()
}

func (e *env) setMeta(name string, b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.meta[name] = b
}

func (e *env) getMeta(name string) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.meta[name]
}

func (e *env) setBlob(path string, b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.blobs[path] = b
}

func artifact(module, version string) []byte {
	return []byte(`{"schemaVersion":2,"module":"` + module + `","version":"` + version + `"}`)
}

func release(module, version string, ch Channel) Release {
	return Release{
		Module:         module,
		Version:        version,
		ABIVersion:     1,
		Capabilities:   json.RawMessage(`{"http":["GET /blog"]}`),
		Channel:        ch,
		ManifestDigest: digestOf(artifact(module, version)),
	}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// add adds a release and its artifact; publish signs and serves.
func (e *env) add(module, version string, ch Channel) {
	e.t.Helper()
	a := artifact(module, version)
	if err := e.repo.AddRelease(release(module, version, ch), a); err != nil {
		e.t.Fatal(err)
	}
	e.setBlob(TargetPath(module, version), a)
}

func (e *env) publish() {
	e.t.Helper()
	if err := e.repo.Publish(); err != nil {
		e.t.Fatal(err)
	}
	e.serve()
}

func (e *env) refresh() {
	e.t.Helper()
	if err := e.client.Refresh(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) wantLatest(c *Client, module string, ch Channel, want string) {
	e.t.Helper()
	rel, err := c.Latest(module, ch)
	if err != nil {
		e.t.Fatalf("Latest(%s, %s): %v", module, ch, err)
	}
	if rel.Version != want {
		e.t.Fatalf("Latest(%s, %s) = %s, want %s", module, ch, rel.Version, want)
	}
}

// resign replaces the signatures of a served metadata file by signers'.
func resign[T metadata.Roles](t *testing.T, meta *metadata.Metadata[T], data []byte, signers ...signature.Signer) []byte {
	t.Helper()
	m, err := meta.FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := sign(m, signers); err != nil {
		t.Fatal(err)
	}
	b, err := m.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublishAndInstall(t *testing.T) {
	e := newEnv(t)
	e.add("blog", "1.0.0", ChannelStable)
	e.publish()
	e.refresh()
	rel, err := e.client.Release("blog", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	want := release("blog", "1.0.0", ChannelStable)
	if rel.ABIVersion != want.ABIVersion || rel.Channel != want.Channel || rel.ManifestDigest != want.ManifestDigest ||
		string(rel.Capabilities) != string(want.Capabilities) || rel.Path != "modules/blog/1.0.0" || rel.Revoked {
		t.Fatalf("Release = %+v", rel)
	}
	a := artifact("blog", "1.0.0")
	if rel.Length != int64(len(a)) {
		t.Fatalf("Length = %d, want %d", rel.Length, len(a))
	}
	data, _, err := e.client.Download(context.Background(), "blog", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, a) {
		t.Fatalf("Download = %q", data)
	}
	if _, err := e.client.Release("blog", "9.9.9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown release: %v, want ErrNotFound", err)
	}
	files := e.repo.Files()
	for _, name := range []string{"1.root.json", "root.json", "targets.json", "snapshot.json", "timestamp.json"} {
		if len(files[name]) == 0 {
			t.Errorf("Files() has no %s", name)
		}
	}
}

// TestAttacks: each attack is refused with a clear error, the client keeps
// answering from its previous trusted state, and once honest files are
// served again both it and a restarted client (same Dir) recover.
func TestAttacks(t *testing.T) {
	tests := []struct {
		name string
		// attack runs after blog 1.0.0 is published and trusted, and
		// returns the error of the refused operation.
		attack     func(t *testing.T, e *env) error
		wantErr    error
		wantLatest string // what the client still reports
	}{
		{
			name: "timestamp signed by an unknown key",
			attack: func(t *testing.T, e *env) error {
				e.add("blog", "1.1.0", ChannelStable)
				e.publish()
				e.setMeta("timestamp.json", resign(t, metadata.Timestamp(), e.getMeta("timestamp.json"), signingtest.NewSigner(t)))
				return e.client.Refresh(context.Background())
			},
			wantErr:    ErrBadSignature,
			wantLatest: "1.0.0",
		},
		{
			name: "targets signed by an unknown key",
			attack: func(t *testing.T, e *env) error {
				e.add("blog", "1.1.0", ChannelStable)
				e.publish()
				e.setMeta("targets.json", resign(t, metadata.Targets(), e.getMeta("targets.json"), signingtest.NewSigner(t)))
				return e.client.Refresh(context.Background())
			},
			// The snapshot pins targets.json by length and hash: a forged
			// one is refused before its signature is even checked.
			wantErr:    ErrDigestMismatch,
			wantLatest: "1.0.0",
		},
		{
			name: "replayed older snapshot",
			attack: func(t *testing.T, e *env) error {
				old := e.getMeta("snapshot.json")
				e.add("blog", "1.1.0", ChannelStable)
				e.publish()
				e.setMeta("snapshot.json", old)
				return e.client.Refresh(context.Background())
			},
			wantErr:    ErrRollback,
			wantLatest: "1.0.0",
		},
		{
			name: "replayed older targets (older version served as the latest)",
			attack: func(t *testing.T, e *env) error {
				old := e.getMeta("targets.json")
				e.add("blog", "1.1.0", ChannelStable)
				e.publish()
				e.setMeta("targets.json", old)
				return e.client.Refresh(context.Background())
			},
			wantErr:    ErrDigestMismatch, // pinned by the snapshot's hash
			wantLatest: "1.0.0",
		},
		{
			name: "replayed older timestamp",
			attack: func(t *testing.T, e *env) error {
				old := map[string][]byte{"timestamp.json": e.getMeta("timestamp.json"), "snapshot.json": e.getMeta("snapshot.json"), "targets.json": e.getMeta("targets.json")}
				e.add("blog", "1.1.0", ChannelStable)
				e.publish()
				e.refresh() // the client now trusts 1.1.0
				for name, b := range old {
					e.setMeta(name, b)
				}
				return e.client.Refresh(context.Background())
			},
			wantErr:    ErrRollback,
			wantLatest: "1.1.0",
		},
		{
			name: "expired timestamp",
			attack: func(t *testing.T, e *env) error {
				e.shift = -48 * time.Hour // signed two days ago: the 1-day timestamp has expired
				e.add("blog", "1.1.0", ChannelStable)
				e.publish()
				return e.client.Refresh(context.Background())
			},
			wantErr:    ErrExpired,
			wantLatest: "1.0.0",
		},
		{
			name: "root rotation signed only by the new key",
			attack: func(t *testing.T, e *env) error {
				next := e.keys
				next.Root = Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}
				next.Timestamp = Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}
				root, err := e.repo.newRoot(2, next)
				if err != nil {
					t.Fatal(err)
				}
				if err := sign(root, next.Root.Signers); err != nil {
					t.Fatal(err)
				}
				b, err := root.ToBytes(false)
				if err != nil {
					t.Fatal(err)
				}
				e.setMeta("2.root.json", b)
				e.setMeta("timestamp.json", resign(t, metadata.Timestamp(), e.getMeta("timestamp.json"), next.Timestamp.Signers...))
				return e.client.Refresh(context.Background())
			},
			wantErr:    ErrBadSignature,
			wantLatest: "1.0.0",
		},
		{
			name: "artifact with a wrong digest",
			attack: func(t *testing.T, e *env) error {
				a := artifact("blog", "1.0.0")
				a[len(a)-2] ^= 1
				e.setBlob("modules/blog/1.0.0", a)
				_, _, err := e.client.Download(context.Background(), "blog", "1.0.0")
				return err
			},
			wantErr:    ErrDigestMismatch,
			wantLatest: "1.0.0",
		},
		{
			name: "truncated artifact",
			attack: func(t *testing.T, e *env) error {
				a := artifact("blog", "1.0.0")
				e.setBlob("modules/blog/1.0.0", a[:len(a)-1])
				_, _, err := e.client.Download(context.Background(), "blog", "1.0.0")
				return err
			},
			wantErr:    ErrDigestMismatch,
			wantLatest: "1.0.0",
		},
		{
			name: "artifact longer than its signed length",
			attack: func(t *testing.T, e *env) error {
				e.setBlob("modules/blog/1.0.0", append(artifact("blog", "1.0.0"), ' '))
				_, _, err := e.client.Download(context.Background(), "blog", "1.0.0")
				return err
			},
			wantErr:    ErrDigestMismatch,
			wantLatest: "1.0.0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.add("blog", "1.0.0", ChannelStable)
			e.publish()
			e.refresh()

			err := tt.attack(t, e)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "tufrepo: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			t.Logf("refused: %v", err)
			e.wantLatest(e.client, "blog", ChannelStable, tt.wantLatest)
			if v := e.client.RootVersion(); v != 1 {
				t.Errorf("RootVersion = %d, want 1", v)
			}

			// Honest files again: the client and a restarted one recover.
			e.shift = 0
			e.add("blog", "2.0.0", ChannelStable)
			e.publish()
			e.refresh()
			e.wantLatest(e.client, "blog", ChannelStable, "2.0.0")
			restarted := e.newClient(e.repo.Root())
			if err := restarted.Refresh(context.Background()); err != nil {
				t.Fatalf("restarted client: %v", err)
			}
			e.wantLatest(restarted, "blog", ChannelStable, "2.0.0")
			if _, _, err := restarted.Download(context.Background(), "blog", "2.0.0"); err != nil {
				t.Fatalf("restarted client download: %v", err)
			}
		})
	}
}

func TestRotateRoot(t *testing.T) {
	e := newEnv(t)
	e.add("blog", "1.0.0", ChannelStable)
	e.publish()
	e.refresh()

	oldRoot := e.keys.Root.Signers
	next := Keys{
		Root:      Role{Signers: []signature.Signer{signingtest.NewSigner(t), signingtest.NewSigner(t)}, Threshold: 2},
		Targets:   Role{Signers: []signature.Signer{signingtest.NewSigner(t)}},
		Snapshot:  e.keys.Snapshot,
		Timestamp: Role{Signers: []signature.Signer{signingtest.NewSigner(t)}},
	}
	// Refused: not signed by the current root keys.
	for name, signers := range map[string][]signature.Signer{"no old keys": nil, "unknown old key": {signingtest.NewSigner(t)}} {
		if err := e.repo.RotateRoot(next, signers); !errors.Is(err, ErrThreshold) {
			t.Fatalf("%s: RotateRoot = %v, want ErrThreshold", name, err)
		}
	}
	// Refused: below the new root threshold of 2.
	short := next
	short.Root.Threshold = 3
	if err := e.repo.RotateRoot(short, oldRoot); !errors.Is(err, ErrKeys) {
		t.Fatalf("threshold 3 of 2: RotateRoot = %v, want ErrKeys", err)
	}
	if err := e.repo.RotateRoot(next, oldRoot); err != nil {
		t.Fatal(err)
	}
	e.serve()
	if len(e.getMeta("2.root.json")) == 0 {
		t.Fatal("2.root.json not served")
	}
	e.refresh()
	if v := e.client.RootVersion(); v != 2 {
		t.Fatalf("RootVersion = %d, want 2", v)
	}
	// The new keys publish; the old targets key no longer can.
	e.add("blog", "1.1.0", ChannelStable)
	e.publish()
	e.refresh()
	e.wantLatest(e.client, "blog", ChannelStable, "1.1.0")
	e.setMeta("targets.json", resign(t, metadata.Targets(), e.getMeta("targets.json"), e.keys.Targets.Signers...))
	e.add("blog", "1.2.0", ChannelStable)
	e.publish()
	e.setMeta("targets.json", resign(t, metadata.Targets(), e.getMeta("targets.json"), e.keys.Targets.Signers...))
	if err := e.client.Refresh(context.Background()); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("targets by the rotated-out key: %v, want ErrDigestMismatch (the snapshot pins the real one)", err)
	}
	e.serve()

	// A new runtime pinned to root 1 walks to root 2.
	fresh, err := NewClient(ClientConfig{MetadataURL: e.srv.URL + "/metadata", TargetsURL: e.srv.URL + "/targets", Root: e.repo.Files()["1.root.json"], Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := fresh.RootVersion(); v != 2 {
		t.Fatalf("fresh RootVersion = %d, want 2", v)
	}
	e.wantLatest(fresh, "blog", ChannelStable, "1.2.0")
}

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	e.add("blog", "1.0.0", ChannelStable)
	e.add("blog", "1.1.0", ChannelStable)
	e.publish()
	e.refresh()
	e.wantLatest(e.client, "blog", ChannelStable, "1.1.0")

	if err := e.repo.Revoke("blog", "1.1.0"); err != nil {
		t.Fatal(err)
	}
	if err := e.repo.Revoke("blog", "7.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke unknown = %v, want ErrNotFound", err)
	}
	if got := e.repo.Revoked(); len(got) != 1 || got[0] != "modules/blog/1.1.0" {
		t.Fatalf("Revoked = %v", got)
	}
	e.publish()
	e.refresh()
	e.wantLatest(e.client, "blog", ChannelStable, "1.0.0")
	_, err := e.client.Release("blog", "1.1.0")
	var rev *RevokedError
	if !errors.Is(err, ErrRevoked) || !errors.As(err, &rev) || rev.Release.Version != "1.1.0" {
		t.Fatalf("Release(revoked) = %v, want a *RevokedError", err)
	}
	if _, _, err := e.client.Download(context.Background(), "blog", "1.1.0"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Download(revoked) = %v, want ErrRevoked", err)
	}
	// Revoking everything leaves nothing to install.
	if err := e.repo.Revoke("blog", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	e.publish()
	e.refresh()
	if _, err := e.client.Latest("blog", ChannelStable); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest with all revoked = %v, want ErrNotFound", err)
	}
}

func TestLatestChannels(t *testing.T) {
	e := newEnv(t)
	e.add("blog", "1.0.0", ChannelStable)
	e.add("blog", "1.0.10", ChannelStable)
	e.add("blog", "1.0.9", ChannelStable)
	e.add("blog", "1.1.0-beta.2", ChannelBeta)
	e.add("blog", "1.1.0-beta.10", ChannelBeta)
	e.add("shop", "0.1.0", ChannelBeta)
	e.publish()
	if _, err := e.client.Latest("blog", ChannelStable); !errors.Is(err, ErrNotRefreshed) {
		t.Fatalf("Latest before Refresh = %v, want ErrNotRefreshed", err)
	}
	e.refresh()
	e.wantLatest(e.client, "blog", ChannelStable, "1.0.10")
	e.wantLatest(e.client, "blog", ChannelBeta, "1.1.0-beta.10")
	e.wantLatest(e.client, "shop", ChannelBeta, "0.1.0")
	if _, err := e.client.Latest("shop", ChannelStable); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest(shop, stable) = %v, want ErrNotFound", err)
	}
	// A stable release outranks its betas on the beta channel.
	e.add("blog", "1.1.0", ChannelStable)
	e.publish()
	e.refresh()
	e.wantLatest(e.client, "blog", ChannelBeta, "1.1.0")
}

func TestThresholds(t *testing.T) {
	keys := loadKeys(t)
	keys.Targets = Role{Signers: []signature.Signer{signingtest.NewSigner(t), signingtest.NewSigner(t)}, Threshold: 2}
	repo, err := New(keys, Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := metadata.Targets().FromBytes(repo.Files()["targets.json"])
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Signatures) != 2 {
		t.Fatalf("targets has %d signatures, want 2", len(m.Signatures))
	}

	tests := []struct {
		name string
		role Role
	}{
		{"no signers", Role{}},
		{"threshold above signers", Role{Signers: []signature.Signer{signingtest.NewSigner(t)}, Threshold: 2}},
		{"same key twice", Role{Signers: []signature.Signer{keys.Root.Signers[0], keys.Root.Signers[0]}, Threshold: 2}},
		{"negative threshold", Role{Signers: []signature.Signer{signingtest.NewSigner(t)}, Threshold: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := keys
			k.Snapshot = tt.role
			if _, err := New(k, Config{}); !errors.Is(err, ErrKeys) {
				t.Fatalf("New = %v, want ErrKeys", err)
			}
		})
	}
}

func TestAddReleaseValidation(t *testing.T) {
	repo, err := New(loadKeys(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ok := release("blog", "1.0.0", ChannelStable)
	if err := repo.AddRelease(ok, artifact("blog", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Release)
		want   error
	}{
		{"already published", func(*Release) {}, ErrExists},
		{"bad name", func(r *Release) { r.Module = "../etc" }, ErrInvalidRelease},
		{"v prefix", func(r *Release) { r.Version = "v1.0.1" }, ErrInvalidRelease},
		{"not semver", func(r *Release) { r.Version = "1.0" }, ErrInvalidRelease},
		{"build metadata (would tie for latest)", func(r *Release) { r.Version = "1.0.1+build.2" }, ErrInvalidRelease},
		{"oversized capabilities", func(r *Release) {
			r.Version = "1.0.1"
			r.Capabilities = json.RawMessage(`{"x":"` + strings.Repeat("x", MaxCapabilitiesSize) + `"}`)
		}, ErrInvalidRelease},
		{"ABI 0", func(r *Release) { r.Version = "1.0.1"; r.ABIVersion = 0 }, ErrInvalidRelease},
		{"channel", func(r *Release) { r.Version = "1.0.1"; r.Channel = "nightly" }, ErrInvalidRelease},
		{"digest", func(r *Release) { r.Version = "1.0.1"; r.ManifestDigest = "sha256:abc" }, ErrInvalidRelease},
		{"capabilities", func(r *Release) { r.Version = "1.0.1"; r.Capabilities = json.RawMessage(`{`) }, ErrInvalidRelease},
		{"digest not the artifact's", func(r *Release) { r.Version = "1.0.1"; r.ManifestDigest = "sha256:" + strings.Repeat("ab", 32) }, ErrInvalidRelease},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.mutate(&r)
			if err := repo.AddRelease(r, artifact("blog", "1.0.0")); !errors.Is(err, tt.want) {
				t.Fatalf("AddRelease = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCompareSemver(t *testing.T) {
	// Ascending, per semver.org's precedence example plus numeric cases.
	order := []string{
		"0.9.99", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0", "10.0.0",
	}
	for i := range order {
		for j := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := compareSemver(order[i], order[j]); got != want {
				t.Errorf("compareSemver(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if got := compareSemver("1.0.0+build.1", "1.0.0+build.2"); got != 0 {
		t.Errorf("build metadata: %d, want 0", got)
	}
}

func FuzzReleaseFromTarget(f *testing.F) {
	f.Add("modules/blog/1.0.0", []byte(`{"module":"blog","version":"1.0.0","abi_version":1,"capabilities":{},"channel":"stable","manifest_digest":"sha256:`+strings.Repeat("0", 64)+`"}`))
	f.Add("modules/x/1", []byte(`{}`))
	f.Add("themes/sunrise/1.0.0", []byte(`{"theme":"sunrise","version":"1.0.0","theme_version":1,"channel":"stable","manifest_digest":"sha256:`+strings.Repeat("0", 64)+`"}`))
	f.Fuzz(func(t *testing.T, path string, raw []byte) {
		rel, err := releaseFromTarget(path, 1, make([]byte, 32), raw)
		if err != nil {
			return
		}
		if rel.Path != rel.TargetPath() || rel.validate() != nil || (rel.Kind == KindTheme) != strings.HasPrefix(path, ThemeTargetPrefix) {
			t.Fatalf("accepted an inconsistent release %+v", rel)
		}
	})
}

func TestRenewTimestamp(t *testing.T) {
	e := newEnv(t)
	e.add("blog", "1.0.0", ChannelStable)
	e.publish()
	e.refresh()
	tsVersion := func() int64 {
		m, err := metadata.Timestamp().FromBytes(e.getMeta("timestamp.json"))
		if err != nil {
			t.Fatal(err)
		}
		return m.Signed.Version
	}
	before := tsVersion()
	for range 2 {
		if err := e.repo.RenewTimestamp(); err != nil {
			t.Fatal(err)
		}
		e.serve()
		e.refresh()
	}
	if got := tsVersion(); got != before+2 {
		t.Fatalf("timestamp version %d, want %d", got, before+2)
	}
	// A publish after renewals still moves every role forward.
	e.add("blog", "1.1.0", ChannelStable)
	e.publish()
	e.refresh()
	if got := tsVersion(); got != before+3 {
		t.Fatalf("timestamp version %d, want %d", got, before+3)
	}
	e.wantLatest(e.client, "blog", ChannelStable, "1.1.0")
}
