// Package publish is the publisher's side of Web Sonic's registry: it
// initializes the registry's TUF repository, pushes module, theme and
// runtime artifacts (package ocipkg) and signs their releases with the
// publisher's offline targets key, revokes releases and rotates keys
// (package tufrepo). PublishRuntime signs every platform of a runtime
// version in one targets version.
//
// Every signing step starts from the registry's current metadata as
// verified by a TUF client pinned to the publisher's own root, so a
// registry that lies about its state gets nothing signed on top of the
// lie: the publisher signs only the verified releases plus its change.
package publish

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/sdk/manifest"
)

// Publisher talks to one registry with one token and the publisher's
// offline keys.
type Publisher struct {
	// Registry is the registry's base URL, e.g. "http://127.0.0.1:8090".
	Registry string
	// Token is the publisher's bearer token.
	Token string
	// Keys holds the publisher's root and targets signers (the snapshot and
	// timestamp roles are the registry's and are ignored).
	Keys tufrepo.Keys
	// Root is the publisher's pinned root.json (nil only for Init).
	Root []byte
	// CacheDir keeps the publisher's verified TUF metadata.
	CacheDir string
	// HTTPClient is used for everything; nil means http.DefaultClient.
	HTTPClient *http.Client
}

func (p *Publisher) http() *http.Client {
	if p.HTTPClient != nil {
		return p.HTTPClient
	}
	return http.DefaultClient
}

func (p *Publisher) url(path string) string { return strings.TrimSuffix(p.Registry, "/") + path }

// OnlineKeys fetches the registry's snapshot and timestamp public keys.
// They are fetched over the registry's TLS connection and trusted on
// first use: compare their ids with the registry operator's.
func (p *Publisher) OnlineKeys(ctx context.Context) (snapshot, timestamp []crypto.PublicKey, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url("/v1/tuf/online-keys"), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("publish: %w", err)
	}
	resp, err := p.http().Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("publish: online keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("publish: online keys: %s", resp.Status)
	}
	var body map[string][]string
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return nil, nil, fmt.Errorf("publish: online keys: %w", err)
	}
	parse := func(pems []string) ([]crypto.PublicKey, error) {
		var out []crypto.PublicKey
		for _, s := range pems {
			k, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(s))
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
		return out, nil
	}
	if snapshot, err = parse(body["snapshot"]); err != nil {
		return nil, nil, fmt.Errorf("publish: online snapshot key: %w", err)
	}
	if timestamp, err = parse(body["timestamp"]); err != nil {
		return nil, nil, fmt.Errorf("publish: online timestamp key: %w", err)
	}
	if len(snapshot) == 0 || len(timestamp) == 0 {
		return nil, nil, errors.New("publish: the registry lists no online keys")
	}
	return snapshot, timestamp, nil
}

// Init creates the repository: root version 1 listing the publisher's
// root and targets keys and the registry's online keys, and an empty
// targets, sent to the registry (an admin token is needed). It returns the
// root, which runtimes pin.
func (p *Publisher) Init(ctx context.Context) ([]byte, error) {
	snap, ts, err := p.OnlineKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := p.Keys
	keys.Snapshot = tufrepo.Role{PublicKeys: snap}
	keys.Timestamp = tufrepo.Role{PublicKeys: ts}
	root, targets, err := tufrepo.NewRoot(keys, tufrepo.Config{})
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := p.putRoot(ctx, root, targets); err != nil {
		return nil, err
	}
	return root, nil
}

func (p *Publisher) putRoot(ctx context.Context, root, targets []byte) error {
	body, err := json.Marshal(map[string]json.RawMessage{"root": root, "targets": targets})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return p.put(ctx, "/v1/tuf/root.json", body)
}

func (p *Publisher) put(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.url(path), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http().Do(req)
	if err != nil {
		return fmt.Errorf("publish: %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	return fmt.Errorf("%w: %s: %s", ErrRefused, resp.Status, e.Error)
}

// ErrRefused wraps the registry's refusals, with its reason.
var ErrRefused = errors.New("publish: the registry refused")

// current returns the registry's metadata verified against the pinned root
// (following rotations), loaded with the publisher's keys.
func (p *Publisher) current(ctx context.Context) (*tufrepo.Repo, *tufrepo.Client, error) {
	if len(p.Root) == 0 {
		return nil, nil, errors.New("publish: no pinned root (run `websonic repo init` first, or pass --root)")
	}
	dir := p.CacheDir
	if dir == "" {
		return nil, nil, errors.New("publish: no cache directory")
	}
	c, err := tufrepo.NewClient(tufrepo.ClientConfig{
		MetadataURL: p.url("/v1/tuf"), Root: p.Root, Dir: dir, HTTPClient: p.http(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("publish: %w", err)
	}
	if err := c.Refresh(ctx); err != nil {
		return nil, nil, fmt.Errorf("publish: the registry's metadata does not verify against your root: %w", err)
	}
	st, err := c.State()
	if err != nil {
		return nil, nil, fmt.Errorf("publish: %w", err)
	}
	repo, err := tufrepo.Load(st, p.Keys, tufrepo.Config{})
	if err != nil {
		return nil, nil, fmt.Errorf("publish: %w", err)
	}
	return repo, c, nil
}

// repository is the remote OCI repository of a module, authenticated with
// the token.
func (p *Publisher) repository(module string) (*remote.Repository, error) {
	return p.remote("modules/" + module)
}

// remote is the remote OCI repository name (modules/<name>,
// themes/<name>), authenticated with the token.
func (p *Publisher) remote(name string) (*remote.Repository, error) {
	u, err := url.Parse(p.Registry)
	if err != nil {
		return nil, fmt.Errorf("publish: registry URL: %w", err)
	}
	repo, err := remote.NewRepository(u.Host + "/" + name)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	repo.PlainHTTP = u.Scheme == "http"
	base := p.http()
	if base == http.DefaultClient {
		base = retry.DefaultClient
	}
	repo.Client = &auth.Client{
		Client:     base,
		Credential: auth.StaticCredential(u.Host, auth.Credential{AccessToken: p.Token}),
	}
	return repo, nil
}

// Publish pushes the module package in pkgDir (a folder with module.json,
// module.wasm and its migrations) to the registry and signs its release
// on channel.
func (p *Publisher) Publish(ctx context.Context, pkgDir string, channel tufrepo.Channel) (*tufrepo.Release, error) {
	raw, err := os.ReadFile(filepath.Join(pkgDir, manifest.FileName))
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	m, err := manifest.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("publish: %s: %w", pkgDir, err)
	}
	caps, err := json.Marshal(m.Capabilities)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	repo, _, err := p.current(ctx) // before pushing: fail early on a bad root
	if err != nil {
		return nil, err
	}
	// A signed version is final: refuse before pushing anything, so that a
	// changed package under an old version neither moves the version's tag
	// nor ends the command halfway.
	path := tufrepo.TargetPath(m.Name, m.Version)
	for _, rel := range repo.Releases() {
		if rel.Path == path {
			return nil, fmt.Errorf("publish: %w: %s (bump the version in %s to publish a change)", tufrepo.ErrExists, path, manifest.FileName)
		}
	}
	remoteRepo, err := p.repository(m.Name)
	if err != nil {
		return nil, err
	}
	desc, err := ocipkg.PackTo(ctx, pkgDir, remoteRepo)
	if err != nil {
		return nil, fmt.Errorf("publish: push %s: %w", m.Name, err)
	}
	artifact, err := content.FetchAll(ctx, remoteRepo, desc)
	if err != nil {
		return nil, fmt.Errorf("publish: read back %s: %w", desc.Digest, err)
	}
	rel := tufrepo.Release{
		Module: m.Name, Version: m.Version, ABIVersion: m.ABIVersion, Capabilities: caps,
		Channel: channel, ManifestDigest: desc.Digest.String(), Description: m.Description,
	}
	if err := repo.AddRelease(rel, artifact); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := p.sendTargets(ctx, repo); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(artifact)
	rel.Path, rel.Length, rel.SHA256 = tufrepo.TargetPath(m.Name, m.Version), int64(len(artifact)), sum[:]
	return &rel, nil
}

// PublishTheme pushes the theme folder dir (theme.json, templates and
// assets/; see ocipkg.ReadTheme) to the registry's themes/<name>
// repository and signs its release on channel. validate, when not nil,
// judges the theme's files first (the theme package's Validate): nothing
// is pushed for a theme it refuses.
func (p *Publisher) PublishTheme(ctx context.Context, dir string, channel tufrepo.Channel, validate func(fs.FS) error) (*tufrepo.Release, error) {
	th, err := ocipkg.ReadTheme(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("publish: %s: %w", dir, err)
	}
	if validate != nil {
		if err := validate(th.FS()); err != nil {
			return nil, fmt.Errorf("publish: theme %s: %w", dir, err)
		}
	}
	repo, _, err := p.current(ctx) // before pushing: fail early on a bad root
	if err != nil {
		return nil, err
	}
	rel := tufrepo.Release{Kind: tufrepo.KindTheme, Module: th.Meta.Name, Version: th.Meta.Version,
		ThemeVersion: th.Meta.ThemeVersion, Channel: channel, Description: th.Meta.Description}
	remoteRepo, err := p.remote(rel.Repository())
	if err != nil {
		return nil, err
	}
	desc, err := ocipkg.PackThemeTo(ctx, dir, remoteRepo)
	if err != nil {
		return nil, fmt.Errorf("publish: push theme %s: %w", th.Meta.Name, err)
	}
	artifact, err := content.FetchAll(ctx, remoteRepo, desc)
	if err != nil {
		return nil, fmt.Errorf("publish: read back %s: %w", desc.Digest, err)
	}
	rel.ManifestDigest = desc.Digest.String()
	if err := repo.AddRelease(rel, artifact); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := p.sendTargets(ctx, repo); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(artifact)
	rel.Path, rel.Length, rel.SHA256 = rel.TargetPath(), int64(len(artifact)), sum[:]
	return &rel, nil
}

// RevokeTheme is Revoke for a theme release.
func (p *Publisher) RevokeTheme(ctx context.Context, theme, version string) error {
	return p.revoke(ctx, func(r *tufrepo.Repo) error { return r.RevokeTheme(theme, version) })
}

// Revoke signs a targets version marking module@version revoked: runtimes
// move off it and never install it.
func (p *Publisher) Revoke(ctx context.Context, module, version string) error {
	return p.revoke(ctx, func(r *tufrepo.Repo) error { return r.Revoke(module, version) })
}

func (p *Publisher) revoke(ctx context.Context, change func(*tufrepo.Repo) error) error {
	repo, _, err := p.current(ctx)
	if err != nil {
		return err
	}
	if err := change(repo); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return p.sendTargets(ctx, repo)
}

// sendTargets signs repo's pending releases as the next targets version
// and sends it to the registry, which checks it and signs the snapshot
// and timestamp.
func (p *Publisher) sendTargets(ctx context.Context, repo *tufrepo.Repo) error {
	signed, err := repo.SignTargets()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return p.put(ctx, "/v1/tuf/targets.json", signed)
}

// Rotate replaces the root and targets keys with next's (an admin token
// is needed): root version N+1 signed by the current root keys and the
// new ones, and the releases re-signed with the new targets key. The
// registry's online keys stay. It returns the new root; runtimes follow
// it on their own (each root is signed by its predecessor).
func (p *Publisher) Rotate(ctx context.Context, next tufrepo.Keys) ([]byte, error) {
	repo, _, err := p.current(ctx)
	if err != nil {
		return nil, err
	}
	// The online keys stay as the verified current root lists them (not
	// as the registry says they are now).
	for role, dst := range map[string]*tufrepo.Role{metadata.SNAPSHOT: &next.Snapshot, metadata.TIMESTAMP: &next.Timestamp} {
		keys, threshold, err := repo.RoleKeys(role)
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		*dst = tufrepo.Role{PublicKeys: keys, Threshold: threshold}
	}
	root, targets, err := repo.SignRotation(next, p.Keys.Root.Signers)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := p.putRoot(ctx, root, targets); err != nil {
		return nil, err
	}
	p.Keys, p.Root = next, root
	return root, nil
}
