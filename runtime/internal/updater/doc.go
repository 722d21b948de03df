// Package updater installs and updates a runtime's modules from the
// registry (DESIGN.md decisions 8 and 10).
//
// # Trust
//
// Everything starts from the TUF root pinned in the runtime's data dir
// (package tufrepo's Client: root rotations, timestamp, snapshot and
// targets verified; no rollback, no freeze past expiry, no mix-and-match).
// A release names its OCI manifest by length and sha256; the manifest pins
// every other blob by digest. The updater downloads the manifest as the
// TUF target (length and digest checked), copies the blobs from the
// registry's OCI API into a local OCI image layout (digests checked while
// they stream), and reads the package back through ocipkg, which checks
// every blob once more and refuses anything unexpected. The package's own
// manifest must then agree with the signed release: name, version, ABI
// version and capabilities. Packages stay in the layout, so the previous
// version is on disk for a rollback and a restart needs no network; they
// are verified again on every load.
//
// # The package store
//
// The layout (Dir/oci) is the updater's own store (store.go), not
// oras-go's: a blob is written to a temporary file of its own and renamed
// in only when whole and verified, and a refused or broken download
// removes it, so forged notices and refused downloads cannot fill the
// disk. What a download stores is leased until the installation record
// names it; after every change, and at the start (which also clears what
// a crash left), the store keeps only what the records need — each
// module's serving, previous and staged versions — and Limits.StoreMax
// caps it: a download that would pass the cap is refused and the owner
// alerted.
//
// # Transfers
//
// Every registry request (TUF metadata and targets, OCI manifests and
// blobs) is bounded by Limits: its answer must start within HeaderTimeout,
// move at least MinRate in every StallWindow and end within the time its
// length allows. A registry or a man in the middle that stalls or drips
// bytes is abandoned with ErrTooSlow, which the owner sees as an alert (a
// refresh) or a failed update (a download).
//
// # State
//
// websonic.module_installs is the desired state: per module the version
// and digest serving, the previous ones, channel, policy (auto, notify,
// pinned) and the capabilities the owner approved. A row changes only
// inside the swap, after the new version is migrated, warm and healthy and
// before it takes traffic, so a crash at any point leaves the old version
// or the new one, never half of each: on restart every runtime starts the
// recorded versions. websonic.update_events records every outcome and
// reason (installed, updated, rolled_back, failed, staged, available,
// alert) for the owner. `websonic module install|rollback|approve` write
// websonic.module_requests and NOTIFY the site's module channel; the
// request queue (package requestq, which every runtime serves; Run serves
// it too) hands the updater its actions, apart from its update checks, so
// that a request never waits behind a download (see Updater: requests
// pre-empt a check's use of the TUF client, and a rollback works from
// disk). Wait reports exactly what became of a request (RequestError). A
// dry run (Request.DryRun) answers with a Preview, and Request.Digest
// binds an install or approve to the release the owner saw.
//
// # Updates
//
// Check refreshes the TUF metadata (on every watch-stream notice from the
// registry and on a timer) and, per installed module: moves off a revoked
// version (to the newest non-revoked one); under "auto" installs a newer
// release of the module's channel unless it asks for capabilities the
// owner has not approved, in which case it is staged until `websonic
// module approve`; under "notify" records that an update is available;
// under "pinned" does nothing. A refresh that fails (bad signature,
// expired metadata, rollback attempt) changes nothing, keeps every module
// serving and alerts the owner once per distinct failure.
//
// # Themes
//
// Site themes (themes.go) travel the same path with the same TUF client,
// transfer limits, package store and request queue: a theme release
// (tufrepo.KindTheme, target "themes/<name>/<version>") is downloaded as
// its signed target, its blobs copied from the registry's themes/<name>
// into the store and read back through ocipkg.FetchThemeFrom, then judged
// by Config.ValidateTheme (the theme package's Validate, injected by the
// server). Only then does websonic.theme_installs change, with its event
// (update_events, kind 'theme') and a NOTIFY in the same transaction: a
// theme refused at any step leaves the installed one in place. Policies
// and channels work as for modules (no capabilities, so no staging);
// notify records the newer version in available_version. Requests:
// ActionThemeInstall, ActionThemeRollback (from disk, pinned),
// ActionThemePolicy, ActionThemeUninstall (refused for the active theme,
// Config.ThemeInUse). Every replica notes changes on the queue's wake-ups
// and calls Config.ThemesChanged; ThemeFiles returns the installed
// version's files, verified again from the store (or downloaded through
// the signed metadata on a replica that lacks them) and validated.
//
// # The runtime itself
//
// The websonic binary follows its own signed releases (runtime.go, whose
// top comment gives every step): under auto, a release newer than the
// running binary for this OS/architecture and the site's channel is
// downloaded as its TUF target, its binary fetched by digest and compared
// with the signed binary_sha256 and size, written beside the executable,
// run once (`version` must report the release's version), put in place
// (the old file kept as <executable>.previous) and restarted into through
// RuntimeConfig.Restart (internal/restart: the listening sockets are
// handed over, no request fails). A new binary that does not become ready
// is replaced by the old one, which serves on; the version is refused for
// good ('rolled_back'). A tampered binary ('failed'), an older or equal
// version ('alert', when asked for) and a revoked one are never put in
// place. Only what the signed data itself says refuses a version for
// good (its manifest contradicts the release, the binary reports another
// version, it fails readiness): a download cut short or changed in
// transit (ErrTransfer, never ErrVerify) is recorded once and tried again
// at the next check, for modules, themes and the runtime alike, so that
// whoever can disturb a download cannot freeze the site on its version. Under notify the release is recorded as 'available'; under
// pinned nothing is recorded, and the runtime logs once why a newer
// release stays out (pinned, or failed before). The end-to-end tests are
// cmd/websonic/selfupdate_test.go; BenchmarkSelfUpdate times it.
package updater
