// Package privacy holds the site's data keys and seals data with them for
// modules (host services privacy.seal and privacy.open, sdk.Seal and
// sdk.Open).
//
// # The data keys
//
// A site has a key ring: AES-256 keys, each with a small id, the newest
// sealing and all opening. The ring lives only on the site owner's server:
// in the file KeyFile under the data directory (mode 0600; a file others
// may read is refused, with a message saying how to fix it), made at the
// site's first start, or in the environment (WEBSONIC_SITE_KEY: "ID:BASE64"
// entries separated by commas, or one bare base64 key, id 1). It is never
// written to the database or a log. The database keeps, per key id, only a
// check value (HMAC-SHA256 of a fixed text under the key, 16 bytes): a
// runtime started with another site's key refuses to start, and one
// without the key file never makes a new key, which would leave what the
// site sealed unreadable; it serves, and fails seals and opens until the
// file is there (Load).
//
// Rotation (Rotate, `websonic data-key rotate`) adds a key with the next id; new
// seals use it at once (a runtime re-reads the file within ReloadEvery, and
// at once when asked to open something sealed under a key it lacks), and
// data sealed under older keys stays readable, since a sealed value names
// its key. Old keys are retired by hand only once nothing sealed under them
// remains (see RATIONALE.md, "Site data keys").
//
// # The sealed format
//
//	byte 0       version (1)
//	bytes 1–4    key id, big-endian
//	bytes 5–16   nonce (96 random bits)
//	bytes 17–    AES-256-GCM ciphertext and 16-byte tag
//
// Each module seals under its own key, derived with HKDF-SHA256 from the
// ring's key and the module's name, and the associated data binds the
// header, the module's name and the purpose the module gives, so that a
// value opens only for the module and purpose that sealed it. Plaintexts
// are at most MaxPlaintext bytes.
//
// A Keyring is safe for concurrent use.
package privacy
