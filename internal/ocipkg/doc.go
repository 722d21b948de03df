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
// The functions hold no state and are safe for concurrent use on distinct
// layouts; oras-go's OCI store serialises writers within one process only.
package ocipkg
