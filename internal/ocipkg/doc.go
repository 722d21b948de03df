// Package ocipkg turns a module package folder (module.json, module.wasm,
// the migrations its manifest lists and its assets/ folder, as
// internal/modbuild lays it out) into
// an OCI artifact and back (DESIGN.md decision 8).
//
// The artifact is an OCI image manifest in the CNCF wasm layout:
//
//	config   application/vnd.wasm.config.v0+json              architecture "wasm", os "wasip1", the module's name, version, ABI
//	layer 0  application/wasm                                 module.wasm
//	layer 1  application/vnd.websonic.module.manifest.v1+json module.json
//	layer 2… application/vnd.websonic.module.migration.v1+sql each migration, in the manifest's order
//	last     application/vnd.websonic.module.assets.v1.tar    assets.tar: the assets/ folder (package modassets), if any
//
// Every layer carries its path in the org.opencontainers.image.title
// annotation; the image manifest carries the module's name (title) and
// version (org.opencontainers.image.version). Blobs are addressed by sha256.
// Packing is deterministic: no timestamps, so the same folder always gives
// the same manifest digest.
//
// Fetch is the consuming side and trusts nothing in the layout: every blob's
// size and digest are verified (by oras-go's content.FetchAll), sizes are
// bounded before reading, and an artifact with an unknown media type, a
// missing or repeated layer, a title that is not a clean relative path, or a
// config or annotation that disagrees with the module manifest is refused
// with an error wrapping ErrArtifact.
//
// # Themes
//
// A site theme (issue 9) is data, never code: theme.json, html/template
// files and assets. Its artifact is its own type, so that a theme can
// never be read as a module nor a module as a theme:
//
//	artifactType application/vnd.websonic.theme.v1
//	config   application/vnd.websonic.theme.config.v1+json    {"websonic.theme": {name, version, theme_version}}
//	layer 0  application/vnd.websonic.theme.manifest.v1+json  theme.json, as written (other fields ride along)
//	layer 1  application/vnd.websonic.theme.files.v1.tar      theme.tar: every other file (package modassets' tar)
//
// One tar rather than a layer per file: a theme has tens of files, which
// as layers would cost as many requests per install and as many
// descriptors to check; modassets' tar is deterministic and its reader
// already refuses anything but regular files with clean paths, within
// size caps. theme.json stays its own layer so that the registry reads a
// theme's identity without unpacking it. Every file but theme.json must
// pass CheckThemePath: a clean relative path (no "..", no absolute path,
// no hidden segment) ending in .html, .css, .png, .jpg, .jpeg, .webp,
// .svg, .ico, .woff2, .woff or .json; a theme carries no scripts and at
// least one template. ReadTheme reads a folder (symbolic links refused),
// PackTheme/PackThemeTo write the artifact, FetchTheme/FetchThemeFrom read
// it back as strictly as Fetch does a module's, and CheckThemeManifest
// checks an image manifest before its blobs are downloaded. Whether the
// templates make a good theme is not this package's call: callers pass
// the files to the theme package's Validate.
//
// # Runtime
//
// The websonic runtime binary itself (issue 13) travels as an artifact of
// its own type, one per platform, in the repository runtime/websonic,
// tagged "<version>-<os>-<arch>":
//
//	artifactType application/vnd.websonic.runtime.v1
//	config   application/vnd.websonic.runtime.config.v1+json  {"websonic.runtime": {name, version, os, arch}}
//	layer 0  application/vnd.websonic.runtime.binary.v1       the raw executable, titled "websonic"
//
// The image manifest's annotations repeat the identity (title, version,
// vnd.websonic.runtime.os, vnd.websonic.runtime.arch), so
// CheckRuntimeManifest judges a manifest alone, before any blob: the
// registry uses it to check that a signed runtime release's binary_sha256
// and binary_size are the layer's. PackRuntime is deterministic;
// FetchRuntimeFrom bounds every blob (MaxRuntimeBinary, 512 MiB, for the
// binary) before reading it, verifies its digest and checks the config
// (decoded refusing unknown fields) against the annotations. The
// platforms are tufrepo's (tufrepo.ValidRuntimePlatform): one home.
//
// The functions hold no state and are safe for concurrent use on distinct
// layouts; oras-go's OCI store serialises writers within one process only.
package ocipkg
