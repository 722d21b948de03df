package tufrepo

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/websonic/websonic/internal/signing/signingtest"
)

// split is a publisher and a registry holding their own keys only.
type split struct {
	pubKeys, regKeys Keys
	registry         *Repo
}

func publicKeys(t *testing.T, signers []signature.Signer) []crypto.PublicKey {
	t.Helper()
	var out []crypto.PublicKey
	for _, s := range signers {
		pub, err := s.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pub)
	}
	return out
}

func newSplit(t *testing.T) *split {
	t.Helper()
	all := loadKeys(t)
	s := &split{
		pubKeys: Keys{
			Root: all.Root, Targets: all.Targets,
			Snapshot:  Role{PublicKeys: publicKeys(t, all.Snapshot.Signers)},
			Timestamp: Role{PublicKeys: publicKeys(t, all.Timestamp.Signers)},
		},
		regKeys: Keys{Snapshot: all.Snapshot, Timestamp: all.Timestamp},
	}
	root, targets, err := NewRoot(s.pubKeys, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.registry, err = Empty(s.regKeys, Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.registry.AcceptTargets(targets, nil); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("AcceptTargets before a root = %v, want ErrNotInitialized", err)
	}
	if err := s.registry.AcceptRoot(root, targets, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// publisher loads the registry's current state with the offline keys.
func (s *split) publisher(t *testing.T) *Repo {
	t.Helper()
	p, err := Load(s.registry.State(), s.pubKeys, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *split) signed(t *testing.T, edit func(p *Repo)) []byte {
	t.Helper()
	p := s.publisher(t)
	edit(p)
	raw, err := p.SignTargets()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func addRelease(t *testing.T, module, version string) func(*Repo) {
	return func(p *Repo) {
		t.Helper()
		if err := p.AddRelease(release(module, version, ChannelStable), artifact(module, version)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSplitKeysPublish(t *testing.T) {
	s := newSplit(t)
	// The registry cannot sign targets; the publisher cannot sign snapshots.
	if _, err := s.registry.SignTargets(); !errors.Is(err, ErrKeys) {
		t.Fatalf("registry SignTargets = %v, want ErrKeys", err)
	}
	if err := s.publisher(t).RenewTimestamp(); !errors.Is(err, ErrKeys) {
		t.Fatalf("publisher RenewTimestamp = %v, want ErrKeys", err)
	}
	raw := s.signed(t, addRelease(t, "blog", "1.0.0"))
	var seen []Change
	changes, err := s.registry.AcceptTargets(raw, func(c []Change) error { seen = c; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Old != nil || changes[0].New.String() != "blog@1.0.0" || len(seen) != 1 {
		t.Fatalf("changes = %+v", changes)
	}
	if got := s.registry.TimestampVersion(); got != 2 {
		t.Fatalf("timestamp version %d, want 2", got)
	}
	// Revoking is a change the registry reports.
	raw = s.signed(t, func(p *Repo) {
		if err := p.Revoke("blog", "1.0.0"); err != nil {
			t.Fatal(err)
		}
	})
	changes, err = s.registry.AcceptTargets(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Old == nil || !changes[0].New.Revoked {
		t.Fatalf("changes = %+v", changes)
	}
	// The stored state reloads to the same files.
	again, err := Load(s.registry.State(), s.regKeys, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range s.registry.Files() {
		if !bytes.Equal(again.Files()[name], b) {
			t.Errorf("%s differs after Load", name)
		}
	}
	if rels := again.Releases(); len(rels) != 1 || !rels[0].Revoked {
		t.Fatalf("Releases after Load = %v", rels)
	}
}

func TestAcceptTargetsRejects(t *testing.T) {
	s := newSplit(t)
	if _, err := s.registry.AcceptTargets(s.signed(t, addRelease(t, "blog", "1.0.0")), nil); err != nil {
		t.Fatal(err)
	}
	stale := s.signed(t, addRelease(t, "blog", "1.0.1"))
	if _, err := s.registry.AcceptTargets(s.signed(t, addRelease(t, "blog", "1.0.1")), nil); err != nil {
		t.Fatal(err)
	}
	// reSign re-signs the current targets with data edited and the version
	// bumped, with signers.
	reSign := func(edit func(*metadata.Metadata[metadata.TargetsType]), signers ...signature.Signer) []byte {
		m, err := metadata.Targets().FromBytes(s.registry.State().Targets)
		if err != nil {
			t.Fatal(err)
		}
		m.Signed.Version++
		edit(m)
		if err := sign(m, signers); err != nil {
			t.Fatal(err)
		}
		b, err := m.ToBytes(false)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	targetsKey := s.pubKeys.Targets.Signers
	setCustom := func(m *metadata.Metadata[metadata.TargetsType], path string, f func(*custom)) {
		tf := m.Signed.Targets[path]
		var c custom
		if err := json.Unmarshal(*tf.Custom, &c); err != nil {
			t.Fatal(err)
		}
		f(&c)
		b, _ := json.Marshal(c)
		msg := json.RawMessage(b)
		tf.Custom = &msg
	}
	revoked := s.signed(t, func(p *Repo) { p.Revoke("blog", "1.0.0") })
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"not JSON", []byte("{"), ErrRejected},
		{"signed by an unknown key", reSign(func(*metadata.Metadata[metadata.TargetsType]) {}, signingtest.NewSigner(t)), ErrRejected},
		{"signed by the snapshot key", reSign(func(*metadata.Metadata[metadata.TargetsType]) {}, s.regKeys.Snapshot.Signers...), ErrRejected},
		{"replayed current version", s.registry.State().Targets, ErrRejected},
		{"stale version", stale, ErrRejected},
		{"version skipped", reSign(func(m *metadata.Metadata[metadata.TargetsType]) { m.Signed.Version++ }, targetsKey...), ErrRejected},
		{"expired", reSign(func(m *metadata.Metadata[metadata.TargetsType]) { m.Signed.Expires = time.Now().Add(-time.Hour) }, targetsKey...), ErrRejected},
		{"release removed", reSign(func(m *metadata.Metadata[metadata.TargetsType]) { delete(m.Signed.Targets, "modules/blog/1.0.0") }, targetsKey...), ErrRejected},
		{"release length changed", reSign(func(m *metadata.Metadata[metadata.TargetsType]) { m.Signed.Targets["modules/blog/1.0.0"].Length++ }, targetsKey...), ErrRejected},
		{"release capabilities changed", reSign(func(m *metadata.Metadata[metadata.TargetsType]) {
			setCustom(m, "modules/blog/1.0.0", func(c *custom) { c.Capabilities = json.RawMessage(`{"core_data":["users"]}`) })
		}, targetsKey...), ErrRejected},
		{"hash not the manifest digest", reSign(func(m *metadata.Metadata[metadata.TargetsType]) {
			setCustom(m, "modules/blog/1.0.1", func(c *custom) { c.ManifestDigest = digestOf([]byte("other")) })
		}, targetsKey...), ErrRejected},
		{"target name disagrees with its release", reSign(func(m *metadata.Metadata[metadata.TargetsType]) {
			tf := *m.Signed.Targets["modules/blog/1.0.1"]
			tf.Path = "modules/blog/9.9.9"
			m.Signed.Targets["modules/blog/9.9.9"] = &tf
		}, targetsKey...), ErrRejected},
		{"refused by the check", revoked, errScope},
	}
	before := s.registry.Files()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.registry.AcceptTargets(tt.raw, func([]Change) error { return errScope })
			if !errors.Is(err, tt.want) {
				t.Fatalf("AcceptTargets = %v, want %v", err, tt.want)
			}
			for name, b := range s.registry.Files() {
				if !bytes.Equal(before[name], b) {
					t.Fatalf("%s changed after a refused AcceptTargets", name)
				}
			}
		})
	}
	// Un-revoking is a change too.
	if _, err := s.registry.AcceptTargets(revoked, nil); err != nil {
		t.Fatal(err)
	}
	unrevoke := reSign(func(m *metadata.Metadata[metadata.TargetsType]) {
		setCustom(m, "modules/blog/1.0.0", func(c *custom) { c.Revoked = false })
	}, targetsKey...)
	if _, err := s.registry.AcceptTargets(unrevoke, nil); !errors.Is(err, ErrRejected) {
		t.Fatalf("un-revoke = %v, want ErrRejected", err)
	}
}

var errScope = fmt.Errorf("not in the token's scope")

func TestAcceptRoot(t *testing.T) {
	s := newSplit(t)
	if _, err := s.registry.AcceptTargets(s.signed(t, addRelease(t, "blog", "1.0.0")), nil); err != nil {
		t.Fatal(err)
	}
	newRoot, newTargets := signingtest.NewSigner(t), signingtest.NewSigner(t)
	next := s.pubKeys
	next.Root = Role{Signers: []signature.Signer{newRoot}}
	next.Targets = Role{Signers: []signature.Signer{newTargets}}

	p := s.publisher(t)
	// Only the new key: SignRotation refuses it itself, and so does the
	// registry when a forger signs it anyway.
	if _, _, err := p.SignRotation(next, nil); !errors.Is(err, ErrThreshold) {
		t.Fatalf("SignRotation without the old key = %v, want ErrThreshold", err)
	}
	forged, err := p.newRoot(2, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := sign(forged, next.Root.Signers); err != nil {
		t.Fatal(err)
	}
	forgedRaw, _ := forged.ToBytes(false)
	root, targets, err := p.SignRotation(next, s.pubKeys.Root.Signers)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.registry.AcceptRoot(forgedRaw, targets, nil); !errors.Is(err, ErrThreshold) {
		t.Fatalf("AcceptRoot signed by the new key only = %v, want ErrThreshold", err)
	}
	// The old targets key can no longer sign targets under the new root.
	oldTargets, err := p.SignTargets()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.registry.AcceptRoot(root, oldTargets, nil); !errors.Is(err, ErrRejected) {
		t.Fatalf("AcceptRoot with targets by the old key = %v, want ErrRejected", err)
	}
	if err := s.registry.AcceptRoot(root, targets, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.registry.Files()["2.root.json"]; !ok {
		t.Fatal("no 2.root.json after rotation")
	}
	// A replay of the same root is stale.
	if err := s.registry.AcceptRoot(root, targets, nil); !errors.Is(err, ErrRejected) {
		t.Fatalf("replayed root = %v, want ErrRejected", err)
	}
	// The publisher with the new keys publishes; the old targets key cannot.
	s.pubKeys = next
	if _, err := s.registry.AcceptTargets(s.signed(t, addRelease(t, "blog", "1.1.0")), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.registry.AcceptTargets(oldTargets, nil); !errors.Is(err, ErrRejected) {
		t.Fatalf("targets by the rotated-out key = %v, want ErrRejected", err)
	}
}

func TestLoadRefusesTamperedState(t *testing.T) {
	s := newSplit(t)
	good := s.registry.State()
	other := newSplit(t) // same keys, different signatures and expiries
	if _, err := other.registry.AcceptTargets(other.signed(t, addRelease(t, "blog", "1.0.0")), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*State)
	}{
		{"no root", func(st *State) { st.Roots = nil }},
		{"garbage targets", func(st *State) { st.Targets = []byte("{}") }},
		{"targets of a later publish", func(st *State) { st.Targets = other.registry.State().Targets }},
		{"root version 2 missing its predecessor", func(st *State) { st.Roots = append(st.Roots, st.Roots[0]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := good
			st.Roots = cloneAll(good.Roots)
			tt.edit(&st)
			if _, err := Load(st, s.regKeys, Config{}); !errors.Is(err, ErrState) {
				t.Fatalf("Load = %v, want ErrState", err)
			}
		})
	}
}
