// Package signing generates, stores and loads the publisher keys that sign
// Web Sonic releases (DESIGN.md decision 8).
//
// Keys are ed25519 or ECDSA P-256. A private key is only ever written
// encrypted: PKCS #8 DER sealed by sigstore's cryptoutils (scrypt +
// nacl/secretbox) inside an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block, so
// cosign and other sigstore tools can read it too. The public key is a PKIX
// "PUBLIC KEY" PEM block.
//
// Load returns a sigstore signature.SignerVerifier: the type the TUF
// repository and the publish commands sign with. Load accepts encrypted keys
// only; a plaintext private key PEM is refused with ErrNotEncrypted.
//
// # Errors
//
// Every error starts with "signing: ". The sentinels ErrEmptyPassword,
// ErrWrongPassword, ErrNotEncrypted and ErrUnknownAlgorithm are matched with
// errors.Is; WriteFiles refuses to replace a file and returns an error
// wrapping fs.ErrExist.
//
// # Notes
//
//   - Decrypting costs one scrypt derivation (N=2^16, about 100 ms and
//     64 MiB): load a key once, not per signature.
//   - KeyID is a fingerprint of the DER public key. It is not the TUF key id,
//     which is computed over the key's canonical JSON form by the TUF library.
//   - All functions are safe for concurrent use; a loaded SignerVerifier is
//     safe for concurrent use as documented by sigstore.
package signing
