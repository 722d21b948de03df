// Package tufrepo is Web Sonic's update index (DESIGN.md decision 8): the
// repository side of a TUF repository, which signs module releases, and a
// thin verified client for the runtime, both over
// github.com/theupdateframework/go-tuf/v2.
//
// # Repository
//
// A Repo keeps the four top-level roles. Keys are sigstore signers
// (internal/signing.Load: ed25519 or ECDSA P-256), one Role per top-level
// role with its threshold; root and targets keys are the publisher's,
// snapshot and timestamp keys the registry's online keys. Every role
// expires (DefaultExpiries: root 1 year, targets 3 months, snapshot 7 days,
// timestamp 1 day; Config.Expiries overrides). Note that a TUF key id is the
// sha256 of the key's canonical JSON, not signing.KeyID.
//
// New signs root version 1 and version 1 of the other roles. AddRelease and
// Revoke change the pending targets; Publish signs the next targets,
// snapshot and timestamp versions, in that order, and verifies each
// against root before anything is served. RenewTimestamp re-signs the
// timestamp alone, RenewSnapshot the snapshot and timestamp. RotateRoot
// signs root version N+1 with the current and the new root keys and
// refuses (ErrThreshold) unless both thresholds are met. Files renders
// what the registry serves; State and Load store and restore it.
//
// # Offline and online keys
//
// New, Publish and RotateRoot need every key in one process: tests and
// local development. In production the keys are split, and so is the work:
//
//   - The publisher holds the root and targets keys (offline, encrypted
//     on its machine). NewRoot signs root version 1 listing the registry's
//     online keys by their public halves (Role.PublicKeys). For each
//     publish it Loads the registry's verified current state, adds or
//     revokes releases and SignTargets; for a rotation, SignRotation.
//   - The registry holds the snapshot and timestamp keys (online).
//     AcceptRoot and AcceptTargets check what the publisher sends —
//     threshold signatures under the current root, the next version, not
//     expired, releases immutable (never removed or changed, only
//     revoked) — let the caller refuse the changes (token scope, artifact
//     stored), and sign the next snapshot and timestamp.
//
// A stolen registry therefore cannot publish a release (no targets key),
// and a stolen publisher key cannot publish without a registry token for
// the module, nor rewrite a release already out.
//
// # Targets
//
// A module release is the target "modules/<name>/<version>": the length
// and sha256 of its artifact (the OCI manifest bytes, whose digest pins
// the package) and a custom object {"module", "version", "abi_version",
// "capabilities", "channel", "manifest_digest", "revoked"}.
//
// A theme release (Kind KindTheme, issue 9) is the target
// "themes/<name>/<version>" with the custom object {"theme", "version",
// "theme_version", "channel", "manifest_digest", "revoked"}, signed by the
// same keys in the same targets.json. The prefix and the "theme" key (a
// module's custom object has "module", and a theme's is decoded refusing
// unknown fields) keep the namespaces apart: Client.Release, Latest and
// Download see modules only, ThemeRelease, LatestTheme and DownloadTheme
// themes only, so a theme can never stand for a module of the same name
// nor the reverse.
//
// A runtime release (Kind KindRuntime, issue 13) is the websonic binary
// itself, one target per platform: "runtime/websonic/<version>/<os>-<arch>"
// (os "linux", arch "amd64" or "arm64"). Its artifact is the OCI manifest
// of package ocipkg's runtime artifact and its custom object, decoded
// refusing unknown fields, is {"runtime": "websonic", "version", "os",
// "arch", "channel", "manifest_digest", "binary_sha256" (64 lowercase
// hex), "binary_size", "revoked"}: the binary's own hash is signed too, so
// an installer that fetches the raw binary (install.sh) checks it without
// parsing OCI. RuntimeRelease, LatestRuntime (per platform) and
// DownloadRuntime see runtime releases only, and the module and theme
// calls never see them. RevokeRuntime revokes every platform of a
// version. Any other target prefix is refused by AcceptTargets; a client
// skips targets under prefixes it does not know, so older runtimes ignore
// runtime releases.
//
// Revocation lives in the revoked release's own custom object
// ("revoked": true) rather than in a separate revoked.json target: it is
// signed by the targets keys like the release itself, reaches clients in
// the same refresh with no extra download, and the release stays listed so
// a runtime that installed it learns it must move off it. Repo.Revoked
// lists the revoked target names.
//
// # Consistent snapshots: off
//
// Root is served as "<N>.root.json" (and "root.json"); targets, snapshot
// and timestamp as plain "targets.json", "snapshot.json",
// "timestamp.json", and artifacts at "<TargetsURL>/<target name>". That is
// the layout go-tuf's updater fetches when consistent_snapshot is false,
// and it lets the registry serve its newest state from one place. The cost:
// a client that races a publish may fetch a timestamp and a snapshot from
// different publishes; it then fails with ErrRollback ("expected N, got
// M") and succeeds on its next refresh. Nothing mismatched is accepted.
//
// # Client
//
// Client pins a root (used on first run only; later runs start from the
// root persisted in Dir) and persists verified metadata in Dir. Refresh runs
// the whole TUF workflow; a failure leaves the previous trusted releases in
// place and wraps ErrBadSignature, ErrRollback, ErrExpired or
// ErrDigestMismatch around go-tuf's error. Release and Latest answer from
// the last successful Refresh; Latest skips revoked releases, and Release
// of a revoked one returns a *RevokedError. Download checks length and
// sha256 against the signed target.
//
// # Errors
//
// Every error starts with "tufrepo: "; match the sentinels with errors.Is.
//
// # Notes
//
//   - Repo and Client are safe for concurrent use. A Client serializes
//     Refresh and Download (go-tuf's Updater is not concurrent-safe); a new
//     Updater is built per Refresh, as go-tuf allows one Refresh each.
//   - The client fetches without retries; the caller's timer and the watch
//     stream are the retry policy.
//   - The targets role expires (90 days by default) and only the
//     publisher can re-sign it: publishing anything renews it.
package tufrepo
